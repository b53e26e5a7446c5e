//! `shophost-bench`: how fast the host takes payments, measured over loopback against the real HTTP
//! server, and how that compares with the database's own durable commit rate.
//!
//! The server runs in a child process (this same binary, re-executed with `--serve`), so its peak memory
//! (VmHWM) is the server's alone. For each backend the bench creates checkout attempts through the JSON
//! checkout API, times the payment-start step (confirm → redirect form), then sends one Remise card
//! success notification per attempt (Shift_JIS bodies, as Remise sends them) at concurrency 1, 8 and 64,
//! and the same for multi-payment receipts. It also measures the raw commit rate (one small insert per
//! transaction, same durability settings) and prints the host's rate as a ratio of it. On SQLite it
//! reads how many pages a notification's commit wrote to the log and measures bare commits of that
//! many pages, rate and CPU time (`floor.rs`): what the disk allows a notification at concurrency 1.
//!
//! Usage: `cargo run --release -p shophost-bench -- [--backend sqlite|postgres|both] [-n N] [--json FILE]`
//! (`--steps card,conv` and `--concurrency 8` narrow a run, e.g. to profile one step; `--help` lists all).
//!
//! `--steps orders` (not in the default list: preloading takes a while) times the console's 受注リスト
//! over a large table: before the server starts it migrates the fresh database, makes an operator and
//! loads `--orders N` orders (default 1,000,000) with one set-based statement per table, printing the
//! load time; then it signs in and times the first page, deep pages, each filter and each kind of search
//! at concurrency 1 and 8, printing p50/p99 against the 100 ms p99 target (see `orders.rs`), e.g.
//! `cargo run --release -p shophost-bench -- --steps orders --orders 200000 --backend sqlite`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

mod floor;
mod orders;
mod preload;
mod server;

use server::{serve, start_server, Server};

/// Throughput, latency and memory of the shop host over loopback, against the database's raw commit
/// rate.
#[derive(Debug, Parser)]
#[command(name = "shophost-bench")]
struct Options {
    /// Which database to run against
    #[arg(long = "backend", value_enum, default_value_t = Backend::Both)]
    backend: Backend,
    /// Checkouts per run
    #[arg(short = 'n', value_name = "N", default_value_t = 2000)]
    n: usize,
    /// Where to write the figures
    #[arg(long, value_name = "FILE", default_value = "bench-results.json")]
    json: String,
    /// An administrative PostgreSQL URL; each run creates a fresh database beside it
    /// (default: $SHOPHOST_BENCH_PG_URL, else postgres://postgres@127.0.0.1:5432/test)
    #[arg(long, value_name = "URL")]
    pg_url: Option<String>,
    /// Which steps to run, separated by commas
    #[arg(
        long,
        value_name = "STEPS",
        value_delimiter = ',',
        value_parser = ["start", "card", "conv", "orders"],
        default_value = "start,card,conv"
    )]
    steps: Vec<String>,
    /// Orders the `orders` step preloads before timing the console's order list
    #[arg(long = "orders", value_name = "N", default_value_t = 1_000_000)]
    orders: i64,
    /// Before the steps, fill the database with N past orders (each with its history line, journal
    /// entry and payment event); each backend then runs twice, empty and preloaded, and the bench
    /// prints the preloaded figures against the empty ones and the storage per order
    #[arg(long = "preload", value_name = "N", default_value_t = 0)]
    preload: i64,
    /// Concurrencies of the notification steps, separated by commas
    #[arg(
        long = "concurrency",
        value_name = "LIST",
        value_delimiter = ',',
        value_parser = concurrency,
        default_value = "1,8,64"
    )]
    concurrencies: Vec<usize>,
    /// Internal: run the server from this config (the bench re-executes itself with it)
    #[arg(long, value_name = "CONFIG", hide = true)]
    serve: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
    Both,
}

/// One `--concurrency` value: a positive number.
fn concurrency(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(concurrency) if concurrency > 0 => Ok(concurrency),
        _ => Err("not a positive number (e.g. 1,8,64)".to_owned()),
    }
}

impl Options {
    fn backends(&self) -> &'static [&'static str] {
        match self.backend {
            Backend::Sqlite => &["sqlite"],
            Backend::Postgres => &["postgres"],
            Backend::Both => &["sqlite", "postgres"],
        }
    }

    fn pg_url(&self) -> String {
        self.pg_url
            .clone()
            .or_else(|| std::env::var("SHOPHOST_BENCH_PG_URL").ok())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    if let Some(config_path) = &options.serve {
        return serve(config_path);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}

/// Latencies in microseconds → (p50 ms, p99 ms).
fn percentiles(mut latencies: Vec<u64>) -> (f64, f64) {
    latencies.sort_unstable();
    let at =
        |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    (at(0.50), at(0.99))
}

/// Runs `jobs` requests with `concurrency` workers; returns (per second, p50 ms, p99 ms, failures).
async fn drive<F, Fut>(jobs: usize, concurrency: usize, job: F) -> (f64, f64, f64, usize)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (job, next, failures) = (job.clone(), next.clone(), failures.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    break;
                }
                let t = Instant::now();
                if !job(i).await {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                latencies.push(t.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(jobs);
    for worker in workers {
        latencies.extend(worker.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (p50, p99) = percentiles(latencies);
    (
        jobs as f64 / elapsed,
        p50,
        p99,
        failures.load(Ordering::Relaxed),
    )
}

fn sjis_form(fields: &[(&str, String)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            body.push(b'&');
        }
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(value);
        body.extend(name.as_bytes());
        body.push(b'=');
        body.extend(
            percent_encoding::percent_encode(&bytes, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .into_bytes(),
        );
    }
    body
}

async fn create_attempts(
    client: &reqwest::Client,
    base: &str,
    method_id: i64,
    n: usize,
) -> anyhow::Result<Vec<(String, i64)>> {
    let keys = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let (client2, base2, keys2) = (client.clone(), base.to_owned(), keys.clone());
    let (_, _, _, failures) = drive(n, 8, move |i| {
        let (client, base, keys) = (client2.clone(), base2.clone(), keys2.clone());
        async move {
            let body = json!({
                "lines": [{"product_id": 1 + (i % 4) as i64, "quantity": 1}],
                "customer": {"email": "bench@example.invalid", "family_name": "山田", "given_name": "太郎",
                    "family_kana": "ヤマダ", "given_kana": "タロウ", "postcode": "150-0001", "prefecture": "東京都",
                    "address1": "渋谷区神宮前", "address2": "1-2-3", "address3": "", "phone": "03-1111-2222"},
                "payment_method_id": method_id,
            });
            let Ok(response) = client.post(format!("{base}/api/checkout")).json(&body).send().await else { return false };
            let Ok(value) = response.json::<Value>().await else { return false };
            match (value["link_key"].as_str(), value["total"].as_i64()) {
                (Some(key), Some(total)) => {
                    keys.lock().unwrap().push((key.to_owned(), total));
                    true
                }
                _ => false,
            }
        }
    })
    .await;
    if failures > 0 {
        bail!("{failures} checkouts failed");
    }
    let keys = keys.lock().unwrap().clone();
    Ok(keys)
}

async fn method_id(
    client: &reqwest::Client,
    base: &str,
    settlement_type: &str,
) -> anyhow::Result<i64> {
    let methods: Value = client
        .get(format!("{base}/api/payment-methods"))
        .send()
        .await?
        .json()
        .await?;
    methods["payment_methods"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["settlement_type"] == settlement_type))
        .and_then(|m| m["id"].as_i64())
        .context("no payment method for the settlement type")
}

/// `n` transactions of one small insert each on `$conn` (any sqlx connection), after creating the
/// table with `$create`; the commits per second.
macro_rules! commit_rate {
    ($conn:expr, $create:literal, $n:expr) => {{
        use sqlx::Connection;
        let conn = $conn;
        sqlx::query($create).execute(&mut *conn).await?;
        let started = Instant::now();
        for _ in 0..$n {
            let mut tx = conn.begin().await?;
            sqlx::query("INSERT INTO raw_commit (v) VALUES ($1)")
                .bind("x")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        $n as f64 / started.elapsed().as_secs_f64()
    }};
}

/// The database's own durable commit rate, with the host's durability settings.
async fn raw_commit_rate(database_url: &str, n: usize) -> anyhow::Result<f64> {
    use sqlx::Connection;
    Ok(if let Some(path) = database_url.strip_prefix("sqlite:") {
        let mut conn = floor::durable_sqlite(&format!("{path}.raw")).await?;
        commit_rate!(
            &mut conn,
            "CREATE TABLE IF NOT EXISTS raw_commit (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
            n
        )
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        commit_rate!(
            &mut conn,
            "CREATE TABLE IF NOT EXISTS raw_commit (id BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)",
            n
        )
    })
}

/// Waits until the server's mail worker has sent (here: captured) every mail queued so far.
async fn wait_for_mail(database_url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let waiting = "SELECT COUNT(*) FROM mail_outbox WHERE status IN ('pending', 'retry')";
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let count: i64 = if database_url.starts_with("sqlite:") {
            let options: sqlx::sqlite::SqliteConnectOptions = database_url.parse()?;
            let mut conn = sqlx::SqliteConnection::connect_with(&options.read_only(true)).await?;
            sqlx::query_scalar(waiting).fetch_one(&mut conn).await?
        } else {
            let mut conn = sqlx::PgConnection::connect(database_url).await?;
            sqlx::query_scalar(waiting).fetch_one(&mut conn).await?
        };
        if count == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{count} mails still unsent two minutes after the step");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fresh_pg_database(admin_url: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let name = format!("shophost_bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .context("cannot reach PostgreSQL")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    Ok(format!("{base}/{name}"))
}

/// Drops the database `fresh_pg_database` made.
async fn drop_pg_database(admin_url: &str, database_url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let name = database_url.rsplit('/').next().unwrap_or_default();
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// One run on `backend`, on a fresh database holding `preload` past orders.
async fn bench_backend(backend: &str, options: &Options, preload: i64) -> anyhow::Result<Value> {
    let dir = std::env::temp_dir().join(format!("shophost-bench-{}-{backend}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let database_url = match backend {
        "sqlite" => format!("sqlite:{}", dir.join("bench.db").display()),
        _ => fresh_pg_database(&options.pg_url()).await?,
    };
    let step = |name: &str| options.steps.iter().any(|s| s == name);
    let load = if step("orders") {
        options.orders
    } else {
        preload
    };
    let loaded = match load > 0 {
        true => Some(orders::prepare(&database_url, load).await?),
        false => None,
    };
    let server = start_server(&dir, &database_url).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let base = server.base.clone();
    let card_method = method_id(&client, &base, "acting_remise_card").await?;
    let conv_method = method_id(&client, &base, "acting_remise_conv").await?;
    let n = options.n;
    let mut rows = Vec::new();

    // Payment start: checkout confirm → redirect form, over fresh attempts.
    if options.steps.iter().any(|s| s == "start") {
        let attempts = Arc::new(create_attempts(&client, &base, card_method, n).await?);
        let (c2, b2, a2) = (client.clone(), base.clone(), attempts.clone());
        let (rate, p50, p99, failures) = drive(n, 8, move |i| {
            let (client, base, attempts) = (c2.clone(), b2.clone(), a2.clone());
            async move {
                let url = format!("{base}/api/checkout/{}/confirm", attempts[i].0);
                matches!(client.post(url).send().await, Ok(r) if r.status().is_success())
            }
        })
        .await;
        rows.push(json!({"step": "payment start (confirm)", "concurrency": 8, "per_second": rate, "p50_ms": p50, "p99_ms": p99, "failures": failures}));
    }

    type Body = fn(usize, &str, i64, usize) -> Vec<u8>;
    let card_success: Body = |i, key, total, concurrency| {
        sjis_form(&[
            (
                "X-TRANID",
                format!("{:028}", i as u64 + 1 + concurrency as u64 * 1_000_000_000),
            ),
            ("X-S_TORIHIKI_NO", key.to_owned()),
            ("X-ERRCODE", "   ".into()),
            ("X-ERRINFO", "000000000".into()),
            ("X-ERRLEVEL", "0".into()),
            ("X-R_CODE", "0:0000".into()),
            ("X-AMOUNT", total.to_string()),
            ("X-TAX", "0".into()),
            ("X-TOTAL", total.to_string()),
            ("X-NAME", "ヤマダ タロウ".into()),
            ("REC_TYPE", "RET".into()),
        ])
    };
    let conv_receipt: Body = |_, key, total, _| {
        sjis_form(&[
            ("S_TORIHIKI_NO", key.to_owned()),
            ("REC_FLG", "1".into()),
            ("TOTAL", total.to_string()),
            ("REC_CVSNAME", "セブン－イレブン".into()),
        ])
    };
    let phases: [(&str, &str, i64, &str, Body); 2] = [
        (
            "card",
            "card notification",
            card_method,
            "remise_card",
            card_success,
        ),
        (
            "conv",
            "conv receipt",
            conv_method,
            "remise_conv",
            conv_receipt,
        ),
    ];
    for (short, step, method, acting, body) in phases {
        if !options.steps.iter().any(|s| s == short) {
            continue;
        }
        for &concurrency in &options.concurrencies {
            // Fresh attempts for every run, so each notification is a first one, not a duplicate.
            let attempts = Arc::new(create_attempts(&client, &base, method, n).await?);
            let (c2, b2, a2) = (client.clone(), base.clone(), attempts.clone());
            // Read outside the CPU figures: a scrape is no notification's cost.
            let commits_before = server.writer_counts(&client).await?;
            let cpu_before = server.cpu_seconds();
            let database_before = Server::database_cpu_seconds(&database_url);
            let (rate, p50, p99, failures) = drive(n, concurrency, move |i| {
                let (client, base, attempts) = (c2.clone(), b2.clone(), a2.clone());
                async move {
                    let (key, total) = &attempts[i];
                    let response = client
                        .post(format!("{base}/index.php?acting={acting}"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body(i, key, *total, concurrency))
                        .send()
                        .await;
                    match response {
                        Ok(r) => r
                            .text()
                            .await
                            .is_ok_and(|t| t == "<SDBKDATA>STATUS=800</SDBKDATA>"),
                        Err(_) => false,
                    }
                }
            })
            .await;
            // The log as the step's last commits left it, before the mail worker's next pass.
            let wal_frames = database_url
                .strip_prefix("sqlite:")
                .and_then(|path| floor::wal_frames_per_commit(std::path::Path::new(path)));
            // The server's CPU time for this step's notifications (the attempts were made before),
            // per notification handled: while they were answered, and with what they cause after
            // the answer, the mails they queued, which the worker sends within its poll interval
            // (without waiting for those, a step's mails would be counted in the next step's time).
            let per_request = |cpu: f64| cpu * 1e6 / n.max(1) as f64;
            let cpu_us = per_request(server.cpu_seconds() - cpu_before);
            let database_us = Server::database_cpu_seconds(&database_url)
                .zip(database_before)
                .map(|(after, before)| per_request(after - before));
            wait_for_mail(&database_url).await?;
            let with_mail_us = per_request(server.cpu_seconds() - cpu_before);
            let per_commit = commits_before.per_commit_until(server.writer_counts(&client).await?);
            rows.push(json!({"step": step, "concurrency": concurrency, "per_second": rate, "p50_ms": p50, "p99_ms": p99, "failures": failures, "server_cpu_us_per_request": cpu_us, "server_cpu_us_with_mail": with_mail_us, "database_cpu_us_per_request": database_us, "requests_per_commit": per_commit, "wal_frames_per_commit": wal_frames}));
        }
    }

    let order_list = match loaded.as_ref().filter(|_| step("orders")) {
        Some(loaded) => Some(
            json!({ "orders": loaded.n, "load_seconds": loaded.load_seconds,
            "rows": orders::bench(&base, loaded).await? }),
        ),
        None => None,
    };

    let peak_rss_mib = server.peak_rss_kib() as f64 / 1024.0;
    drop(server);
    if let Some(path) = database_url.strip_prefix("sqlite:") {
        // The server's last writes on disk first, so that their writeback does not slow the raw
        // commits below.
        std::fs::File::open(path)?.sync_all()?;
    }
    let commits = n.clamp(1, 5000);
    let cpu_before = floor::own_cpu_seconds();
    let raw = raw_commit_rate(&database_url, commits).await?;
    // On SQLite the commits run in this process: their CPU time is this process's.
    let raw_cpu_us = database_url
        .starts_with("sqlite:")
        .then(|| (floor::own_cpu_seconds() - cpu_before) * 1e6 / commits as f64);
    // The floor of a notification at concurrency 1: bare commits of the frames its commit wrote.
    let footprint = match (
        database_url.strip_prefix("sqlite:"),
        notification_frames(&rows),
    ) {
        (Some(path), Some(frames)) => Some(
            floor::footprint_commits(path, frames, commits)
                .await?
                .json(),
        ),
        _ => None,
    };
    let storage = preload::storage(&database_url).await?;
    let preloaded = loaded.as_ref().map_or(0, |loaded| loaded.n);
    let mut result = json!({ "backend": backend, "n": n, "preloaded": preloaded, "raw_commits_per_second": raw, "raw_cpu_us_per_commit": raw_cpu_us, "notification_footprint": footprint, "peak_rss_mib": peak_rss_mib, "rows": rows, "storage": storage });
    if let Some(order_list) = order_list {
        result["order_list"] = order_list;
    }
    if backend == "postgres" {
        drop_pg_database(&options.pg_url(), &database_url).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

async fn run(options: Options) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for backend in options.backends() {
        eprintln!("benchmarking {backend} with n = {} …", options.n);
        results.push(
            bench_backend(backend, &options, 0)
                .await
                .with_context(|| format!("{backend} benchmark failed"))?,
        );
        if options.preload > 0 {
            eprintln!(
                "benchmarking {backend} again, preloaded with {} orders …",
                options.preload
            );
            results.push(
                bench_backend(backend, &options, options.preload)
                    .await
                    .with_context(|| format!("{backend} benchmark (preloaded) failed"))?,
            );
        }
    }
    println!(
        "\n{:<13} {:<24} {:>5} {:>10} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6}",
        "backend",
        "step",
        "conc",
        "per sec",
        "p50 ms",
        "p99 ms",
        "÷ raw",
        "cpu µs",
        "+mail µs",
        "db µs",
        "/commit",
        "fail"
    );
    for result in &results {
        let raw = result["raw_commits_per_second"].as_f64().unwrap_or(1.0);
        for row in result["rows"].as_array().into_iter().flatten() {
            let rate = row["per_second"].as_f64().unwrap_or(0.0);
            println!(
                "{:<13} {:<24} {:>5} {:>10.0} {:>8.2} {:>8.2} {:>9.2} {:>9} {:>9} {:>9} {:>7} {:>6}",
                label(result),
                row["step"].as_str().unwrap_or(""),
                row["concurrency"],
                rate,
                row["p50_ms"].as_f64().unwrap_or(0.0),
                row["p99_ms"].as_f64().unwrap_or(0.0),
                rate / raw,
                row["server_cpu_us_per_request"]
                    .as_f64()
                    .map(|us| format!("{us:.0}"))
                    .unwrap_or_else(|| "-".into()),
                row["server_cpu_us_with_mail"]
                    .as_f64()
                    .map(|us| format!("{us:.0}"))
                    .unwrap_or_else(|| "-".into()),
                row["database_cpu_us_per_request"]
                    .as_f64()
                    .map(|us| format!("{us:.0}"))
                    .unwrap_or_else(|| "-".into()),
                row["requests_per_commit"]
                    .as_f64()
                    .map(|n| format!("{n:.1}"))
                    .unwrap_or_else(|| "-".into()),
                row["failures"],
            );
        }
        orders::print(result["backend"].as_str().unwrap_or(""), result);
        println!(
            "{:<13} raw durable commits/s: {:.0}   server peak RSS: {:.1} MiB",
            label(result),
            raw,
            result["peak_rss_mib"].as_f64().unwrap_or(0.0)
        );
        print_footprint(&label(result), result);
        preload::print_storage(&label(result), &result["storage"]);
    }
    preload::print_against_empty(&results);
    let document = json!({ "machine": machine(), "results": results });
    std::fs::write(&options.json, serde_json::to_string_pretty(&document)?)?;
    println!("figures written to {}", options.json);
    Ok(())
}

/// The WAL frames of one notification's commit: those of the first notification step run at
/// concurrency 1 (one notification a commit), rounded.
fn notification_frames(rows: &[Value]) -> Option<usize> {
    rows.iter()
        .filter(|row| row["concurrency"] == 1)
        .find_map(|row| row["wal_frames_per_commit"].as_f64())
        .map(|frames| frames.round().max(1.0) as usize)
}

/// The SQLite floor line: a notification's commit against bare commits of its size.
fn print_footprint(label: &str, result: &Value) {
    let footprint = &result["notification_footprint"];
    let (Some(pages), Some(rate), Some(cpu)) = (
        footprint["pages"].as_u64(),
        footprint["commits_per_second"].as_f64(),
        footprint["cpu_us_per_commit"].as_f64(),
    ) else {
        return;
    };
    let raw_cpu = result["raw_cpu_us_per_commit"].as_f64().unwrap_or(0.0);
    println!(
        "{label:<13} a notification's commit writes {pages} WAL frames; bare durable commits of {pages} pages: {rate:.0}/s, {cpu:.0} µs CPU each (a one-row commit: {raw_cpu:.0} µs)"
    );
}

/// A result's backend, with `+N` when it ran preloaded.
fn label(result: &Value) -> String {
    let backend = result["backend"].as_str().unwrap_or("");
    match result["preloaded"].as_i64().unwrap_or(0) {
        0 => backend.to_owned(),
        n => format!("{backend}+{n}"),
    }
}

fn machine() -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    json!({ "cpus": cpus, "cpu_model": model })
}
