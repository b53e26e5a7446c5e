//! The console's sign-in, sessions and form checks, through the real router: nothing of a console page
//! without a session, every form post refused without the session's token, sign-out and disabled
//! operators ending sessions, throttled sign-in.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{assert_redirect, console_browser, Backend, Browser, OPERATOR};

async fn console_pages_need_a_session_and_show_nothing_without_one(backend: Backend) {
    let (state, _dir) = backend.shop("console-no-session").await;
    let mut browser = Browser::new(&state);
    for path in ["/admin", "/admin/operators"] {
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
    // A form post without a session changes nothing and goes to the sign-in page.
    let page = browser
        .post(
            "/admin/operators",
            &[
                ("login", "intruder"),
                ("password", "0123456789x"),
                ("password_again", "0123456789x"),
            ],
        )
        .await;
    assert_redirect(&page, "/admin/login?next=%2Fadmin");
    assert!(state
        .store
        .operator_by_login("intruder")
        .await
        .unwrap()
        .is_none());
    // A made-up cookie is no session.
    browser.cookie = Some(format!("shophost_admin={}", "ab".repeat(32)));
    let page = browser.get("/admin").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

async fn signing_in_and_out(backend: Backend) {
    let (state, _dir) = backend.shop("console-sign-in").await;
    shophost::operators::create(state.store.as_ref(), OPERATOR.0, OPERATOR.1)
        .await
        .unwrap();
    let mut browser = Browser::new(&state);
    let page = browser.get("/admin/login?next=%2Fadmin%2Foperators").await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(
        text.contains("<label for=\"login\">ログイン名</label>"),
        "{text}"
    );
    assert!(text.contains("value=\"/admin/operators\""), "{text}");

    let page = browser
        .post(
            "/admin/login",
            &[
                ("login", OPERATOR.0),
                ("password", "wrong-password"),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.text().contains("ログイン名またはパスワードが違います"));
    assert!(browser.cookie.is_none());

    let page = browser
        .post(
            "/admin/login",
            &[
                ("login", OPERATOR.0),
                ("password", OPERATOR.1),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_redirect(&page, "/admin");
    let cookie = page.set_cookie.clone().unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/admin"),
        "{cookie}"
    );
    let dashboard = browser.get("/admin").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    let text = dashboard.text();
    assert!(
        text.contains("ダッシュボード") && text.contains("tester さん"),
        "{text}"
    );
    let csrf = common::hidden(&text, "csrf").unwrap();
    // The database keeps the token's hash, not the token.
    let token = browser
        .cookie
        .clone()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    assert!(state
        .store
        .operator_session(&token)
        .await
        .unwrap()
        .is_none());
    assert!(state
        .store
        .operator_session(&shophost::operators::token_hash(&token))
        .await
        .unwrap()
        .is_some());

    let stolen = browser.cookie.clone();
    let page = browser.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert_redirect(&page, "/admin/login");
    assert!(browser.cookie.is_none());
    // The old cookie is worthless after signing out.
    browser.cookie = stolen;
    assert_eq!(browser.get("/admin").await.status, StatusCode::SEE_OTHER);
}

async fn forms_without_the_sessions_token_are_refused(backend: Backend) {
    let (state, _dir) = backend.shop("console-csrf").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let fields = [
        ("login", "second"),
        ("password", "0123456789x"),
        ("password_again", "0123456789x"),
    ];
    let page = browser.post("/admin/operators", &fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = browser
        .post(
            "/admin/operators",
            &[&fields[..], &[("csrf", "0".repeat(64).as_str())]].concat(),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(state
        .store
        .operator_by_login("second")
        .await
        .unwrap()
        .is_none());
    // A cross-site post is refused before the handler, even with the token.
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/admin/operators")
        .header("cookie", browser.cookie.clone().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .body(axum::body::Body::from(common::form_body(
            &[&fields[..], &[("csrf", csrf.as_str())]].concat(),
        )))
        .unwrap();
    let page = common::send(&browser.app, request).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(state
        .store
        .operator_by_login("second")
        .await
        .unwrap()
        .is_none());
    // With the token it is done.
    let page = browser
        .post(
            "/admin/operators",
            &[&fields[..], &[("csrf", csrf.as_str())]].concat(),
        )
        .await;
    assert_redirect(&page, "/admin/operators?done=created&who=second");
    assert!(state
        .store
        .operator_by_login("second")
        .await
        .unwrap()
        .is_some());
}

async fn operator_forms_say_what_is_wrong_at_each_field(backend: Backend) {
    let (state, _dir) = backend.shop("console-operator-form").await;
    let (mut browser, csrf) = console_browser(&state).await;
    let page = browser
        .post(
            "/admin/operators",
            &[
                ("csrf", &csrf),
                ("login", "x"),
                ("password", "short"),
                ("password_again", "other"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = page.text();
    for message in [
        "ログイン名は3〜64文字で入力してください",
        "パスワードは10文字以上で入力してください",
        "確認のパスワードが一致しません",
    ] {
        assert!(text.contains(message), "{message}: {text}");
    }
    let page = browser
        .post(
            "/admin/operators",
            &[
                ("csrf", &csrf),
                ("login", OPERATOR.0),
                ("password", "0123456789x"),
                ("password_again", "0123456789x"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page
        .text()
        .contains("ログイン名「tester」はすでに使われています"));
    // Nobody disables themselves.
    let page = browser
        .post("/admin/operators/tester/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
}

async fn disabling_an_operator_ends_their_sessions_and_sign_ins(backend: Backend) {
    let (state, _dir) = backend.shop("console-disable").await;
    let (mut admin, csrf) = console_browser(&state).await;
    shophost::operators::create(state.store.as_ref(), "clerk", "clerk-password-1")
        .await
        .unwrap();
    let mut clerk = Browser::new(&state);
    let page = clerk
        .post(
            "/admin/login",
            &[
                ("login", "clerk"),
                ("password", "clerk-password-1"),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_redirect(&page, "/admin");
    assert_eq!(clerk.get("/admin").await.status, StatusCode::OK);

    let page = admin
        .post("/admin/operators/clerk/disable", &[("csrf", &csrf)])
        .await;
    assert_redirect(&page, "/admin/operators?done=disabled&who=clerk");
    assert_eq!(clerk.get("/admin").await.status, StatusCode::SEE_OTHER);
    let page = clerk
        .post(
            "/admin/login",
            &[
                ("login", "clerk"),
                ("password", "clerk-password-1"),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let list = admin.get("/admin/operators").await.text();
    assert!(
        list.contains("無効") && list.contains("有効にする"),
        "{list}"
    );
}

async fn sign_in_is_throttled_after_repeated_failures(backend: Backend) {
    let (state, _dir) = backend.shop("console-throttle").await;
    shophost::operators::create(state.store.as_ref(), OPERATOR.0, OPERATOR.1)
        .await
        .unwrap();
    let mut browser = Browser::new(&state);
    for _ in 0..shophost::throttle::PER_ACCOUNT {
        let page = browser
            .post(
                "/admin/login",
                &[
                    ("login", OPERATOR.0),
                    ("password", "wrong-password"),
                    ("next", "/admin"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits.
    let page = browser
        .post(
            "/admin/login",
            &[
                ("login", OPERATOR.0),
                ("password", OPERATOR.1),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.text().contains("しばらく受け付けを止めています"));
    assert!(browser.cookie.is_none());
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    console_pages_need_a_session_and_show_nothing_without_one,
    signing_in_and_out,
    forms_without_the_sessions_token_are_refused,
    operator_forms_say_what_is_wrong_at_each_field,
    disabling_an_operator_ends_their_sessions_and_sign_ins,
    sign_in_is_throttled_after_repeated_failures,
);
