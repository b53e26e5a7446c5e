//! The demo only where it is safe: the built-in demo configuration (published admin token, a demo
//! member with a published password, the unauthenticated Remise sandbox) starts only on loopback
//! addresses, and its published token is refused anywhere else.

use shophost::config::{Config, ConfigError, RawConfig, DEMO_CONFIG, DEMO_SOURCE};

fn registry() -> shophost::registry::Registry {
    shophost::bundled::registry(vec![]).expect("registry builds")
}

/// The built-in demo with these environment variables.
fn demo(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let raw = RawConfig::parse(DEMO_CONFIG, DEMO_SOURCE).unwrap();
    let lookup = |name: &str| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    };
    Config::from_raw(raw, DEMO_SOURCE, &registry(), &lookup)
}

/// A config file with this text.
fn file(text: &str) -> Result<Config, ConfigError> {
    let raw = RawConfig::parse(text, "shophost.toml").unwrap();
    Config::from_raw(raw, "shophost.toml", &registry(), &|_| None)
}

#[test]
fn the_demo_starts_on_loopback_and_follows_the_listen_address() {
    let config = demo(&[]).expect("the demo starts on 127.0.0.1");
    assert!(config.demo);
    assert_eq!(config.public_url, "http://127.0.0.1:8080");
    let moved = demo(&[("SHOPHOST_LISTEN", "127.0.0.1:9090")]).unwrap();
    assert_eq!(moved.listen.to_string(), "127.0.0.1:9090");
    // The banner and the gateway's return URLs name the address really listened on.
    assert_eq!(moved.public_url, "http://127.0.0.1:9090");
    demo(&[("SHOPHOST_LISTEN", "[::1]:8080")]).expect("IPv6 loopback is loopback");
}

#[test]
fn the_demo_refuses_a_public_address_and_says_how_to_write_a_config() {
    for address in ["0.0.0.0:8080", "192.0.2.10:8080", "[::]:8080"] {
        let error = demo(&[("SHOPHOST_LISTEN", address)]).unwrap_err();
        assert_eq!(error.key, "server.listen", "{address}");
        assert!(error.reason.contains("only listens on loopback"), "{error}");
        assert!(
            error
                .reason
                .contains("shophost config example > shophost.toml"),
            "{error}"
        );
    }
}

#[test]
fn the_published_token_is_refused_outside_the_demo() {
    let text = "[admin]\ntoken = \"demo-admin-token-change-me\"\n";
    let error = file(text).unwrap_err();
    assert_eq!(error.key, "admin.token");
    assert!(error.reason.contains("published"), "{error}");
    file("[admin]\ntoken = \"a-long-token-of-our-own\"\n").expect("an own token is fine");
}

#[test]
fn the_sandbox_and_demo_data_stay_on_loopback() {
    let error = file("[sandbox]\nenabled = true\nlisten = \"0.0.0.0:8081\"\n").unwrap_err();
    assert_eq!(error.key, "sandbox.listen");
    let error =
        file("[server]\nlisten = \"0.0.0.0:8080\"\n\n[shop]\ndemo_data = true\n").unwrap_err();
    assert_eq!(error.key, "shop.demo_data");
    let config =
        file("[server]\nlisten = \"0.0.0.0:8080\"\npublic_url = \"https://shop.example.jp\"\n")
            .expect("a real shop may listen anywhere");
    assert!(!config.demo);
}

#[test]
fn the_example_placeholder_token_is_refused_and_debug_hides_secrets() {
    let error = file("[admin]\ntoken = \"change-me-to-a-long-random-string\"\n").unwrap_err();
    assert_eq!(error.key, "admin.token");
    assert!(error.reason.contains("placeholder"), "{error}");
    let config = file(
        "[admin]\ntoken = \"a-long-token-of-our-own\"\n\n[database]\nurl = \"postgres://shop:secret-pass@db.example.jp/shop\"\n",
    )
    .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("a-long-token-of-our-own"), "{shown}");
    assert!(!shown.contains("secret-pass"), "{shown}");
    assert!(shown.contains("db.example.jp"), "{shown}");
}
