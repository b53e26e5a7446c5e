//! The storefront's member pages through the real router: ログイン (a cart survives it, the session id
//! changes), マイページ, ログアウト, 会員登録 once per e-mail, a member's card checkout (PayQuick), and
//! the card change (クレジットカード変更), which names its module and remembers its attempt.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{
    assert_redirect, confirm_order, customer_with, hidden, method_id, product_id, Backend, Browser,
};

async fn members_log_in_see_mypage_and_log_out(backend: Backend) {
    let (state, _dir) = backend.shop("member").await;
    let mut browser = Browser::new(&state);
    assert_redirect(&browser.get("/mypage").await, "/login?next=/mypage");

    let wrong = browser
        .post(
            "/login",
            &[
                ("email", "demo@example.invalid"),
                ("password", "nope"),
                ("next", "/mypage"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let wrong_html = wrong.text();
    assert!(wrong_html.contains("メールアドレスまたはパスワードが違います"));
    assert!(wrong_html.contains("value=\"demo@example.invalid\""));

    // A cart made before login survives it, under a new session id.
    let mug = product_id(&state, "有田焼 マグカップ").await.to_string();
    browser
        .post("/cart/add", &[("product_id", &mug), ("quantity", "1")])
        .await;
    let before = browser.cookie.clone().expect("session");
    let login = browser
        .post(
            "/login",
            &[
                ("email", "demo@example.invalid"),
                ("password", "demo"),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_redirect(&login, "/mypage");
    assert_ne!(
        browser.cookie.as_ref(),
        Some(&before),
        "the session id changes at login"
    );

    let mypage = browser.get("/mypage").await.text();
    assert!(mypage.contains("会員 花子 様"), "{mypage}");
    assert!(mypage.contains("ご注文はまだありません"));
    assert!(mypage.contains("ログアウト"));

    // The customer form is prefilled from the member's details.
    let customer = browser.get("/checkout/customer").await.text();
    assert!(customer.contains("value=\"会員\""), "{customer}");
    assert!(customer.contains("value=\"demo@example.invalid\""));

    // A member's card checkout asks Remise to keep the card (PayQuick).
    assert_redirect(
        &browser
            .post(
                "/checkout/customer",
                &customer_with(&[("family_name", "会員"), ("given_name", "花子")]),
            )
            .await,
        "/checkout/delivery",
    );
    let card = method_id(&state, "acting_remise_card").await.to_string();
    let div = format!("opt_{card}_div");
    browser
        .post(
            "/checkout/delivery",
            &[("payment_method", &card), (&div, "0")],
        )
        .await;
    let html = confirm_order(&mut browser).await.text();
    assert_eq!(hidden(&html, "PAYQUICK").as_deref(), Some("1"));
    let link_key = hidden(&html, "S_TORIHIKI_NO").unwrap();
    let attempt = state
        .store
        .attempt_by_link_key(&link_key)
        .await
        .unwrap()
        .unwrap();
    assert!(attempt.member_id.is_some());

    let logout = browser.post("/logout", &[]).await;
    assert_redirect(&logout, "/");
    assert!(browser.cookie.is_none());
    assert_redirect(&browser.get("/mypage").await, "/login?next=/mypage");
}

async fn registering_makes_a_member_once_per_email(backend: Backend) {
    let (state, _dir) = backend.shop("register").await;
    let mut browser = Browser::new(&state);
    let mut form = customer_with(&[("email", "new@example.jp")]);
    form.push(("password", "secret123"));
    form.push(("password_confirm", "secret123"));
    form.push(("next", "/mypage"));
    let registered = browser.post("/register", &form).await;
    assert_redirect(&registered, "/mypage");
    let mypage = browser.get("/mypage").await.text();
    assert!(mypage.contains("山田 太郎 様"));
    assert!(mypage.contains("new@example.jp"));

    let mut other = Browser::new(&state);
    let again = other.post("/register", &form).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again
        .text()
        .contains("このメールアドレスはすでに登録されています"));

    let mut short = customer_with(&[("email", "short@example.jp")]);
    short.push(("password", "abc"));
    short.push(("password_confirm", "abc"));
    let refused = other.post("/register", &short).await;
    assert!(refused
        .text()
        .contains("パスワードは6文字以上で入力してください"));

    // The new member can log in.
    let mut third = Browser::new(&state);
    let login = third
        .post(
            "/login",
            &[
                ("email", "new@example.jp"),
                ("password", "secret123"),
                ("next", "/mypage"),
            ],
        )
        .await;
    assert_redirect(&login, "/mypage");
}

async fn a_card_change_names_its_module_and_remembers_its_attempt(backend: Backend) {
    let (state, _dir) = backend.shop("card-change").await;
    let mut browser = Browser::new(&state);
    let login = browser
        .post(
            "/login",
            &[
                ("email", "demo@example.invalid"),
                ("password", "demo"),
                ("next", "/mypage"),
            ],
        )
        .await;
    assert_redirect(&login, "/mypage");

    // Without a module the host does not guess a gateway: nothing is started.
    let refused = browser.post("/mypage/card", &[("module", "")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused
        .text()
        .contains("変更するクレジットカードを選んでください"));
    let unknown = browser.post("/mypage/card", &[("module", "nope")]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let page = browser.post("/mypage/card", &[("module", "remise")]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.content_type, "text/html; charset=Shift_JIS");
    let html = page.text();
    assert!(html.contains("<meta charset=\"Shift_JIS\">"), "{html}");
    assert!(html.contains("<form id=\"purchase_form\""), "{html}");
    let link_key = hidden(&html, "S_TORIHIKI_NO").expect("the card-update link key");
    let attempt = state
        .store
        .attempt_by_link_key(&link_key)
        .await
        .unwrap()
        .expect("a card-update attempt");
    assert_eq!(attempt.kind, shophost::domain::AttemptKind::CardUpdate);
    assert!(attempt.member_id.is_some());

    // The result page follows that attempt: no notification yet, so it looks again.
    let done = browser.get("/mypage/card/done").await.text();
    assert!(done.contains("id=\"card-result\">確認中"), "{done}");
    assert!(
        done.contains("<meta http-equiv=\"refresh\" content=\"2;url=/mypage/card/done?n=1\">"),
        "{done}"
    );
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    members_log_in_see_mypage_and_log_out,
    registering_makes_a_member_once_per_email,
    a_card_change_names_its_module_and_remembers_its_attempt,
);
