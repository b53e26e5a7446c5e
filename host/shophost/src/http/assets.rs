//! Static files the pages link, compiled into the binary: the site's stylesheet at `/assets/shop.css`,
//! the gateway form's auto-submit at `/assets/autosubmit.js`, and the console's `/assets/console.css`
//! and `/assets/console.js`.
//!
//! The layout links it as `/assets/shop.css?v={SHOP_CSS_VERSION}`, a hash of its content, so browsers
//! may keep it for a year and still fetch a changed one at once. A file rather than an inline
//! `<style>` lets a Content-Security-Policy forbid inline styles.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

/// The stylesheet.
pub const SHOP_CSS: &str = include_str!("../../assets/shop.css");

/// The console's stylesheet.
pub const CONSOLE_CSS: &str = include_str!("../../assets/console.css");

/// The console's conveniences (confirmation dialogs, copy buttons); every page works without it.
pub const CONSOLE_JS: &str = include_str!("../../assets/console.js");

/// A hash of [`CONSOLE_CSS`], to version its URL.
pub const CONSOLE_CSS_VERSION: u64 = fnv1a(CONSOLE_CSS.as_bytes());

/// A hash of [`CONSOLE_JS`], to version its URL.
pub const CONSOLE_JS_VERSION: u64 = fnv1a(CONSOLE_JS.as_bytes());

/// The script that submits the gateway form of `/pay/{link_key}` at once.
pub const AUTOSUBMIT_JS: &str = include_str!("../../assets/autosubmit.js");

/// A hash of [`SHOP_CSS`] (64-bit FNV-1a), to version its URL.
pub const SHOP_CSS_VERSION: u64 = fnv1a(SHOP_CSS.as_bytes());

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The asset routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/shop.css", get(shop_css))
        .route("/assets/autosubmit.js", get(autosubmit_js))
        .route("/assets/console.css", get(console_css))
        .route("/assets/console.js", get(console_js))
}

async fn shop_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            // The URL changes with the content (`?v=`), so a cached copy never goes stale.
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        SHOP_CSS,
    )
        .into_response()
}

/// A file whose URL carries its content's hash: cached for a year.
fn versioned(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

async fn console_css() -> Response {
    versioned("text/css; charset=utf-8", CONSOLE_CSS)
}

async fn console_js() -> Response {
    versioned("text/javascript; charset=utf-8", CONSOLE_JS)
}

async fn autosubmit_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        AUTOSUBMIT_JS,
    )
        .into_response()
}
