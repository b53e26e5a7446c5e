//! `shophost config example`: a commented config generated from the module schemas, with every key,
//! its default and its meaning.

use shophost_module_api::FieldKind;

use super::{Origin, Registry};

/// A commented example config, generated from every registered module's settings schema (the schema is
/// the single source of the fields, their labels, defaults and help). Modules loaded from shared
/// libraries are listed under `[[modules.dynamic]]` with their settings.
pub fn example(registry: &Registry) -> String {
    let mut out = String::from(
        "# shophost.toml — example configuration.\n\
         # Precedence: defaults < this file < environment (SHOPHOST_DATABASE_URL, SHOPHOST_ADMIN_TOKEN,\n\
         # SHOPHOST_LISTEN, SHOPHOST_PUBLIC_URL).\n\n\
         [server]\n\
         listen = \"127.0.0.1:8080\"\n\
         # The shop's public URL; return URLs sent to gateways are built from it.\n\
         public_url = \"https://shop.example.jp\"\n\
         # X-Forwarded-For is believed only from these proxies.\n\
         trusted_proxies = []\n\
         # Largest notification body accepted, in bytes.\n\
         max_body_bytes = 65536\n\
         # /metrics needs the admin token on the shop's address; to let a Prometheus scraper on a\n\
         # private network read it without one, serve it on an address of its own:\n\
         # metrics_listen = \"10.0.0.5:9100\"\n\n\
         [database]\n\
         # sqlite:PATH (embedded, the default) or postgres://user@host/db (several host processes).\n\
         url = \"sqlite:shophost-data/shophost.db\"\n\n\
         [admin]\n\
         # Bearer token for /admin/api and /metrics: a long random string of your own (for\n\
         # example the output of `openssl rand -hex 24`); without one the admin API is closed.\n\
         # token = \"change-me-to-a-long-random-string\"\n\n\
         [shop]\n\
         name = \"My shop\"\n\
         demo_data = false\n\
         shipping = 0\n\
         # Minutes after a success return without a notification before the attempt is flagged 要確認.\n\
         unconfirmed_return_minutes = 10\n\
         # Days after the payment deadline before an unpaid order expires.\n\
         expiry_grace_days = 0\n\
         job_interval_seconds = 60\n\n\
         [notifications]\n\
         # Requests per minute one source address may make to /index.php and /notify/*, and the burst\n\
         # beyond it; the addresses a gateway module allows are never limited.\n\
         rate_per_minute = 600\n\
         rate_burst = 100\n\
         # Notifications refused for their source address are kept for a replay after fixing\n\
         # trusted_proxies: at most this many per source address per hour (those naming an open\n\
         # checkout are not counted), and this many bytes in all; beyond it they are only counted.\n\
         refused_per_source_per_hour = 20\n\
         refused_max_bytes = 16777216\n\n\
         [retention]\n\
         # Days after which the scheduled jobs remove: checkout attempts that never became an order,\n\
         # 決済エラーログ lines, storefront sessions (after their last change), notification journal\n\
         # bodies (the entry stays), refused notifications, and mail sent or given up (送信メール).\n\
         attempts_without_order_days = 90\n\
         settlement_errors_days = 180\n\
         sessions_days = 1\n\
         journal_bodies_days = 365\n\
         refused_requests_days = 30\n\
         mail_days = 365\n\n\
         [mail]\n\
         # \"capture\" keeps mail on this machine (the console's 送信メール, and .eml files in\n\
         # capture_dir when set); \"smtp\" sends it through [mail.smtp].\n\
         transport = \"smtp\"\n\
         # capture_dir = \"shophost-data/mail\"\n\
         # The sender (From), its name (default: shop.name) and Reply-To.\n\
         from = \"shop@example.jp\"\n\
         # from_name = \"My shop\"\n\
         reply_to = \"\"\n\
         # Where the shop's notices of new orders and of 決済エラー go.\n\
         notice_to = [\"owner@example.jp\"]\n\
         # Plain text above every mail, below it, and the signature (the console's メール設定 can\n\
         # change all of these; once saved there, the console's win).\n\
         header = \"\"\n\
         footer = \"\"\n\
         signature = \"My shop\\nhttps://shop.example.jp/\"\n\
         # A mail that cannot be sent is tried again after retry_first_seconds, then twice as long\n\
         # each time up to retry_max_seconds, and given up (失敗, on the dashboard) after give_up_hours.\n\
         give_up_hours = 72\n\
         retry_first_seconds = 60\n\
         retry_max_seconds = 3600\n\
         poll_seconds = 5\n\n\
         [mail.smtp]\n\
         host = \"smtp.example.jp\"\n\
         port = 587\n\
         # \"starttls\" (port 587), \"implicit\" (TLS from the start, port 465), or \"none\" (only for\n\
         # a server on this machine).\n\
         tls = \"starttls\"\n\
         user = \"\"\n\
         password = \"\"\n\
         timeout_seconds = 30\n\
         # A server whose certificate a private CA signed: that CA's certificate (PEM); by default the\n\
         # Mozilla roots are trusted.\n\
         # ca_file = \"/etc/shophost/smtp-ca.pem\"\n\n",
    );
    if cfg!(feature = "sandbox") {
        out.push_str(
            "[sandbox]\n\
             # Start the bundled Remise sandbox (for 接続テスト only).\n\
             enabled = false\n\
             listen = \"127.0.0.1:8081\"\n\n",
        );
    }
    out.push_str("[modules]\n");
    let ids: Vec<String> = registry
        .ids()
        .iter()
        .map(|id| format!("\"{id}\""))
        .collect();
    out.push_str(&format!(
        "# Modules in use, in order (registered: {}).\nin_use = [{}]\n",
        ids.join(", "),
        ids.join(", ")
    ));
    for module in registry.modules() {
        if let Origin::File(path) = &module.origin {
            out.push_str(&format!(
                "\n# {} ({}), loaded from a shared library\n[[modules.dynamic]]\npath = {}\n",
                module.display_name,
                module.id,
                toml::Value::String(path.display().to_string())
            ));
        }
    }
    for module in registry.modules() {
        out.push_str(&format!(
            "\n# {} ({})\n[modules.settings.{}]\n",
            module.display_name, module.id, module.id
        ));
        for field in module.module.settings_schema().fields {
            out.push_str(&format!("# {}", field.label));
            if !field.help.is_empty() {
                out.push_str(&format!(": {}", field.help.replace('\n', " ")));
            }
            let kind = match &field.kind {
                FieldKind::Text => "text".to_owned(),
                FieldKind::Digits => match (field.min, field.max) {
                    (Some(min), Some(max)) => format!("digits {min}–{max}"),
                    _ => "digits".to_owned(),
                },
                FieldKind::Choice(options) => options
                    .iter()
                    .map(|o| format!("\"{}\" = {}", o.value, o.label))
                    .collect::<Vec<_>>()
                    .join(", "),
                FieldKind::OnOff => "true / false".to_owned(),
                FieldKind::Url => "URL".to_owned(),
                FieldKind::Secret => "secret".to_owned(),
            };
            out.push_str(&format!(" [{kind}]\n"));
            let value = match (&field.kind, &field.default) {
                (FieldKind::OnOff, Some(d)) => (d == "on").to_string(),
                (FieldKind::Digits, Some(d)) if !d.is_empty() => d.clone(),
                (_, Some(d)) => format!("{d:?}"),
                (FieldKind::OnOff, None) => "false".to_owned(),
                (_, None) => "\"\"".to_owned(),
            };
            let line = format!("{} = {value}\n", field.key);
            if field.default.is_some() {
                out.push_str(&line);
            } else {
                out.push_str(&format!("# {line}"));
            }
        }
    }
    out
}
