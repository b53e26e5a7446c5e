//! Starting the bundled Remise sandbox beside the shop, for demos and the manual's 接続テスト. Only
//! with the cargo feature `sandbox` (on by default, off in production builds).

use std::net::SocketAddr;

use anyhow::Context;

use crate::AppState;

/// Starts the sandbox on `addr`, posting notifications to this shop's Remise notification URLs; returns
/// the banner's line for it.
pub async fn start(state: &AppState, addr: SocketAddr) -> anyhow::Result<String> {
    let base = state.config.public_url.clone();
    let config = remise_sandbox::SandboxConfig {
        card_notify_url: format!("{base}/index.php?acting={}", remise::ENDPOINT_CARD),
        conv_notify_url: format!("{base}/index.php?acting={}", remise::ENDPOINT_CONV),
        ..remise_sandbox::SandboxConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot start the Remise sandbox on {addr}"))?;
    let sandbox = remise_sandbox::Sandbox::new(config);
    tokio::spawn(async move {
        if let Err(error) = sandbox.serve(listener).await {
            tracing::error!(%error, "Remise sandbox stopped");
        }
    });
    Ok(format!(
        "  Remise sandbox:  http://{addr}/ (backyard: http://{addr}/backyard)"
    ))
}
