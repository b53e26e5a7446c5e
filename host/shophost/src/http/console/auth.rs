//! Who is signed in to the console, and the checks every console request passes: a live session
//! (otherwise a redirect to the sign-in page, with nothing of the page), and on every form post the
//! session's CSRF token.

use axum::extract::{Form, FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::domain::Operator;
use crate::http::forms::{field, Fields};
use crate::http::html;
use crate::AppState;

/// The console's session cookie.
pub const COOKIE: &str = "shophost_admin";

/// The signed-in operator of a console request (put in the request's extensions by
/// [`require_operator`]).
#[derive(Debug, Clone)]
pub struct Signed {
    /// Who.
    pub operator: Operator,
    /// The session's form token.
    pub csrf: String,
    /// The cookie's token (for signing out).
    pub(super) token: String,
}

/// The console cookie's token, if the request carries one.
pub(super) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value for a session token (`None`: the cookie's removal).
pub(super) fn set_cookie(state: &AppState, token: Option<&str>) -> String {
    let mut cookie = match token {
        Some(token) => format!("{COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict"),
        None => format!("{COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    if state.config.public_url.starts_with("https://") {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The sign-in page, coming back to `path` afterwards.
fn to_sign_in(path: &str) -> Response {
    let next: String =
        percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC).to_string();
    Redirect::to(&format!("/admin/login?next={next}")).into_response()
}

/// Lets a request through only with a live session; anything else goes to the sign-in page.
pub async fn require_operator(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/admin".to_owned());
    let back = if request.method() == axum::http::Method::GET {
        path.as_str()
    } else {
        "/admin"
    };
    let Some(token) = cookie_token(request.headers()) else {
        return to_sign_in(back);
    };
    match crate::operators::session(state.store.as_ref(), &token).await {
        Ok(Some((session, operator))) => {
            request.extensions_mut().insert(Signed {
                operator,
                csrf: session.csrf_token,
                token,
            });
            let mut response = next.run(request).await;
            // Console pages are the operator's alone: never kept by a shared cache.
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
        Ok(None) => {
            let mut response = to_sign_in(back);
            if let Ok(value) = set_cookie(&state, None).parse() {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => {
            tracing::error!(%error, "console: session lookup failed");
            html::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "データベースに接続できません。しばらくしてからもう一度お試しください。",
            )
        }
    }
}

/// Whether two tokens are equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A console form post whose `csrf` field is the session's token: the only way a console handler
/// reads a form, so no state-changing form goes without the check.
pub struct ConsoleForm {
    /// The form's fields.
    pub fields: Fields,
    /// Who posted it.
    pub signed: Signed,
}

impl ConsoleForm {
    /// The value of a field, empty when missing.
    pub fn get(&self, name: &str) -> String {
        field(&self.fields, name)
    }
}

impl FromRequest<AppState> for ConsoleForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(signed) = request.extensions().get::<Signed>().cloned() else {
            return Err(to_sign_in("/admin"));
        };
        let Form(fields) = Form::<Fields>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !same(&field(&fields, "csrf"), &signed.csrf) {
            tracing::warn!(login = %signed.operator.login, "console: form refused, its CSRF token is missing or wrong");
            return Err(html::error_page(
                StatusCode::FORBIDDEN,
                "フォームの有効期限が切れたか、別の画面から送信されました。画面を開き直してもう一度操作してください。",
            ));
        }
        Ok(ConsoleForm { fields, signed })
    }
}
