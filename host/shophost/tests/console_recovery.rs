//! The console's 決済直前ログ and 受注データ登録 through the real router: an attempt found by its link
//! key; an order registered with the log's date and with now, with the status the module's settings
//! give; refused once an order exists; a コンビニ order registered 未入金 and paid by its receipt, and a
//! receipt that came first making the order itself; a later card notification confirming a registered
//! order instead of flagging it; a recurring item's contract registered with the order, with the
//! gateway's id or flagged without it; the JSON route doing the same; the session and CSRF checks.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{
    api, assert_redirect, card_result, console_browser, method_id, notify, Backend, Browser,
};
use serde_json::{json, Value};
use shophost::db::OrderFilter;
use shophost::domain::{local_datetime, Order, PaymentStatus};
use shophost::mail::{MailFilter, MailKind, MailStatus};
use shophost::AppState;

const ACK: &str = "<SDBKDATA>STATUS=800</SDBKDATA>";

/// A checkout for one mug through the checkout API with the settlement type's method: its link key
/// and total.
async fn checkout(state: &AppState, settlement_type: &str) -> (String, i64) {
    common::mug_checkout(state, settlement_type).await
}

/// Remise's 収納情報通知 (the shopper paid at the store).
fn receipt(link_key: &str, total: i64) -> String {
    let total = total.to_string();
    common::form_body(&[
        ("S_TORIHIKI_NO", link_key),
        ("REC_FLG", "1"),
        ("TOTAL", &total),
        ("JOB_ID", "J1"),
    ])
}

async fn order(state: &AppState, link_key: &str) -> Option<Order> {
    let filter = OrderFilter {
        link_key: Some(link_key.to_owned()),
        ..OrderFilter::default()
    };
    state
        .store
        .orders(&filter, 1)
        .await
        .expect("orders")
        .into_iter()
        .next()
}

/// Posts 受注データ登録 twice, as the confirmation step asks: the step's page, then the result.
async fn register(
    browser: &mut Browser,
    csrf: &str,
    link_key: &str,
    registered_at: &str,
    transaction_id: &str,
) -> (String, common::Page) {
    let path = format!("/admin/attempts/{link_key}/register");
    let fields = [
        ("csrf", csrf),
        ("registered_at", registered_at),
        ("transaction_id", transaction_id),
    ];
    let step = browser.post(&path, &fields).await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.text());
    let step = step.text();
    assert!(step.contains("受注データ登録の確認"), "{step}");
    let mut confirmed = fields.to_vec();
    confirmed.push(("confirm", "1"));
    (step, browser.post(&path, &confirmed).await)
}

async fn an_attempt_is_found_by_link_key_and_registered_with_the_logs_date(backend: Backend) {
    let (state, _dir) = backend.shop("recovery-date").await;
    let (link_key, _) = checkout(&state, "acting_remise_card").await;
    let (other, _) = checkout(&state, "acting_remise_card").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let dashboard = browser.get("/admin").await.text();
    assert!(
        dashboard.contains("href=\"/admin/attempts\""),
        "the menu entry: {dashboard}"
    );

    let list = browser
        .get(&format!("/admin/attempts?link_key={link_key}"))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let list = list.text();
    assert!(list.contains(&format!("<code>{link_key}</code>")), "{list}");
    assert!(!list.contains(&format!("<code>{other}</code>")), "{list}");
    assert!(list.contains("受注なし") && list.contains("山田"), "{list}");
    let by_name = browser
        .get("/admin/attempts?customer_name=%E5%B1%B1%E7%94%B0")
        .await
        .text();
    assert!(
        by_name.contains(&other) && by_name.contains(&link_key),
        "{by_name}"
    );
    let bad_date = browser.get("/admin/attempts?from=yesterday").await;
    assert_eq!(bad_date.status, StatusCode::UNPROCESSABLE_ENTITY);

    let detail = browser
        .get(&format!("/admin/attempts/{link_key}"))
        .await
        .text();
    assert!(
        detail.contains("受注日時に登録日を設定") && detail.contains("受注日時に現在の時刻を設定"),
        "{detail}"
    );
    assert!(
        detail.contains("「売上」で登録されます")
            && detail.contains("注文確認メールは自動では送信されません"),
        "{detail}"
    );
    let attempt = state
        .store
        .attempt_by_link_key(&link_key)
        .await
        .expect("read")
        .expect("attempt");
    assert!(
        detail.contains(&local_datetime(attempt.created_at)),
        "{detail}"
    );

    let (step, done) = register(&mut browser, &csrf, &link_key, "attempt", "9345911243").await;
    assert!(step.contains("9345911243"), "{step}");
    assert!(order(&state, &other).await.is_none());
    assert_redirect(
        &done,
        &format!("/admin/attempts/{link_key}?done=registered"),
    );
    let made = order(&state, &link_key)
        .await
        .expect("the registered order");
    assert_eq!(made.payment_status, PaymentStatus::Captured);
    assert_eq!(made.created_at, attempt.created_at);
    assert_eq!(made.transaction_id.as_deref(), Some("9345911243"));
    let shown = browser
        .get(&format!("/admin/attempts/{link_key}?done=registered"))
        .await
        .text();
    assert!(
        shown.contains("受注データを登録しました") && shown.contains(&made.order_number),
        "{shown}"
    );

    // Refused once an order exists, with the reason; nothing changes.
    let again = browser
        .post(
            &format!("/admin/attempts/{link_key}/register"),
            &[("csrf", &csrf), ("registered_at", "now"), ("confirm", "1")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.text().contains("受注はすでにあります"),
        "{}",
        again.text()
    );
    assert_eq!(order(&state, &link_key).await.expect("order").id, made.id);
}

async fn registered_now_and_a_later_notification_confirms_instead_of_flagging(backend: Backend) {
    let (state, _dir) = backend.shop("recovery-confirm").await;
    let (link_key, total) = checkout(&state, "acting_remise_card").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let before = shophost::domain::now_millis();
    let (_, done) = register(&mut browser, &csrf, &link_key, "now", "").await;
    assert_redirect(
        &done,
        &format!("/admin/attempts/{link_key}?done=registered"),
    );
    let made = order(&state, &link_key).await.expect("order");
    assert!(made.created_at >= before, "now, not the log's date");
    assert_eq!(made.transaction_id, None);

    assert_eq!(
        notify(
            &state,
            "remise_card",
            card_result(&link_key, "TX1", total, false)
        )
        .await,
        ACK
    );
    let confirmed = order(&state, &link_key).await.expect("order");
    assert_eq!(
        confirmed.attention, None,
        "no 要確認 for the registered order's own payment"
    );
    assert_eq!(confirmed.payment_status, PaymentStatus::Captured);
    assert_eq!(confirmed.transaction_id.as_deref(), Some("TX1"));
    let history = state.store.order_history(made.id).await.expect("history");
    assert!(
        history.iter().any(|h| h
            .reason
            .contains("受注データ登録済みの注文を決済結果通知で確認しました")),
        "{history:?}"
    );
    let journal = state
        .store
        .journal(Some(&link_key), 10)
        .await
        .expect("journal");
    assert!(
        journal[0]
            .reason
            .contains("受注データ登録済みの注文を決済結果通知で確認しました"),
        "{journal:?}"
    );

    // A second payment with another transaction id is still flagged.
    assert_eq!(
        notify(
            &state,
            "remise_card",
            card_result(&link_key, "TX2", total, false)
        )
        .await,
        ACK
    );
    assert!(order(&state, &link_key)
        .await
        .expect("order")
        .attention
        .is_some());
}

async fn a_conv_order_is_registered_unpaid_and_paid_by_its_receipt(backend: Backend) {
    let (state, _dir) = backend.shop("recovery-conv").await;
    let (link_key, total) = checkout(&state, "acting_remise_conv").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let detail = browser
        .get(&format!("/admin/attempts/{link_key}"))
        .await
        .text();
    assert!(detail.contains("「未入金」で登録されます"), "{detail}");
    let (_, done) = register(&mut browser, &csrf, &link_key, "attempt", "").await;
    assert_redirect(
        &done,
        &format!("/admin/attempts/{link_key}?done=registered"),
    );
    assert_eq!(
        order(&state, &link_key)
            .await
            .expect("order")
            .payment_status,
        PaymentStatus::Unpaid
    );
    assert_eq!(
        notify(&state, "remise_conv", receipt(&link_key, total)).await,
        ACK
    );
    assert_eq!(
        order(&state, &link_key)
            .await
            .expect("order")
            .payment_status,
        PaymentStatus::Paid
    );

    // A receipt before any registration makes the order 入金済み itself; registering is then refused.
    let (early, total) = checkout(&state, "acting_remise_conv").await;
    assert_eq!(
        notify(&state, "remise_conv", receipt(&early, total)).await,
        ACK
    );
    assert_eq!(
        order(&state, &early).await.expect("order").payment_status,
        PaymentStatus::Paid
    );
    let refused = browser
        .post(
            &format!("/admin/attempts/{early}/register"),
            &[("csrf", &csrf), ("registered_at", "attempt")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.text().contains("入金済み"), "{}", refused.text());
}

async fn the_json_route_registers_through_the_same_function(backend: Backend) {
    let (state, _dir) = backend.shop("recovery-api").await;
    let (link_key, _) = checkout(&state, "acting_remise_card").await;
    let path = format!("/admin/api/attempts/{link_key}/recover");
    let (status, body) = api(&state, "POST", &path, Some(json!({"status": "authorized"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = api(
        &state,
        "POST",
        &path,
        Some(json!({"registered_at": "later"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = api(
        &state,
        "POST",
        &path,
        Some(json!({"registered_at": "attempt", "transaction_id": "9345911243"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["payment_status"], "captured");
    assert_eq!(body["transaction_id"], "9345911243");
    let (status, body) = api(&state, "POST", &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

async fn without_token_or_session_nothing_is_registered_and_unknown_keys_are_404(backend: Backend) {
    let (state, _dir) = backend.shop("recovery-guards").await;
    let (link_key, _) = checkout(&state, "acting_remise_card").await;
    let path = format!("/admin/attempts/{link_key}/register");
    let (mut browser, _csrf) = console_browser(&state).await;
    let forged = browser
        .post(
            &path,
            &[
                ("csrf", "wrong"),
                ("registered_at", "attempt"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(order(&state, &link_key).await.is_none());
    let missing = browser.get("/admin/attempts/99999999999999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.text().contains("決済直前ログが見つかりません"));

    let mut anonymous = Browser::new(&state);
    for page in [
        anonymous.get("/admin/attempts").await,
        anonymous.get(&format!("/admin/attempts/{link_key}")).await,
        anonymous
            .post(&path, &[("registered_at", "attempt"), ("confirm", "1")])
            .await,
    ] {
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert!(page
            .location
            .as_deref()
            .unwrap_or_default()
            .starts_with("/admin/login"));
        assert!(page.bytes.is_empty());
    }
    assert!(order(&state, &link_key).await.is_none());
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
/// A monthly product (on the 10th), and the demo member's checkout of it by card whose notification
/// never came: the link key and the product's id.
async fn recurring_checkout(state: &AppState) -> String {
    let (status, product) = api(
        state,
        "POST",
        "/admin/api/products",
        Some(json!({"sku": "LESSON", "name": "オンライン茶道教室 月謝", "price": 3300})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let (status, answer) = api(
        state,
        "PUT",
        "/admin/api/products/LESSON/recurrence",
        Some(json!({"interval_months": 1, "charging_day": 10})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let customer: serde_json::Map<String, Value> = common::customer_with(&[
        ("email", "demo@example.invalid"),
        ("family_name", "会員"),
        ("given_name", "花子"),
    ])
    .iter()
    .map(|(name, value)| (name.to_string(), json!(value)))
    .collect();
    let (status, answer) = api(
        state,
        "POST",
        "/api/checkout",
        Some(json!({
            "lines": [{"product_id": product["id"], "quantity": 1}],
            "customer": customer,
            "payment_method_id": method_id(state, "acting_remise_card").await,
            "member": {"email": "demo@example.invalid", "password": "demo"},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["link_key"].as_str().expect("link key").to_owned()
}

/// Posts 受注データ登録 with `fields` beside the session's token: the first post, and with `confirm`
/// the second when the first was the confirmation step.
async fn register_fields(
    browser: &mut Browser,
    csrf: &str,
    link_key: &str,
    fields: &[(&str, &str)],
) -> (common::Page, Option<common::Page>) {
    let path = format!("/admin/attempts/{link_key}/register");
    let mut posted = vec![("csrf", csrf)];
    posted.extend_from_slice(fields);
    let step = browser.post(&path, &posted).await;
    if step.status != StatusCode::OK {
        return (step, None);
    }
    posted.push(("confirm", "1"));
    let done = browser.post(&path, &posted).await;
    (step, Some(done))
}

async fn a_recurring_order_is_registered_with_its_contract_and_the_gateways_id(backend: Backend) {
    let (state, _dir) = backend.shop("recovery-recurring").await;
    let link_key = recurring_checkout(&state).await;
    let (mut browser, csrf) = console_browser(&state).await;
    let detail = browser
        .get(&format!("/admin/attempts/{link_key}"))
        .await
        .text();
    assert!(
        detail.contains("name=\"recurring_id\"") && detail.contains("継続課金の登録番号"),
        "{detail}"
    );

    let (step, done) = register_fields(
        &mut browser,
        &csrf,
        &link_key,
        &[
            ("registered_at", "attempt"),
            ("transaction_id", ""),
            ("recurring_id", "AC0000000099"),
        ],
    )
    .await;
    let step = step.text();
    assert!(
        step.contains("継続課金を登録番号 <code>AC0000000099</code> で登録します"),
        "{step}"
    );
    assert_redirect(
        &done.expect("confirmed"),
        &format!("/admin/attempts/{link_key}?done=registered"),
    );
    let made = order(&state, &link_key).await.expect("the order");
    assert_eq!(made.attention, None, "the id was given: nothing to check");
    let contracts = state.store.contracts(None, 10).await.expect("contracts");
    assert_eq!(contracts.len(), 1, "{contracts:?}");
    let contract = &contracts[0];
    assert_eq!(contract.gateway_id.as_deref(), Some("AC0000000099"));
    assert_eq!(contract.order_id, made.id);
    assert_eq!(contract.product_name, "オンライン茶道教室 月謝");
    assert_eq!(
        (
            contract.amount,
            contract.interval_months,
            contract.charging_day
        ),
        (made.total, 1, 10)
    );
    assert_eq!(contract.status, "continuation", "継続中");
    // No mail of its own (the operator's manual): the 注文確認メール and the 継続課金 confirmation wait
    // for the order page's button, which sends both once.
    let held = |mails: &[shophost::mail::OutboxMail]| {
        let mut kinds: Vec<MailKind> = mails
            .iter()
            .filter(|mail| mail.order_id == Some(made.id) && mail.status == MailStatus::Held)
            .map(|mail| mail.kind)
            .collect();
        kinds.sort_by_key(|kind| format!("{kind:?}"));
        kinds
    };
    let mails = state
        .store
        .mails(&MailFilter::default(), 100)
        .await
        .expect("the outbox");
    assert_eq!(
        held(&mails),
        vec![MailKind::ContractRegistered, MailKind::OrderConfirmation],
        "{mails:?}"
    );
    assert!(
        mails.iter().all(|mail| mail.status == MailStatus::Held),
        "nothing else queued: {mails:?}"
    );
    state
        .store
        .release_held_mail(made.id, shophost::domain::now_millis())
        .await
        .expect("the button's release");
    let mails = state
        .store
        .mails(&MailFilter::default(), 100)
        .await
        .expect("the outbox");
    assert_eq!(held(&mails), vec![], "{mails:?}");
}

async fn without_the_id_the_contract_is_registered_and_the_order_flagged_and_a_cart_without_one_refuses_it(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("recovery-recurring-missing").await;
    let (mut browser, csrf) = console_browser(&state).await;

    // A cart without a recurring item has no field for it, and refuses an id posted anyway.
    let (mug, _) = checkout(&state, "acting_remise_card").await;
    let detail = browser.get(&format!("/admin/attempts/{mug}")).await.text();
    assert!(!detail.contains("name=\"recurring_id\""), "{detail}");
    let (refused, done) = register_fields(
        &mut browser,
        &csrf,
        &mug,
        &[("registered_at", "attempt"), ("recurring_id", "AC1")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(done.is_none());
    assert!(
        refused
            .text()
            .contains("この注文に継続課金の商品はありません"),
        "{}",
        refused.text()
    );
    assert!(order(&state, &mug).await.is_none());

    // Without the id: the contract is there (the gateway charges it), and the order says to check.
    let link_key = recurring_checkout(&state).await;
    let (step, done) = register_fields(
        &mut browser,
        &csrf,
        &link_key,
        &[("registered_at", "now"), ("recurring_id", "")],
    )
    .await;
    assert!(
        step.text().contains("継続課金は登録番号なしで登録され"),
        "{}",
        step.text()
    );
    assert_redirect(
        &done.expect("confirmed"),
        &format!("/admin/attempts/{link_key}?done=registered"),
    );
    let made = order(&state, &link_key).await.expect("the order");
    assert!(
        made.attention
            .as_deref()
            .is_some_and(|why| why.contains("継続課金の登録番号が入力されていません")),
        "{made:?}"
    );
    let contracts = state.store.contracts(None, 10).await.expect("contracts");
    assert_eq!(contracts.len(), 1, "{contracts:?}");
    assert_eq!(
        (contracts[0].order_id, contracts[0].gateway_id.as_deref()),
        (made.id, None)
    );

    // The JSON route takes the same field, by the same rules.
    let (other, _) = checkout(&state, "acting_remise_card").await;
    let (status, answer) = api(
        &state,
        "POST",
        &format!("/admin/api/attempts/{other}/recover"),
        Some(json!({"recurring_id": "AC2"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["fields"]["recurring_id"].is_string(), "{answer}");
}

on_both_backends!(
    a_recurring_order_is_registered_with_its_contract_and_the_gateways_id,
    without_the_id_the_contract_is_registered_and_the_order_flagged_and_a_cart_without_one_refuses_it,
    an_attempt_is_found_by_link_key_and_registered_with_the_logs_date,
    registered_now_and_a_later_notification_confirms_instead_of_flagging,
    a_conv_order_is_registered_unpaid_and_paid_by_its_receipt,
    the_json_route_registers_through_the_same_function,
    without_token_or_session_nothing_is_registered_and_unknown_keys_are_404,
);
