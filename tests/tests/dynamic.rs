//! Third-party modules loaded from shared libraries: the Acme example module built as a `cdylib`, loaded
//! from its path by the host's start-up code, and a card checkout and a bank transfer (issued, then
//! received) through it against the Acme simulator over real sockets; the `shophost modules` command
//! showing where it came from; and every way a library is refused (another module-API version, a
//! missing file, a file that is not a library, a library that is not a module, a clashing id).
//!
//! The libraries are built by the test itself (`cargo build -p acme-gateway -p shophost` into this
//! target directory, and the `old-api-module` fixture into `target/fixtures`), so the test always loads
//! what the current source builds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use acme_simulator::{Simulator, SimulatorConfig};
use anyhow::{bail, ensure, Context};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use shophost::config::{Config, RawConfig};
use shophost::db::{NewPaymentMethod, OrderFilter};
use shophost::domain::PaymentStatus;
use shophost::dynamic::DynamicError;
use shophost::registry::{Origin, Registry};
use shophost::AppState;
use shophost_module_api::abi::ABI_FINGERPRINT;
use shophost_module_api::API_VERSION;

const MERCHANT: &str = "M0001";
const SECRET: &str = "acme-test-secret-key-0123456789";
const ADMIN_TOKEN: &str = "dynamic-admin-token-0123";
const CARD: &str = "acting_acme_card";
const BANK: &str = "acting_acme_bank";
/// 有田焼 マグカップ, product 1 of the demo catalogue.
const MUG_PRICE: i64 = 3990;

/// The workspace root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// This test binary's profile directory (`target/debug`): it runs from `target/debug/deps`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_owned()
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(workspace())
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    ensure!(
        status.success(),
        "cargo {} failed: {status}",
        args.join(" ")
    );
    Ok(())
}

/// The paths of the built Acme library and `shophost` binary, built once per test run.
struct Built {
    acme: PathBuf,
    shophost: PathBuf,
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile_dir = profile_dir();
        let target = profile_dir.parent().expect("<target>/<profile>");
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a profile directory name");
        let profile = if profile == "debug" { "dev" } else { profile };
        cargo(&[
            "build",
            "--quiet",
            "-p",
            "acme-gateway",
            "-p",
            "shophost",
            "--profile",
            profile,
            "--target-dir",
            target.to_str().expect("a UTF-8 target path"),
        ])
        .expect("build the Acme module and the shophost binary");
        let library = format!(
            "{}acme_gateway{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        Built {
            acme: profile_dir.join(library),
            shophost: profile_dir.join(format!("shophost{}", std::env::consts::EXE_SUFFIX)),
        }
    })
}

/// The `old-api-module` fixture: a library whose descriptor says module-API version 0.
fn old_api_library() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_fixture("fixtures", None, None))
}

/// The same fixture claiming module-API version 2, the version before this one.
fn v2_library() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_fixture("fixtures-v2", Some(2), None))
}

/// This host's fingerprint with one labelled part replaced.
fn fingerprint_with(label: &str, value: &str) -> String {
    ABI_FINGERPRINT
        .split("; ")
        .map(|part| match part.split_once('=') {
            Some((name, _)) if name == label => format!("{name}={value}"),
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The same fixture claiming this host's module-API version, built by another compiler.
fn foreign_compiler_library() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_fixture(
            "fixtures-other-compiler",
            Some(API_VERSION),
            Some(fingerprint_with(
                "compiler",
                "rustc 1.70.0 (90c541806 2023-05-31)",
            )),
        )
    })
}

/// The same fixture claiming this host's module-API version, built from other module-API sources.
fn other_sources_library() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_fixture(
            "fixtures-other-sources",
            Some(API_VERSION),
            Some(fingerprint_with("sources", "0123456789abcdef")),
        )
    })
}

fn build_fixture(target_name: &str, version: Option<u32>, fingerprint: Option<String>) -> PathBuf {
    let target = profile_dir()
        .parent()
        .expect("<target>/<profile>")
        .join(target_name);
    let manifest = workspace().join("tests/fixtures/old-api-module/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target);
    match version {
        Some(version) => command.env("OLD_API_MODULE_VERSION", version.to_string()),
        None => command.env_remove("OLD_API_MODULE_VERSION"),
    };
    match fingerprint {
        Some(fingerprint) => command.env("OLD_API_MODULE_FINGERPRINT", fingerprint),
        None => command.env_remove("OLD_API_MODULE_FINGERPRINT"),
    };
    let status = command.status().expect("run cargo");
    assert!(
        status.success(),
        "building the old-api-module fixture failed: {status}"
    );
    target.join("debug").join(format!(
        "{}old_api_module{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// A fresh directory under the target's temporary directory.
fn scratch(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "dynamic-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// `shophost.toml` with the Acme library listed under `[[modules.dynamic]]`.
fn shop_config(dir: &Path, shop_port: u16, simulator_port: u16, in_use: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{shop_port}"
public_url = "http://127.0.0.1:{shop_port}"

[database]
url = "sqlite:{db}"

[admin]
token = "{ADMIN_TOKEN}"

[shop]
demo_data = true

[modules]
in_use = [{in_use}]

[[modules.dynamic]]
path = "{acme}"

[modules.settings.acme]
merchant_id = "{MERCHANT}"
secret_key = "{SECRET}"
environment = "test"
payment_page_url_test = "http://127.0.0.1:{simulator_port}/pay"
bank_days = 10
"#,
        db = dir.join("shop.db").display(),
        acme = built().acme.display(),
    )
}

/// What `main` does at start-up: load the dynamic modules, build the registry, validate the config.
fn start_up(text: &str) -> Result<(Config, Registry), String> {
    let raw = RawConfig::parse(text, "shophost.toml").map_err(|e| e.to_string())?;
    let paths: Vec<PathBuf> = raw.modules.dynamic.iter().map(|d| d.path.clone()).collect();
    let loaded = shophost::dynamic::load_configured(&paths)
        .map_err(|e| format!("shophost.toml: modules.dynamic: {e}"))?;
    let registry = shophost::bundled::registry(loaded).map_err(|e| e.to_string())?;
    let config =
        Config::from_raw(raw, "shophost.toml", &registry, &|_| None).map_err(|e| e.to_string())?;
    Ok((config, registry))
}

fn form_body(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(name, NON_ALPHANUMERIC),
                utf8_percent_encode(value, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The shop, the simulator and a browser that does not follow redirects.
struct Running {
    shop: String,
    simulator: String,
    state: AppState,
    http: reqwest::Client,
}

impl Running {
    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.shop))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body)?);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let value = serde_json::from_str(&text).with_context(|| format!("{path}: {text}"))?;
        Ok((status, value))
    }

    async fn create_method(&self, name: &str, settlement_type: &str) -> anyhow::Result<i64> {
        let body = json!({ "name": name, "explanation": "", "settlement_type": settlement_type, "active": true });
        let (status, method) = self
            .json(
                reqwest::Method::POST,
                "/admin/api/payment-methods",
                Some(body),
            )
            .await?;
        ensure!(status == 201, "creating {name}: {status} {method}");
        method["id"].as_i64().context("a method id")
    }

    /// The shopper checks out through the JSON API, posts the gateway form to Acme's page and makes a
    /// decision there; returns the link key, Acme's payment id and where Acme sends the browser.
    async fn pay(&self, method_id: i64, outcome: &str) -> anyhow::Result<(String, String, String)> {
        let checkout = json!({
            "lines": [{ "product_id": 1, "quantity": 1 }],
            "customer": {
                "email": "taro@example.jp", "family_name": "山田", "given_name": "太郎",
                "family_kana": "ヤマダ", "given_kana": "タロウ", "postcode": "100-0001",
                "prefecture": "東京都", "address1": "千代田区千代田", "address2": "1-1",
                "address3": "", "phone": "03-1234-5678",
            },
            "payment_method_id": method_id,
        });
        let (status, created) = self
            .json(reqwest::Method::POST, "/api/checkout", Some(checkout))
            .await?;
        ensure!(status == 201, "checkout: {status} {created}");
        let link_key = created["link_key"]
            .as_str()
            .context("a link key")?
            .to_owned();
        ensure!(created["total"] == MUG_PRICE, "total: {created}");
        let path = format!("/api/checkout/{link_key}/confirm");
        let (status, confirmed) = self.json(reqwest::Method::POST, &path, None).await?;
        ensure!(status == 200, "confirm: {status} {confirmed}");
        let form = &confirmed["form"];
        ensure!(form["charset"] == "UTF-8", "the Acme form is UTF-8: {form}");
        let url = form["url"].as_str().context("a form URL")?;
        ensure!(
            url == format!("{}/pay", self.simulator),
            "the form posts to the simulator: {url}"
        );
        let fields: Vec<(String, String)> = form["fields"]
            .as_array()
            .context("form fields")?
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap_or("").to_owned(),
                    pair[1].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let page = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&fields))
            .send()
            .await?;
        let status = page.status();
        let payment_id = page
            .headers()
            .get("x-acme-payment-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(payment_id) = payment_id else {
            bail!(
                "Acme's page refused the form: {status} {}",
                page.text().await?
            );
        };
        let decided = self
            .http
            .post(format!("{}/pay/{payment_id}/decide", self.simulator))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("outcome={outcome}"))
            .send()
            .await?;
        ensure!(
            decided.status() == 303,
            "Acme's decision: {}",
            decided.status()
        );
        let back = decided
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("Acme sends the browser back")?
            .to_owned();
        Ok((link_key, payment_id, back))
    }

    /// The browser follows Acme's redirect back to the shop; returns where the shop sends it next.
    async fn come_back(&self, url: &str) -> anyhow::Result<String> {
        ensure!(
            url.starts_with(&self.shop),
            "Acme returns to the shop: {url}"
        );
        let response = self.http.get(url).send().await?;
        ensure!(
            response.status() == 303,
            "the return: {}",
            response.status()
        );
        Ok(response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned())
    }

    async fn order(&self, link_key: &str) -> anyhow::Result<shophost::domain::Order> {
        let filter = OrderFilter {
            link_key: Some(link_key.to_owned()),
            ..OrderFilter::default()
        };
        let mut orders = self.state.store.orders(&filter, 10).await?;
        ensure!(orders.len() == 1, "{} orders for {link_key}", orders.len());
        Ok(orders.remove(0))
    }
}

async fn bind() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral port");
    let port = listener.local_addr().expect("local address").port();
    (listener, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaded_module_takes_card_payments_and_bank_transfers() -> anyhow::Result<()> {
    let dir = scratch("checkout");
    let (shop_listener, shop_port) = bind().await;
    let (simulator_listener, simulator_port) = bind().await;
    let text = shop_config(&dir, shop_port, simulator_port, r#""acme""#);
    let (config, registry) = start_up(&text).map_err(anyhow::Error::msg)?;
    let acme = registry.get("acme").context("acme is registered")?;
    assert_eq!(acme.origin, Origin::File(built().acme.clone()));
    assert_eq!(acme.display_name, "アクメ");
    assert_eq!(
        registry.get("remise").map(|m| m.origin.clone()),
        Some(Origin::CompiledIn),
        "loaded modules sit beside compiled-in ones"
    );
    let state = shophost::serve::build_state(config, registry).await?;
    shophost::serve::spawn_server(state.clone(), shop_listener);
    let shop = format!("http://127.0.0.1:{shop_port}");
    let simulator = Simulator::new(SimulatorConfig {
        merchant_id: MERCHANT.to_owned(),
        secret_key: SECRET.to_owned(),
        notify_url: format!("{shop}/notify/acme"),
        delivery_attempts: 3,
    });
    simulator.spawn(simulator_listener);
    let running = Running {
        shop,
        simulator: format!("http://127.0.0.1:{simulator_port}"),
        state,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
    };

    // The admin API lists the module with its origin and settlement types.
    let (_, modules) = running
        .json(reqwest::Method::GET, "/admin/api/modules", None)
        .await?;
    let listed = modules.to_string();
    assert!(
        listed.contains(&built().acme.display().to_string()),
        "{listed}"
    );
    assert!(listed.contains(CARD) && listed.contains(BANK), "{listed}");
    let acme_listed = modules["modules"]
        .as_array()
        .context("modules")?
        .iter()
        .find(|m| m["id"] == "acme")
        .context("acme is listed")?;
    assert_eq!(
        acme_listed["notification_endpoints"][0]["url"],
        format!("{}/notify/acme", running.shop),
        "{acme_listed}"
    );
    assert_eq!(acme_listed["notification_endpoints"][0]["trust"], "signed");
    let card = running.create_method("アクメ カード", CARD).await?;
    let bank = running.create_method("アクメ 銀行振込", BANK).await?;
    let (_, methods) = running
        .json(reqwest::Method::GET, "/api/payment-methods", None)
        .await?;
    let offered: Vec<&str> = methods["payment_methods"]
        .as_array()
        .context("methods")?
        .iter()
        .filter_map(|m| m["settlement_type"].as_str())
        .collect();
    assert_eq!(offered, [CARD, BANK]);

    // Card: the notification arrives before the browser, which lands on the completed order.
    let (link_key, payment_id, back) = running.pay(card, "approve").await?;
    let delivered = simulator.payment(&payment_id).context("the payment")?;
    assert!(delivered.deliveries[0].delivered, "{delivered:?}");
    assert_eq!(delivered.deliveries[0].last_answer, r#"{"received":true}"#);
    let next = running.come_back(&back).await?;
    assert_eq!(next, format!("/checkout/complete/{link_key}"));
    let order = running.order(&link_key).await?;
    assert_eq!(order.payment_status, PaymentStatus::Captured);
    assert_eq!(order.module_id, "acme");
    assert_eq!(order.settlement_label, "カード決済（アクメ）");
    assert_eq!(order.transaction_id.as_deref(), Some(payment_id.as_str()));
    assert_eq!(order.total, MUG_PRICE);
    let (_, status) = running
        .json(
            reqwest::Method::GET,
            &format!("/api/checkout/{link_key}"),
            None,
        )
        .await?;
    assert_eq!(status["state"], "ordered", "{status}");
    assert_eq!(status["payment_status"], "captured", "{status}");

    // A forged notification (signed with another key) is refused and changes nothing.
    let forged = format!(
        r#"{{"event":"transfer.received","payment_id":"{payment_id}","order_id":"{link_key}","merchant_id":"{MERCHANT}","amount":{MUG_PRICE}}}"#
    );
    let response = running
        .http
        .post(format!("{}/notify/acme", running.shop))
        .header("content-type", "application/json")
        .header(
            "x-acme-signature",
            acme_simulator::sign("not-the-secret", forged.as_bytes()),
        )
        .body(forged)
        .send()
        .await?;
    assert_eq!(response.status(), 400);
    assert_eq!(
        running.order(&link_key).await?.payment_status,
        PaymentStatus::Captured
    );

    // Bank transfer: issued (the order exists, unpaid, with the slip), then received (paid).
    let (link_key, payment_id, back) = running.pay(bank, "approve").await?;
    running.come_back(&back).await?;
    let order = running.order(&link_key).await?;
    assert_eq!(order.payment_status, PaymentStatus::Unpaid);
    let slip = order.slip.as_ref().context("a slip")?;
    let slip_text = serde_json::to_string(slip)?;
    assert!(
        slip_text.contains("アクメ銀行") && slip_text.contains("1234567"),
        "{slip_text}"
    );
    assert!(order.deadline.is_some(), "the transfer deadline is kept");
    let received = running
        .http
        .post(format!(
            "{}/admin/payments/{payment_id}/receive",
            running.simulator
        ))
        .send()
        .await?;
    assert_eq!(received.status(), 200);
    let received: Value = serde_json::from_str(&received.text().await?)?;
    assert_eq!(received["delivered"], true, "{received}");
    assert_eq!(
        running.order(&link_key).await?.payment_status,
        PaymentStatus::Paid
    );
    let (_, status) = running
        .json(
            reqwest::Method::GET,
            &format!("/api/checkout/{link_key}"),
            None,
        )
        .await?;
    assert_eq!(status["payment_status"], "paid", "{status}");

    // A declined card makes no order and lands on the failure page.
    let (link_key, _, back) = running.pay(card, "decline").await?;
    let failed = running.http.get(&back).send().await?;
    assert_eq!(failed.status(), 200);
    assert!(failed.text().await?.contains("card_declined"));
    let none = running
        .state
        .store
        .orders(
            &OrderFilter {
                link_key: Some(link_key),
                ..OrderFilter::default()
            },
            10,
        )
        .await?;
    assert!(none.is_empty());

    // The loaded module is taken out of use like any other: refused while its methods are in use...
    let out_of_use = shop_config(&dir, shop_port, simulator_port, "");
    let (config, registry) = start_up(&out_of_use).map_err(anyhow::Error::msg)?;
    let refused = shophost::serve::build_state(config, registry).await;
    let error = format!(
        "{:#}",
        refused.err().context("taking acme out of use is refused")?
    );
    assert!(
        error.contains("module `acme` cannot be taken out of use: payment method `アクメ カード` is in use (使用)"),
        "{error}"
    );
    // ...and accepted once they are stopped (停止).
    for (id, name, settlement_type) in [
        (card, "アクメ カード", CARD),
        (bank, "アクメ 銀行振込", BANK),
    ] {
        let stopped = NewPaymentMethod {
            name: name.to_owned(),
            explanation: String::new(),
            settlement_type: settlement_type.to_owned(),
            active: false,
        };
        running
            .state
            .store
            .update_payment_method(id, &stopped)
            .await?;
    }
    let (config, registry) = start_up(&out_of_use).map_err(anyhow::Error::msg)?;
    let state = shophost::serve::build_state(config, registry).await?;
    assert!(state.engine.in_use().is_empty());
    Ok(())
}

#[test]
fn shophost_modules_lists_the_loaded_library_with_its_path() {
    let dir = scratch("modules");
    let file = dir.join("shophost.toml");
    std::fs::write(&file, shop_config(&dir, 18080, 18090, r#""acme""#)).unwrap();
    let output = Command::new(&built().shophost)
        .args(["modules", "--config"])
        .arg(&file)
        .output()
        .expect("run shophost modules");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let acme = stdout
        .lines()
        .find(|line| line.starts_with("acme "))
        .unwrap_or_else(|| panic!("no acme line in:\n{stdout}"));
    assert!(acme.contains(&built().acme.display().to_string()), "{acme}");
    assert!(
        acme.contains("yes") && acme.contains(CARD) && acme.contains(BANK),
        "{acme}"
    );
    // Each endpoint's URL to register and what vouches for it, as the module declares them.
    assert!(
        stdout.contains(
            "notifications `acme`: http://127.0.0.1:18080/notify/acme (通知URL（Webhook）, アクメ管理画面); trust: signed"
        ),
        "{stdout}"
    );
    let remise = stdout
        .lines()
        .find(|line| line.starts_with("remise "))
        .unwrap_or_else(|| panic!("no remise line in:\n{stdout}"));
    assert!(remise.contains("compiled-in"), "{remise}");
}

#[test]
fn the_start_up_banner_lists_the_notification_urls_of_the_modules_in_use() {
    use std::io::{BufRead, BufReader};
    let dir = scratch("banner");
    let file = dir.join("shophost.toml");
    let text = shop_config(&dir, 0, 18091, r#""acme""#).replace(
        "public_url = \"http://127.0.0.1:0\"",
        "public_url = \"https://shop.example.jp\"",
    );
    std::fs::write(&file, text).unwrap();
    let mut child = Command::new(&built().shophost)
        .args(["--config"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start shophost");
    let stdout = child.stdout.take().expect("stdout");
    let mut banner = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a banner line");
        let last = line.starts_with("Stop with Ctrl-C");
        banner.push(line);
        if last {
            break;
        }
    }
    // It may have stopped already (a start-up error ends the banner early).
    let _ = child.kill();
    let _ = child.wait();
    let banner = banner.join("\n");
    assert!(
        banner.contains(
            "\n  notifications:   アクメ 通知URL（Webhook）: https://shop.example.jp/notify/acme\n"
        ),
        "{banner}"
    );
    // Remise is compiled in but not in use: its URLs are not the operator's business here.
    assert!(!banner.contains("remise"), "{banner}");
}

#[test]
fn shophost_config_example_includes_the_settings_of_loaded_modules() {
    // From a library given on the command line, and from the libraries a config file lists.
    let dir = scratch("example");
    let file = dir.join("shophost.toml");
    std::fs::write(&file, shop_config(&dir, 18080, 18090, r#""acme""#)).unwrap();
    for args in [
        vec![
            "config".into(),
            "example".into(),
            "--module".into(),
            built().acme.clone(),
        ],
        vec![
            "config".into(),
            "example".into(),
            "--config".into(),
            file.clone(),
        ],
    ] {
        let output = Command::new(&built().shophost)
            .args(&args)
            .output()
            .expect("run shophost config example");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        assert!(
            stdout.contains(&format!(
                "[[modules.dynamic]]\npath = \"{}\"\n",
                built().acme.display()
            )),
            "{stdout}"
        );
        assert!(stdout.contains("\n[modules.settings.acme]\n"), "{stdout}");
        assert!(stdout.contains("\n# merchant_id = \"\"\n"), "{stdout}");
        // What it prints is a config file the host reads.
        RawConfig::parse(&stdout, "example").expect("the example parses");
    }
}

#[test]
fn shophost_version_names_the_module_api_version_and_fingerprint() {
    let output = Command::new(&built().shophost)
        .arg("--version")
        .output()
        .expect("run shophost --version");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("shophost "), "{stdout}");
    assert!(
        stdout.contains(&format!("\nmodule API version {API_VERSION}\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("\nABI fingerprint: {ABI_FINGERPRINT}")),
        "{stdout}"
    );
}

#[test]
fn a_library_for_another_module_api_version_is_refused_before_it_runs() {
    let old = old_api_library();
    let error = shophost::dynamic::load_configured(std::slice::from_ref(old)).unwrap_err();
    assert!(
        matches!(error, DynamicError::ApiVersion { found: 0, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}: built for module API version 0 (fingerprint rustc 1.70.0 (90c541806 2023-05-31); shophost-module-api 0.0.1), \
             this host speaks version {API_VERSION} (fingerprint {ABI_FINGERPRINT}); rebuild the module against this host's shophost-module-api",
            old.display()
        )
    );
    // Through the real binary too: the config file, the key and the library in one line, exit 1.
    let dir = scratch("old-api");
    let file = dir.join("shophost.toml");
    std::fs::write(
        &file,
        format!("[[modules.dynamic]]\npath = \"{}\"\n", old.display()),
    )
    .unwrap();
    let output = Command::new(&built().shophost)
        .args(["modules", "--config"])
        .arg(&file)
        .output()
        .expect("run shophost modules");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "error: {}: modules.dynamic: {}: built for module API version 0",
        file.display(),
        old.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn a_library_for_the_previous_module_api_version_is_refused_naming_both() {
    let v2 = v2_library();
    let error = shophost::dynamic::load_configured(std::slice::from_ref(v2)).unwrap_err();
    assert!(
        matches!(
            error,
            DynamicError::ApiVersion {
                found: 2,
                expected: API_VERSION,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "{}: built for module API version 2 (fingerprint ",
            v2.display()
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "this host speaks version {API_VERSION} (fingerprint"
        )),
        "{message}"
    );
    assert!(
        message.ends_with("rebuild the module against this host's shophost-module-api"),
        "{message}"
    );
}

#[test]
fn a_library_built_by_another_compiler_is_refused_naming_the_compiler() {
    let foreign = foreign_compiler_library();
    let error = shophost::dynamic::load_configured(std::slice::from_ref(foreign)).unwrap_err();
    assert!(
        matches!(error, DynamicError::Fingerprint { .. }),
        "{error:?}"
    );
    let host_compiler = ABI_FINGERPRINT
        .split("; ")
        .find_map(|part| part.strip_prefix("compiler="))
        .expect("the host's fingerprint names its compiler");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: built for module API version {API_VERSION}, but its fingerprint differs from this host's in \
             the compiler (module `rustc 1.70.0 (90c541806 2023-05-31)`, host `{host_compiler}`); \
             rebuild the module with this host's compiler and shophost-module-api",
            foreign.display()
        )
    );
}

#[test]
fn a_library_built_from_other_module_api_sources_is_refused_naming_them() {
    let other = other_sources_library();
    let error = shophost::dynamic::load_configured(std::slice::from_ref(other)).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(
            "differs from this host's in the module-API sources (module `0123456789abcdef`, host `"
        ),
        "{message}"
    );
    assert!(!message.contains("the compiler"), "{message}");
}

#[test]
fn missing_files_non_libraries_and_non_modules_are_refused() {
    let dir = scratch("refused");
    let missing = dir.join("libmissing.so");
    assert_eq!(
        shophost::dynamic::load_configured(std::slice::from_ref(&missing))
            .unwrap_err()
            .to_string(),
        format!("{}: no such file", missing.display())
    );

    let text = dir.join("libtext.so");
    std::fs::write(&text, "not a library").unwrap();
    let error = shophost::dynamic::load_configured(std::slice::from_ref(&text)).unwrap_err();
    assert!(
        matches!(error, DynamicError::NotALibrary { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "{}: cannot be loaded as a shared library: ",
            text.display()
        )),
        "{error}"
    );

    // The C library this process already uses: a real shared library, but no shophost module.
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let libc = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.contains("/libc.so") || path.contains("/libc-"))
        .map(PathBuf::from)
        .expect("the C library is mapped");
    let error = shophost::dynamic::load_configured(std::slice::from_ref(&libc)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: not a shophost module: it exports no `SHOPHOST_MODULE_ABI` descriptor (build it with shophost_module_api::export_module!)",
            libc.display()
        )
    );
}

#[test]
fn a_loaded_module_whose_id_clashes_is_a_start_up_error() {
    let dir = scratch("clash");
    let acme = built().acme.display().to_string();
    let text = format!(
        "[database]\nurl = \"sqlite:{}\"\n[[modules.dynamic]]\npath = \"{acme}\"\n[[modules.dynamic]]\npath = \"{acme}\"\n",
        dir.join("shop.db").display()
    );
    assert_eq!(
        start_up(&text).unwrap_err(),
        format!("module id `acme` is registered twice ({acme} and {acme})")
    );
}
