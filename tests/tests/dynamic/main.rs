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

mod commands;
mod payments;
mod refused;
