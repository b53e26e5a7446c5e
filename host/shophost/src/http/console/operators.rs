//! 運営者: the console's operator accounts (list, add, disable, enable), the same functions as the
//! CLI's `shophost admin …`.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, ConsoleForm, Signed};
use crate::domain::{local_datetime, Operator};
use crate::http::forms::FormErrors;
use crate::http::html;
use crate::operators::AccountError;
use crate::AppState;

/// One operator as listed.
struct Row {
    login: String,
    disabled: bool,
    created: String,
    last_login: String,
    is_self: bool,
}

#[derive(Template)]
#[template(path = "console/operators.html")]
struct OperatorsPage {
    chrome: Chrome,
    rows: Vec<Row>,
    new_login: String,
    errors: FormErrors,
    notice: String,
}

#[derive(Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    who: String,
}

fn rows(operators: Vec<Operator>, signed: &Signed) -> Vec<Row> {
    operators
        .into_iter()
        .map(|o| Row {
            is_self: o.id == signed.operator.id,
            created: local_datetime(o.created_at),
            last_login: o.last_login_at.map(local_datetime).unwrap_or_default(),
            login: o.login,
            disabled: o.disabled,
        })
        .collect()
}

async fn render(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    new_login: String,
    errors: FormErrors,
    notice: String,
) -> Response {
    let operators = match state.store.operators().await {
        Ok(operators) => operators,
        Err(error) => return super::unavailable(error),
    };
    let page = OperatorsPage {
        chrome: Chrome::new(signed, "/admin/operators"),
        rows: rows(operators, signed),
        new_login,
        errors,
        notice,
    };
    html::render(status, &page)
}

pub(super) async fn page(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(done): Query<Done>,
) -> Response {
    let notice = match done.done.as_str() {
        "created" => format!("運営者「{}」を追加しました。", done.who),
        "disabled" => format!("運営者「{}」を無効にしました。", done.who),
        "enabled" => format!("運営者「{}」を有効にしました。", done.who),
        _ => String::new(),
    };
    render(
        &state,
        &signed,
        StatusCode::OK,
        String::new(),
        FormErrors::default(),
        notice,
    )
    .await
}

fn done(what: &str, login: &str) -> Response {
    let who: String =
        percent_encoding::utf8_percent_encode(login, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    Redirect::to(&format!("/admin/operators?done={what}&who={who}")).into_response()
}

pub(super) async fn create(State(state): State<AppState>, form: ConsoleForm) -> Response {
    let login = form.get("login").trim().to_owned();
    let password = form.get("password");
    let mut errors = FormErrors::default();
    if let Err(message) = crate::operators::check_login(&login) {
        errors.add("login", message);
    }
    if let Err(message) = crate::operators::check_password(&password) {
        errors.add("password", message);
    }
    if password != form.get("password_again") {
        errors.add("password_again", "確認のパスワードが一致しません");
    }
    if errors.is_empty() {
        match crate::operators::create(state.store.as_ref(), &login, &password).await {
            Ok(operator) => {
                tracing::info!(by = %form.signed.operator.login, login = %operator.login, "console: operator added");
                return done("created", &operator.login);
            }
            Err(AccountError::Db(error)) => return super::unavailable(error),
            Err(AccountError::Taken(_)) => {
                errors.add("login", AccountError::Taken(login.clone()).to_string())
            }
            Err(other) => errors.add("", other.to_string()),
        }
    }
    render(
        &state,
        &form.signed,
        StatusCode::UNPROCESSABLE_ENTITY,
        login,
        errors,
        String::new(),
    )
    .await
}

async fn set_disabled(
    state: AppState,
    form: ConsoleForm,
    login: String,
    disabled: bool,
) -> Response {
    if disabled && login == form.signed.operator.login {
        let errors = FormErrors::general(
            "自分自身は無効にできません（別の運営者でサインインして操作してください）",
        );
        return render(
            &state,
            &form.signed,
            StatusCode::CONFLICT,
            String::new(),
            errors,
            String::new(),
        )
        .await;
    }
    match crate::operators::set_disabled(state.store.as_ref(), &login, disabled).await {
        Ok(operator) => {
            tracing::info!(by = %form.signed.operator.login, login = %operator.login, disabled, "console: operator changed");
            done(
                if disabled { "disabled" } else { "enabled" },
                &operator.login,
            )
        }
        Err(AccountError::Db(error)) => super::unavailable(error),
        Err(other) => {
            let errors = FormErrors::general(other.to_string());
            render(
                &state,
                &form.signed,
                StatusCode::NOT_FOUND,
                String::new(),
                errors,
                String::new(),
            )
            .await
        }
    }
}

pub(super) async fn disable(
    State(state): State<AppState>,
    Path(login): Path<String>,
    form: ConsoleForm,
) -> Response {
    set_disabled(state, form, login, true).await
}

pub(super) async fn enable(
    State(state): State<AppState>,
    Path(login): Path<String>,
    form: ConsoleForm,
) -> Response {
    set_disabled(state, form, login, false).await
}
