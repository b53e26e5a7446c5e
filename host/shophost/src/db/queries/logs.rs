//! The operator console's log screens: one 決済エラーログ entry, emptying the log, and the notification
//! journal filtered and keyset-paged by id.

use super::{Dialect, Pools};
use crate::db::columns::{Value, JOURNAL, SETTLEMENT_ERRORS};
use crate::db::rows;
use crate::db::{DbError, JournalFilter};
use crate::domain::{JournalEntry, SettlementError};

impl<DB: Dialect> Pools<DB> {
    pub async fn settlement_error(&self, id: i64) -> Result<Option<SettlementError>, DbError> {
        let sql = format!(
            "SELECT {} FROM settlement_errors WHERE id = $1",
            SETTLEMENT_ERRORS.select()
        );
        let row = self.read_row(&sql, vec![id.into()]).await?;
        row.as_ref().map(rows::settlement_error).transpose()
    }

    pub async fn delete_settlement_errors(&self) -> Result<u64, DbError> {
        self.write("DELETE FROM settlement_errors", Vec::new())
            .await
    }

    pub async fn journal_page(
        &self,
        filter: &JournalFilter,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, DbError> {
        // Only the conditions given go into the statement, so no parameter is an untyped NULL.
        let mut conditions: Vec<String> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        let mut condition = |clause: &str, value: Value| {
            args.push(value);
            conditions.push(clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(module_id) = &filter.module_id {
            condition("module_id = ?", module_id.into());
        }
        if let Some(endpoint) = &filter.endpoint {
            condition("endpoint = ?", endpoint.into());
        }
        if let Some(verdict) = &filter.verdict {
            condition("verdict = ?", verdict.into());
        }
        if let Some(link_key) = &filter.link_key {
            condition("link_key = ?", link_key.into());
        }
        if let Some(from) = filter.from {
            condition("received_at >= ?", from.into());
        }
        if let Some(until) = filter.until {
            condition("received_at < ?", until.into());
        }
        if let Some(before_id) = filter.before_id {
            condition("id < ?", before_id.into());
        }
        if let Some(replay_of) = filter.replay_of {
            condition("replay_of = ?", replay_of.into());
        }
        let conditions = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        args.push(limit.into());
        let sql = format!(
            "SELECT {} FROM notification_journal {conditions} ORDER BY id DESC LIMIT ${}",
            JOURNAL.select(),
            args.len()
        );
        let rows = self.read_rows(&sql, args).await?;
        rows.iter().map(rows::journal_entry).collect()
    }
}
