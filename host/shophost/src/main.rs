//! The `shophost` command: run the shop, print or check a config, list payment modules, back up the
//! SQLite database.
//!
//! With no arguments it runs the shop: from `--config FILE`, `$SHOPHOST_CONFIG`, `./shophost.toml`, or,
//! when none exists and the host was built with the cargo feature `sandbox`, the built-in demo
//! configuration (SQLite + the bundled gateway's sandbox). Arguments are parsed by clap; a usage error
//! exits with 1, like every other error of this command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::LazyLock;

use clap::{Args, Parser, Subcommand};
use shophost::config::{Config, ConfigError, RawConfig, DEMO_CONFIG};
use shophost::registry::Registry;

/// `shophost --version`: the host's version, the module-API version it speaks and its ABI fingerprint,
/// which a module loaded from a shared library must match.
fn version() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{}\nmodule API version {}\nABI fingerprint: {}",
            env!("CARGO_PKG_VERSION"),
            shophost_module_api::API_VERSION,
            shophost_module_api::abi::ABI_FINGERPRINT
        )
    });
    &TEXT
}

/// The shop host: run the shop, print or check a config, list payment modules, back up the database.
#[derive(Debug, Parser)]
#[command(name = "shophost", version = version(), args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no command: run the shop (as `serve`).
    #[command(flatten)]
    serve: ConfigFile,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the shop (the default command)
    Serve(ConfigFile),
    /// Print or check a config
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List registered modules, which are in use, and their settlement types
    Modules(ConfigFile),
    /// Operators of the console: create, list, disable, enable
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Copy the SQLite database to a new FILE while the shop runs (PostgreSQL: use pg_dump)
    Backup {
        /// The copy to write; an existing file is never overwritten
        file: PathBuf,
        #[command(flatten)]
        config: ConfigFile,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an operator; the password is asked for (or read from standard input when it is not a
    /// terminal)
    CreateUser {
        /// The login name (letters, digits and . _ - @; 3 to 64)
        login: String,
        #[command(flatten)]
        config: ConfigFile,
    },
    /// List the operators
    ListUsers(ConfigFile),
    /// Disable an operator: they can no longer sign in, and their sessions end
    DisableUser {
        /// The login name
        login: String,
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Enable a disabled operator again
    EnableUser {
        /// The login name
        login: String,
        #[command(flatten)]
        config: ConfigFile,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented example config (generated from module schemas), with the settings of the
    /// modules loaded from shared libraries too
    Example {
        /// Take the modules listed under `[[modules.dynamic]]` in this config file
        #[arg(long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// A module's shared library to load and include (repeatable)
        #[arg(long = "module", value_name = "LIBRARY")]
        modules: Vec<PathBuf>,
    },
    /// Print the built-in demo config (SQLite + the bundled gateway's sandbox; what `cargo run` uses)
    Demo,
    /// Check a config file and every module's settings
    Check {
        /// The config file
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
struct ConfigFile {
    /// The config file (default: $SHOPHOST_CONFIG, else ./shophost.toml, else the built-in demo)
    #[arg(long = "config", value_name = "FILE")]
    path: Option<PathBuf>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where the config comes from, and its raw contents.
fn load(explicit: Option<PathBuf>) -> Result<(RawConfig, String), ConfigError> {
    let path = explicit
        .or_else(|| env("SHOPHOST_CONFIG").map(PathBuf::from))
        .or_else(|| Some(PathBuf::from("shophost.toml")).filter(|p| p.exists()));
    match path {
        Some(path) => Ok((RawConfig::read(&path)?, path.display().to_string())),
        None => {
            let source = shophost::config::DEMO_SOURCE.to_owned();
            Ok((RawConfig::parse(demo_config()?, &source)?, source))
        }
    }
}

/// The built-in demo configuration, which runs the sandbox: only in builds that have it.
fn demo_config() -> Result<&'static str, ConfigError> {
    if cfg!(feature = "sandbox") {
        Ok(DEMO_CONFIG)
    } else {
        Err(ConfigError {
            file: "(no config file)".to_owned(),
            key: "(file)".to_owned(),
            reason:
                "give --config FILE, set SHOPHOST_CONFIG or write ./shophost.toml; this build has \
                     no built-in demo (it was built without the cargo feature `sandbox`)"
                    .to_owned(),
        })
    }
}

/// The registry for `config example`: the compiled-in modules, those `[[modules.dynamic]]` of `config`
/// lists, and the `modules` given.
fn example_registry(config: Option<PathBuf>, modules: Vec<PathBuf>) -> Result<Registry, String> {
    let mut paths = Vec::new();
    if let Some(file) = config {
        let raw = RawConfig::read(&file).map_err(|e| e.to_string())?;
        paths.extend(raw.modules.dynamic.into_iter().map(|d| d.path));
    }
    paths.extend(modules);
    let loaded = shophost::dynamic::load_configured(&paths).map_err(|e| e.to_string())?;
    shophost::bundled::registry(loaded).map_err(|e| e.to_string())
}

/// The registry including the config's dynamic modules.
fn registry_for(raw: &RawConfig, source: &str) -> Result<Registry, String> {
    let loaded = shophost::dynamic::load_configured(
        &raw.modules
            .dynamic
            .iter()
            .map(|d| d.path.clone())
            .collect::<Vec<_>>(),
    )
    .map_err(|e| format!("{source}: modules.dynamic: {e}"))?;
    shophost::bundled::registry(loaded).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout and succeed; a usage error fails with 1, as every other error.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOPHOST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a log file or the journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        None => serve(cli.serve.path),
        Some(Command::Serve(file)) => serve(file.path),
        Some(Command::Config(ConfigCommand::Example { config, modules })) => {
            example_registry(config, modules).map(|r| print!("{}", shophost::config::example(&r)))
        }
        Some(Command::Config(ConfigCommand::Demo)) => demo_config()
            .map(|demo| print!("{demo}"))
            .map_err(|e| e.to_string()),
        Some(Command::Config(ConfigCommand::Check { file })) => check(file),
        Some(Command::Modules(file)) => modules(file.path),
        Some(Command::Backup { file, config }) => backup(config.path, file),
        Some(Command::Admin(command)) => admin::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[path = "cli/admin.rs"]
mod admin;

fn build(explicit: Option<PathBuf>) -> Result<(Config, Registry), String> {
    let (raw, source) = load(explicit).map_err(|e| e.to_string())?;
    let registry = registry_for(&raw, &source)?;
    let config = Config::from_raw(raw, &source, &registry, &env).map_err(|e| e.to_string())?;
    Ok((config, registry))
}

fn serve(explicit: Option<PathBuf>) -> Result<(), String> {
    let (config, registry) = build(explicit)?;
    eprintln!("config: {}", config.source);
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime
        .block_on(shophost::serve::run(config, registry))
        .map_err(|e| format!("{e:#}"))
}

/// `shophost backup FILE`: an online, consistent copy of the configured SQLite database.
fn backup(explicit: Option<PathBuf>, file: PathBuf) -> Result<(), String> {
    let (config, _) = build(explicit)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let bytes = runtime
        .block_on(shophost::db::backup(&config.database_url, &file))
        .map_err(|e| e.to_string())?;
    println!(
        "{}: copied to {} ({bytes} bytes)",
        shophost::serve::redact_url(&config.database_url),
        file.display()
    );
    Ok(())
}

fn check(path: PathBuf) -> Result<(), String> {
    let (config, registry) = build(Some(path))?;
    let mut problems = Vec::new();
    for id in &config.in_use {
        let module = &registry
            .get(id)
            .expect("checked by Config::from_raw")
            .module;
        let values = config.module_settings.get(id).cloned().unwrap_or_default();
        let values = module.settings_schema().with_defaults(&values);
        if let Err(errors) = module.validate(&values) {
            for error in errors {
                problems.push(format!(
                    "{}: modules.settings.{id}.{}: {}",
                    config.source, error.key, error.message
                ));
            }
        }
    }
    if problems.is_empty() {
        println!(
            "{}: OK (modules in use: {})",
            config.source,
            config.in_use.join(", ")
        );
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// What the database says about the modules: the modules in use (the operator's choice, else the
/// file's), settings saved through the admin API, and the modules out of use that still listen.
struct DatabaseView {
    in_use: Vec<String>,
    admin_settings: std::collections::BTreeMap<String, shophost_module_api::SettingsValues>,
    retired: Vec<shophost::engine::ListeningReport>,
}

fn database_view(config: &Config, registry: &Registry) -> Result<DatabaseView, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = shophost::db::connect(&config.database_url)
            .await
            .map_err(|e| e.to_string())?;
        let result = async {
            let in_use = store
                .module_selection()
                .await?
                .unwrap_or_else(|| config.in_use.clone());
            let mut admin_settings = std::collections::BTreeMap::new();
            for id in &in_use {
                if let Some(stored) = store.module_settings(id).await? {
                    if stored.source == "admin" {
                        admin_settings.insert(id.clone(), stored.values);
                    }
                }
            }
            let retired = shophost::engine::retired_modules(
                registry,
                config,
                &in_use,
                store.as_ref(),
                shophost::domain::now_millis(),
            )
            .await?
            .values()
            .map(|r| r.report())
            .collect();
            Ok::<_, shophost::db::DbError>(DatabaseView {
                in_use,
                admin_settings,
                retired,
            })
        }
        .await
        .map_err(|e| e.to_string());
        store.close().await;
        result
    })
}

fn modules(explicit: Option<PathBuf>) -> Result<(), String> {
    let (config, registry) = build(explicit)?;
    let view = database_view(&config, &registry).unwrap_or_else(|error| {
        eprintln!(
            "note: cannot read the database ({error}); showing the config file's modules.in_use"
        );
        DatabaseView {
            in_use: config.in_use.clone(),
            admin_settings: Default::default(),
            retired: Vec::new(),
        }
    });
    if view.in_use != config.in_use {
        println!(
            "modules in use, as chosen through the admin API: {} (the config file's modules.in_use is ignored)",
            if view.in_use.is_empty() { "none".to_owned() } else { view.in_use.join(", ") }
        );
    }
    println!(
        "{:<12} {:<14} {:<8} {:<30} settlement types",
        "id", "name", "in use", "origin"
    );
    for module in registry.modules() {
        let in_use = view.in_use.contains(&module.id);
        let mut endpoints = Vec::new();
        let types = if in_use {
            let values = view
                .admin_settings
                .get(&module.id)
                .or_else(|| config.module_settings.get(&module.id))
                .cloned()
                .unwrap_or_default();
            let values = module.module.settings_schema().with_defaults(&values);
            match module.module.validate(&values) {
                Ok(cfg) => {
                    endpoints = module.module.notification_endpoints(&cfg);
                    module
                        .module
                        .settlement_types(&cfg)
                        .iter()
                        .map(|t| format!("{} ({})", t.id, t.label))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
                Err(errors) => format!("none: settings invalid ({} errors)", errors.len()),
            }
        } else {
            String::new()
        };
        println!(
            "{:<12} {:<14} {:<8} {:<30} {}",
            module.id,
            module.display_name,
            if in_use { "yes" } else { "no" },
            module.origin.to_string(),
            types
        );
        // What the operator registers at the gateway, and what vouches for each request.
        for endpoint in endpoints {
            let named: Vec<&str> = [
                endpoint.setting_name.as_deref(),
                endpoint.registered_at.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect();
            let named = if named.is_empty() {
                String::new()
            } else {
                format!(" ({})", named.join(", "))
            };
            println!(
                "{:<12} notifications `{}`: {}{named}; trust: {}",
                "",
                endpoint.name,
                endpoint.url(&config.public_url),
                endpoint.trust
            );
        }
        // Out of use, but still finishing what it started.
        if let Some(report) = view.retired.iter().find(|r| r.module == module.id) {
            println!("{:<12} {}", "", report.reason);
        }
    }
    Ok(())
}
