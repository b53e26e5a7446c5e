//! HTTP hygiene over real sockets: a client that sends headers too slowly is cut off, bodies over a
//! route group's limit are refused, and pages carry the security headers.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_headers_too_slowly_is_cut_off() {
    let shop = Shop::start().await;
    let address = shop.base.trim_start_matches("http://").to_owned();
    let mut connection = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    // Half a request line and one header, then nothing (slowloris).
    connection
        .write_all(format!("POST /cart/add HTTP/1.1\r\nHost: {address}\r\n").as_bytes())
        .await
        .expect("send");
    let mut rest = Vec::new();
    // The header-read limit is 10 s; the guard here only keeps a broken server from hanging the test.
    let read = tokio::time::timeout(Duration::from_secs(30), connection.read_to_end(&mut rest))
        .await
        .expect("the server closed the connection before the guard ran out");
    // Closed (EOF or reset), with no request having been handled.
    assert!(
        read.is_err() || !String::from_utf8_lossy(&rest).contains("303"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    shop.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_a_route_groups_limit_are_refused() {
    let shop = Shop::start().await;
    let big_form = format!("product_id=1&quantity=1&note={}", "a".repeat(100 * 1024));
    let page = shop
        .post_raw(
            &format!("{}/cart/add", shop.base),
            "application/x-www-form-urlencoded",
            big_form.into_bytes(),
        )
        .await;
    assert_eq!(page.status, 413, "{}", page.text());
    let big_json = format!("{{\"note\":\"{}\"}}", "a".repeat(40 * 1024));
    let page = shop
        .post_raw(
            &format!("{}/api/checkout", shop.base),
            "application/json",
            big_json.into_bytes(),
        )
        .await;
    assert_eq!(page.status, 413, "{}", page.text());
    shop.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers() {
    let shop = Shop::start().await;
    let response = shop
        .http
        .get(format!("{}/", shop.base))
        .send()
        .await
        .expect("index");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("x-frame-options"), "DENY");
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
    assert!(header("content-security-policy").contains("script-src 'self'"));
    assert_eq!(header("referrer-policy"), "strict-origin-when-cross-origin");
    let complete = shop
        .http
        .get(format!("{}/checkout/complete/12345678901234567", shop.base))
        .send()
        .await
        .expect("complete page");
    assert_eq!(
        complete
            .headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("no-referrer"),
        "a page whose address carries a link key sends no Referer"
    );
    shop.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_admin_token() {
    let shop = Shop::start().await;
    let anonymous = shop.get("/metrics").await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    assert!(!anonymous.text().contains("shophost_"));
    assert!(shop
        .metrics()
        .await
        .contains("shophost_http_responses_total"));
    shop.finish().await;
}
