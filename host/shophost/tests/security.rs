//! The storefront's defences, through the router: cross-site posts to its forms establish nothing and
//! change nothing (no session is created, rotated or ended, no cart changes, no checkout attempt is
//! stored, no card change starts) while the same posts from the shop's own pages go through; logins are
//! throttled per account and per client address; passwords hashed by earlier versions are replaced by
//! Argon2id at the next login.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use common::{send, Backend, Page, SHOP_ORIGIN};

/// A shop's router, its state and its temporary directory.
async fn shop_app(backend: &Backend, name: &str) -> (Router, shophost::AppState, common::Scratch) {
    let (state, dir) = backend.shop(name).await;
    (shophost::http::router(state.clone()), state, dir)
}

/// Where a request says it comes from.
#[derive(Clone, Copy)]
enum From {
    /// The shop's own page (`Origin` equal to the public URL, `Sec-Fetch-Site: same-origin`).
    Shop,
    /// Another site, as a current browser says it (`Sec-Fetch-Site: cross-site` and its `Origin`).
    OtherSite,
    /// Another site, as a browser without fetch metadata says it (`Origin` only).
    OtherOrigin,
}

async fn post(app: &Router, from: From, cookie: Option<&str>, path: &str, form: &str) -> Page {
    let mut request = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    request = match from {
        From::Shop => request
            .header(header::ORIGIN, SHOP_ORIGIN)
            .header("sec-fetch-site", "same-origin"),
        From::OtherSite => request
            .header(header::ORIGIN, "https://attacker.example")
            .header("sec-fetch-site", "cross-site"),
        From::OtherOrigin => request.header(header::ORIGIN, "https://attacker.example"),
    };
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    send(app, request.body(Body::from(form.to_owned())).unwrap()).await
}

async fn get(app: &Router, cookie: Option<&str>, path: &str) -> Page {
    let mut request = Request::builder().uri(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

fn refused(answer: &Page, what: &str) {
    assert_eq!(
        answer.status,
        StatusCode::FORBIDDEN,
        "{what}: {}",
        answer.text()
    );
    assert!(answer.set_cookie.is_none(), "{what} set a cookie");
}

const LOGIN: &str = "email=demo%40example.invalid&password=demo&next=%2Fmypage";

async fn a_cross_site_login_establishes_no_session(backend: Backend) {
    let (app, _state, _dir) = shop_app(&backend, "login").await;
    for from in [From::OtherSite, From::OtherOrigin] {
        refused(&post(&app, from, None, "/login", LOGIN).await, "login");
        refused(
            &post(
                &app,
                from,
                None,
                "/register",
                "email=evil%40example.jp&password=secret1&password_confirm=secret1",
            )
            .await,
            "register",
        );
        refused(
            &post(&app, from, None, "/cart/add", "product_id=1&quantity=1").await,
            "cart",
        );
    }
    // From the shop's own login page the same post signs the member in.
    let answer = post(&app, From::Shop, None, "/login", LOGIN).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    assert_eq!(answer.location.as_deref(), Some("/mypage"));
    assert!(answer.set_cookie.is_some());
}

async fn a_cross_site_post_changes_nothing_in_a_signed_in_session(backend: Backend) {
    let (app, _state, _dir) = shop_app(&backend, "session").await;
    let login = post(&app, From::Shop, None, "/login", LOGIN).await;
    let cookie = login
        .set_cookie
        .as_deref()
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let added = post(
        &app,
        From::Shop,
        Some(&cookie),
        "/cart/add",
        "product_id=1&quantity=2",
    )
    .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let cart_before = get(&app, Some(&cookie), "/cart").await.text();

    for from in [From::OtherSite, From::OtherOrigin] {
        for (path, form) in [
            ("/logout", ""),
            ("/cart/add", "product_id=2&quantity=5"),
            ("/cart/update", "remove=1"),
            ("/mypage/card", "module=remise"),
            ("/checkout/confirm", "revision=0"),
            ("/login", LOGIN),
        ] {
            refused(&post(&app, from, Some(&cookie), path, form).await, path);
        }
    }
    // Still signed in, with the same cart.
    let mypage = get(&app, Some(&cookie), "/mypage").await;
    assert_eq!(mypage.status, StatusCode::OK, "the session survived");
    assert!(mypage.text().contains("マイページ"));
    assert_eq!(get(&app, Some(&cookie), "/cart").await.text(), cart_before);
    // Reading stays open to links from anywhere.
    assert_eq!(get(&app, None, "/").await.status, StatusCode::OK);
    // The gateway's page posts the shopper back after a card change: that post only redirects to the
    // page showing the result, so it passes.
    let back = post(
        &app,
        From::OtherSite,
        Some(&cookie),
        "/mypage/card/done",
        "X-R_CODE=0%3A0000",
    )
    .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert_eq!(back.location.as_deref(), Some("/mypage/card/done"));
}

fn login_form(email: &str, password: &str) -> String {
    format!(
        "email={}&password={password}&next=%2Fmypage",
        email.replace('@', "%40")
    )
}

async fn logins_are_throttled_per_account_with_a_japanese_message(backend: Backend) {
    let (app, _state, _dir) = shop_app(&backend, "throttle").await;
    for _ in 0..shophost::throttle::PER_ACCOUNT {
        let answer = post(
            &app,
            From::Shop,
            None,
            "/login",
            &login_form("demo@example.invalid", "wrong"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text());
        assert!(answer
            .text()
            .contains("メールアドレスまたはパスワードが違います"));
    }
    // Now even the right password waits, and the page says for how long.
    let answer = post(&app, From::Shop, None, "/login", LOGIN).await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text()
    );
    assert!(
        answer.text().contains("ログインの失敗が続いたため"),
        "{}",
        answer.text()
    );
    assert!(answer.text().contains("約15分後"), "{}", answer.text());
    assert!(answer.set_cookie.is_none());
    // The checkout API applies the same count.
    let request = Request::builder()
        .method("POST")
        .uri("/api/checkout")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::json!({
                "lines": [{ "product_id": 1, "quantity": 1 }],
                "customer": shophost::domain::CustomerDetails::default(),
                "payment_method_id": 1,
                "member": { "email": "demo@example.invalid", "password": "demo" },
            })
            .to_string(),
        ))
        .unwrap();
    assert_eq!(
        send(&app, request).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn a_password_hashed_by_an_earlier_version_is_replaced_at_login(backend: Backend) {
    let (app, state, _dir) = shop_app(&backend, "rehash").await;
    // What the previous version stored for "secret1": PBKDF2-HMAC-SHA256, 60,000 iterations, salt
    // and hash in hex.
    let salt = [0x5au8; 16];
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"secret1", &salt, 60_000, &mut derived);
    let legacy = format!(
        "pbkdf2-sha256$60000${}${}",
        hex::encode(salt),
        hex::encode(derived)
    );
    let details = shophost::domain::CustomerDetails {
        email: "old@example.jp".into(),
        ..Default::default()
    };
    state
        .store
        .create_member("old@example.jp", &legacy, &details)
        .await
        .unwrap();
    let answer = post(
        &app,
        From::Shop,
        None,
        "/login",
        &login_form("old@example.jp", "secret1"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    let (_, stored) = state
        .store
        .member_by_email("old@example.jp")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    // And the new hash works at the next login.
    let again = post(
        &app,
        From::Shop,
        None,
        "/login",
        &login_form("old@example.jp", "secret1"),
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    a_cross_site_login_establishes_no_session,
    a_cross_site_post_changes_nothing_in_a_signed_in_session,
    logins_are_throttled_per_account_with_a_japanese_message,
    a_password_hashed_by_an_earlier_version_is_replaced_at_login,
);
