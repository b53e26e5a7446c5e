//! Cross-site request forgery protection for the shop's own forms (storefront, console).
//!
//! A browser says where a request comes from: `Sec-Fetch-Site` (every current browser) and `Origin`
//! (sent with every POST). A state-changing request (anything but GET, HEAD, OPTIONS) is refused
//! before any handler runs — so no session is created, rotated or changed — when
//!
//! - `Sec-Fetch-Site` is present and is not `same-origin` or `none` (`none`: typed in or bookmarked), or
//! - without `Sec-Fetch-Site`, `Origin` is present and is not the shop's own origin (`null`, sent from
//!   sandboxed frames and some redirects, is not the shop's origin either).
//!
//! A request with neither header does not come from a browser that could carry a shopper's cookies
//! (clients such as curl or the tests' HTTP client), and is let through. This is the rule Go's
//! `CrossOriginProtection` applies; session cookies are `SameSite=Lax` besides, so a cross-site POST
//! does not carry them even where a browser sent no header at all.
//!
//! Routes a gateway's pages post to on purpose (browser returns, and the card change's return,
//! `storefront::gateway_returns`) are outside this layer.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether a request with these headers may change state on a shop whose public origin is
/// `own_origin` (`scheme://host[:port]`, no trailing slash).
pub fn allowed(method: &Method, headers: &HeaderMap, own_origin: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin") | Ok("none"));
    }
    match headers.get(header::ORIGIN) {
        Some(origin) => origin
            .to_str()
            .is_ok_and(|origin| origin.eq_ignore_ascii_case(own_origin)),
        None => true,
    }
}

/// `scheme://host[:port]` of a base URL such as `https://shop.example.jp/` or `http://127.0.0.1:8080`.
pub fn origin_of(public_url: &str) -> String {
    let (scheme, rest) = public_url.split_once("://").unwrap_or(("http", public_url));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

/// The layer: refuses a cross-site state-changing request with 403 and a short Japanese page.
pub async fn protect(
    State(state): State<crate::AppState>,
    request: Request,
    next: Next,
) -> Response {
    let own = origin_of(&state.config.public_url);
    if allowed(request.method(), request.headers(), &own) {
        return next.run(request).await;
    }
    tracing::warn!(
        method = %request.method(),
        path = %request.uri().path(),
        origin = ?request.headers().get(header::ORIGIN),
        sec_fetch_site = ?request.headers().get("sec-fetch-site"),
        "cross-site request refused"
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        "別のサイトから送信されたため、受け付けませんでした。ショップのページからもう一度操作してください。",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn check(method: Method, headers: &[(&'static str, &'static str)], expect: bool) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        assert_eq!(
            allowed(&method, &map, "https://shop.example.jp"),
            expect,
            "{method} {headers:?}"
        );
    }

    #[test]
    fn reading_is_always_allowed() {
        check(Method::GET, &[("sec-fetch-site", "cross-site")], true);
        check(Method::HEAD, &[("origin", "https://evil.example")], true);
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        check(Method::POST, &[("sec-fetch-site", "same-origin")], true);
        check(Method::POST, &[("sec-fetch-site", "none")], true);
        check(Method::POST, &[("sec-fetch-site", "cross-site")], false);
        check(Method::POST, &[("sec-fetch-site", "same-site")], false);
        // Fetch metadata wins over a matching Origin.
        check(
            Method::POST,
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://shop.example.jp"),
            ],
            false,
        );
    }

    #[test]
    fn origin_decides_without_fetch_metadata() {
        check(Method::POST, &[("origin", "https://shop.example.jp")], true);
        check(Method::POST, &[("origin", "https://SHOP.example.jp")], true);
        check(Method::POST, &[("origin", "https://evil.example")], false);
        check(Method::POST, &[("origin", "http://shop.example.jp")], false);
        check(Method::POST, &[("origin", "null")], false);
        check(Method::DELETE, &[("origin", "https://evil.example")], false);
    }

    #[test]
    fn requests_without_browser_headers_pass() {
        check(Method::POST, &[], true);
    }

    #[test]
    fn origins_of_public_urls() {
        assert_eq!(
            origin_of("https://shop.example.jp/"),
            "https://shop.example.jp"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(origin_of("https://example.jp/shop"), "https://example.jp");
    }
}
