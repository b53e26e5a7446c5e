//! The modules in use as the operator chose them, and what a module still has open that a
//! notification may come for (which keeps a module out of use listening).

use std::collections::BTreeMap;

use super::{Dialect, Pools};
use crate::db::columns::json;
use crate::db::rows::Columns;
use crate::db::{DbError, OpenWork};
use crate::domain::now_millis;

impl<DB: Dialect> Pools<DB> {
    pub async fn module_selection(&self) -> Result<Option<Vec<String>>, DbError> {
        let row = self
            .read_row(
                "SELECT in_use_json FROM module_selection WHERE id = 1",
                Vec::new(),
            )
            .await?;
        match row {
            Some(row) => Ok(Some(serde_json::from_str(&row.text("in_use_json")?)?)),
            None => Ok(None),
        }
    }

    pub async fn save_module_selection(&self, in_use: &[String]) -> Result<(), DbError> {
        self.write(
            "INSERT INTO module_selection (id, in_use_json, updated_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET in_use_json = excluded.in_use_json, \
             updated_at = excluded.updated_at",
            vec![json(&in_use).into(), now_millis().into()],
        )
        .await
        .map(drop)
    }

    pub async fn open_work(
        &self,
        attempts_created_after: i64,
        deadline_cutoff: &str,
    ) -> Result<Vec<OpenWork>, DbError> {
        let mut work: BTreeMap<String, OpenWork> = BTreeMap::new();
        let attempts = self
            .read_rows(
                "SELECT module_id, COUNT(*) AS n, MAX(created_at) AS latest FROM checkout_attempts \
                 WHERE state = 'open' AND created_at >= $1 GROUP BY module_id",
                vec![attempts_created_after.into()],
            )
            .await?;
        for row in &attempts {
            let open = entry(&mut work, row.text("module_id")?);
            open.open_attempts = row.int("n")?;
            open.latest_attempt_at = row.int_or_null("latest")?;
        }
        let orders = self
            .read_rows(
                "SELECT module_id, COUNT(*) AS n, MAX(deadline) AS latest, \
                 SUM(CASE WHEN deadline IS NULL THEN 1 ELSE 0 END) AS without_deadline \
                 FROM orders WHERE payment_status = 'unpaid' \
                 AND (deadline IS NULL OR deadline >= $1) GROUP BY module_id",
                vec![deadline_cutoff.into()],
            )
            .await?;
        for row in &orders {
            let open = entry(&mut work, row.text("module_id")?);
            open.unpaid_orders = row.int("n")?;
            open.latest_deadline = row.text_or_null("latest")?;
            open.unpaid_without_deadline = row.int_or_null("without_deadline")?.unwrap_or(0);
        }
        let contracts = self
            .read_rows(
                "SELECT module_id, COUNT(*) AS n FROM recurring_contracts \
                 WHERE status = 'continuation' GROUP BY module_id",
                Vec::new(),
            )
            .await?;
        for row in &contracts {
            entry(&mut work, row.text("module_id")?).running_contracts = row.int("n")?;
        }
        Ok(work.into_values().filter(OpenWork::any).collect())
    }
}

/// A module's line of the open work, made when it is first seen.
fn entry(work: &mut BTreeMap<String, OpenWork>, module_id: String) -> &mut OpenWork {
    work.entry(module_id.clone()).or_insert_with(|| OpenWork {
        module_id,
        ..OpenWork::default()
    })
}
