//! The storefront: server-rendered pages in Japanese. Product list and cart (`cart.rs`), the checkout
//! steps お客様情報 → 発送・支払方法 → 内容確認 → the gateway → ご注文完了 (`checkout.rs`), and the member
//! pages ログイン, 会員登録, マイページ, クレジットカード変更 (`account.rs`).
//!
//! Handlers are thin: they read the shopper's session (`session.rs`), call the same domain functions
//! the JSON checkout API calls (`crate::checkout`, `crate::domain::customer`, `crate::members`), and
//! render a view model (`views.rs`) through its template. Errors become pages once, in
//! [`crate::http::PageError`].
//!
//! No GET changes anything that matters: the confirm page (GET) shows the order with a button, and only
//! that button's POST stores the checkout attempt. The page the POST answers with carries the gateway
//! form, so it is served in the gateway's charset (Shift_JIS, for some gateways) and the browser submits exactly
//! the bytes the gateway expects. A value the charset cannot carry is found on the GET already, and the
//! confirm page then shows why instead of the button: mojibake is never sent to the gateway.

mod account;
mod cart;
mod checkout;
mod session;
mod views;

use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

pub use session::SESSION_COOKIE;

use crate::http::PageError;
use crate::AppState;

/// The storefront routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(cart::index))
        .route("/cart", get(cart::cart_page))
        .route("/cart/add", post(cart::cart_add))
        .route("/cart/update", post(cart::cart_update))
        .route(
            "/checkout/customer",
            get(checkout::customer_page).post(checkout::customer_submit),
        )
        .route(
            "/checkout/delivery",
            get(checkout::delivery_page).post(checkout::delivery_submit),
        )
        .route(
            "/checkout/confirm",
            get(checkout::confirm_page).post(checkout::confirm_submit),
        )
        .route("/checkout/complete/{link_key}", get(checkout::complete))
        .route(
            "/login",
            get(account::login_page).post(account::login_submit),
        )
        .route("/logout", post(account::logout))
        .route(
            "/register",
            get(account::register_page).post(account::register_submit),
        )
        .route("/mypage", get(account::mypage))
        .route("/mypage/card", post(account::card_update_start))
        .route("/mypage/card/done", get(account::card_update_done))
}

/// The storefront path a gateway's page posts the shopper back to (the card change's return). It is
/// not one of the shop's forms: the post comes from the gateway's site by design, changes nothing and
/// only redirects to the page that shows the result, so it stays outside the cross-origin layer.
pub fn gateway_returns() -> Router<AppState> {
    Router::new().route("/mypage/card/done", post(account::card_update_returned))
}

/// Largest quantity of one product in the cart (the host refuses more).
const MAX_QUANTITY: i64 = 99;

/// A handler's answer: a page or redirect, or the error page.
type PageResult = Result<Response, PageError>;

/// A submitted form as name/value pairs (repeated and unknown names are harmless).
type Fields = Vec<(String, String)>;

/// The value of a form field, empty when it is missing.
fn field(fields: &Fields, name: &str) -> String {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

/// A 303 to `path`, after a form was handled.
fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// The only places a `next` parameter may send the shopper after login: never another site.
fn safe_next(next: &str) -> &'static str {
    [
        "/cart",
        "/checkout/customer",
        "/checkout/delivery",
        "/checkout/confirm",
        "/mypage",
    ]
    .into_iter()
    .find(|allowed| *allowed == next)
    .unwrap_or("/mypage")
}

/// The status of a page showing a form again: 422 when it has problems.
fn form_status(errors: &views::FormErrors) -> axum::http::StatusCode {
    if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_never_leaves_the_shop() {
        assert_eq!(safe_next("/checkout/customer"), "/checkout/customer");
        assert_eq!(safe_next("//evil.example/"), "/mypage");
        assert_eq!(safe_next("https://evil.example/"), "/mypage");
        assert_eq!(safe_next(""), "/mypage");
    }

    #[test]
    fn a_form_with_problems_is_422() {
        assert_eq!(
            form_status(&views::FormErrors::general("x")),
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            form_status(&views::FormErrors::default()),
            axum::http::StatusCode::OK
        );
    }
}
