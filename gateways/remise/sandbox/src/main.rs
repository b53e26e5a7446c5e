//! `remise-sandbox`: runs the Remise sandbox as a standalone server for a shop's 接続テスト.
//!
//! Usage: `remise-sandbox [--listen 127.0.0.1:8081] [--card-notify URL] [--conv-notify URL]
//! [--shop SHOPCO:HOSTID]...`. Arguments are parsed by hand because there are four of them
//! and the crate keeps its dependencies lean.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use remise_sandbox::{Sandbox, SandboxConfig};

const USAGE: &str = "usage: remise-sandbox [--listen ADDR] [--card-notify URL] [--conv-notify URL] [--shop SHOPCO:HOSTID]...

  --listen ADDR        address to listen on (default 127.0.0.1:8081)
  --card-notify URL    結果通知URL: where card results are posted
                       (default http://127.0.0.1:8080/index.php?acting=remise_card)
  --conv-notify URL    収納情報通知URL: where multi-payment notifications are posted
                       (default http://127.0.0.1:8080/index.php?acting=remise_conv)
  --shop SHOPCO:HOSTID accept only these shops (repeatable; default: any well-formed pair)";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let mut listen: SocketAddr = "127.0.0.1:8081".parse()?;
    let mut config = SandboxConfig::default();
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut value = |name: &str| {
            arguments
                .next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match argument.as_str() {
            "--listen" => {
                let text = value("--listen")?;
                listen = text
                    .parse()
                    .with_context(|| format!("--listen: not an address: {text}"))?;
            }
            "--card-notify" => config.card_notify_url = value("--card-notify")?,
            "--conv-notify" => config.conv_notify_url = value("--conv-notify")?,
            "--shop" => {
                let text = value("--shop")?;
                let Some((shopco, host)) = text.split_once(':') else {
                    bail!("--shop: expected SHOPCO:HOSTID, got {text}");
                };
                config.shops.push((shopco.to_string(), host.to_string()));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument: {other}\n{USAGE}"),
        }
    }

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
