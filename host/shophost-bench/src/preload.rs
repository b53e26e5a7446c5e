//! What a shop that has been running a while holds beside its orders, and what it costs on disk.
//!
//! `history_sql`, `journal_sql` and `events_sql` give every loaded order (see `orders.rs`) what taking
//! its payment left behind: one line of status history, one notification journal entry with a
//! realistic Remise body and answer, and one payment event, each with the order's id, so the tables
//! grow as they do in a real shop. `storage` measures, after a run, the bytes of those tables and
//! their indexes per order: with `--preload N` the figure that says how the database grows.

use anyhow::Context;
use serde_json::{json, Value};

/// The tables whose bytes make up an order's storage.
const TABLES: [&str; 4] = [
    "orders",
    "order_history",
    "notification_journal",
    "payment_events",
];

/// The endpoint (and `acting=`) an order's notification came to.
const ENDPOINT: &str =
    "CASE settlement_type WHEN 'acting_remise_card' THEN 'remise_card' ELSE 'remise_conv' END";

/// Text as the backend's byte column (`BLOB` / `bytea`).
fn bytes(pg: bool, text: &str) -> String {
    if pg {
        format!("convert_to({text}, 'UTF8')")
    } else {
        format!("CAST({text} AS BLOB)")
    }
}

fn overriding(pg: bool) -> &'static str {
    if pg {
        "OVERRIDING SYSTEM VALUE"
    } else {
        ""
    }
}

/// One history line per order: how it came to its status.
pub fn history_sql(pg: bool) -> String {
    format!(
        "INSERT INTO order_history (id, order_id, from_status, to_status, reason, at) {}
         SELECT id, id, NULL, payment_status, '決済結果通知により受注', created_at FROM orders",
        overriding(pg)
    )
}

/// One journal entry per order: the notification that made it, as Remise sends a card result or a
/// multi-payment 番号発行 (about 400 bytes of form), accepted and answered `STATUS=800`.
pub fn journal_sql(pg: bool) -> String {
    let body = bytes(
        pg,
        "'X-TRANID=' || transaction_id || '&X-S_TORIHIKI_NO=' || link_key \
         || '&X-ERRCODE=+++&X-ERRINFO=000000000&X-ERRLEVEL=0&X-R_CODE=0%3A0000&X-AMOUNT=' || total \
         || '&X-TAX=0&X-TOTAL=' || total || '&X-NAME=%83R%83%93%83r%83j+%83%5E%83%8D%83E\
&X-PAYQUICKID=&X-PARTOFCARD=1111&X-EXPIRE=1230&X-MAIL=&X-JOB_ID=&X-PAYDATE=&X-RESULT=1\
&X-CARD_BRAND=VISA&X-METHOD=10&X-PTIMES=&REC_TYPE=RET&X-AC_MEMBERID=&X-AC_S_KAIIN_NO='",
    );
    let answer = bytes(pg, "'<SDBKDATA>STATUS=800</SDBKDATA>'");
    format!(
        "INSERT INTO notification_journal (id, module_id, endpoint, method, query, content_type,
             charset, source, headers_json, body, received_at, verdict, reason, link_key,
             response_status, response_body, answered_at) {}
         SELECT id, module_id, {ENDPOINT}, 'POST', 'acting=' || {ENDPOINT},
             'application/x-www-form-urlencoded', 'Shift_JIS', '203.0.113.10',
             '{{\"user-agent\":\"Remise\",\"content-type\":\"application/x-www-form-urlencoded\"}}',
             {body}, created_at, 'accepted', '', link_key, 200, {answer}, created_at + 2
         FROM orders",
        overriding(pg)
    )
}

/// One payment event per order, naming its journal entry.
pub fn events_sql(pg: bool) -> String {
    format!(
        "INSERT INTO payment_events (id, dedup_key, module_id, link_key, kind, order_id, journal_id,
             source, at) {}
         SELECT id, module_id || ':' || transaction_id, module_id, link_key,
             CASE settlement_type WHEN 'acting_remise_card' THEN 'captured' ELSE 'issued' END,
             id, id, 'notification', created_at
         FROM orders",
        overriding(pg)
    )
}

/// The loaded orders' mails (the outbox's triggers queue them as the orders go in) were sent long ago:
/// they are not left for the server's mail worker to send during the timed steps.
pub const MAILS_SENT: &str = "DELETE FROM mail_outbox";

/// The tables `prepare` fills whose ids PostgreSQL must go on from.
pub const SEQUENCED: [&str; 5] = [
    "checkout_attempts",
    "orders",
    "order_history",
    "notification_journal",
    "payment_events",
];

/// The bytes of the order tables and their indexes, per table and per order, read after a run.
pub async fn storage(database_url: &str) -> anyhow::Result<Value> {
    use sqlx::Connection;
    let mut tables = serde_json::Map::new();
    let orders: i64;
    if let Some(path) = database_url.strip_prefix("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{path}")).await?;
        orders = sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&mut conn)
            .await?;
        for table in TABLES {
            // dbstat (built into the bundled SQLite) sizes every b-tree: the table and its indexes.
            let bytes: i64 = sqlx::query_scalar(
                "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN \
                 (SELECT name FROM sqlite_schema WHERE tbl_name = $1)",
            )
            .bind(table)
            .fetch_one(&mut conn)
            .await
            .context("dbstat")?;
            tables.insert(table.to_owned(), json!(bytes));
        }
        conn.close().await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        orders = sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&mut conn)
            .await?;
        for table in TABLES {
            let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
                .bind(table)
                .fetch_one(&mut conn)
                .await?;
            tables.insert(table.to_owned(), json!(bytes));
        }
        conn.close().await?;
    }
    let total: i64 = tables.values().filter_map(Value::as_i64).sum();
    Ok(json!({
        "orders": orders,
        "bytes": tables,
        "bytes_per_order": if orders > 0 { total as f64 / orders as f64 } else { 0.0 },
    }))
}

/// One line: the bytes per order and per table.
pub fn print_storage(label: &str, storage: &Value) {
    let orders = storage["orders"].as_i64().unwrap_or(0);
    if orders == 0 {
        return;
    }
    let tables: Vec<String> = TABLES
        .iter()
        .map(|table| {
            let bytes = storage["bytes"][table].as_f64().unwrap_or(0.0);
            format!("{table} {:.0}", bytes / orders as f64)
        })
        .collect();
    println!(
        "{label:<13} storage per order ({orders} orders, tables with their indexes): {:.0} bytes ({})",
        storage["bytes_per_order"].as_f64().unwrap_or(0.0),
        tables.join(", ")
    );
}

/// For each preloaded run, its notification rates against the same backend's empty run (the target:
/// within 10 %).
pub fn print_against_empty(results: &[Value]) {
    for preloaded in results.iter().filter(|r| r["preloaded"].as_i64() > Some(0)) {
        let backend = &preloaded["backend"];
        let Some(empty) = results
            .iter()
            .find(|r| &r["backend"] == backend && r["preloaded"].as_i64() == Some(0))
        else {
            continue;
        };
        println!(
            "\n{} preloaded with {} orders, against empty:",
            backend.as_str().unwrap_or(""),
            preloaded["preloaded"]
        );
        for row in preloaded["rows"].as_array().into_iter().flatten() {
            let same = empty["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["step"] == row["step"] && e["concurrency"] == row["concurrency"]);
            if let Some(same) = same {
                let (now, before) = (
                    row["per_second"].as_f64().unwrap_or(0.0),
                    same["per_second"].as_f64().unwrap_or(0.0),
                );
                println!(
                    "  {:<24} c{:<3} {:>7.0}/s vs {:>7.0}/s empty: {:>5.2} ×",
                    row["step"].as_str().unwrap_or(""),
                    row["concurrency"],
                    now,
                    before,
                    if before > 0.0 { now / before } else { 0.0 }
                );
            }
        }
    }
}
