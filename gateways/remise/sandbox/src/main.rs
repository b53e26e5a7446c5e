//! `remise-sandbox`: runs the Remise sandbox as a standalone server for a shop's 接続テスト.
//!
//! Usage: `remise-sandbox [--listen 127.0.0.1:8081] [--card-notify URL] [--conv-notify URL]
//! [--shop SHOPCO:HOSTID]...` (`--help` says what each one means).

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use remise_sandbox::{Sandbox, SandboxConfig};

/// Runs the Remise sandbox: hosted card and multi-payment pages, notifications, 加盟店バックヤード.
#[derive(Debug, Parser)]
#[command(name = "remise-sandbox")]
struct Options {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// 結果通知URL: where card results are posted
    #[arg(long, value_name = "URL", default_value_t = SandboxConfig::default().card_notify_url)]
    card_notify: String,
    /// 収納情報通知URL: where multi-payment notifications are posted
    #[arg(long, value_name = "URL", default_value_t = SandboxConfig::default().conv_notify_url)]
    conv_notify: String,
    /// Accept only these shops (repeatable; default: any well-formed pair)
    #[arg(long = "shop", value_name = "SHOPCO:HOSTID", value_parser = shop)]
    shops: Vec<(String, String)>,
}

/// One `--shop` value.
fn shop(text: &str) -> Result<(String, String), String> {
    let (shopco, host) = text
        .split_once(':')
        .ok_or_else(|| "expected SHOPCO:HOSTID".to_owned())?;
    Ok((shopco.to_owned(), host.to_owned()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let config = SandboxConfig {
        card_notify_url: options.card_notify,
        conv_notify_url: options.conv_notify,
        shops: options.shops,
        ..SandboxConfig::default()
    };
    let listen = options.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    println!("Remise sandbox listening on http://{address}/");
    println!("  card:      http://{address}/rpgw2/pc/card/paycard.aspx");
    println!("  multi:     http://{address}/rpgw2/pc/cvs/paycvs.aspx");
    println!("  backyard:  http://{address}/backyard");
    println!("  結果通知URL     -> {}", config.card_notify_url);
    println!("  収納情報通知URL -> {}", config.conv_notify_url);
    Sandbox::new(config).serve(listener).await?;
    Ok(())
}
