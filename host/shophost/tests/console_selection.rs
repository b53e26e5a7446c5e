//! The console's form 「利用中の決済モジュール」 through the real router: taking Remise out of use while
//! its methods are 使用 asks first and changes nothing; confirmed, the methods stop and the storefront
//! offers none; with a checkout still open Remise keeps listening, shown with why and until when, its
//! notification URLs still listed; put back into use, its methods wait for 使用; an unknown module, a
//! second module put in front by its 順番 (its settings not set yet), an unknown module, a bad 順番, a form without the session's token and a request without a session are refused.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{
    confirm_order, console_browser, fill_cart_and_customer, hidden, method_id, Backend, Browser,
    CUSTOMER, SHOP_ORIGIN,
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
const BOTH_METHODS: &str = "<li>クレジットカード決済</li><li>コンビニ・電子マネー決済</li>";

/// Whether the storefront's delivery page offers the method of `settlement_type`.
async fn storefront_offers(state: &AppState, settlement_type: &str) -> bool {
    let mut shopper = Browser::new(state);
    fill_cart_and_customer(&mut shopper, state, CUSTOMER).await;
    let page = shopper.get("/checkout/delivery").await;
    assert_eq!(page.status, StatusCode::OK);
    let id = method_id(state, settlement_type).await;
    page.text().contains(&format!("id=\"method-{id}\""))
}

/// A shopper confirms an order paid at a コンビニ: the attempt is stored, the slip not yet issued.
async fn open_convenience_store_checkout(state: &AppState) {
    let mut shopper = Browser::new(state);
    fill_cart_and_customer(&mut shopper, state, CUSTOMER).await;
    let conv = method_id(state, CONV).await.to_string();
    shopper
        .post(
            "/checkout/delivery",
            &[("payment_method", &conv), ("note", "")],
        )
        .await;
    let html = confirm_order(&mut shopper).await.text();
    assert!(hidden(&html, "S_TORIHIKI_NO").is_some(), "{html}");
}

async fn active_methods(state: &AppState) -> usize {
    let methods = state.store.payment_methods().await.unwrap();
    methods.iter().filter(|m| m.active).count()
}

async fn taking_remise_out_of_use_asks_then_stops_its_methods_and_it_keeps_listening(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("console-selection").await;
    let (mut browser, csrf) = console_browser(&state).await;
    open_convenience_store_checkout(&state).await;

    // The form: Remise ticked, first.
    let html = browser.get("/admin/modules").await.text();
    assert!(html.contains("<h2 id=\"selection-title\">利用中の決済モジュール</h2>"));
    assert!(html.contains(
        "<input type=\"checkbox\" id=\"use-remise\" name=\"use\" value=\"remise\" aria-describedby=\"selection-name-remise\" checked>利用する</label>"
    ), "{html}");
    assert!(html.contains("<label class=\"inline\" for=\"order-remise\">順番 <input type=\"number\" class=\"order\" id=\"order-remise\" name=\"order-remise\" value=\"1\""), "{html}");
    assert!(html.contains("利用するモジュールを更新する"));

    // The same choice again: applied at once, nothing stopped.
    let page = browser
        .post(
            "/admin/modules",
            &[("csrf", &csrf), ("use", "remise"), ("order-remise", "1")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("利用するモジュールを更新しました。"),
        "{html}"
    );
    assert!(!html.contains("stopped-methods"), "{html}");

    // Unticked: the confirmation step names both methods, and nothing has changed yet.
    let page = browser.post("/admin/modules", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("次の支払方法を「停止」にします。"), "{html}");
    assert!(
        html.contains(&format!("<ul id=\"methods-to-stop\">{BOTH_METHODS}</ul>")),
        "{html}"
    );
    assert!(html.contains("<ul id=\"modules-removed\"><li>ルミーズ <code>remise</code></li></ul>"));
    assert!(html.contains("<p id=\"modules-after\">なし</p>"));
    assert!(html.contains("<input type=\"hidden\" name=\"confirm\" value=\"1\">"));
    assert!(html.contains(">確認して変更する</button>"));
    assert!(html.contains("<a class=\"button\" href=\"/admin/modules\">キャンセル</a>"));
    assert!(!html.contains("name=\"use\""), "the same choice: none");
    assert_eq!(*state.engine.in_use(), ["remise"]);
    assert_eq!(active_methods(&state).await, 2);
    assert!(storefront_offers(&state, CARD).await);

    // Confirmed: both methods stop, the storefront offers neither.
    let page = browser
        .post("/admin/modules", &[("csrf", &csrf), ("confirm", "1")])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("利用するモジュールを更新しました。"),
        "{html}"
    );
    assert!(
        html.contains(&format!("<ul id=\"stopped-methods\">{BOTH_METHODS}</ul>")),
        "{html}"
    );
    assert!(html.contains("ルミーズの利用を停止しました。"));
    assert!(state.engine.in_use().is_empty());
    assert_eq!(active_methods(&state).await, 0);
    assert!(!storefront_offers(&state, CARD).await);
    assert!(!storefront_offers(&state, CONV).await);

    // The open checkout keeps Remise listening: a badge of its own, why, until when, and the URLs.
    let html = browser.get("/admin/modules").await.text();
    assert!(
        html.contains("<span class=\"badge listening\">通知受付中（利用停止）</span>"),
        "{html}"
    );
    let report = &state.engine.listening()[0];
    assert!(report.listening && report.open_attempts == 1, "{report:?}");
    assert!(report.reason.contains("受注前の決済 1 件"), "{report:?}");
    assert!(html.contains(&report.reason), "{html}");
    let until = report.until.as_deref().expect("an end date");
    let until = format!(
        "通知の受付: {}年{}月{}日まで",
        &until[..4],
        &until[4..6],
        &until[6..]
    );
    assert!(html.contains(&until), "{until}: {html}");
    assert!(html.contains("決済代行会社に登録した通知URLを削除しないでください"));
    for acting in ["remise_card", "remise_conv"] {
        let url = format!("{SHOP_ORIGIN}/index.php?acting={acting}");
        assert!(
            html.contains(&format!("<code class=\"url\">{url}</code>")),
            "{url} missing: {html}"
        );
    }
    assert!(html.contains(
        "<input type=\"checkbox\" id=\"use-remise\" name=\"use\" value=\"remise\" aria-describedby=\"selection-name-remise\">利用する"
    ), "unticked now: {html}");

    // Its settings page: not in use, why it still listens, no form.
    let html = browser.get("/admin/modules/remise").await.text();
    assert!(
        html.contains("このモジュールは利用していません。"),
        "{html}"
    );
    assert!(html.contains(&report.reason));
    assert!(!html.contains("ルミーズの設定を更新する"));

    // Back into use: its settings are valid, its methods wait to be set to 使用.
    let page = browser
        .post(
            "/admin/modules",
            &[("csrf", &csrf), ("use", "remise"), ("order-remise", "")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("ルミーズを利用するモジュールに加えました。設定は正常です。"),
        "{html}"
    );
    assert!(html.contains(
        "次の支払方法は「停止」のままです。利用する支払方法を「使用」に更新してください。"
    ));
    assert!(
        html.contains(&format!(
            "<ul class=\"waiting-methods\">{BOTH_METHODS}</ul>"
        )),
        "{html}"
    );
    assert!(html.contains("<a href=\"/admin/methods\">支払方法の設定へ</a>"));
    assert_eq!(*state.engine.in_use(), ["remise"]);
    assert!(state.engine.listening().is_empty());
    assert_eq!(active_methods(&state).await, 0);
    assert!(html.contains("<span class=\"badge active\">利用中</span>"));
    assert!(!html.contains("通知受付中（利用停止）"));
}

async fn an_unknown_module_or_a_bad_order_is_refused_with_a_message(backend: Backend) {
    let (state, _dir) = backend.shop("console-selection-refused").await;
    let (mut browser, csrf) = console_browser(&state).await;

    for confirm in ["", "1"] {
        let page = browser
            .post(
                "/admin/modules",
                &[("csrf", &csrf), ("use", "nosuch"), ("confirm", confirm)],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        let html = page.text();
        assert!(
            html.contains("<li>モジュール「nosuch」は登録されていません。</li>"),
            "{html}"
        );
        // The form shows what was posted: Remise unticked.
        assert!(html.contains("value=\"remise\" aria-describedby=\"selection-name-remise\">"));
    }
    let page = browser
        .post(
            "/admin/modules",
            &[("csrf", &csrf), ("use", "remise"), ("order-remise", "一")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text();
    let message = "ルミーズの順番は1から999までの半角数字で入力してください";
    assert!(
        html.contains(&format!("<p class=\"field-error\">{message}</p>")),
        "{html}"
    );
    assert!(html.contains("value=\"一\""), "keeps what was typed");
    assert!(html.contains("aria-invalid=\"true\""));
    assert_eq!(*state.engine.in_use(), ["remise"]);
    assert_eq!(active_methods(&state).await, 2);
}

async fn a_form_without_the_session_token_is_refused_and_changes_nothing(backend: Backend) {
    let (state, _dir) = backend.shop("console-selection-csrf").await;
    let (mut browser, _) = console_browser(&state).await;
    for csrf in ["", "not-the-token"] {
        let page = browser
            .post("/admin/modules", &[("csrf", csrf), ("confirm", "1")])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
    }
    assert_eq!(*state.engine.in_use(), ["remise"]);
    assert_eq!(active_methods(&state).await, 2);
}

async fn without_a_session_nothing_changes_and_the_answer_is_an_empty_redirect(backend: Backend) {
    let (state, _dir) = backend.shop("console-selection-no-session").await;
    let mut browser = Browser::new(&state);
    let page = browser.get("/admin/modules").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.bytes.is_empty());
    let page = browser
        .post("/admin/modules", &[("csrf", ""), ("confirm", "1")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/admin/login?next=%2Fadmin"));
    assert!(page.bytes.is_empty(), "leaked {} bytes", page.bytes.len());
    assert_eq!(*state.engine.in_use(), ["remise"]);
    assert_eq!(active_methods(&state).await, 2);
}

// --- A second module, registered but not in use ----------------------------------------------------

/// A module that needs a merchant id and provides nothing.
struct Second;

impl TypedModule for Second {
    const ID: &'static str = "second";
    const DISPLAY_NAME: &'static str = "第二決済";
    type Config = ();

    fn settings_schema(&self) -> SettingsSchema {
        SettingsSchema::new(vec![
            SettingField::text("merchant_id", "加盟店ID").required()
        ])
    }
    fn validate(&self, values: &SettingsValues) -> Result<(), Vec<FieldError>> {
        let errors = TypedModule::settings_schema(self).check(values);
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
        vec![NotificationEndpoint::signed("second")]
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

async fn a_module_is_put_in_front_by_its_order_and_its_settings_are_said_to_be_missing(
    backend: Backend,
) {
    let db = backend.database("console-selection-order");
    let text = shophost::config::DEMO_CONFIG
        .replace("sqlite:shophost-data/shophost.db", db.url())
        .replace("[sandbox]\nenabled = true", "[sandbox]\nenabled = false")
        .replace("demo-admin-token-change-me", common::ADMIN_TOKEN);
    let module: std::sync::Arc<dyn PaymentModule> = std::sync::Arc::new(Second);
    let second = RegisteredModule {
        id: "second".to_owned(),
        display_name: "第二決済".to_owned(),
        origin: Origin::File("/modules/libsecond.so".into()),
        module,
    };
    let registry = shophost::bundled::registry(vec![second]).expect("registry");
    let config = shophost::serve::config_from_toml(&text, &registry).expect("config");
    let state = shophost::serve::build_state(config, registry)
        .await
        .expect("state");
    let (mut browser, csrf) = console_browser(&state).await;

    // Remise (in use) is listed first, the second module unticked after it.
    let html = browser.get("/admin/modules").await.text();
    let remise = html.find("id=\"use-remise\"").expect("remise's checkbox");
    let second = html
        .find("id=\"use-second\"")
        .expect("the second module's checkbox");
    assert!(remise < second, "{html}");
    assert!(html.contains("name=\"order-second\" value=\"\""), "{html}");

    // Ticked with 順番 1, Remise 2: the second module comes first; nothing stops.
    let page = browser
        .post(
            "/admin/modules",
            &[
                ("csrf", &csrf),
                ("use", "remise"),
                ("order-remise", "2"),
                ("use", "second"),
                ("order-second", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert_eq!(*state.engine.in_use(), ["second", "remise"]);
    assert!(
        html.contains("利用中の決済モジュール: 第二決済、ルミーズ"),
        "{html}"
    );
    assert!(html.contains(
        "第二決済を利用するモジュールに加えました。設定に不備があります。<a href=\"/admin/modules/second\">第二決済の設定</a>を完了して"
    ), "{html}");
    assert!(html.contains("class=\"warning\" role=\"status\" id=\"outcome\""));
    assert!(!html.contains("stopped-methods"));
    assert_eq!(active_methods(&state).await, 2);
    // The form shows the new order.
    let second = html.find("id=\"use-second\"").unwrap();
    let remise = html.find("id=\"use-remise\"").unwrap();
    assert!(second < remise, "{html}");
    assert!(html.contains("name=\"order-second\" value=\"1\""));
    assert!(html.contains("name=\"order-remise\" value=\"2\""));
    assert!(html.contains("<span class=\"badge broken\">設定に不備あり</span>"));
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    taking_remise_out_of_use_asks_then_stops_its_methods_and_it_keeps_listening,
    an_unknown_module_or_a_bad_order_is_refused_with_a_message,
    a_form_without_the_session_token_is_refused_and_changes_nothing,
    without_a_session_nothing_changes_and_the_answer_is_an_empty_redirect,
    a_module_is_put_in_front_by_its_order_and_its_settings_are_said_to_be_missing,
);
