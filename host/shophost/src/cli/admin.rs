//! `shophost admin …`: the console's operators from the command line (the first one is made here).

use std::io::{BufRead, IsTerminal, Write};
use std::process::{Command, Stdio};

use super::{build, AdminCommand};

pub fn run(command: AdminCommand) -> Result<(), String> {
    let (config_path, action) = match command {
        AdminCommand::CreateUser { login, config } => (config.path, Action::Create(login)),
        AdminCommand::ListUsers(config) => (config.path, Action::List),
        AdminCommand::DisableUser { login, config } => (config.path, Action::Disable(login)),
        AdminCommand::EnableUser { login, config } => (config.path, Action::Enable(login)),
    };
    let (config, _) = build(config_path)?;
    // Checked before the database is opened: a wrong login name is told at once.
    let password = match &action {
        Action::Create(login) => {
            shophost::operators::check_login(login.trim())?;
            Some(read_password()?)
        }
        _ => None,
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    shophost::serve::create_database_dir(&config.database_url).map_err(|e| format!("{e:#}"))?;
    runtime.block_on(async move {
        let store = shophost::db::connect(&config.database_url)
            .await
            .map_err(|e| {
                format!(
                    "cannot open the database {}: {e}",
                    shophost::serve::redact_url(&config.database_url)
                )
            })?;
        let store = store.as_ref();
        let result = match action {
            Action::Create(login) => {
                let password = password.unwrap_or_default();
                shophost::operators::create(store, &login, &password)
                    .await
                    .map(|o| {
                        println!(
                            "operator `{}` created; sign in at {}/admin",
                            o.login, config.public_url
                        )
                    })
                    .map_err(|e| e.to_string())
            }
            Action::List => list(store).await,
            Action::Disable(login) => shophost::operators::set_disabled(store, &login, true)
                .await
                .map(|o| println!("operator `{}` disabled (their sessions ended)", o.login))
                .map_err(|e| e.to_string()),
            Action::Enable(login) => shophost::operators::set_disabled(store, &login, false)
                .await
                .map(|o| println!("operator `{}` enabled", o.login))
                .map_err(|e| e.to_string()),
        };
        store.close().await;
        result
    })
}

enum Action {
    Create(String),
    List,
    Disable(String),
    Enable(String),
}

async fn list(store: &dyn shophost::db::Store) -> Result<(), String> {
    let operators = store.operators().await.map_err(|e| e.to_string())?;
    if operators.is_empty() {
        println!("no operators yet: `shophost admin create-user LOGIN`");
        return Ok(());
    }
    println!(
        "{:<24} {:<9} {:<17} last sign-in",
        "login", "state", "created"
    );
    for operator in operators {
        println!(
            "{:<24} {:<9} {:<17} {}",
            operator.login,
            if operator.disabled {
                "disabled"
            } else {
                "enabled"
            },
            shophost::domain::local_datetime(operator.created_at),
            operator
                .last_login_at
                .map(shophost::domain::local_datetime)
                .unwrap_or_else(|| "-".to_owned())
        );
    }
    Ok(())
}

/// The new password: asked twice without echo at a terminal, else the first line of standard input.
fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        shophost::operators::check_password(&password)?;
        return Ok(password);
    }
    let first = prompt("Password (10 characters or more): ")?;
    shophost::operators::check_password(&first)?;
    let second = prompt("The same password again: ")?;
    if first != second {
        return Err("the two passwords differ; nothing was created".to_owned());
    }
    Ok(first)
}

/// Reads one line from the terminal with echo off (`stty -echo`, restored afterwards).
fn prompt(question: &str) -> Result<String, String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let stty = |arg: &str| {
        Command::new("stty")
            .arg(arg)
            .stdin(Stdio::inherit())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let hidden = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
    }
    eprintln!();
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
