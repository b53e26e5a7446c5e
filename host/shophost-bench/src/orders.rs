//! The `orders` step: the console's 受注リスト over a large order table.
//!
//! Before the server starts, the fresh database is migrated (`shophost::db::connect`), an operator is
//! made (`shophost::operators::create`) and N orders are loaded with one set-based statement per table
//! (SQLite: a recursive CTE in one transaction with `synchronous = OFF` and a large cache;
//! PostgreSQL: `generate_series`, then `ANALYZE`, as autovacuum would soon). Orders are spread evenly
//! over the last year, ids rising with time as the host gives them out; 70 % card (mostly 売上, some
//! 仮売上, 取消, 返品), 30 % コンビニ (入金済み, 期限切れ, 取消, and 未入金 for the last 14 days), 0.2 %
//! 要確認, 20 × 20 names and e-mails `family.given.N@…`. With the server running, the bench signs in
//! and times list pages, filters and searches at concurrency 1 and 8.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// The operator the bench signs in as.
const LOGIN: &str = "bench";
const PASSWORD: &str = "bench-password-123456";
/// The span the orders' `created_at` covers, ms.
const YEAR_MS: i64 = 365 * 86_400_000;
/// The target each request kind's p99 is printed against (never asserted).
pub const TARGET_P99_MS: f64 = 100.0;
/// Requests per kind and concurrency.
const REQUESTS: usize = 200;

const FAMILY: [(&str, &str, &str); 20] = [
    ("佐藤", "サトウ", "sato"),
    ("鈴木", "スズキ", "suzuki"),
    ("高橋", "タカハシ", "takahashi"),
    ("田中", "タナカ", "tanaka"),
    ("伊藤", "イトウ", "ito"),
    ("渡辺", "ワタナベ", "watanabe"),
    ("山本", "ヤマモト", "yamamoto"),
    ("中村", "ナカムラ", "nakamura"),
    ("小林", "コバヤシ", "kobayashi"),
    ("加藤", "カトウ", "kato"),
    ("吉田", "ヨシダ", "yoshida"),
    ("山田", "ヤマダ", "yamada"),
    ("佐々木", "ササキ", "sasaki"),
    ("山口", "ヤマグチ", "yamaguchi"),
    ("松本", "マツモト", "matsumoto"),
    ("井上", "イノウエ", "inoue"),
    ("木村", "キムラ", "kimura"),
    ("林", "ハヤシ", "hayashi"),
    ("斎藤", "サイトウ", "saito"),
    ("清水", "シミズ", "shimizu"),
];
const GIVEN: [(&str, &str, &str); 20] = [
    ("太郎", "タロウ", "taro"),
    ("花子", "ハナコ", "hanako"),
    ("一郎", "イチロウ", "ichiro"),
    ("美咲", "ミサキ", "misaki"),
    ("健太", "ケンタ", "kenta"),
    ("陽菜", "ヒナ", "hina"),
    ("翔太", "ショウタ", "shota"),
    ("結衣", "ユイ", "yui"),
    ("大輔", "ダイスケ", "daisuke"),
    ("さくら", "サクラ", "sakura"),
    ("拓也", "タクヤ", "takuya"),
    ("愛", "アイ", "ai"),
    ("直樹", "ナオキ", "naoki"),
    ("優子", "ユウコ", "yuko"),
    ("誠", "マコト", "makoto"),
    ("真由美", "マユミ", "mayumi"),
    ("隆", "タカシ", "takashi"),
    ("恵", "メグミ", "megumi"),
    ("浩二", "コウジ", "koji"),
    ("彩", "アヤ", "aya"),
];
const PRODUCTS: [(&str, i64, i64); 5] = [
    ("ブレンドコーヒー 200g", 1200, 8),
    ("ドリップバッグ 10袋", 980, 8),
    ("マグカップ", 1650, 10),
    ("紅茶 アールグレイ", 1400, 8),
    ("焼き菓子セット", 2160, 8),
];
const DOMAINS: [&str; 5] = [
    "example.jp",
    "example.com",
    "example.ne.jp",
    "example.co.jp",
    "example.org",
];

/// The variables of row `n` (`i` its index column), in the backend's dialect (`pg`: arrays 1-based).
fn columns(pg: bool) -> String {
    let list = |values: Vec<&str>, base: &str| -> String {
        if pg {
            let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
            format!("(ARRAY[{}])[({base})::int + 1]", quoted.join(","))
        } else {
            let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
            format!(
                "json_extract('[{}]', '$[' || {base} || ']')",
                quoted.join(",")
            )
        }
    };
    let pick = |column: usize| {
        (
            list(
                FAMILY.iter().map(|f| [f.0, f.1, f.2][column]).collect(),
                "f",
            ),
            list(GIVEN.iter().map(|g| [g.0, g.1, g.2][column]).collect(), "g"),
        )
    };
    let (family, given) = pick(0);
    let (family_kana, given_kana) = pick(1);
    let (family_roman, given_roman) = pick(2);
    let product = list(PRODUCTS.iter().map(|p| p.0).collect(), "p");
    let price = list(
        PRODUCTS
            .iter()
            .map(|p| p.1.to_string())
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
        "p",
    );
    let rate = list(
        PRODUCTS
            .iter()
            .map(|p| p.2.to_string())
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
        "p",
    );
    let domain = list(DOMAINS.to_vec(), "d");
    let int = |e: String| {
        if pg {
            format!("({e})::bigint")
        } else {
            format!("CAST({e} AS INTEGER)")
        }
    };
    format!(
        "{family} AS family, {given} AS given, {family_kana} AS family_kana, {given_kana} AS given_kana, \
         {family_roman} || '.' || {given_roman} || '.' || n || '@' || {domain} AS email, \
         {product} AS product, {} AS price, {} AS rate",
        int(price),
        int(rate)
    )
}

/// The SQL of the attempts' insert: `$1` N, `$2` now (ms).
fn attempts_sql(pg: bool) -> String {
    let (series, json_object, json_array, pad) = if pg {
        (
            "seq AS (SELECT n::bigint AS n FROM generate_series(1, $1::bigint) AS n)",
            "json_build_object",
            "json_build_array",
            "lpad(n::text, 30, '0')",
        )
    } else {
        (
            "seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1)",
            "json_object",
            "json_array",
            "printf('%030d', n)",
        )
    };
    let empty = if pg {
        "json_build_object()"
    } else {
        "json_object()"
    };
    let vars = columns(pg);
    let overriding = if pg { "OVERRIDING SYSTEM VALUE" } else { "" };
    format!(
        "WITH RECURSIVE {series},
         base AS (SELECT n, $2 - {YEAR_MS} + n * {YEAR_MS} / $1 AS at,
                  (n * 7919) % 20 AS f, ((n / 20) * 104729) % 20 AS g, n % 5 AS p, (n / 7) % 5 AS d,
                  1 + (n / 5) % 3 AS q,
                  CASE WHEN (n * 2654435761) % 1000 < 700 THEN 'card' ELSE 'conv' END AS kind,
                  CASE WHEN (n * 7) % 500 = 3 THEN '決済結果通知が届いていません（ベンチ）' END AS attention
                  FROM seq),
         v AS (SELECT base.*, {vars} FROM base)
         INSERT INTO checkout_attempts (id, link_key, kind, module_id, settlement_type, payment_method_id,
             payment_method_name, member_id, snapshot_json, total, state, returned_at, attention, order_id,
             created_at, updated_at) {overriding}
         SELECT n, 'b' || {pad}, 'order', 'remise', 'acting_remise_' || kind, NULL,
             CASE kind WHEN 'card' THEN 'クレジットカード' ELSE 'コンビニ払い' END, NULL,
             {json_object}('lines', {json_array}({json_object}('product_id', 1 + p, 'name', product,
                     'unit_price', price, 'quantity', q, 'tax_rate', rate)),
                 'customer', {json_object}('email', email, 'family_name', family, 'given_name', given,
                     'family_kana', family_kana, 'given_kana', given_kana, 'postcode', '150-0001',
                     'prefecture', '東京都', 'address1', '渋谷区神宮前', 'address2', '1-2-' || (n % 50),
                     'address3', '', 'phone', '03-1111-2222'),
                 'items_total', price * q, 'shipping', 0, 'total', price * q,
                 'tax', price * q * rate / (100 + rate), 'note', '', 'options', {empty})::TEXT_CAST,
             price * q, 'ordered', at, attention, n, at, at
         FROM v"
    )
    .replace("::TEXT_CAST", if pg { "::text" } else { "" })
}

/// The SQL of the orders' insert, one per attempt: `$1` now (ms).
fn orders_sql(pg: bool) -> String {
    let (customer, lines, day, deadline, pad, tx) = if pg {
        (
            "(snapshot_json::jsonb -> 'customer')::text",
            "(snapshot_json::jsonb -> 'lines')::text",
            "to_char(to_timestamp(created_at / 1000) AT TIME ZONE 'Asia/Tokyo', 'YYYYMMDD')",
            "to_char(to_timestamp(created_at / 1000) AT TIME ZONE 'Asia/Tokyo' + interval '14 days', 'YYYYMMDD')",
            "CASE WHEN id < 1000000 THEN lpad(id::text, 6, '0') ELSE id::text END",
            "lpad(id::text, 28, '0')",
        )
    } else {
        (
            "json_extract(snapshot_json, '$.customer')",
            "json_extract(snapshot_json, '$.lines')",
            "strftime('%Y%m%d', created_at / 1000 + 32400, 'unixepoch')",
            "strftime('%Y%m%d', created_at / 1000 + 32400 + 14 * 86400, 'unixepoch')",
            "printf('%06d', id)",
            "printf('%028d', id)",
        )
    };
    let overriding = if pg { "OVERRIDING SYSTEM VALUE" } else { "" };
    format!(
        "WITH a AS (SELECT *, (id * 40503) % 1000 AS h, $1 - created_at < 14 * 86400000 AS recent
                    FROM checkout_attempts),
         s AS (SELECT a.*, CASE
                 WHEN settlement_type = 'acting_remise_card' THEN CASE
                     WHEN h < 30 THEN 'cancelled' WHEN h < 40 THEN 'returned'
                     WHEN h < 100 THEN 'authorized' ELSE 'captured' END
                 WHEN recent THEN CASE WHEN h < 600 THEN 'unpaid' ELSE 'paid' END
                 ELSE CASE WHEN h < 80 THEN 'expired' WHEN h < 110 THEN 'cancelled' ELSE 'paid' END
               END AS status FROM a)
         INSERT INTO orders (id, order_number, attempt_id, link_key, member_id, customer_json, lines_json,
             total, payment_method_id, payment_method_name, settlement_type, settlement_label, module_id,
             payment_status, transaction_id, slip_json, deadline, attention, created_at, updated_at)
             {overriding}
         SELECT id, {day} || '-' || {pad}, id, link_key, NULL, {customer}, {lines}, total, NULL,
             payment_method_name, settlement_type,
             CASE settlement_type WHEN 'acting_remise_card' THEN 'クレジットカード決済' ELSE 'コンビニ決済' END,
             module_id, status,
             CASE settlement_type WHEN 'acting_remise_card' THEN {tx} ELSE 'C' || {tx} END, NULL,
             CASE WHEN settlement_type = 'acting_remise_conv' THEN {deadline} END,
             attention, created_at, created_at
         FROM s"
    )
}

/// What taking each loaded order's payment left behind (`preload.rs`), table by table.
fn behind_the_orders(pg: bool) -> [(&'static str, String); 3] {
    [
        ("order_history", crate::preload::history_sql(pg)),
        ("notification_journal", crate::preload::journal_sql(pg)),
        ("payment_events", crate::preload::events_sql(pg)),
    ]
}

/// What `prepare` leaves for the timed part.
pub struct Loaded {
    /// Orders loaded.
    pub n: i64,
    /// The `now` the load spread the orders back from, ms.
    pub now: i64,
    /// How long the load took, seconds.
    pub load_seconds: f64,
}

/// Migrates the fresh database, makes the operator and loads `n` orders, each with its history line,
/// journal entry and payment event (the server is not running).
pub async fn prepare(database_url: &str, n: i64) -> anyhow::Result<Loaded> {
    {
        let store = shophost::db::connect(database_url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot migrate: {e}"))?;
        shophost::operators::create(store.as_ref(), LOGIN, PASSWORD)
            .await
            .map_err(|e| anyhow::anyhow!("cannot make the operator: {e}"))?;
        store.close().await;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    eprintln!("loading {n} orders …");
    let started = Instant::now();
    if let Some(path) = database_url.strip_prefix("sqlite:") {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{path}")).await?;
        for pragma in [
            "PRAGMA busy_timeout = 10000",
            "PRAGMA synchronous = OFF",
            "PRAGMA cache_size = -262144",
        ] {
            sqlx::query(pragma).execute(&mut conn).await?;
        }
        let mut tx = conn.begin().await?;
        sqlx::query(&attempts_sql(false))
            .bind(n)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("loading checkout_attempts")?;
        sqlx::query(&orders_sql(false))
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("loading orders")?;
        for (table, sql) in behind_the_orders(false) {
            sqlx::query(&sql)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("loading {table}"))?;
        }
        // Their mails went out long ago: the outbox's triggers queued them with the orders.
        sqlx::query(crate::preload::MAILS_SENT)
            .execute(&mut *tx)
            .await
            .context("marking the loaded orders' mails sent")?;
        tx.commit().await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        // Loaded without fsync: put it on disk now, so that the kernel's writeback of a few GB does
        // not compete with the timed steps' commits (a checkout's insert took 1.1 s right after).
        std::fs::File::open(path)
            .and_then(|file| file.sync_all())
            .context("syncing the loaded database")?;
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        let mut tx = conn.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        sqlx::query(&attempts_sql(true))
            .bind(n)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("loading checkout_attempts")?;
        sqlx::query(&orders_sql(true))
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("loading orders")?;
        for (table, sql) in behind_the_orders(true) {
            sqlx::query(&sql)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("loading {table}"))?;
        }
        // Their mails went out long ago: the outbox's triggers queued them with the orders.
        sqlx::query(crate::preload::MAILS_SENT)
            .execute(&mut *tx)
            .await
            .context("marking the loaded orders' mails sent")?;
        for table in crate::preload::SEQUENCED {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), $1)"
            ))
            .bind(n)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        // As autovacuum would have long since done in a shop that grew to this size: the outbox's
        // index no longer holds the two million mails queued and deleted by the load (a first
        // claim that found nothing took 2 s), and the loaded tables have their statistics.
        sqlx::query(&format!(
            "VACUUM (ANALYZE) mail_outbox, {}",
            crate::preload::SEQUENCED.join(", ")
        ))
        .execute(&mut conn)
        .await?;
        // And on disk before the timed steps (needs the right to checkpoint; without it, the
        // checkpointer writes the load back while the steps run).
        if let Err(e) = sqlx::query("CHECKPOINT").execute(&mut conn).await {
            eprintln!("no CHECKPOINT after the load: {e}");
        }
        conn.close().await?;
    }
    let load_seconds = started.elapsed().as_secs_f64();
    eprintln!("loaded {n} orders in {load_seconds:.1} s");
    Ok(Loaded {
        n,
        now,
        load_seconds,
    })
}

/// The order number, link key and `created_at.id` cursor of order `id` as loaded.
fn order_of(loaded: &Loaded, id: i64) -> (String, String, String) {
    let at = loaded.now - YEAR_MS + id * YEAR_MS / loaded.n;
    let day = local_day(at);
    (
        format!("{day}-{id:06}"),
        format!("b{id:030}"),
        format!("{at}.{id}"),
    )
}

/// The shop-local (JST) date of `at` ms as `YYYYMMDD`, or `YYYY-MM-DD` with `dashes`.
fn local_date(at: i64, dashes: bool) -> String {
    let days = (at / 1000 + 9 * 3600).div_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if dashes {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("{y:04}{m:02}{d:02}")
    }
}

fn local_day(at: i64) -> String {
    local_date(at, false)
}

/// Signs in as the bench's operator; the `Cookie` header value.
async fn sign_in(base: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = client
        .post(format!("{base}/admin/login"))
        .form(&[("login", LOGIN), ("password", PASSWORD), ("next", "/admin")])
        .send()
        .await?;
    let cookie = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("shophost_admin="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    match cookie {
        Some(cookie) => Ok(cookie),
        None => bail!("console sign-in failed: {}", response.status()),
    }
}

fn escape(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The `古い50件` link of a list page, unescaped.
fn older_link(page: &str) -> Option<String> {
    let at = page.find("rel=\"next\"")?;
    let start = page[..at].rfind("href=\"")? + 6;
    let end = start + page[start..].find('"')?;
    Some(page[start..end].replace("&amp;", "&"))
}

/// A signed-in console client.
struct Getter {
    client: reqwest::Client,
    cookie: String,
    base: String,
}

impl Getter {
    /// The page at `path`; an error unless it answers 200.
    async fn get(&self, path: String) -> anyhow::Result<String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{path}: {status}");
        }
        Ok(text)
    }
}

/// Times the list's request kinds at concurrency 1 and 8; one row per kind and concurrency.
pub async fn bench(base: &str, loaded: &Loaded) -> anyhow::Result<Vec<Value>> {
    let cookie = sign_in(base).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(16)
        .timeout(Duration::from_secs(60))
        .build()?;
    let get = Arc::new(Getter {
        client,
        cookie,
        base: base.to_owned(),
    });
    // A page deep in the keyset, reached as an operator does: the 古い50件 link, followed a few times.
    let mut path = "/admin/orders".to_owned();
    for _ in 0..5 {
        let page = get.get(path.clone()).await?;
        path = older_link(&page).context("no 古い50件 link")?;
    }
    let followed = path;
    // And halfway through the year, by the cursor the link carries.
    let (number, link_key, mid_cursor) = order_of(loaded, loaded.n / 2);
    let half_year_ago = local_date(loaded.now - YEAR_MS / 2, true);
    let week_later = local_date(loaded.now - YEAR_MS / 2 + 7 * 86_400_000, true);
    let kinds: Vec<(&str, String, Option<String>)> = vec![
        ("first page", "/admin/orders".into(), None),
        ("page 6 (older link x5)", followed, None),
        (
            "deep page (mid cursor)",
            format!("/admin/orders?after={mid_cursor}"),
            None,
        ),
        (
            "status=authorized",
            "/admin/orders?status=authorized".into(),
            None,
        ),
        ("status=unpaid", "/admin/orders?status=unpaid".into(), None),
        (
            "type=conv",
            "/admin/orders?type=acting_remise_conv".into(),
            None,
        ),
        (
            "dates (1 week)",
            format!("/admin/orders?from={half_year_ago}&until={week_later}"),
            None,
        ),
        (
            "attention=true",
            "/admin/orders?attention=true".into(),
            None,
        ),
        (
            "q=order number",
            format!("/admin/orders?q={}", escape(&number)),
            Some(number.clone()),
        ),
        (
            "q=link key",
            format!("/admin/orders?q={}", escape(&link_key)),
            Some(number.clone()),
        ),
        (
            "q=name prefix",
            format!("/admin/orders?q={}", escape("山田太")),
            Some("山田".into()),
        ),
        (
            "q=e-mail prefix",
            format!("/admin/orders?q={}", escape("yamada.taro.1")),
            Some("yamada.taro.1".into()),
        ),
    ];
    let mut rows = Vec::new();
    for (kind, path, expect) in kinds {
        // Once, to check the page answers and shows what it should.
        let page = get.get(path.clone()).await?;
        if let Some(expect) = &expect {
            if !page.contains(expect.as_str()) {
                bail!("{kind}: {path} does not show {expect}");
            }
        }
        for concurrency in [1, 8] {
            let (get2, path2) = (get.clone(), path.clone());
            let (_, p50, p99, failures) = crate::drive(REQUESTS, concurrency, move |_| {
                let (get, path) = (get2.clone(), path2.clone());
                async move { get.get(path).await.is_ok() }
            })
            .await;
            eprintln!("  {kind:<24} c{concurrency}: p50 {p50:.1} ms, p99 {p99:.1} ms");
            rows.push(json!({"kind": kind, "path": path, "concurrency": concurrency, "requests": REQUESTS,
                "p50_ms": p50, "p99_ms": p99, "failures": failures, "target_p99_ms": TARGET_P99_MS}));
        }
    }
    Ok(rows)
}

/// Prints one backend's order-list rows in the bench's table style.
pub fn print(backend: &str, result: &Value) {
    let Some(list) = result.get("order_list") else {
        return;
    };
    println!(
        "{:<9} order list over {} orders (loaded in {:.1} s); p99 target 100 ms",
        backend,
        list["orders"],
        list["load_seconds"].as_f64().unwrap_or(0.0)
    );
    for row in list["rows"].as_array().into_iter().flatten() {
        let p99 = row["p99_ms"].as_f64().unwrap_or(0.0);
        println!(
            "{:<9} {:<24} {:>5} {:>10} {:>8.2} {:>8.2} {:>9} {:>6}",
            backend,
            row["kind"].as_str().unwrap_or(""),
            row["concurrency"],
            "",
            row["p50_ms"].as_f64().unwrap_or(0.0),
            p99,
            if p99 < TARGET_P99_MS {
                "<100 ok"
            } else {
                "≥100 SLOW"
            },
            row["failures"],
        );
    }
}
