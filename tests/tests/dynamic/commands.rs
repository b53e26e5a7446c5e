//! What the `shophost` commands say of a loaded module: `modules`, the start-up banner,
//! `config-example` and `version`.

use super::*;

#[test]
fn shophost_modules_lists_the_loaded_library_with_its_path() {
    let dir = scratch("modules");
    let file = dir.join("shophost.toml");
    std::fs::write(&file, shop_config(&dir, 18080, 18090, r#""acme""#)).unwrap();
    let output = Command::new(&built().shophost)
        .args(["modules", "--config"])
        .arg(&file)
        .output()
        .expect("run shophost modules");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let acme = stdout
        .lines()
        .find(|line| line.starts_with("acme "))
        .unwrap_or_else(|| panic!("no acme line in:\n{stdout}"));
    assert!(acme.contains(&built().acme.display().to_string()), "{acme}");
    assert!(
        acme.contains("yes") && acme.contains(CARD) && acme.contains(BANK),
        "{acme}"
    );
    // Each endpoint's URL to register and what vouches for it, as the module declares them.
    assert!(
        stdout.contains(
            "notifications `acme`: http://127.0.0.1:18080/notify/acme (通知URL（Webhook）, アクメ管理画面); trust: signed"
        ),
        "{stdout}"
    );
    let remise = stdout
        .lines()
        .find(|line| line.starts_with("remise "))
        .unwrap_or_else(|| panic!("no remise line in:\n{stdout}"));
    assert!(remise.contains("compiled-in"), "{remise}");
}

#[test]
fn the_start_up_banner_lists_the_notification_urls_of_the_modules_in_use() {
    use std::io::{BufRead, BufReader};
    let dir = scratch("banner");
    let file = dir.join("shophost.toml");
    let text = shop_config(&dir, 0, 18091, r#""acme""#).replace(
        "public_url = \"http://127.0.0.1:0\"",
        "public_url = \"https://shop.example.jp\"",
    );
    std::fs::write(&file, text).unwrap();
    let mut child = Command::new(&built().shophost)
        .args(["--config"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start shophost");
    let stdout = child.stdout.take().expect("stdout");
    let mut banner = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a banner line");
        let last = line.starts_with("Stop with Ctrl-C");
        banner.push(line);
        if last {
            break;
        }
    }
    // It may have stopped already (a start-up error ends the banner early).
    let _ = child.kill();
    let _ = child.wait();
    let banner = banner.join("\n");
    assert!(
        banner.contains(
            "\n  notifications:   アクメ 通知URL（Webhook）: https://shop.example.jp/notify/acme\n"
        ),
        "{banner}"
    );
    // Remise is compiled in but not in use: its URLs are not the operator's business here.
    assert!(!banner.contains("remise"), "{banner}");
}

#[test]
fn shophost_config_example_includes_the_settings_of_loaded_modules() {
    // From a library given on the command line, and from the libraries a config file lists.
    let dir = scratch("example");
    let file = dir.join("shophost.toml");
    std::fs::write(&file, shop_config(&dir, 18080, 18090, r#""acme""#)).unwrap();
    for args in [
        vec![
            "config".into(),
            "example".into(),
            "--module".into(),
            built().acme.clone(),
        ],
        vec![
            "config".into(),
            "example".into(),
            "--config".into(),
            file.clone(),
        ],
    ] {
        let output = Command::new(&built().shophost)
            .args(&args)
            .output()
            .expect("run shophost config example");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        assert!(
            stdout.contains(&format!(
                "[[modules.dynamic]]\npath = \"{}\"\n",
                built().acme.display()
            )),
            "{stdout}"
        );
        assert!(stdout.contains("\n[modules.settings.acme]\n"), "{stdout}");
        assert!(stdout.contains("\n# merchant_id = \"\"\n"), "{stdout}");
        // What it prints is a config file the host reads.
        RawConfig::parse(&stdout, "example").expect("the example parses");
    }
}

#[test]
fn shophost_version_names_the_module_api_version_and_fingerprint() {
    let output = Command::new(&built().shophost)
        .arg("--version")
        .output()
        .expect("run shophost --version");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("shophost "), "{stdout}");
    assert!(
        stdout.contains(&format!("\nmodule API version {API_VERSION}\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("\nABI fingerprint: {ABI_FINGERPRINT}")),
        "{stdout}"
    );
}
