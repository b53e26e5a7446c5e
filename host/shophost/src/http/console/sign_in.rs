//! サインイン and サインアウト.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{cookie_token, set_cookie};
use super::ConsoleForm;
use crate::http::client::ClientAddress;
use crate::http::forms::{field, Fields, FormErrors};
use crate::http::html;
use crate::operators::SignIn;
use crate::AppState;

/// The sign-in page.
#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    login: String,
    next: String,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Where to go after signing in: a console path, never another site.
fn safe_next(next: &str) -> String {
    if next.starts_with("/admin") && !next.starts_with("//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/admin".to_owned()
    }
}

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = safe_next(&query.next);
    if let Some(token) = cookie_token(&headers) {
        if let Ok(Some(_)) = crate::operators::session(state.store.as_ref(), &token).await {
            return Redirect::to(&next).into_response();
        }
    }
    let page = LoginPage {
        login: String::new(),
        next,
        errors: FormErrors::default(),
    };
    html::render(StatusCode::OK, &page)
}

pub(super) async fn submit(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Form(fields): Form<Fields>,
) -> Response {
    let login = field(&fields, "login").trim().to_owned();
    let next = safe_next(&field(&fields, "next"));
    let signed =
        crate::operators::sign_in(&state, client, &login, &field(&fields, "password")).await;
    match signed {
        Ok(SignIn::Operator { token, .. }) => {
            let mut response = Redirect::to(&next).into_response();
            if let Ok(value) = set_cookie(&state, Some(&token)).parse() {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Ok(refused) => {
            let status = match refused {
                SignIn::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let page = LoginPage {
                login,
                next,
                errors: FormErrors::general(refused.refusal().unwrap_or_default()),
            };
            html::render(status, &page)
        }
        Err(error) => {
            tracing::error!(%error, "console sign-in failed");
            html::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "データベースに接続できません。しばらくしてからもう一度お試しください。",
            )
        }
    }
}

pub(super) async fn sign_out(State(state): State<AppState>, form: ConsoleForm) -> Response {
    if let Err(error) = crate::operators::sign_out(state.store.as_ref(), &form.signed.token).await {
        tracing::error!(%error, "console sign-out failed");
    }
    let mut response = Redirect::to("/admin/login").into_response();
    if let Ok(value) = set_cookie(&state, None).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn sign_in_returns_only_to_console_paths() {
        assert_eq!(safe_next("/admin/methods?x=1"), "/admin/methods?x=1");
        assert_eq!(safe_next("https://evil.example/admin"), "/admin");
        assert_eq!(safe_next("//evil.example"), "/admin");
        assert_eq!(safe_next("/mypage"), "/admin");
        assert_eq!(safe_next("/admin\\@evil"), "/admin");
    }
}
