//! Security headers on every response.
//!
//! - `X-Content-Type-Options: nosniff` everywhere: a gateway's text answer or a JSON body is never
//!   taken for HTML.
//! - Pages (`text/html`) get a Content-Security-Policy that allows only the shop's own scripts, styles
//!   and images (templates carry no inline script or style), and no framing (`frame-ancestors 'none'`,
//!   with `X-Frame-Options: DENY` for older browsers): no page, the gateway form included, needs to be
//!   shown inside another site. `form-action` is left open because the confirm page posts to the
//!   gateway's own URL, which each module's settings decide.
//! - `Referrer-Policy`: `no-referrer` on pages whose address carries a link key (the order completion
//!   page), so it never reaches another site; elsewhere `strict-origin-when-cross-origin`, which sends
//!   other sites only the shop's origin (the gateway may see where the shopper came from, never a path).

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The policy for HTML pages.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Whether a path carries a link key that must not leave the shop in a `Referer`.
fn carries_link_key(path: &str) -> bool {
    path.starts_with("/checkout/complete/")
}

/// The layer.
pub async fn secure(request: Request, next: Next) -> Response {
    let hide_referrer = carries_link_key(request.uri().path());
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static(if hide_referrer {
            "no-referrer"
        } else {
            "strict-origin-when-cross-origin"
        }),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_completion_page_carries_a_link_key_in_its_address() {
        assert!(carries_link_key("/checkout/complete/12345678901234567"));
        assert!(!carries_link_key("/checkout/confirm"));
        assert!(!carries_link_key("/"));
    }
}
