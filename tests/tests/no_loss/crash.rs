//! A crash: the real `shophost` binary, killed with SIGKILL while notifications stream in, then
//! restarted on the same database. Whatever was acknowledged is in the database; whatever is in the
//! database is whole (attempt, order, payment event and journal entry together, or none of them).

use super::*;

/// Card attempts whose notifications stream in while the host is killed.
const CRASH_ATTEMPTS: usize = 300;
/// Times the host is killed with SIGKILL and restarted.
const KILLS: usize = 4;
/// Senders, one request in flight each.
const SENDERS: usize = 5;
/// How long the whole sending phase may go on before the test gives up. This and the next bound only
/// keep a broken host from hanging the test; they are far above what a working one needs.
const SENDING_BOUND: Duration = Duration::from_secs(180);

/// A small deterministic generator (xorshift64*), so a failing run can be repeated from its seed.
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Dice {
        Dice(seed | 1)
    }

    /// A number in `low..high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        low + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (high - low)
    }
}

/// What the senders know: which notifications are still to be sent, which were acknowledged, and
/// every answer that was neither an acknowledgement nor a broken connection.
#[derive(Default)]
struct Progress {
    pending: VecDeque<usize>,
    acknowledged: HashSet<usize>,
    sends: usize,
    unexpected: Vec<String>,
}

/// Sends card notifications for `link_keys` until each is acknowledged, like Remise: anything but the
/// exact acknowledgement (including a connection the dying host broke) is tried again.
async fn sender(
    notify_url: String,
    http: reqwest::Client,
    link_keys: Arc<Vec<String>>,
    progress: Arc<Mutex<Progress>>,
    deadline: Instant,
    seed: u64,
) {
    let mut dice = Dice::new(seed);
    while Instant::now() < deadline {
        let next = {
            let mut progress = progress.lock().expect("progress");
            if progress.acknowledged.len() == link_keys.len() {
                return;
            }
            progress.pending.pop_front()
        };
        let Some(index) = next else {
            // The rest are in flight at the other senders; one of them may need another try.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let body = sjis_form(&card_success(
            &link_keys[index],
            &format!("TC{index:06}"),
            MUG_PRICE,
        ));
        let answer = async {
            let response = http
                .post(&notify_url)
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=Shift_JIS",
                )
                .body(body)
                .send()
                .await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        }
        .await;
        let acknowledged = {
            let mut progress = progress.lock().expect("progress");
            progress.sends += 1;
            match answer {
                Ok((200, body)) if body == ACK => {
                    progress.acknowledged.insert(index);
                    true
                }
                Ok((status, body)) => {
                    progress
                        .unexpected
                        .push(format!("{}: {status} {body}", link_keys[index]));
                    progress.pending.push_back(index);
                    false
                }
                // The host died under the request (or is not up yet): not acknowledged, so resent.
                Err(_) => {
                    progress.pending.push_back(index);
                    false
                }
            }
        };
        let pause = if acknowledged {
            dice.between(25, 45)
        } else {
            dice.between(20, 40)
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Where the crash test's host keeps its data: a SQLite file in a scratch directory, or a fresh schema
/// on a PostgreSQL server.
enum CrashDatabase {
    Sqlite,
    Postgres {
        server_url: String,
        schema: String,
        /// The URL whose connections work in `schema`.
        database_url: String,
    },
}

/// A connection pool for reading the host's database straight, while no host runs.
enum Reader {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Reader {
    async fn open(database_url: &str) -> Reader {
        if database_url.starts_with("sqlite:") {
            Reader::Sqlite(
                sqlx::SqlitePool::connect(database_url)
                    .await
                    .expect("open the host's database"),
            )
        } else {
            Reader::Postgres(
                sqlx::PgPool::connect(database_url)
                    .await
                    .expect("open the host's database"),
            )
        }
    }

    async fn close(self) {
        match self {
            Reader::Sqlite(pool) => pool.close().await,
            Reader::Postgres(pool) => pool.close().await,
        }
    }
}

/// Runs `sql` on either backend and maps each row with `map` (the same code for both row types).
macro_rules! read_rows {
    ($reader:expr, $sql:expr, |$row:ident| $map:expr) => {
        match $reader {
            Reader::Sqlite(pool) => sqlx::query($sql)
                .fetch_all(pool)
                .await
                .expect($sql)
                .iter()
                .map(|$row| $map)
                .collect::<Vec<_>>(),
            Reader::Postgres(pool) => sqlx::query($sql)
                .fetch_all(pool)
                .await
                .expect($sql)
                .iter()
                .map(|$row| $map)
                .collect::<Vec<_>>(),
        }
    };
}

/// One attempt's rows, read straight from the database while no host runs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Stored {
    attempt_state: String,
    attempt_order_id: Option<i64>,
    order: Option<(i64, String, Option<String>)>,
    history: i64,
    events: i64,
    events_with_journal: i64,
    accepted: i64,
}

/// Reads every attempt's rows from the database file and checks that each is whole: the attempt is
/// `ordered` exactly when its order exists, exactly when one payment event (tied to its journal entry)
/// exists, exactly when one accepted journal entry exists. Every acknowledged notification has its
/// effect. Returns the number of attempts with an order.
async fn check_database(
    database_url: &str,
    link_keys: &[String],
    acknowledged: &HashSet<usize>,
    when: &str,
) -> usize {
    let reader = Reader::open(database_url).await;
    let mut stored: HashMap<String, Stored> = HashMap::new();
    let attempts: Vec<(String, String, Option<i64>)> = read_rows!(
        &reader,
        "SELECT link_key, state, order_id FROM checkout_attempts",
        |row| (row.get("link_key"), row.get("state"), row.get("order_id"))
    );
    for (link_key, state, order_id) in attempts {
        let entry = stored.entry(link_key).or_default();
        entry.attempt_state = state;
        entry.attempt_order_id = order_id;
    }
    let orders: Vec<(String, i64, String, Option<String>, i64)> = read_rows!(
        &reader,
        "SELECT o.link_key, o.id, o.payment_status, o.transaction_id, \
         (SELECT COUNT(*) FROM order_history h WHERE h.order_id = o.id) AS history FROM orders o",
        |row| (
            row.get("link_key"),
            row.get("id"),
            row.get("payment_status"),
            row.get("transaction_id"),
            row.get("history"),
        )
    );
    for (link_key, id, status, transaction_id, history) in orders {
        let entry = stored.entry(link_key).or_default();
        assert!(entry.order.is_none(), "{when}: two orders for one link key");
        entry.order = Some((id, status, transaction_id));
        entry.history = history;
    }
    let events: Vec<(String, i64, i64)> = read_rows!(
        &reader,
        "SELECT link_key, COUNT(*) AS n, COUNT(journal_id) AS tied FROM payment_events GROUP BY link_key",
        |row| (row.get("link_key"), row.get("n"), row.get("tied"))
    );
    for (link_key, count, tied) in events {
        let entry = stored.entry(link_key).or_default();
        entry.events = count;
        entry.events_with_journal = tied;
    }
    let accepted: Vec<(Option<String>, i64)> = read_rows!(
        &reader,
        "SELECT link_key, COUNT(*) AS n FROM notification_journal WHERE verdict = 'accepted' \
         GROUP BY link_key",
        |row| (row.get("link_key"), row.get("n"))
    );
    for (link_key, count) in accepted {
        let link_key = link_key.expect("an accepted entry names its link key");
        stored.entry(link_key).or_default().accepted = count;
    }
    let refused: Vec<i64> = read_rows!(
        &reader,
        "SELECT COUNT(*) AS n FROM notification_journal WHERE verdict NOT IN ('accepted', 'duplicate')",
        |row| row.get("n")
    );
    let refused = refused[0];
    reader.close().await;
    assert_eq!(refused, 0, "{when}: no notification was refused");
    assert_eq!(
        stored.len(),
        link_keys.len(),
        "{when}: nothing but our attempts"
    );

    let mut ordered = 0;
    for (index, link_key) in link_keys.iter().enumerate() {
        let rows = stored
            .get(link_key)
            .unwrap_or_else(|| panic!("{when}: attempt {link_key} is gone"));
        let is_ordered = rows.attempt_state == "ordered";
        let whole = match &rows.order {
            Some((order_id, status, transaction_id)) => {
                is_ordered
                    && rows.attempt_order_id == Some(*order_id)
                    && status == "captured"
                    && transaction_id.as_deref() == Some(format!("TC{index:06}").as_str())
                    && rows.history == 1
                    && rows.events == 1
                    && rows.events_with_journal == 1
                    && rows.accepted == 1
            }
            None => {
                rows.attempt_state == "open"
                    && rows.attempt_order_id.is_none()
                    && rows.events == 0
                    && rows.accepted == 0
            }
        };
        assert!(whole, "{when}: {link_key} is half-applied: {rows:?}");
        if acknowledged.contains(&index) {
            assert!(
                is_ordered,
                "{when}: {link_key} was acknowledged but is not in the database: {rows:?}"
            );
        }
        ordered += usize::from(is_ordered);
    }
    ordered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_notifications_survive_sigkill_on_sqlite_and_nothing_is_half_applied() {
    crash(CrashDatabase::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_notifications_survive_sigkill_on_postgres_and_nothing_is_half_applied() {
    let Some(server_url) = postgres_url() else {
        eprintln!("SHOPHOST_TEST_PG_URL is not set: the PostgreSQL crash test did not run");
        return;
    };
    let (database_url, schema) = fresh_postgres_schema(&server_url)
        .await
        .expect("a fresh PostgreSQL schema");
    crash(CrashDatabase::Postgres {
        server_url,
        schema,
        database_url,
    })
    .await;
}

/// Streams card notifications into a `shophost` process on `database`, kills it with SIGKILL
/// [`KILLS`] times while they are being acknowledged, and checks the database after each kill.
async fn crash(database: CrashDatabase) {
    let seed = RandomState::new().hash_one(std::process::id());
    let mut dice = Dice::new(seed);

    let dir = std::env::temp_dir().join(format!("shophost-crash-{}", unique_name()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let database_url = match &database {
        CrashDatabase::Sqlite => format!("sqlite:{}", dir.join("shop.db").display()),
        CrashDatabase::Postgres { database_url, .. } => database_url.clone(),
    };
    let backend = match &database {
        CrashDatabase::Sqlite => "sqlite",
        CrashDatabase::Postgres { .. } => "postgres",
    };
    eprintln!("crash test on {backend}, seed: {seed:#x}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let address: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let base = format!("http://{address}");
    let config = dir.join("shophost.toml");
    std::fs::write(
        &config,
        child_config_text(&Options::default(), address, &database_url),
    )
    .expect("write the config");
    let log = dir.join("shophost.log");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    let mut host = HostProcess::start(&config, &log, &base, &http).await;

    // The attempts, through the JSON checkout API.
    let methods: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{base}/api/payment-methods"))
            .send()
            .await
            .expect("payment methods")
            .bytes()
            .await
            .expect("payment methods"),
    )
    .expect("JSON");
    let method = methods["payment_methods"]
        .as_array()
        .expect("methods")
        .iter()
        .find(|m| m["settlement_type"] == CARD)
        .and_then(|m| m["id"].as_i64())
        .expect("a card method");
    let mut link_keys = Vec::with_capacity(CRASH_ATTEMPTS);
    for _ in 0..CRASH_ATTEMPTS {
        let body = json!({
            "lines": [{"product_id": 1, "quantity": 1}],
            "customer": customer(),
            "payment_method_id": method,
            "options": {},
        });
        let response = http
            .post(format!("{base}/api/checkout"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("checkout");
        assert_eq!(response.status(), 201);
        let created: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
        link_keys.push(created["link_key"].as_str().expect("link key").to_owned());
    }
    let link_keys = Arc::new(link_keys);

    let progress = Arc::new(Mutex::new(Progress {
        pending: (0..CRASH_ATTEMPTS).collect(),
        ..Progress::default()
    }));
    let deadline = Instant::now() + SENDING_BOUND;
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..SENDERS {
        senders.spawn(sender(
            format!("{base}/index.php?acting=remise_card"),
            http.clone(),
            link_keys.clone(),
            progress.clone(),
            deadline,
            dice.between(1, u64::MAX),
        ));
    }

    // Kill k comes once a random number of notifications in the k-th of KILLS + 2 equal slices have
    // been acknowledged (so never before the first slice nor after the last), then 0–40 ms later, so
    // that it lands at a random point of some request's life while others are still to be sent.
    let slice = (CRASH_ATTEMPTS / (KILLS + 2)) as u64;
    let mut ordered_at_kills = Vec::new();
    for kill in 1..=KILLS {
        let target = dice.between(slice * kill as u64, slice * (kill as u64 + 1)) as usize;
        loop {
            let acknowledged = progress.lock().expect("progress").acknowledged.len();
            if acknowledged >= target {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {acknowledged} notifications were acknowledged within {SENDING_BOUND:?} \
                 (seed {seed:#x}):\n{}",
                host.log_text()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(dice.between(0, 40))).await;
        host.kill().await;
        // Only what was acknowledged before the kill; a late-marked one was committed all the same.
        let acknowledged = progress.lock().expect("progress").acknowledged.clone();
        let when = format!("after kill {kill} on {backend} (seed {seed:#x})");
        let ordered = check_database(&database_url, &link_keys, &acknowledged, &when).await;
        assert!(ordered >= acknowledged.len(), "{when}");
        // The kill landed mid-stream: some notifications had made their orders, and some had not
        // been sent or acknowledged yet, so the host died with work still coming.
        assert!(
            0 < ordered && ordered < CRASH_ATTEMPTS,
            "{when}: the kill did not land while notifications were being acknowledged \
             ({ordered} of {CRASH_ATTEMPTS} orders existed)"
        );
        ordered_at_kills.push((acknowledged.len(), ordered));
        host = HostProcess::start(&config, &log, &base, &http).await;
    }
    while let Some(done) = senders.join_next().await {
        done.expect("a sender panicked");
    }
    let progress = Arc::into_inner(progress)
        .expect("the senders are done")
        .into_inner()
        .expect("progress");
    eprintln!(
        "crash test on {backend}: {} sends for {CRASH_ATTEMPTS} notifications; (acknowledged, ordered) \
         at each kill: {ordered_at_kills:?}",
        progress.sends
    );
    assert!(
        progress.unexpected.is_empty(),
        "every answer the host gave was the acknowledgement: {:?}",
        progress.unexpected
    );
    assert_eq!(
        progress.acknowledged.len(),
        CRASH_ATTEMPTS,
        "every notification was acknowledged within {SENDING_BOUND:?} (seed {seed:#x})"
    );
    host.kill().await;
    let ordered = check_database(
        &database_url,
        &link_keys,
        &progress.acknowledged,
        &format!("at the end on {backend} (seed {seed:#x})"),
    )
    .await;
    assert_eq!(ordered, CRASH_ATTEMPTS);
    let _ = std::fs::remove_dir_all(&dir);
    if let CrashDatabase::Postgres {
        server_url, schema, ..
    } = &database
    {
        drop_postgres_schema(server_url, schema).await;
    }
}

/// SIGTERM (systemd, containers) stops the host gracefully: a notification whose body is still
/// arriving when the signal comes is read, answered in the gateway's protocol, and then the process
/// exits with success; nothing new is accepted after the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_and_exits_cleanly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = std::env::temp_dir().join(format!("shophost-sigterm-{}", unique_name()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let address: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let base = format!("http://{address}");
    let config = dir.join("shophost.toml");
    let database_url = format!("sqlite:{}", dir.join("shop.db").display());
    std::fs::write(
        &config,
        child_config_text(&Options::default(), address, &database_url),
    )
    .expect("write the config");
    let log = dir.join("shophost.log");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut host = HostProcess::start(&config, &log, &base, &http).await;

    // A notification for an unknown link key (answered error1 after it is journaled), sent slowly:
    // the headers and half the body now, the rest after the signal.
    let body = sjis_form(&card_success("12345678901234567", "T0001", 3990));
    let (first, rest) = body.split_at(body.len() / 2);
    let mut connection = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "POST /index.php?acting=remise_card HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    connection.write_all(head.as_bytes()).await.expect("send");
    connection.write_all(first).await.expect("send");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = host.child.id().expect("the host runs");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The listener is closed: nothing new gets in.
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "a new connection was accepted after SIGTERM"
    );
    connection.write_all(rest).await.expect("send the rest");
    let mut answer = String::new();
    tokio::time::timeout(
        Duration::from_secs(15),
        connection.read_to_string(&mut answer),
    )
    .await
    .expect("the answer comes before the drain deadline")
    .expect("read the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("error1"), "{answer}");

    let exit = tokio::time::timeout(Duration::from_secs(15), host.child.wait())
        .await
        .expect("the host exits after draining")
        .expect("wait for the host");
    assert!(exit.success(), "exit status {exit}:\n{}", host.log_text());
    let _ = std::fs::remove_dir_all(&dir);
}
