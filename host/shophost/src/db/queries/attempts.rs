//! The 決済直前ログ as the console searches it, and 受注データ登録: the order an operator makes of an
//! open attempt whose payment the gateway's backyard shows.

use super::{Dialect, Pools};
use crate::db::columns::ATTEMPTS;
use crate::db::decide::{self, Change, NewOrder};
use crate::db::rows;
use crate::db::{AttemptFilter, DbError, RegisteredOrder};
use crate::domain::{now_millis, Attempt, AttemptKind, AttemptState, Order};

/// Why an order registered from the 決済直前ログ with a recurring item is 要確認 when the operator gave
/// no recurring registration id.
const RECURRING_ID_NOT_GIVEN: &str =
    "決済直前ログより登録した継続課金の注文に、ゲートウェイの継続課金の登録番号が\
    入力されていません。ゲートウェイの管理画面で継続課金の登録を確認してください";

/// A `LIKE` pattern matching `text` anywhere, its wildcards escaped (with `\`).
fn contains(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl<DB: Dialect> Pools<DB> {
    pub async fn search_attempts(
        &self,
        filter: &AttemptFilter,
        limit: i64,
    ) -> Result<Vec<Attempt>, DbError> {
        // The name through lower() on both sides: SQLite's LIKE ignores the case of ASCII letters and
        // PostgreSQL's does not.
        let sql = format!(
            "SELECT {} FROM checkout_attempts \
             WHERE ($1 IS NULL OR link_key LIKE $1 ESCAPE '\\') \
             AND ($2 IS NULL OR lower({}) LIKE lower($2) ESCAPE '\\') \
             AND ($3 IS NULL OR created_at >= $3) AND ($4 IS NULL OR created_at < $4) \
             AND ($5 = FALSE OR attention IS NOT NULL) AND ($6 IS NULL OR id < $6) \
             ORDER BY id DESC LIMIT $7",
            ATTEMPTS.select(),
            DB::ATTEMPT_CUSTOMER_NAMES
        );
        let args = vec![
            filter.link_key.as_deref().map(contains).into(),
            filter.customer_name.as_deref().map(contains).into(),
            filter.from.into(),
            filter.until.into(),
            filter.attention.into(),
            filter.before_id.into(),
            limit.into(),
        ];
        let rows = self.read_rows(&sql, args).await?;
        rows.iter().map(rows::attempt).collect()
    }

    /// The order is written as the backend's hot path writes one (history entry at the time of the
    /// registration), with a recurring item's contract, then given the 受注日時 the operator chose.
    pub async fn register_attempt_order(
        &self,
        link_key: &str,
        registered: &RegisteredOrder,
    ) -> Result<Order, DbError> {
        let mut tx = self.write.begin().await?;
        let sql = format!(
            "SELECT {} FROM checkout_attempts WHERE link_key = $1 {}",
            ATTEMPTS.select(),
            DB::FOR_UPDATE
        );
        let found = DB::fetch(&mut tx, &sql, vec![link_key.into()]).await?;
        let attempt = rows::attempt(found.first().ok_or(DbError::NotFound)?)?;
        if attempt.state != AttemptState::Open || attempt.kind != AttemptKind::Order {
            return Err(DbError::Conflict("attempt_not_open"));
        }
        let at = now_millis();
        let change = Change::CreateOrder(NewOrder {
            status: registered.status,
            label: registered.settlement_label.clone(),
            transaction_id: registered.transaction_id.clone(),
            slip: None,
            reason: registered.reason.clone(),
            number: decide::order_number(attempt.id, registered.created_at),
            attention: None,
        });
        // A recurring item's contract beside it, in the same transaction, as a notification makes it.
        let mut writes = vec![change];
        decide::recurring_contract(
            &mut writes,
            &attempt,
            registered.recurring_id.as_ref(),
            RECURRING_ID_NOT_GIVEN,
        );
        for change in &writes {
            DB::write_change(&mut tx, &attempt, change, at).await?;
        }
        let sql = format!(
            "UPDATE orders SET created_at = $1 WHERE attempt_id = $2 RETURNING {}",
            crate::db::columns::ORDERS.select()
        );
        let created = DB::fetch(
            &mut tx,
            &sql,
            vec![registered.created_at.into(), attempt.id.into()],
        )
        .await?;
        let order = rows::order(created.first().ok_or(DbError::NotFound)?)?;
        // The order's trigger queued its mails; an order registered by hand sends none by itself (the
        // operator's manual: no 注文確認メール), so the shopper's (and a recurring item's 継続課金
        // confirmation) is held for the order page's button and the shop's notice of a new order is
        // dropped (the operator made it).
        DB::execute(&mut tx, super::mail::HOLD_REGISTERED, vec![order.id.into()]).await?;
        DB::execute(
            &mut tx,
            super::mail::DROP_REGISTERED_NOTICE,
            vec![order.id.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(order)
    }
}
