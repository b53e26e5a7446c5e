//! The console's 送信メール and メール設定 through the real router: a card notification queues the
//! 注文確認メール and the shop's notice; the worker (capture, as in the demo) keeps them on the machine
//! and as `.eml` files; the list shows their status and one mail reads as its recipient sees it;
//! 再送信 after its confirmation, refused while the mail waits; the order page's button for an order
//! registered from the 決済直前ログ, once, and refused for an order whose mail went by itself; the
//! settings with a write-only password and the 送信テスト; a failed mail on the dashboard; the CSRF
//! check and nothing without a session.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::mail::{card_paid, checkout, mail_shop, mails};
use common::{api, assert_redirect, console_browser, send, Backend};
use serde_json::json;
use shophost::mail::{MailKind, MailStatus, Outcome};
use shophost::AppState;

async fn order_number(state: &AppState, link_key: &str) -> String {
    let (status, order) = api(
        state,
        "GET",
        &format!("/admin/api/orders?link_key={link_key}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    order["orders"][0]["order_number"]
        .as_str()
        .expect("an order")
        .to_owned()
}

async fn captured_mail_is_listed_and_read_as_the_recipient_sees_it_and_sent_again_once_confirmed(
    backend: Backend,
) {
    let (state, dir) = mail_shop(backend, "console-mail-list").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let link_key = checkout(&state, "acting_remise_card").await;
    card_paid(&state, &link_key).await;
    let number = order_number(&state, &link_key).await;

    let list = browser.get("/admin/mail").await;
    assert_eq!(list.status, StatusCode::OK);
    let text = list.text();
    assert!(text.contains("注文確認メール"), "{text}");
    assert!(text.contains("待機中"), "{text}");
    assert!(text.contains("保存のみ"), "{text}");

    // The worker keeps them on the machine: in the outbox and as files.
    assert_eq!(
        shophost::mail::worker::run_once(&state)
            .await
            .expect("a pass"),
        2
    );
    let outbox = mails(&state).await;
    assert!(
        outbox.iter().all(|m| m.status == MailStatus::Sent),
        "{outbox:?}"
    );
    let files = std::fs::read_dir(dir.dir.0.join("mail"))
        .expect("the capture directory")
        .count();
    assert_eq!(files, 2);
    let confirmation = outbox
        .iter()
        .find(|m| m.kind == MailKind::OrderConfirmation)
        .expect("the confirmation");

    let page = browser
        .get(&format!("/admin/mail/{}", confirmation.id))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    for expected in [
        "送信済み",
        &format!("【shophost デモショップ】ご注文内容のご確認（注文番号 {number}）"),
        "taro@example.jp",
        "山田 太郎 様",
        "お支払回数: 一括払い",
        "shop@example.invalid",
        "保存のみ（送信しません）",
        &format!("/admin/orders/{number}"),
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }

    // 再送信: a confirmation first, then queued as it was; refused while it waits.
    let resend = format!("/admin/mail/{}/resend", confirmation.id);
    let question = browser.post(&resend, &[("csrf", &csrf)]).await;
    assert_eq!(question.status, StatusCode::OK);
    assert!(question.text().contains("もう一度送信します"));
    assert_eq!(
        mails(&state)
            .await
            .iter()
            .filter(|m| m.status == MailStatus::Pending)
            .count(),
        0
    );
    let done = browser
        .post(&resend, &[("csrf", &csrf), ("confirm", "1")])
        .await;
    assert_redirect(
        &done,
        &format!("/admin/mail/{}?done=resend", confirmation.id),
    );
    let again = browser
        .post(&resend, &[("csrf", &csrf), ("confirm", "1")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.text().contains("送信待ち"), "{}", again.text());
    let before = state.store.mail(confirmation.id).await.unwrap().unwrap();
    assert_eq!(before.status, MailStatus::Pending);
    shophost::mail::worker::run_once(&state)
        .await
        .expect("a pass");
    let after = state.store.mail(confirmation.id).await.unwrap().unwrap();
    assert_eq!(after.status, MailStatus::Sent);
    assert_eq!(after.attempts, 2);
    assert_eq!(after.message, confirmation.message, "byte-identical");

    // A form without the session's token changes nothing.
    let forged = browser
        .post(&resend, &[("csrf", "wrong"), ("confirm", "1")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        state
            .store
            .mail(confirmation.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        MailStatus::Sent
    );
}

async fn the_order_pages_button_sends_a_registered_orders_confirmation_once(backend: Backend) {
    let (state, _dir) = mail_shop(backend, "console-mail-button").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let link_key = checkout(&state, "acting_remise_conv").await;
    let (status, registered) = api(
        &state,
        "POST",
        &format!("/admin/api/attempts/{link_key}/recover"),
        Some(json!({"registered_at": "now"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let number = registered["order_number"]
        .as_str()
        .expect("number")
        .to_owned();
    // Nothing goes by itself.
    shophost::mail::worker::run_once(&state)
        .await
        .expect("a pass");
    let outbox = mails(&state).await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0].status, MailStatus::Held);

    let page = browser.get(&format!("/admin/orders/{number}")).await;
    let text = page.text();
    assert!(text.contains("注文確認メールを送信する"), "{text}");
    let button = format!("/admin/orders/{number}/send-confirmation");
    let forged = browser.post(&button, &[("csrf", "wrong")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(mails(&state).await[0].status, MailStatus::Held);

    let sent = browser.post(&button, &[("csrf", &csrf)]).await;
    assert_redirect(&sent, &format!("/admin/orders/{number}?done=mail"));
    shophost::mail::worker::run_once(&state)
        .await
        .expect("a pass");
    assert_eq!(mails(&state).await[0].status, MailStatus::Sent);
    let page = browser.get(&format!("/admin/orders/{number}")).await.text();
    assert!(
        !page.contains("注文確認メールを送信する</button>"),
        "{page}"
    );
    assert!(page.contains("送信済み"));

    let twice = browser.post(&button, &[("csrf", &csrf)]).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert!(twice.text().contains("手動で送信済み"), "{}", twice.text());
    assert_eq!(mails(&state).await.len(), 1);

    // An order a notification made: its mail went by itself, so the button refuses.
    let paid = checkout(&state, "acting_remise_card").await;
    card_paid(&state, &paid).await;
    let paid_number = order_number(&state, &paid).await;
    let page = browser
        .get(&format!("/admin/orders/{paid_number}"))
        .await
        .text();
    assert!(!page.contains("send-confirmation"), "{page}");
    let refused = browser
        .post(
            &format!("/admin/orders/{paid_number}/send-confirmation"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.text().contains("自動で送信されています"),
        "{}",
        refused.text()
    );
}

async fn settings_keep_the_password_unshown_and_the_test_mail_is_queued(backend: Backend) {
    let (state, _dir) = mail_shop(backend, "console-mail-settings").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let page = browser.get("/admin/mail/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("shop@example.invalid"));

    let form = |from: &'static str, password: &'static str| {
        vec![
            ("transport", "smtp"),
            ("from", from),
            ("from_name", "テスト店"),
            ("reply_to", "support@example.jp"),
            ("notice_to", "owner@example.jp\r\nstaff@example.jp"),
            ("header", "ヘッダー"),
            ("footer", "フッター"),
            ("signature", "署名"),
            ("smtp_host", "smtp.example.jp"),
            ("smtp_port", "587"),
            ("smtp_tls", "starttls"),
            ("smtp_user", "shop"),
            ("smtp_password", password),
            ("smtp_timeout", "30"),
        ]
    };
    let mut fields = form("shop@example.jp", "very-secret-pw");
    fields.push(("csrf", &csrf));
    let saved = browser.post("/admin/mail/settings", &fields).await;
    assert_redirect(&saved, "/admin/mail/settings?done=saved");
    let page = browser.get("/admin/mail/settings?done=saved").await.text();
    assert!(page.contains("設定済み"), "{page}");
    assert!(
        !page.contains("very-secret-pw"),
        "the password is never shown"
    );
    let current = shophost::mail::settings::current(&state)
        .await
        .expect("settings");
    assert_eq!(current.smtp.password, "very-secret-pw");
    assert_eq!(current.notice_to, ["owner@example.jp", "staff@example.jp"]);

    // Saved again without a password: the stored one stays.
    let mut fields = form("shop@example.jp", "");
    fields.push(("csrf", &csrf));
    assert_redirect(
        &browser.post("/admin/mail/settings", &fields).await,
        "/admin/mail/settings?done=saved",
    );
    let current = shophost::mail::settings::current(&state)
        .await
        .expect("settings");
    assert_eq!(current.smtp.password, "very-secret-pw");

    // A wrong address: 422 at its field, nothing saved.
    let mut fields = form("not-an-address", "");
    fields.push(("csrf", &csrf));
    let refused = browser.post("/admin/mail/settings", &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .text()
        .contains("送信元メールアドレスを正しく入力してください"));
    assert_eq!(
        shophost::mail::settings::current(&state)
            .await
            .unwrap()
            .from,
        "shop@example.jp"
    );
    let forged = browser
        .post(
            "/admin/mail/settings",
            &[("csrf", "wrong"), ("from", "x@example.jp")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // 送信テスト.
    let bad = browser
        .post(
            "/admin/mail/test",
            &[("csrf", &csrf), ("test_to", "nobody")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let queued = browser
        .post(
            "/admin/mail/test",
            &[("csrf", &csrf), ("test_to", "owner@example.jp")],
        )
        .await;
    assert_redirect(&queued, "/admin/mail/settings?done=test");
    let outbox = mails(&state).await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].kind, MailKind::Test);
}

async fn a_failed_mail_is_on_the_dashboard(backend: Backend) {
    let (state, _dir) = mail_shop(backend, "console-mail-failed").await;
    let (mut browser, _csrf) = console_browser(&state).await;
    let id = state
        .store
        .queue_test_mail("owner@example.jp", shophost::domain::now_millis())
        .await
        .expect("queued");
    let claimed = state
        .store
        .claim_mail(shophost::domain::now_millis(), 60_000, "token", 10)
        .await
        .expect("claimed");
    assert_eq!(claimed.len(), 1);
    let kept = state
        .store
        .finish_mail(
            id,
            "token",
            "smtp",
            &Outcome::Failed("connection refused".to_owned()),
            shophost::domain::now_millis(),
        )
        .await
        .expect("recorded");
    assert!(kept);
    let dashboard = browser.get("/admin").await.text();
    assert!(
        dashboard.contains("送信できなかったメールが1件あります"),
        "{dashboard}"
    );
    assert!(dashboard.contains("/admin/mail?status=failed"));
    let list = browser.get("/admin/mail?status=failed").await.text();
    assert!(list.contains("connection refused"), "{list}");
}

async fn nothing_without_a_session(backend: Backend) {
    let (state, _db) = backend.shop("console-mail-session").await;
    let mut browser = common::Browser::new(&state);
    for path in ["/admin/mail", "/admin/mail/1", "/admin/mail/settings"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.bytes.is_empty(), "{path}");
    }
    for path in [
        "/admin/mail/1/resend",
        "/admin/mail/settings",
        "/admin/mail/test",
        "/admin/orders/x/send-confirmation",
    ] {
        let page = browser.post(path, &[("confirm", "1")]).await;
        assert_redirect(&page, "/admin/login?next=%2Fadmin");
        assert!(page.bytes.is_empty(), "{path}");
    }
}

async fn retention_removes_mail_done_with_and_keeps_what_waits(backend: Backend) {
    let (state, _dir) = mail_shop(backend, "console-mail-retention").await;
    let link_key = checkout(&state, "acting_remise_card").await;
    card_paid(&state, &link_key).await;
    shophost::mail::worker::run_once(&state)
        .await
        .expect("a pass");
    let registered = checkout(&state, "acting_remise_conv").await;
    let (status, _) = api(
        &state,
        "POST",
        &format!("/admin/api/attempts/{registered}/recover"),
        Some(json!({"registered_at": "now"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(mails(&state).await.len(), 3);
    let sent = mails(&state).await[1].id;
    assert!(!state.store.mail_deliveries(sent).await.unwrap().is_empty());

    // Within the days nothing goes; after them the sent mail and its attempts go, the held one stays.
    let now = shophost::domain::now_millis();
    let purged = shophost::retention::purge(&state, now)
        .await
        .expect("purge");
    assert_eq!(purged.mail, 0);
    let later = now + 366 * 24 * 60 * 60 * 1000;
    let purged = shophost::retention::purge(&state, later)
        .await
        .expect("purge");
    assert_eq!(purged.mail, 2);
    let left = mails(&state).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, MailStatus::Held);
    assert!(state.store.mail_deliveries(sent).await.unwrap().is_empty());
}

async fn the_admin_api_lists_mail_resends_it_and_sends_a_registered_orders_confirmation_once(
    backend: Backend,
) {
    let (state, _dir) = mail_shop(backend, "console-mail-api").await;
    let link_key = checkout(&state, "acting_remise_card").await;
    card_paid(&state, &link_key).await;
    let number = order_number(&state, &link_key).await;
    shophost::mail::worker::run_once(&state)
        .await
        .expect("a pass");

    let (status, list) = api(&state, "GET", "/admin/api/mail?status=sent", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mails = list["mails"].as_array().expect("mails");
    assert_eq!(mails.len(), 2);
    let confirmation = mails
        .iter()
        .find(|m| m["kind"] == "order_confirmation")
        .expect("the confirmation");
    assert_eq!(confirmation["status_label"], "送信済み");
    assert_eq!(confirmation["recipients"], "taro@example.jp");
    let id = confirmation["id"].as_i64().expect("id");
    let (status, mail) = api(&state, "GET", &format!("/admin/api/mail/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(mail["message"]
        .as_str()
        .expect("the message")
        .contains("Subject: =?utf-8?"));
    assert_eq!(mail["deliveries"][0]["transport"], "capture");
    let (status, _) = api(&state, "GET", "/admin/api/mail?status=nonsense", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let resend = format!("/admin/api/mail/{id}/resend");
    let (status, answer) = api(&state, "POST", &resend, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let (status, answer) = api(&state, "POST", &resend, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("送信待ち"));

    // The button's twin: refused for an order whose mail went by itself, once for a registered one.
    let (status, answer) = api(
        &state,
        "POST",
        &format!("/admin/api/orders/{number}/send-confirmation"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let registered = checkout(&state, "acting_remise_conv").await;
    let (_, order) = api(
        &state,
        "POST",
        &format!("/admin/api/attempts/{registered}/recover"),
        Some(json!({})),
    )
    .await;
    let path = format!(
        "/admin/api/orders/{}/send-confirmation",
        order["order_number"].as_str().expect("number")
    );
    let (status, answer) = api(&state, "POST", &path, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let (status, answer) = api(&state, "POST", &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("手動で送信済み"));
    let (status, _) = api(
        &state,
        "POST",
        "/admin/api/orders/nope/send-confirmation",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Without the token, nothing.
    let request = Request::builder()
        .method("GET")
        .uri("/admin/api/mail")
        .body(Body::empty())
        .expect("request");
    let page = send(&shophost::http::router(state.clone()), request).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
}

on_both_backends!(
    captured_mail_is_listed_and_read_as_the_recipient_sees_it_and_sent_again_once_confirmed,
    the_order_pages_button_sends_a_registered_orders_confirmation_once,
    settings_keep_the_password_unshown_and_the_test_mail_is_queued,
    a_failed_mail_is_on_the_dashboard,
    nothing_without_a_session,
    retention_removes_mail_done_with_and_keeps_what_waits,
    the_admin_api_lists_mail_resends_it_and_sends_a_registered_orders_confirmation_once,
);
