//! Remise's notifications as the tests send them: a card result's body, and a post to a
//! notification URL through the real router from the address the gateway's server would use.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request};
use shophost::AppState;

use super::{form_body, send, Page};

/// The demo config's allowed notification source: the sandbox's address.
pub const SANDBOX: [u8; 4] = [127, 0, 0, 1];

/// Remise's card result notification (結果通知) for a link key, as its form body; `error` makes it
/// a decline (G12).
pub fn card_result(link_key: &str, transaction_id: &str, total: i64, error: bool) -> String {
    let total = total.to_string();
    let (code, info, level, r_code) = if error {
        ("G12", "000000012", "1", "1:0012")
    } else {
        ("   ", "000000000", "0", "0:0000")
    };
    form_body(&[
        ("X-TRANID", transaction_id),
        ("X-S_TORIHIKI_NO", link_key),
        ("X-AMOUNT", &total),
        ("X-TAX", "0"),
        ("X-TOTAL", &total),
        ("X-REFAPPROVED", "1234567"),
        ("X-REFFORWARDED", "UFJ"),
        ("X-REFGATEWAYNO", "01"),
        ("X-ERRCODE", code),
        ("X-ERRINFO", info),
        ("X-ERRLEVEL", level),
        ("X-R_CODE", r_code),
        ("X-PARTOFCARD", "1111"),
        ("X-EXPIRE", "1299"),
        ("X-CARDBRAND", "VISA"),
        ("X-NAME", "TARO YAMADA"),
        ("REC_TYPE", "RET"),
    ])
}

/// Posts a notification body to `acting`'s notification URL (`/index.php?acting=…`) from
/// `source`: the answer.
pub async fn notify_from(state: &AppState, acting: &str, body: String, source: [u8; 4]) -> Page {
    let mut request = Request::builder()
        .method("POST")
        .uri(format!("/index.php?acting={acting}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((source, 40_000))));
    send(&shophost::http::router(state.clone()), request).await
}

/// Posts a notification body to `acting`'s notification URL from the sandbox's address: the
/// answer's text.
pub async fn notify(state: &AppState, acting: &str, body: String) -> String {
    notify_from(state, acting, body, SANDBOX).await.text()
}
