//! The console's 決済モジュール screens through the real router: the list with origins, settlement types
//! and the notification URLs to register; each module's settings form generated from its schema; saving
//! it (errors at their fields, methods stopped and left waiting for 使用, the storefront following);
//! secrets never shown and kept when sent empty; CSRF refusal; nothing without a session.

#[macro_use]
mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{
    console_browser, fill_cart_and_customer, method_id, Backend, Browser, Scratch, CUSTOMER,
    SHOP_ORIGIN,
};
use shophost::registry::{Origin, RegisteredModule};
use shophost::AppState;
use shophost_module_api::{
    Answer, FieldError, InboundRequest, Notification, NotificationEndpoint, PaymentModule,
    PaymentStart, PaymentStartError, PaymentStartRequest, Rejection, SettingField, SettingsSchema,
    SettingsValues, SettlementType, TypedModule, WireResponse,
};

const CARD: &str = "acting_remise_card";
const CONV: &str = "acting_remise_conv";

/// Remise's settings as the demo has them, as the form posts them (on/off as radios send them).
fn remise_form(csrf: &str, changes: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    let base: &[(&str, &str)] = &[
        ("csrf", csrf),
        ("SHOPCO", "TESTSHOP"),
        ("HOSTID", "12345678"),
        ("card_activate", "on"),
        ("card_jb", "CAPTURE"),
        ("payquick", "on"),
        ("howpay", "on"),
        ("continuation", "on"),
        ("card_pc_ope", "test"),
        ("send_url_pc", ""),
        (
            "send_url_pc_test",
            "http://127.0.0.1:8081/rpgw2/pc/card/paycard.aspx",
        ),
        ("conv_activate", "on"),
        ("S_PAYDATE", "14"),
        ("conv_pc_ope", "test"),
        ("send_url_cvs_pc", ""),
        (
            "send_url_cvs_pc_test",
            "http://127.0.0.1:8081/rpgw2/pc/cvs/paycvs.aspx",
        ),
        ("notify_sources_test", "127.0.0.1/32\n::1/128"),
        ("notify_sources_public", "210.160.253.128/26"),
    ];
    base.iter()
        .map(|(name, value)| {
            let changed = changes.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
            ((*name).to_owned(), changed.unwrap_or(value).to_owned())
        })
        .collect()
}

async fn post_form(browser: &mut Browser, uri: &str, form: &[(String, String)]) -> common::Page {
    let fields: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    browser.post(uri, &fields).await
}

/// Whether the storefront's delivery page offers the method of `settlement_type`.
async fn storefront_offers(state: &AppState, settlement_type: &str) -> bool {
    let mut shopper = Browser::new(state);
    fill_cart_and_customer(&mut shopper, state, CUSTOMER).await;
    let page = shopper.get("/checkout/delivery").await;
    assert_eq!(page.status, StatusCode::OK);
    let id = method_id(state, settlement_type).await;
    page.text().contains(&format!("id=\"method-{id}\""))
}

async fn the_list_shows_remise_with_its_types_and_notification_urls(backend: Backend) {
    let (state, _dir) = backend.shop("console-modules-list").await;
    let (mut browser, _) = console_browser(&state).await;
    let page = browser.get("/admin/modules").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("<strong>ルミーズ</strong> <code>remise</code>"),
        "{html}"
    );
    assert!(html.contains("同梱"), "{html}");
    assert!(
        html.contains("利用中") && html.contains("設定 正常"),
        "{html}"
    );
    let states = state.engine.states();
    let remise = &states["remise"];
    assert_eq!(remise.settlement_types.len(), 2);
    for settlement_type in &remise.settlement_types {
        let shown = format!(
            "<li>{} <code>{}</code></li>",
            settlement_type.label, settlement_type.id
        );
        assert!(html.contains(&shown), "{shown} missing: {html}");
    }
    for (name, acting) in [
        ("結果通知URL", "remise_card"),
        ("収納情報通知URL", "remise_conv"),
    ] {
        let url = format!("{SHOP_ORIGIN}/index.php?acting={acting}");
        assert!(html.contains(name), "{name} missing");
        assert!(
            html.contains(&format!("<code class=\"url\">{url}</code>")),
            "{url} missing: {html}"
        );
        assert!(
            html.contains(&format!("data-copy=\"{url}\"")),
            "no copy button for {url}"
        );
    }
    assert!(html.contains("href=\"/admin/modules/remise\""));
    assert!(html.contains("aria-current=\"page\">決済モジュール"));
}

async fn the_form_shows_every_remise_setting_with_its_label_and_help(backend: Backend) {
    let (state, _dir) = backend.shop("console-modules-form").await;
    let (mut browser, _) = console_browser(&state).await;
    let page = browser.get("/admin/modules/remise").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    let schema = state
        .engine
        .registry()
        .get("remise")
        .unwrap()
        .module
        .settings_schema();
    for field in &schema.fields {
        let id = format!("setting-{}", field.key);
        let labelled = html.contains(&format!("<label for=\"{id}\">{}", field.label))
            || html.contains(&format!("<fieldset id=\"{id}\""))
                && html.contains(&format!("<legend>{}", field.label));
        assert!(
            labelled,
            "{} ({}) has no label: {html}",
            field.key, field.label
        );
        if !field.help.is_empty() {
            assert!(
                html.contains(&format!("id=\"{id}-help\">{}", field.help)),
                "{} has no help",
                field.key
            );
        }
    }
    // Welcart's controls: 利用する / 利用しない, the job code's radios, 支払期限 as digits.
    assert!(html.contains(
        "<input type=\"radio\" id=\"setting-card_activate-0\" name=\"card_activate\" value=\"on\" checked>利用する"
    ), "{html}");
    assert!(
        html.contains("value=\"CAPTURE\" checked>売上処理"),
        "{html}"
    );
    assert!(html.contains(
        "<input type=\"text\" inputmode=\"numeric\" class=\"digits\" id=\"setting-S_PAYDATE\" name=\"S_PAYDATE\" value=\"14\" aria-describedby=\"setting-S_PAYDATE-help\">"
    ), "{html}");
    assert!(html.contains("<textarea id=\"setting-notify_sources_test\""));
    assert!(html.contains("ルミーズの設定を更新する"));
    // The URLs to register are on this page too.
    assert!(html.contains(&format!(
        "data-copy=\"{SHOP_ORIGIN}/index.php?acting=remise_conv\""
    )));
    // An unknown module is not found.
    let page = browser.get("/admin/modules/nope").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

async fn a_bad_value_stops_both_methods_and_fixing_it_leaves_them_waiting_for_use(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("console-modules-save").await;
    let (mut browser, csrf) = console_browser(&state).await;
    assert!(storefront_offers(&state, CARD).await && storefront_offers(&state, CONV).await);

    // 支払期限 31 days: Remise accepts 2 to 30.
    let page = post_form(
        &mut browser,
        "/admin/modules/remise",
        &remise_form(&csrf, &[("S_PAYDATE", "31")]),
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    let message = "支払期限は2以上30以下で入力してください";
    // At the field, tied to it, and in the summary with a link to it.
    assert!(
        html.contains(&format!(
            "<div id=\"setting-S_PAYDATE-error\"><p class=\"field-error\">{message}</p></div>"
        )),
        "{html}"
    );
    assert!(html.contains(
        "aria-describedby=\"setting-S_PAYDATE-help setting-S_PAYDATE-error\" aria-invalid=\"true\""
    ));
    assert!(
        html.contains(&format!("<a href=\"#setting-S_PAYDATE\">{message}</a>")),
        "{html}"
    );
    assert_eq!(html.matches(message).count(), 2, "{html}");
    assert!(
        html.contains("value=\"31\""),
        "the form keeps what was sent"
    );
    // Not saved yet: the page names the methods the change would stop and asks to confirm.
    assert!(html.contains(
        "<ul id=\"pending-stop\"><li>クレジットカード決済</li><li>コンビニ・電子マネー決済</li></ul>"
    ), "{html}");
    assert!(html.contains("まだ保存していません"), "{html}");
    assert!(html.contains("name=\"confirm\" value=\"1\""), "{html}");
    assert_eq!(state.engine.states()["remise"].values["S_PAYDATE"], "14");
    assert!(storefront_offers(&state, CARD).await && storefront_offers(&state, CONV).await);

    // Confirmed: saved, and both methods listed as stopped, with the way to 支払方法.
    let mut confirmed = remise_form(&csrf, &[("S_PAYDATE", "31")]);
    confirmed.push(("confirm".to_owned(), "1".to_owned()));
    let page = post_form(&mut browser, "/admin/modules/remise", &confirmed).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    assert!(
        html.contains(&format!(
            "<div id=\"setting-S_PAYDATE-error\"><p class=\"field-error\">{message}</p></div>"
        )),
        "{html}"
    );
    assert!(html.contains(
        "<ul id=\"stopped-methods\"><li>クレジットカード決済</li><li>コンビニ・電子マネー決済</li></ul>"
    ), "{html}");
    assert!(html.contains("<a href=\"/admin/methods\">"));
    assert!(html.contains("設定に不備あり"));
    assert!(html.contains("設定に不備があるため、通知URLを表示できません。"));
    // The storefront no longer offers them.
    let methods = state.store.payment_methods().await.unwrap();
    assert!(methods.iter().all(|m| !m.active), "{methods:?}");
    assert!(!storefront_offers(&state, CARD).await);
    assert!(!storefront_offers(&state, CONV).await);

    // Fixed: saved, nothing stopped, both methods wait to be set to 使用.
    let page = post_form(
        &mut browser,
        "/admin/modules/remise",
        &remise_form(&csrf, &[("S_PAYDATE", "7")]),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains("ルミーズの設定を更新しました。"), "{html}");
    assert!(!html.contains("id=\"stopped-methods\""));
    assert!(!html.contains("field-error"));
    assert!(html.contains("利用する支払方法を「使用」に更新してください。"));
    assert!(html.contains(
        "<ul id=\"waiting-methods\"><li>クレジットカード決済</li><li>コンビニ・電子マネー決済</li></ul>"
    ), "{html}");
    assert!(html.contains("<a href=\"/admin/methods\">"));
    assert_eq!(state.engine.states()["remise"].values["S_PAYDATE"], "7");
    assert_eq!(
        state.engine.states()["remise"].values["notify_sources_test"],
        "127.0.0.1/32 ::1/128",
        "a list is stored as the module reads it"
    );
    // Still stopped until the operator sets them to 使用 (as Welcart asks).
    assert!(!storefront_offers(&state, CARD).await);
}

async fn a_form_without_the_session_token_is_refused_and_changes_nothing(backend: Backend) {
    let (state, _dir) = backend.shop("console-modules-csrf").await;
    let (mut browser, _) = console_browser(&state).await;
    for csrf in ["", "not-the-token"] {
        let page = post_form(
            &mut browser,
            "/admin/modules/remise",
            &remise_form(csrf, &[("S_PAYDATE", "31")]),
        )
        .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
    }
    assert_eq!(state.engine.states()["remise"].values["S_PAYDATE"], "14");
    assert!(state.engine.states()["remise"].errors.is_empty());
    assert!(storefront_offers(&state, CARD).await);
}

async fn without_a_session_the_screens_redirect_with_an_empty_body(backend: Backend) {
    let (state, _dir) = backend.shop("console-modules-no-session").await;
    let mut browser = Browser::new(&state);
    for path in ["/admin/modules", "/admin/modules/remise"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        let next = percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC);
        assert_eq!(
            page.location.as_deref(),
            Some(format!("/admin/login?next={next}").as_str())
        );
        assert!(
            page.bytes.is_empty(),
            "{path} leaked {} bytes",
            page.bytes.len()
        );
    }
    let page = post_form(
        &mut browser,
        "/admin/modules/remise",
        &remise_form("", &[("S_PAYDATE", "31")]),
    )
    .await;
    common::assert_redirect(&page, "/admin/login?next=%2Fadmin");
    assert!(page.bytes.is_empty());
    assert_eq!(state.engine.states()["remise"].values["S_PAYDATE"], "14");
}

// --- A module with a secret (Remise has none) -------------------------------------------------------

/// A module whose settings hold a secret: a merchant id and a signing key of at least 16 characters.
struct Keyed;

const KEY: &str = "kept-signing-key-0123456789";

impl TypedModule for Keyed {
    const ID: &'static str = "keyed";
    const DISPLAY_NAME: &'static str = "鍵つき決済";
    type Config = ();

    fn settings_schema(&self) -> SettingsSchema {
        SettingsSchema::new(vec![
            SettingField::text("merchant_id", "加盟店ID").required(),
            SettingField::secret("signing_key", "署名キー")
                .required()
                .help("通知の署名に使います。"),
        ])
    }
    fn validate(&self, values: &SettingsValues) -> Result<(), Vec<FieldError>> {
        let mut errors = TypedModule::settings_schema(self).check(values);
        let key = values.get("signing_key").map(String::as_str).unwrap_or("");
        if !key.is_empty() && key.chars().count() < 16 {
            errors.push(FieldError::new(
                "signing_key",
                "署名キーは16文字以上で入力してください".to_owned(),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
    fn settlement_types(&self, _config: &()) -> Vec<SettlementType> {
        Vec::new()
    }
    fn notification_endpoints(&self, _config: &()) -> Vec<NotificationEndpoint> {
        vec![NotificationEndpoint::signed("keyed").setting_name("通知先URL")]
    }
    async fn start_payment(
        &self,
        _config: &(),
        _request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        Err(PaymentStartError::Unsupported)
    }
    async fn parse_notification(
        &self,
        _config: &(),
        _endpoint: &str,
        _request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        Err(Rejection::new("not used in these tests"))
    }
    fn respond(
        &self,
        _endpoint: &str,
        _request: &InboundRequest,
        _answer: &Answer,
    ) -> WireResponse {
        WireResponse::text(200, "text/plain", "OK")
    }
}

/// A shop on the demo config with [`Keyed`] in use too, its key set to [`KEY`].
async fn shop_with_keyed(backend: &Backend, name: &str) -> (AppState, Scratch) {
    let db = backend.database(name);
    let text = shophost::config::DEMO_CONFIG
        .replace("sqlite:shophost-data/shophost.db", db.url())
        .replace("[sandbox]\nenabled = true", "[sandbox]\nenabled = false")
        .replace("demo-admin-token-change-me", common::ADMIN_TOKEN)
        .replace("in_use = [\"remise\"]", "in_use = [\"remise\", \"keyed\"]")
        + &format!("\n[modules.settings.keyed]\nmerchant_id = \"M1\"\nsigning_key = \"{KEY}\"\n");
    let module: Arc<dyn PaymentModule> = Arc::new(Keyed);
    let keyed = RegisteredModule {
        id: "keyed".to_owned(),
        display_name: "鍵つき決済".to_owned(),
        origin: Origin::File("/modules/libkeyed.so".into()),
        module,
    };
    let registry = shophost::bundled::registry(vec![keyed]).expect("registry");
    let config = shophost::serve::config_from_toml(&text, &registry).expect("config");
    let state = shophost::serve::build_state(config, registry)
        .await
        .expect("state");
    (state, db)
}

async fn a_secret_never_appears_and_is_kept_when_sent_empty(backend: Backend) {
    let (state, _dir) = shop_with_keyed(&backend, "console-modules-secret").await;
    assert!(state.engine.states()["keyed"].errors.is_empty());
    let (mut browser, csrf) = console_browser(&state).await;

    let list = browser.get("/admin/modules").await.text();
    assert!(
        list.contains("/modules/libkeyed.so"),
        "the shared library's path: {list}"
    );
    let form = browser.get("/admin/modules/keyed").await;
    assert_eq!(form.status, StatusCode::OK);
    let html = form.text();
    assert!(html.contains(
        "<input type=\"password\" id=\"setting-signing_key\" name=\"signing_key\" value=\"\" autocomplete=\"new-password\" placeholder=\"変更する場合のみ入力\" aria-describedby=\"setting-signing_key-help\">"
    ), "{html}");
    assert!(html.contains("設定済み"));

    // Another field changed, the secret's input left empty: the key is kept.
    let page = browser
        .post(
            "/admin/modules/keyed",
            &[("csrf", &csrf), ("merchant_id", "M2"), ("signing_key", "")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let keyed = &state.engine.states()["keyed"];
    assert_eq!(keyed.values["merchant_id"], "M2");
    assert_eq!(keyed.values["signing_key"], KEY);
    let stored = state.store.module_settings("keyed").await.unwrap().unwrap();
    assert_eq!(stored.values["signing_key"], KEY);

    // A key too short: the module's error at the field, and the typed key is not echoed back either.
    let page = browser
        .post(
            "/admin/modules/keyed",
            &[
                ("csrf", &csrf),
                ("merchant_id", "M2"),
                ("signing_key", "short-key-1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    assert!(html.contains(
        "<div id=\"setting-signing_key-error\"><p class=\"field-error\">署名キーは16文字以上で入力してください</p></div>"
    ), "{html}");
    assert!(!html.contains("short-key-1"), "{html}");

    // No page of the console shows it.
    for path in [
        "/admin",
        "/admin/modules",
        "/admin/modules/keyed",
        "/admin/modules/remise",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let text = page.text();
        assert!(
            !text.contains(KEY) && !text.contains("short-key-1"),
            "{path} shows the secret"
        );
    }
}

async fn settings_saved_from_the_console_go_back_to_the_config_files_after_a_confirmation(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("console-modules-revert").await;
    let (mut browser, csrf) = console_browser(&state).await;
    // The file's settings are in use: nothing to go back to.
    let page = browser.get("/admin/modules/remise").await;
    assert!(!page.text().contains("id=\"file-settings\""));

    let page = post_form(
        &mut browser,
        "/admin/modules/remise",
        &remise_form(&csrf, &[("S_PAYDATE", "7")]),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains("id=\"file-settings\""), "{html}");
    assert!(
        html.contains("設定ファイルと異なる項目: <code>S_PAYDATE</code>"),
        "{html}"
    );

    // The first post shows what it would do and changes nothing.
    let page = browser
        .post("/admin/modules/remise/revert", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("まだ変更していません"), "{html}");
    assert!(
        html.contains("value=\"14\""),
        "the file's value is shown: {html}"
    );
    assert_eq!(state.engine.states()["remise"].values["S_PAYDATE"], "7");
    // Confirmed: back to the file's 14 days, the file's settings win again.
    let page = browser
        .post(
            "/admin/modules/remise/revert",
            &[("csrf", csrf.as_str()), ("confirm", "1")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains("設定ファイルの内容に戻しました"), "{html}");
    assert!(!html.contains("id=\"file-settings\""), "{html}");
    assert_eq!(state.engine.states()["remise"].values["S_PAYDATE"], "14");
    let stored = state
        .store
        .module_settings("remise")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.source, "file");
    // Without the token nothing happens.
    let page = browser
        .post("/admin/modules/remise/revert", &[("confirm", "1")])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    the_list_shows_remise_with_its_types_and_notification_urls,
    the_form_shows_every_remise_setting_with_its_label_and_help,
    a_bad_value_stops_both_methods_and_fixing_it_leaves_them_waiting_for_use,
    a_form_without_the_session_token_is_refused_and_changes_nothing,
    without_a_session_the_screens_redirect_with_an_empty_body,
    a_secret_never_appears_and_is_kept_when_sent_empty,
    settings_saved_from_the_console_go_back_to_the_config_files_after_a_confirmation,
);
