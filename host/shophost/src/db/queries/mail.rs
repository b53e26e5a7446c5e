//! The mail outbox's SQL (see `mail/mod.rs` and migration `0011_mail.sql`): claiming due mails under a
//! lease, storing a rendered message once, recording each attempt, the console's list and actions, and
//! the operator's mail settings. The rows themselves are written by the migration's triggers, in the
//! transaction of their cause.

use super::{placeholders, Dialect, Pools};
use crate::db::columns::Value;
use std::collections::{HashMap, HashSet};

use crate::db::columns::{ATTEMPTS, ORDERS};
use crate::db::rows::{self, Columns};
use crate::db::DbError;
use crate::domain::{Attempt, Order};
use crate::mail::render::Rendered;
use crate::mail::{
    FailedMails, Finished, MailDelivery, MailFilter, MailKind, MailStatus, OutboxMail, Outcome,
};

/// The columns of `mail_outbox` every read takes.
const MAIL_COLUMNS: &str = "id, kind, subject_id, order_id, detail_json, status, created_at, \
     next_attempt_at, attempts, last_error, recipients, subject, message, sent_at, released_at, \
     lease_token";

/// In the transaction of 受注データ登録: the new order's 注文確認メール waits for the operator.
pub(super) const HOLD_REGISTERED: &str = "UPDATE mail_outbox SET status = 'held' \
     WHERE order_id = $1 AND kind IN ('order_confirmation', 'contract_registered') \
     AND status = 'pending'";

/// In the transaction of 受注データ登録: no notice to the shop of the order its operator made.
pub(super) const DROP_REGISTERED_NOTICE: &str =
    "DELETE FROM mail_outbox WHERE order_id = $1 AND kind = 'order_notice' AND attempts = 0";

/// A mail row read back.
pub(in crate::db) fn outbox_mail(row: &impl Columns) -> Result<OutboxMail, DbError> {
    let kind = row.text("kind")?;
    let status = row.text("status")?;
    Ok(OutboxMail {
        id: row.int("id")?,
        kind: MailKind::parse(&kind).ok_or_else(|| rows::corrupt("mail kind", &kind))?,
        subject_id: row.int_or_null("subject_id")?,
        order_id: row.int_or_null("order_id")?,
        detail_json: row.text_or_null("detail_json")?,
        status: MailStatus::parse(&status).ok_or_else(|| rows::corrupt("mail status", &status))?,
        created_at: row.int("created_at")?,
        next_attempt_at: row.int("next_attempt_at")?,
        attempts: row.int("attempts")?,
        last_error: row.text_or_null("last_error")?,
        recipients: row.text_or_null("recipients")?,
        subject: row.text_or_null("subject")?,
        message: row.bytes_or_null("message")?,
        sent_at: row.int_or_null("sent_at")?,
        released_at: row.int_or_null("released_at")?,
        lease_token: row.text_or_null("lease_token")?,
    })
}

impl<DB: Dialect> Pools<DB> {
    /// Claims at most `limit` due mails for `lease_ms` under `token`: pending or due for a retry, and
    /// held by no live lease. On PostgreSQL rows another host is claiming are passed over.
    pub async fn claim_mail(
        &self,
        now: i64,
        lease_ms: i64,
        token: &str,
        limit: i64,
    ) -> Result<Vec<OutboxMail>, DbError> {
        let sql = format!(
            "UPDATE mail_outbox SET lease_until = $1, lease_token = $2 WHERE id IN \
             (SELECT id FROM {} WHERE status IN ('pending', 'retry') \
              AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
              ORDER BY next_attempt_at, id LIMIT $4 {}) \
             RETURNING {MAIL_COLUMNS}",
            DB::MAIL_DUE,
            DB::SKIP_LOCKED
        );
        let args = vec![
            (now + lease_ms).into(),
            token.into(),
            now.into(),
            limit.into(),
        ];
        let rows = self.write_rows(&sql, args).await?;
        let mut mails = rows
            .iter()
            .map(outbox_mail)
            .collect::<Result<Vec<_>, _>>()?;
        mails.sort_by_key(|mail| (mail.next_attempt_at, mail.id));
        Ok(mails)
    }

    /// Stores claimed mails' rendered messages, in one statement, unless a message is stored
    /// already (the first rendering wins, so every attempt sends the same bytes); returns the mails
    /// as stored, in the order given.
    pub async fn store_rendered_mails(
        &self,
        rendered: Vec<(OutboxMail, Rendered)>,
        at: i64,
    ) -> Result<Vec<OutboxMail>, DbError> {
        if rendered.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for the whole batch; a mail whose message is stored already is left as it
        // is (`message IS NULL`) and read back below.
        let mut args: Vec<Value> = vec![at.into()];
        let mut rows = Vec::with_capacity(rendered.len());
        let rendered: Vec<(OutboxMail, Rendered, String)> = rendered
            .into_iter()
            .map(|(mail, message)| {
                let recipients = message.recipients.join(", ");
                (mail, message, recipients)
            })
            .collect();
        for (mail, message, recipients) in &rendered {
            rows.push(format!("({})", placeholders(args.len() + 1, 4)));
            args.extend([
                mail.id.into(),
                recipients.as_str().into(),
                message.subject.as_str().into(),
                message.message.as_slice().into(),
            ]);
        }
        let sql = format!(
            "UPDATE mail_outbox SET recipients = v.column2, subject = v.column3, \
             message = v.column4, rendered_at = $1 FROM (VALUES {}) AS v \
             WHERE mail_outbox.id = v.column1 AND mail_outbox.message IS NULL \
             RETURNING mail_outbox.id",
            rows.join(", ")
        );
        let updated = self
            .write_rows(&sql, args)
            .await?
            .iter()
            .map(|row| row.int("id"))
            .collect::<Result<HashSet<i64>, _>>()?;
        let mut stored = Vec::with_capacity(rendered.len());
        for (mail, message, recipients) in rendered {
            if updated.contains(&mail.id) {
                stored.push(OutboxMail {
                    recipients: Some(recipients),
                    subject: Some(message.subject),
                    message: Some(message.message),
                    ..mail
                });
            } else {
                // Rendered and stored by another host since the claim (its lease ran out): that one
                // is the message every attempt sends. Once stored, a message never changes.
                let found = self.mail(mail.id).await?.ok_or(DbError::NotFound)?;
                stored.push(OutboxMail {
                    lease_token: mail.lease_token,
                    ..found
                });
            }
        }
        Ok(stored)
    }

    /// Records how claimed mails' attempts ended, with each attempt, in one transaction: each only if
    /// `token` still holds its lease; returns, for each, whether it did. A mail in `rendered` has its
    /// message stored by the same statement, unless one is stored already (the first rendering
    /// wins, as in [`store_rendered_mails`](Self::store_rendered_mails)).
    ///
    /// Every outcome (sent, to retry, failed, skipped) is marked in one statement and every attempt
    /// inserted in one: a pass records fifty captured mails in two statements, not a hundred. A
    /// captured mail, whose rendering is kept only here, is stored and recorded at once: one commit
    /// and one rewrite of its row (message included) instead of two each.
    pub async fn finish_mails(
        &self,
        token: &str,
        finished: &[Finished],
        rendered: &HashMap<i64, Rendered>,
        at: i64,
    ) -> Result<Vec<bool>, DbError> {
        if finished.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write.begin().await?;
        // Every outcome in one statement: a row per mail of (id, status, next attempt or NULL, error
        // or NULL, attempts to add).
        let mut args: Vec<Value> = vec![at.into(), token.into()];
        let mut rows = Vec::with_capacity(finished.len());
        for done in finished {
            let (status, next_at, error, tried): (&str, Option<i64>, Option<&str>, i64) =
                match &done.outcome {
                    Outcome::Sent(_) => ("sent", None, None, 1),
                    Outcome::Retry { error, next_at } => ("retry", Some(*next_at), Some(error), 1),
                    Outcome::Failed(error) => ("failed", None, Some(error), 1),
                    // Never tried: no attempt counted.
                    Outcome::Skipped(reason) => ("skipped", None, Some(reason), 0),
                };
            // The rendering to store, if any: recipients NULL says there is none (the message is
            // then empty bytes, never stored).
            let message = rendered.get(&done.id);
            rows.push(format!("({})", placeholders(args.len() + 1, 8)));
            args.extend([
                done.id.into(),
                status.into(),
                next_at.into(),
                error.map(str::to_owned).into(),
                tried.into(),
                message.map(|m| m.recipients.join(", ")).into(),
                message.map(|m| m.subject.as_str()).into(),
                message.map_or(&[][..], |m| m.message.as_slice()).into(),
            ]);
        }
        let store = |column: &str, value: &str| {
            format!(
                "{column} = CASE WHEN mail_outbox.message IS NULL AND v.column6 IS NOT NULL \
                 THEN {value} ELSE mail_outbox.{column} END"
            )
        };
        let sql = format!(
            "UPDATE mail_outbox SET status = v.column2, \
             next_attempt_at = COALESCE(v.column3, mail_outbox.next_attempt_at), \
             last_error = v.column4, attempts = mail_outbox.attempts + v.column5, \
             sent_at = CASE WHEN v.column2 = 'sent' THEN $1 ELSE mail_outbox.sent_at END, \
             lease_until = NULL, lease_token = NULL, {}, {}, {}, {} \
             FROM (VALUES {}) AS v \
             WHERE mail_outbox.id = v.column1 AND mail_outbox.lease_token = $2 \
             RETURNING mail_outbox.id",
            store("recipients", "v.column6"),
            store("subject", "v.column7"),
            store("message", "v.column8"),
            store("rendered_at", "$1"),
            rows.join(", ")
        );
        let recorded = DB::fetch(&mut tx, &sql, args)
            .await?
            .iter()
            .map(|row| row.int("id"))
            .collect::<Result<HashSet<i64>, _>>()?;
        let kept: Vec<bool> = finished
            .iter()
            .map(|done| recorded.contains(&done.id))
            .collect();
        let attempts: Vec<(&Finished, &str, &str)> = finished
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| **kept)
            .filter_map(|(done, _)| match &done.outcome {
                Outcome::Sent(answer) => Some((done, "sent", answer.as_str())),
                Outcome::Retry { error, .. } | Outcome::Failed(error) => {
                    Some((done, "error", error.as_str()))
                }
                // Never tried: no attempt to record.
                Outcome::Skipped(_) => None,
            })
            .collect();
        if !attempts.is_empty() {
            let mut args = Vec::with_capacity(attempts.len() * 5);
            let mut rows = Vec::with_capacity(attempts.len());
            for (done, outcome, detail) in attempts {
                rows.push(format!("({})", placeholders(args.len() + 1, 5)));
                args.extend([
                    done.id.into(),
                    at.into(),
                    done.transport.into(),
                    outcome.into(),
                    detail.into(),
                ]);
            }
            let sql = format!(
                "INSERT INTO mail_deliveries (mail_id, at, transport, outcome, detail) VALUES {}",
                rows.join(", ")
            );
            DB::execute(&mut tx, &sql, args).await?;
        }
        tx.commit().await?;
        Ok(kept)
    }

    /// Mails matching `filter`, newest first, at most `limit`.
    pub async fn mails(&self, filter: &MailFilter, limit: i64) -> Result<Vec<OutboxMail>, DbError> {
        let sql = format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR order_id = $2) AND ($3 IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4"
        );
        let args = vec![
            filter.status.map(MailStatus::as_str).into(),
            filter.order_id.into(),
            filter.before.into(),
            limit.into(),
        ];
        let rows = self.read_rows(&sql, args).await?;
        rows.iter().map(outbox_mail).collect()
    }

    /// One mail.
    pub async fn mail(&self, id: i64) -> Result<Option<OutboxMail>, DbError> {
        let sql = format!("SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE id = $1");
        let row = self.read_row(&sql, vec![id.into()]).await?;
        row.as_ref().map(outbox_mail).transpose()
    }

    /// A mail's delivery attempts, oldest first.
    pub async fn mail_deliveries(&self, id: i64) -> Result<Vec<MailDelivery>, DbError> {
        let sql = "SELECT at, transport, outcome, detail FROM mail_deliveries \
                   WHERE mail_id = $1 ORDER BY id";
        let rows = self.read_rows(sql, vec![id.into()]).await?;
        rows.iter()
            .map(|row| {
                Ok(MailDelivery {
                    at: row.int("at")?,
                    transport: row.text("transport")?,
                    outcome: row.text("outcome")?,
                    detail: row.text("detail")?,
                })
            })
            .collect()
    }

    /// Queues a sent or failed mail again, as it was rendered; `Conflict("mail_not_resendable")` when
    /// it is waiting already (or was never rendered).
    pub async fn resend_mail(&self, id: i64, at: i64) -> Result<(), DbError> {
        let sql = "UPDATE mail_outbox SET status = 'pending', next_attempt_at = $1, \
                   released_at = $1, last_error = NULL \
                   WHERE id = $2 AND status IN ('sent', 'failed') AND message IS NOT NULL";
        match self.write(sql, vec![at.into(), id.into()]).await? {
            0 if self.mail(id).await?.is_none() => Err(DbError::NotFound),
            0 => Err(DbError::Conflict("mail_not_resendable")),
            _ => Ok(()),
        }
    }

    /// Sends an order's held 注文確認メール (an order registered from the 決済直前ログ), with its held
    /// 継続課金 confirmation when it has a recurring item: once. Returns the 注文確認メール's id.
    /// `Conflict("mail_not_held")` when the order has none held.
    pub async fn release_held_mail(&self, order_id: i64, at: i64) -> Result<i64, DbError> {
        let sql =
            "UPDATE mail_outbox SET status = 'pending', next_attempt_at = $1, released_at = $1 \
                   WHERE order_id = $2 AND kind IN ('order_confirmation', 'contract_registered') \
                   AND status = 'held' RETURNING id, kind";
        let rows = self
            .write_rows(sql, vec![at.into(), order_id.into()])
            .await?;
        let mut confirmation = None;
        for row in &rows {
            if row.text("kind")? == "order_confirmation" {
                confirmation = Some(row.int("id")?);
            }
        }
        match (confirmation, rows.first()) {
            (Some(id), _) => Ok(id),
            (None, Some(row)) => row.int("id"),
            (None, None) => Err(DbError::Conflict("mail_not_held")),
        }
    }

    /// Queues a test mail to `to`; returns its id.
    pub async fn queue_test_mail(&self, to: &str, at: i64) -> Result<i64, DbError> {
        let detail = serde_json::json!({ "to": to }).to_string();
        let sql = "INSERT INTO mail_outbox (kind, subject_id, detail_json, status, created_at, \
                   next_attempt_at) VALUES ('test', NULL, $1, 'pending', $2, $2) RETURNING id";
        let rows = self.write_rows(sql, vec![detail.into(), at.into()]).await?;
        rows.first().ok_or(DbError::NotFound)?.int("id")
    }

    /// How many mails failed, and the newest.
    pub async fn failed_mails(&self) -> Result<FailedMails, DbError> {
        let sql =
            "SELECT COUNT(*) AS n, MAX(id) AS latest FROM mail_outbox WHERE status = 'failed'";
        let rows = self.read_rows(sql, Vec::new()).await?;
        let row = rows.first().ok_or(DbError::NotFound)?;
        Ok(FailedMails {
            count: row.int("n")?,
            latest: row.int_or_null("latest")?,
        })
    }

    /// An order by id (what a mail about it is rendered from).
    pub async fn order_by_id(&self, id: i64) -> Result<Option<Order>, DbError> {
        let sql = format!("SELECT {} FROM orders WHERE id = $1", ORDERS.select());
        let row = self.read_row(&sql, vec![id.into()]).await?;
        row.as_ref().map(rows::order).transpose()
    }

    /// The orders `ids` that exist, each with the checkout attempt it came from (what a worker pass
    /// renders its mails from): two statements on one connection, however many orders.
    pub async fn orders_for_mail(
        &self,
        ids: &[i64],
    ) -> Result<Vec<(Order, Option<Attempt>)>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.read.acquire().await?;
        let sql = format!(
            "SELECT {} FROM orders WHERE id IN ({})",
            ORDERS.select(),
            placeholders(1, ids.len())
        );
        let args = ids.iter().map(|&id| id.into()).collect();
        let orders = DB::fetch(&mut connection, &sql, args)
            .await?
            .iter()
            .map(rows::order)
            .collect::<Result<Vec<_>, _>>()?;
        let keys: Vec<&str> = orders.iter().map(|order| order.link_key.as_str()).collect();
        let mut attempts = HashMap::new();
        if !keys.is_empty() {
            let sql = format!(
                "SELECT {} FROM checkout_attempts WHERE link_key IN ({})",
                ATTEMPTS.select(),
                placeholders(1, keys.len())
            );
            let args = keys.iter().map(|&key| key.into()).collect();
            for row in DB::fetch(&mut connection, &sql, args).await? {
                let attempt = rows::attempt(&row)?;
                attempts.insert(attempt.link_key.clone(), attempt);
            }
        }
        Ok(orders
            .into_iter()
            .map(|order| {
                let attempt = attempts.remove(&order.link_key);
                (order, attempt)
            })
            .collect())
    }

    /// Removes at most `limit` mails queued before `before` that are done with (sent, given up, no
    /// recipient), oldest first, with their delivery attempts; returns how many. Held and waiting mail
    /// stays whatever its age.
    pub async fn purge_mail(&self, before: i64, limit: i64) -> Result<u64, DbError> {
        let mut tx = self.write.begin().await?;
        let batch = "SELECT id FROM mail_outbox WHERE status IN ('sent', 'failed', 'skipped') \
                     AND created_at < $1 ORDER BY created_at LIMIT $2";
        let args = || vec![before.into(), limit.into()];
        DB::execute(
            &mut tx,
            &format!("DELETE FROM mail_deliveries WHERE mail_id IN ({batch})"),
            args(),
        )
        .await?;
        let removed = DB::execute(
            &mut tx,
            &format!("DELETE FROM mail_outbox WHERE id IN ({batch})"),
            args(),
        )
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// The operator's saved mail settings (JSON), if saved.
    pub async fn mail_settings(&self) -> Result<Option<String>, DbError> {
        let sql = "SELECT values_json FROM mail_settings WHERE id = 1";
        let row = self.read_row(sql, Vec::new()).await?;
        row.map(|row| row.text("values_json")).transpose()
    }

    /// Saves the operator's mail settings (JSON).
    pub async fn save_mail_settings(&self, json: &str, at: i64) -> Result<(), DbError> {
        let sql = "INSERT INTO mail_settings (id, values_json, updated_at) VALUES (1, $1, $2) \
                   ON CONFLICT (id) DO UPDATE SET values_json = excluded.values_json, \
                   updated_at = excluded.updated_at";
        self.write(sql, vec![json.into(), at.into()])
            .await
            .map(drop)
    }
}
