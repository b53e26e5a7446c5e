//! The built-in demo configuration and the rules that keep it safe: it runs only on loopback addresses,
//! and its published admin token (and the example config's placeholder) are refused anywhere else.

use std::net::SocketAddr;

/// The name [`Config::source`] has when the built-in demo configuration runs.
pub const DEMO_SOURCE: &str = "<built-in demo config>";

/// The demo's admin token. It is published (README, `shophost config demo`), so only the demo may use it.
pub const DEMO_ADMIN_TOKEN: &str = "demo-admin-token-change-me";

/// The placeholder token of `shophost config example`, refused like the demo's.
pub const EXAMPLE_ADMIN_TOKEN: &str = "change-me-to-a-long-random-string";

/// How to leave the demo, for the messages that refuse it elsewhere.
const WRITE_A_CONFIG: &str = "write a config instead: `shophost config example > shophost.toml`, \
     edit it, and start with `shophost --config shophost.toml`";

/// The demo's published secrets (admin token, the member `demo@example.invalid`/`demo`) and the
/// unauthenticated Remise sandbox are safe only where nobody else can reach them: on loopback
/// addresses. Returns the key and the reason of the first rule broken.
pub(super) fn check_demo_safety(
    demo: bool,
    listen: SocketAddr,
    sandbox: Option<SocketAddr>,
    demo_data: bool,
    admin_token: Option<&str>,
) -> Result<(), (&'static str, String)> {
    if demo && !listen.ip().is_loopback() {
        return Err((
            "server.listen",
            format!(
                "the built-in demo configuration (published admin token, demo member, the \
                 unauthenticated Remise sandbox) only listens on loopback addresses, and `{listen}` \
                 is not one; {WRITE_A_CONFIG}"
            ),
        ));
    }
    if let Some(sandbox) = sandbox.filter(|s| !s.ip().is_loopback()) {
        return Err((
            "sandbox.listen",
            format!(
                "the Remise sandbox takes card numbers and sends notifications without any \
                 authentication; it only listens on loopback addresses, and `{sandbox}` is not one"
            ),
        ));
    }
    if demo_data && !listen.ip().is_loopback() {
        return Err((
            "shop.demo_data",
            format!(
                "demo data includes a member with a published password (demo@example.invalid / demo); \
                 it is refused on `{listen}`, which is not a loopback address"
            ),
        ));
    }
    if !demo && admin_token == Some(DEMO_ADMIN_TOKEN) {
        return Err((
            "admin.token",
            "this is the demo's published token; choose your own long random one (for example \
             the output of `openssl rand -hex 24`)"
                .to_owned(),
        ));
    }
    if admin_token == Some(EXAMPLE_ADMIN_TOKEN) {
        return Err((
            "admin.token",
            "this is the example config's placeholder; choose your own long random one (for \
             example the output of `openssl rand -hex 24`)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// The configuration `cargo run` uses when no file is given: SQLite in `./shophost-data`, the bundled
/// Remise sandbox on 127.0.0.1:8081, Remise in test mode pointed at it, demo products and methods. It
/// starts only on loopback addresses ([`check_demo_safety`]); its public URL follows the listen
/// address (`SHOPHOST_LISTEN`).
pub const DEMO_CONFIG: &str = r#"# shophost demo configuration: SQLite + the bundled Remise sandbox, no set-up.
# Loopback addresses only: its admin token and demo member's password are published.
[server]
listen = "127.0.0.1:8080"

[database]
url = "sqlite:shophost-data/shophost.db"

[admin]
token = "demo-admin-token-change-me"

[shop]
name = "shophost デモショップ"
demo_data = true
job_interval_seconds = 30

[sandbox]
enabled = true
listen = "127.0.0.1:8081"

# Mail stays on this machine: captured, readable in the console's 送信メール and written as .eml files
# into shophost-data/mail; nothing is sent out.
[mail]
transport = "capture"
capture_dir = "shophost-data/mail"
from = "shop@example.invalid"
notice_to = ["owner@example.invalid"]
poll_seconds = 2
signature = "shophost デモショップ\nhttp://127.0.0.1:8080/"

[modules]
in_use = ["remise"]

[modules.settings.remise]
SHOPCO = "TESTSHOP"
HOSTID = "12345678"
card_activate = true
card_jb = "CAPTURE"
payquick = true
howpay = "on"
continuation = true
card_pc_ope = "test"
send_url_pc_test = "http://127.0.0.1:8081/rpgw2/pc/card/paycard.aspx"
conv_activate = true
S_PAYDATE = 14
conv_pc_ope = "test"
send_url_cvs_pc_test = "http://127.0.0.1:8081/rpgw2/pc/cvs/paycvs.aspx"
# The sandbox posts notifications from this machine.
notify_sources_test = ["127.0.0.1/32", "::1/128"]
"#;
