//! Start-up: open the database, load the modules in use, seed demo data, and run the HTTP server, the
//! scheduled jobs and (for demos, with the cargo feature `sandbox`) the bundled gateway's sandbox.

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::db::{self, NewProduct, Store};
use crate::domain::{CustomerDetails, ProductRecurrence, TaxClass, ORDER_DAY};
use crate::engine::Engine;
use crate::registry::Registry;
use crate::AppState;

/// The demo products.
const DEMO_PRODUCTS: &[(&str, &str, i64, &str)] = &[
    (
        "SKU001",
        "有田焼 マグカップ",
        3990,
        "職人が一つずつ絵付けしたマグカップ。",
    ),
    (
        "SKU002",
        "今治タオル ハンカチ",
        1100,
        "やわらかく吸水性の高い今治タオル。",
    ),
    (
        "SKU003",
        "南部鉄器 急須",
        12800,
        "岩手の伝統工芸、南部鉄器の急須（0.5L）。",
    ),
    (
        "SKU004",
        "京都 宇治抹茶 30g",
        1620,
        "石臼挽きの宇治抹茶（軽減税率8%対象）。",
    ),
    (
        "SKU005",
        "オンライン茶道教室 月謝",
        3300,
        "毎月のオンライン稽古（継続課金: 毎月、ご注文日と同じ日に自動でお支払い）。",
    ),
    (
        "SKU006",
        "静岡 深蒸し煎茶 100g",
        540,
        "香り高い静岡の深蒸し煎茶（軽減税率8%対象）。",
    ),
];

/// The demo products that are food (お茶), taxed at the reduced rate (軽減税率 8 %), so a newcomer sees
/// both rates in the cart.
const DEMO_REDUCED: &[&str] = &["SKU004", "SKU006"];

/// The demo product that is charged every month (継続課金), on the day of the first order.
const DEMO_RECURRING: (&str, ProductRecurrence) = (
    "SKU005",
    ProductRecurrence {
        interval_months: 1,
        charging_day: ORDER_DAY,
    },
);

/// Builds the application state: database (migrated), module engine, and demo data when configured.
pub async fn build_state(config: Config, registry: Registry) -> anyhow::Result<AppState> {
    create_database_dir(&config.database_url)?;
    let store = db::connect(&config.database_url).await.with_context(|| {
        format!(
            "cannot open the database {}",
            redact_url(&config.database_url)
        )
    })?;
    if config.shop.demo_data {
        seed_demo(store.as_ref()).await?;
    }
    let engine = Engine::start(registry, &config, store.as_ref()).await?;
    if config.shop.demo_data {
        crate::bundled::seed_demo_methods(store.as_ref(), &engine).await?;
    }
    let limits = &config.notifications;
    let gateway_rate =
        crate::rate_limit::SourceRateLimit::new(limits.rate_per_minute, limits.rate_burst);
    let held = store.refused_bytes().await?;
    let refused_budget = crate::refused::RefusedBudget::new(
        limits.refused_per_source_per_hour,
        limits.refused_max_bytes,
        u64::try_from(held).unwrap_or(0),
    );
    Ok(AppState {
        store,
        engine: Arc::new(engine),
        config: Arc::new(config),
        metrics: Arc::new(crate::metrics::Metrics::default()),
        logins: Arc::new(crate::throttle::LoginThrottle::default()),
        gateway_rate: Arc::new(gateway_rate),
        refused_budget: Arc::new(refused_budget),
    })
}

/// Creates the folder of a SQLite database file when missing (the shop and `shophost admin …` alike).
pub fn create_database_dir(database_url: &str) -> anyhow::Result<()> {
    if let Some(path) = database_url.strip_prefix("sqlite:") {
        let path = path.trim_start_matches("//");
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
        }
    }
    Ok(())
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn seed_demo(store: &dyn Store) -> anyhow::Result<()> {
    for (sku, name, price, description) in DEMO_PRODUCTS {
        store.ensure_product(sku, name, *price, description).await?;
    }
    store
        .set_product_recurrence(DEMO_RECURRING.0, Some(DEMO_RECURRING.1))
        .await?;
    // Also for a demo database made before products had a tax class.
    for sku in DEMO_REDUCED {
        if let Some(product) = store.product_by_sku(sku).await? {
            if product.tax_class != TaxClass::Reduced {
                let reduced = NewProduct {
                    sku: product.sku,
                    name: product.name,
                    price: product.price,
                    description: product.description,
                    active: product.active,
                    tax_class: TaxClass::Reduced,
                    recurrence: product.recurrence,
                };
                store.update_product(sku, &reduced).await?;
            }
        }
    }
    if store
        .member_by_email("demo@example.invalid")
        .await?
        .is_none()
    {
        let details = CustomerDetails {
            email: "demo@example.invalid".into(),
            family_name: "会員".into(),
            given_name: "花子".into(),
            family_kana: "カイイン".into(),
            given_kana: "ハナコ".into(),
            postcode: "100-0001".into(),
            prefecture: "東京都".into(),
            address1: "千代田区千代田".into(),
            address2: "1-1".into(),
            address3: String::new(),
            phone: "03-1234-5678".into(),
        };
        store
            .create_member(
                "demo@example.invalid",
                &crate::members::hash_password("demo"),
                &details,
            )
            .await?;
    }
    Ok(())
}

/// How long in-flight requests may take to finish after SIGTERM or Ctrl-C before the server stops.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the shop until SIGTERM or Ctrl-C, then lets in-flight requests finish (up to
/// [`DRAIN_DEADLINE`]).
pub async fn run(config: Config, registry: Registry) -> anyhow::Result<()> {
    let listen = config.listen;
    let sandbox = config.sandbox;
    if sandbox.is_some() && !cfg!(feature = "sandbox") {
        anyhow::bail!(
            "{}: sandbox.enabled: this build has no sandbox (it was built without the cargo feature `sandbox`)",
            config.source
        );
    }
    let state = build_state(config, registry).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr().context("the listening address")?;
    if let Some(metrics_addr) = state.config.metrics_listen {
        let metrics_listener = tokio::net::TcpListener::bind(metrics_addr)
            .await
            .with_context(|| format!("cannot listen on {metrics_addr} (server.metrics_listen)"))?;
        tokio::spawn(crate::http::server::serve(
            metrics_listener,
            crate::http::metrics_router(state.clone()),
            std::future::pending(),
            DRAIN_DEADLINE,
        ));
        println!("  metrics:         http://{metrics_addr}/metrics (no token: keep it private)");
    }
    let sandbox_line: Option<String> = match sandbox {
        #[cfg(feature = "sandbox")]
        Some(sandbox_addr) => Some(crate::sandbox::start(&state, sandbox_addr).await?),
        _ => None,
    };
    tokio::spawn(crate::jobs::run_forever(state.clone()));
    crate::mail::worker::spawn(state.clone());
    let public = state.config.public_url.clone();
    println!(
        "shophost is running ({} database), listening on {bound}",
        state.store.backend()
    );
    println!("  storefront:      {public}/");
    println!("{}", console_line(&state).await?);
    println!("  admin API:       {public}/admin/api/modules (Authorization: Bearer <admin.token>)");
    for line in notification_lines(&state) {
        println!("{line}");
    }
    if let Some(line) = sandbox_line {
        println!("{line}");
    }
    if state.config.demo {
        eprintln!(
            "DEMO MODE: the built-in demo configuration is running. Its admin token ({}) and the demo \
             member's password (demo@example.invalid / demo) are published, and the sandbox \
             accepts anything; it listens on loopback addresses only. For a real shop write a config: \
             `shophost config example > shophost.toml`.",
            crate::config::DEMO_ADMIN_TOKEN
        );
    }
    println!("Stop with Ctrl-C (or SIGTERM).");
    let store = state.store.clone();
    let app = crate::http::router(state);
    crate::http::server::serve(
        listener,
        app,
        async {
            shutdown_signal().await;
            tracing::info!(
                "shutting down: finishing requests in flight (at most {} s)",
                DRAIN_DEADLINE.as_secs()
            );
        },
        DRAIN_DEADLINE,
    )
    .await;
    // The last request was answered: commit whatever is still queued and close the database.
    store.close().await;
    Ok(())
}

/// The login of the demo's operator.
pub const DEMO_OPERATOR: &str = "demo";

/// The banner's line for the console. The demo makes its operator a new random password at every
/// start and prints it here; a real shop says how to make the first operator while it has none.
async fn console_line(state: &AppState) -> anyhow::Result<String> {
    let url = format!("{}/admin", state.config.public_url);
    if state.config.demo {
        let password = crate::operators::random_token()[..16].to_owned();
        let store = state.store.as_ref();
        if store.operator_by_login(DEMO_OPERATOR).await?.is_none() {
            crate::operators::create(store, DEMO_OPERATOR, &password).await?;
        } else {
            crate::operators::set_password(store, DEMO_OPERATOR, &password).await?;
            crate::operators::set_disabled(store, DEMO_OPERATOR, false).await?;
        }
        return Ok(format!(
            "  admin console:   {url} (login: {DEMO_OPERATOR} / password: {password})"
        ));
    }
    if state.store.operators().await?.is_empty() {
        return Ok(format!(
            "  admin console:   {url} (no operator yet: `shophost admin create-user LOGIN`)"
        ));
    }
    Ok(format!("  admin console:   {url}"))
}

/// The banner's lines for the notification URLs the operator registers at each gateway in use, as the
/// modules declare them.
fn notification_lines(state: &AppState) -> Vec<String> {
    let mut lines = Vec::new();
    for module in state.engine.states().values() {
        for endpoint in &module.endpoints {
            let label = if lines.is_empty() {
                "  notifications:"
            } else {
                ""
            };
            lines.push(format!(
                "{label:<19}{} {}: {}",
                module.registered.display_name,
                endpoint.setting_name.as_deref().unwrap_or(&endpoint.name),
                endpoint.url(&state.config.public_url)
            ));
        }
    }
    if lines.is_empty() {
        lines.push(
            "  notifications:   none (no module in use listens for notifications)".to_owned(),
        );
    }
    // Modules out of use that still finish what they started.
    let retired = state.engine.retired();
    for report in state.engine.listening() {
        lines.push(format!("  out of use:      {}", report.reason));
        if let Some(module) = retired.get(&report.module).filter(|r| r.listening()) {
            for endpoint in &module.state.endpoints {
                lines.push(format!(
                    "{:<19}{} {}: {}",
                    "",
                    report.display_name,
                    endpoint.setting_name.as_deref().unwrap_or(&endpoint.name),
                    endpoint.url(&state.config.public_url)
                ));
            }
        }
    }
    lines
}

/// Resolves at the first SIGTERM (systemd, containers) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves the app on an already-bound listener in a background task (for tests and embedding), with
/// connection info so notification source checks see the real peer, until the task is dropped.
pub fn spawn_server(
    state: AppState,
    listener: tokio::net::TcpListener,
) -> tokio::task::JoinHandle<()> {
    let app = crate::http::router(state);
    tokio::spawn(crate::http::server::serve(
        listener,
        app,
        std::future::pending(),
        DRAIN_DEADLINE,
    ))
}

/// A config from TOML text (for tests and tools), validated against the registry, without environment.
pub fn config_from_toml(
    text: &str,
    registry: &Registry,
) -> Result<Config, crate::config::ConfigError> {
    let raw = crate::config::RawConfig::parse(text, "<test config>")?;
    Config::from_raw(raw, "<test config>", registry, &|_| None)
}
