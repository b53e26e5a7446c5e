//! 支払方法: the list in the operator's order (move up / move down, 使用 / 停止, and why a method the
//! operator did not stop is stopped), adding and editing with a preview of the explanation as the
//! shopper will see it, and deleting a method no order refers to. The rules are
//! [`crate::methods`]'s, the same the JSON admin API follows.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, ConsoleForm, Signed};
use crate::domain::{MoveDirection, PaymentMethod};
use crate::http::forms::FormErrors;
use crate::http::html;
use crate::methods::{MethodError, MethodInput, MethodStatus, TypeChoice};
use crate::AppState;

/// One method as listed.
struct Row {
    id: i64,
    name: String,
    /// The settlement type as the operator knows it: its label and module, or its id when no module
    /// provides it now.
    settlement: String,
    /// `active`, `stopped` or `broken` (the badge's class).
    badge: &'static str,
    /// 使用 or 停止.
    used: &'static str,
    /// Why the method is stopped when the operator did not choose it, and where to fix it.
    reason: Option<(String, Option<String>)>,
    first: bool,
    last: bool,
}

#[derive(Template)]
#[template(path = "console/methods.html")]
struct MethodsPage {
    chrome: Chrome,
    rows: Vec<Row>,
    errors: FormErrors,
    notice: String,
}

/// The add and edit form.
#[derive(Template)]
#[template(path = "console/method_form.html")]
struct MethodFormPage {
    chrome: Chrome,
    /// The method being edited (none when adding).
    id: Option<i64>,
    name: String,
    explanation: String,
    settlement_type: String,
    active: bool,
    choices: Vec<TypeChoice>,
    /// The sanitised explanation, when the operator asked for a preview.
    preview: Option<String>,
    errors: FormErrors,
}

impl MethodFormPage {
    /// Whether the chosen type is provided now (otherwise it is shown as not available).
    fn type_available(&self) -> bool {
        self.settlement_type.is_empty() || self.choices.iter().any(|c| c.id == self.settlement_type)
    }

    /// Where the form posts.
    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("/admin/methods/{id}"),
            None => "/admin/methods/new".to_owned(),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    who: String,
}

fn row(state: &AppState, choices: &[TypeChoice], method: PaymentMethod) -> Row {
    let settlement = match choices.iter().find(|c| c.id == method.settlement_type) {
        Some(choice) => format!("{}（{}）", choice.label, choice.module_name),
        None => method.settlement_type.clone(),
    };
    let (badge, used, reason) = match crate::methods::status(&state.engine, &method) {
        MethodStatus::InUse => ("active", "使用", None),
        MethodStatus::Stopped => ("stopped", "停止", None),
        MethodStatus::Unavailable {
            module: Some(module),
            in_use: true,
        } => (
            "broken",
            "停止",
            Some((
                "設定エラーのため停止中".to_owned(),
                Some(format!("/admin/modules/{module}")),
            )),
        ),
        MethodStatus::Unavailable {
            module: Some(module),
            in_use: false,
        } => (
            "broken",
            "停止",
            Some((
                "決済モジュールが使用されていないため停止中".to_owned(),
                Some(format!("/admin/modules/{module}")),
            )),
        ),
        MethodStatus::Unavailable { module: None, .. } => (
            "broken",
            "停止",
            Some((
                "この決済種別を提供する決済モジュールがないため停止中".to_owned(),
                None,
            )),
        ),
    };
    Row {
        id: method.id,
        name: method.name,
        settlement,
        badge,
        used,
        reason,
        first: false,
        last: false,
    }
}

async fn render_list(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    errors: FormErrors,
    notice: String,
) -> Response {
    let methods = match state.store.payment_methods().await {
        Ok(methods) => methods,
        Err(error) => return super::unavailable(error),
    };
    let choices = crate::methods::type_choices(&state.engine);
    let mut rows: Vec<Row> = methods
        .into_iter()
        .map(|method| row(state, &choices, method))
        .collect();
    if let Some(first) = rows.first_mut() {
        first.first = true;
    }
    if let Some(last) = rows.last_mut() {
        last.last = true;
    }
    let page = MethodsPage {
        chrome: Chrome::new(signed, "/admin/methods"),
        rows,
        errors,
        notice,
    };
    html::render(status, &page)
}

pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(done): Query<Done>,
) -> Response {
    let notice = match done.done.as_str() {
        "created" => format!("支払方法「{}」を追加しました。", done.who),
        "updated" => format!("支払方法「{}」を保存しました。", done.who),
        "deleted" => format!("支払方法「{}」を削除しました。", done.who),
        "moved" => format!("支払方法「{}」の表示順を変更しました。", done.who),
        _ => String::new(),
    };
    render_list(
        &state,
        &signed,
        StatusCode::OK,
        FormErrors::default(),
        notice,
    )
    .await
}

/// Back to the list, telling what was done to which method (POST-redirect-GET).
fn done(what: &str, name: &str) -> Response {
    let who: String =
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string();
    Redirect::to(&format!("/admin/methods?done={what}&who={who}")).into_response()
}

fn not_found() -> Response {
    html::error_page(StatusCode::NOT_FOUND, "支払方法が見つかりません。")
}

fn form_page(
    state: &AppState,
    signed: &Signed,
    id: Option<i64>,
    input: MethodInput,
    preview: Option<String>,
    errors: FormErrors,
) -> MethodFormPage {
    MethodFormPage {
        chrome: Chrome::new(signed, "/admin/methods"),
        id,
        name: input.name,
        explanation: input.explanation,
        settlement_type: input.settlement_type,
        active: input.active,
        choices: crate::methods::type_choices(&state.engine),
        preview,
        errors,
    }
}

pub(super) async fn new_form(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
) -> Response {
    let input = MethodInput {
        active: true,
        ..MethodInput::default()
    };
    let page = form_page(&state, &signed, None, input, None, FormErrors::default());
    html::render(StatusCode::OK, &page)
}

pub(super) async fn edit_form(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<i64>,
) -> Response {
    let method = match state.store.payment_method(id).await {
        Ok(Some(method)) => method,
        Ok(None) => return not_found(),
        Err(error) => return super::unavailable(error),
    };
    let input = MethodInput {
        name: method.name,
        explanation: method.explanation,
        settlement_type: method.settlement_type,
        module: String::new(),
        active: method.active,
    };
    let page = form_page(
        &state,
        &signed,
        Some(id),
        input,
        None,
        FormErrors::default(),
    );
    html::render(StatusCode::OK, &page)
}

/// Saves the form (or, with the プレビュー button, shows it again with the preview and saves
/// nothing).
async fn submit(state: AppState, id: Option<i64>, form: ConsoleForm) -> Response {
    let input = MethodInput {
        name: form.get("name"),
        explanation: form.get("explanation"),
        settlement_type: form.get("settlement_type"),
        module: String::new(),
        active: form.get("active") == "1",
    };
    if form.get("action") == "preview" {
        let preview = crate::methods::sanitise_explanation(&input.explanation);
        let page = form_page(
            &state,
            &form.signed,
            id,
            input,
            Some(preview),
            FormErrors::default(),
        );
        return html::render(StatusCode::OK, &page);
    }
    let store = state.store.as_ref();
    let saved = match id {
        Some(id) => crate::methods::update(store, &state.engine, id, &input).await,
        None => crate::methods::create(store, &state.engine, &input).await,
    };
    match saved {
        Ok(method) => {
            tracing::info!(by = %form.signed.operator.login, id = method.id, name = %method.name, "console: payment method saved");
            done(
                if id.is_some() { "updated" } else { "created" },
                &method.name,
            )
        }
        Err(MethodError::Invalid(problems)) => {
            let mut errors = FormErrors::default();
            for problem in problems {
                errors.add(problem.field, problem.message);
            }
            let page = form_page(&state, &form.signed, id, input, None, errors);
            html::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(MethodError::NotFound) => not_found(),
        Err(MethodError::Db(error)) => super::unavailable(error),
        Err(other @ MethodError::InUse) => {
            let page = form_page(
                &state,
                &form.signed,
                id,
                input,
                None,
                FormErrors::general(other.to_string()),
            );
            html::render(StatusCode::CONFLICT, &page)
        }
    }
}

pub(super) async fn create(State(state): State<AppState>, form: ConsoleForm) -> Response {
    submit(state, None, form).await
}

pub(super) async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: ConsoleForm,
) -> Response {
    submit(state, Some(id), form).await
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: ConsoleForm,
) -> Response {
    match crate::methods::delete(state.store.as_ref(), id).await {
        Ok(method) => {
            tracing::info!(by = %form.signed.operator.login, id, name = %method.name, "console: payment method deleted");
            done("deleted", &method.name)
        }
        Err(MethodError::NotFound) => not_found(),
        Err(MethodError::Db(error)) => super::unavailable(error),
        Err(refused) => {
            render_list(
                &state,
                &form.signed,
                StatusCode::CONFLICT,
                FormErrors::general(refused.to_string()),
                String::new(),
            )
            .await
        }
    }
}

pub(super) async fn move_method(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: ConsoleForm,
) -> Response {
    let direction = match form.get("direction").as_str() {
        "up" => MoveDirection::Up,
        "down" => MoveDirection::Down,
        _ => {
            return html::error_page(
                StatusCode::BAD_REQUEST,
                "移動の向きが正しくありません。画面を開き直してもう一度操作してください。",
            )
        }
    };
    match crate::methods::move_method(state.store.as_ref(), id, direction).await {
        Ok(method) => done("moved", &method.name),
        Err(MethodError::NotFound) => not_found(),
        Err(MethodError::Db(error)) => super::unavailable(error),
        Err(other) => {
            render_list(
                &state,
                &form.signed,
                StatusCode::CONFLICT,
                FormErrors::general(other.to_string()),
                String::new(),
            )
            .await
        }
    }
}
