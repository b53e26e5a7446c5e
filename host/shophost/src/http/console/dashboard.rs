//! ダッシュボード: the notices as Welcart shows them (決済エラー発生告知, 要確認, notifications refused
//! for their source).

use askama::Template;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{Chrome, Signed};
use crate::http::html;
use crate::notices::Notice;
use crate::AppState;

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    notices: Vec<Notice>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
) -> Response {
    let notices = match crate::notices::current(&state).await {
        Ok(notices) => notices,
        Err(error) => return super::unavailable(error),
    };
    let page = DashboardPage {
        chrome: Chrome::new(&signed, "/admin"),
        notices,
    };
    html::render(StatusCode::OK, &page)
}
