//! The `acme-simulator` command: runs the Acme stand-in until interrupted.
//!
//! Configured from the environment, with defaults that match the `acme` module's test settings in the
//! guide: `ACME_LISTEN` (127.0.0.1:8090), `ACME_MERCHANT_ID` (M0001), `ACME_SECRET_KEY`,
//! `ACME_NOTIFY_URL` (http://127.0.0.1:8080/notify/acme).

use acme_simulator::{Simulator, SimulatorConfig};
use anyhow::Context;

fn env(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = env("ACME_LISTEN", "127.0.0.1:8090");
    let config = SimulatorConfig {
        merchant_id: env("ACME_MERCHANT_ID", "M0001"),
        secret_key: env("ACME_SECRET_KEY", "acme-test-secret-key-0123456789"),
        notify_url: env("ACME_NOTIFY_URL", "http://127.0.0.1:8080/notify/acme"),
        delivery_attempts: 3,
    };
    let simulator = Simulator::new(config);
    let addr = simulator
        .start(listen.parse().context("ACME_LISTEN is not an address")?)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("Acme simulator on http://{addr}/ (payment page: http://{addr}/pay)");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
