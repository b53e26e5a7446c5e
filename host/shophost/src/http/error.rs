//! The host's two HTTP error types, one per audience: [`ApiError`] answers the JSON APIs, [`PageError`]
//! answers a browser with the HTML error page. Each maps a domain error once (`From<CheckoutError>`,
//! `From<DbError>`), each variant says its status, and a 5xx shows a generic message while its detail is
//! logged once, when the response is made.
//!
//! Every JSON error is `{"error": "…"}`, in Japanese where an operator or a shopper reads it; a
//! validation failure adds `"fields": {"KEY": "message", …}`, one message per field, so a form can show
//! each next to its input. A body that is not the JSON a route takes is answered the same way
//! ([`JsonBody`]), never with axum's plain-text rejection.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::catalogue::CatalogueError;
use crate::checkout::CheckoutError;
use crate::db::DbError;
use crate::http::html;
use crate::methods::MethodError;

/// The one error type of the JSON APIs.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is wrong; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or wrong admin token.
    #[error("管理APIのトークンがないか、正しくありません（Authorization: Bearer <トークン>）")]
    Unauthorized,
    /// 404.
    #[error("見つかりません")]
    NotFound,
    /// 409: refused because of the current state; the message says why and what to do.
    #[error("{0}")]
    Conflict(String),
    /// 422: validation failed; `fields` says what is wrong with each field, by its key.
    #[error("{message}")]
    Invalid {
        /// Summary, in Japanese.
        message: String,
        /// One message per field key (a settings key, a customer field such as `postcode`).
        fields: BTreeMap<String, String>,
    },
    /// A body that could not be read as sent, with the status its reader gave (413 too large, 415 not
    /// JSON, …); the message says what to send instead.
    #[error("{message}")]
    Unreadable {
        /// The status.
        status: StatusCode,
        /// What is wrong, in Japanese.
        message: String,
    },
    /// 429: too many failed attempts lately; the message says how long to wait.
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: the admin API has no token configured.
    #[error("管理APIは無効です。shophost.toml の admin.token か環境変数 SHOPHOST_ADMIN_TOKEN を設定してください")]
    AdminDisabled,
    /// 503: storage failed; the detail is logged, never sent.
    #[error("ただいま処理できません。しばらくしてからもう一度お試しください")]
    Unavailable(String),
}

impl ApiError {
    /// A validation failure of one field: 422, the message as the summary and the field's message.
    pub fn field(key: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::invalid(message.clone(), [(key.to_owned(), message)])
    }

    /// A validation failure: the summary and each field's message.
    pub fn invalid(
        message: impl Into<String>,
        fields: impl IntoIterator<Item = (String, String)>,
    ) -> ApiError {
        let mut map = BTreeMap::new();
        for (key, field_message) in fields {
            // Several problems with one field are shown together.
            map.entry(key)
                .and_modify(|m: &mut String| {
                    m.push('。');
                    m.push_str(&field_message);
                })
                .or_insert(field_message);
        }
        ApiError::Invalid {
            message: message.into(),
            fields: map,
        }
    }
}

/// A JSON request body, like [`axum::Json`], but a body that cannot be read answers with [`ApiError`]
/// (`{"error": "…"}`, 400 or 415) naming what is wrong, e.g. a missing field.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ApiError::from(rejection)),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match &rejection {
            JsonRejection::JsonSyntaxError(_) => ApiError::BadRequest(format!(
                "JSON として読めません（{}）",
                rejection.body_text()
            )),
            JsonRejection::JsonDataError(_) => ApiError::BadRequest(format!(
                "JSON の項目が足りないか、形が違います（{}）。README.md の例をご覧ください",
                rejection.body_text()
            )),
            JsonRejection::MissingJsonContentType(_) => ApiError::Unreadable {
                status: rejection.status(),
                message: "Content-Type: application/json で送ってください".to_owned(),
            },
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::Unreadable {
                status: rejection.status(),
                message: "リクエストが大きすぎます".to_owned(),
            },
            _ => ApiError::Unreadable {
                status: rejection.status(),
                message: format!("リクエストを読めません（{}）", rejection.body_text()),
            },
        }
    }
}

impl ApiError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unreadable { status, .. } => *status,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::AdminDisabled | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => ApiError::NotFound,
            DbError::Conflict("payment_methods_name_key") => {
                ApiError::Conflict("同じ名前の支払方法がすでにあります".to_owned())
            }
            DbError::Conflict("members_email_key") => {
                ApiError::Conflict("このメールアドレスはすでに登録されています".to_owned())
            }
            DbError::Conflict(which) => {
                ApiError::Conflict(format!("ほかの変更と重なりました（{which}）"))
            }
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

/// An operator's request about an order (`crate::orders`): a wrong field 422, a refusal 409.
impl From<crate::orders::OrderError> for ApiError {
    fn from(error: crate::orders::OrderError) -> Self {
        use crate::orders::OrderError;
        match error {
            OrderError::Invalid { field, message } => ApiError::field(field, message),
            OrderError::Refused(message) => ApiError::Conflict(message),
            OrderError::NotFound => ApiError::NotFound,
            OrderError::Unavailable(db) => ApiError::from(db),
        }
    }
}

/// Each problem of a product form under its field's name.
impl From<CatalogueError> for ApiError {
    fn from(error: CatalogueError) -> Self {
        match error {
            CatalogueError::Invalid(problems) => ApiError::invalid(
                error_message(&problems),
                problems
                    .iter()
                    .map(|problem| (problem.field.to_owned(), problem.message.clone())),
            ),
            CatalogueError::Conflict(message) => ApiError::Conflict(message),
            CatalogueError::NotFound => ApiError::NotFound,
            CatalogueError::Unavailable(db) => ApiError::from(db),
        }
    }
}

impl From<MethodError> for ApiError {
    fn from(error: MethodError) -> Self {
        match error {
            // Malformed input is a 422 with each problem at its field; an entry that only clashes with the shop's state (a name
            // taken, a type not provided now) is a 409.
            MethodError::Invalid(ref problems) if problems.iter().all(|p| p.conflict) => {
                ApiError::Conflict(error.to_string())
            }
            MethodError::Invalid(problems) => ApiError::invalid(
                problems
                    .first()
                    .map(|p| p.message.clone())
                    .unwrap_or_default(),
                problems
                    .iter()
                    .map(|problem| (problem.field.to_owned(), problem.message.clone())),
            ),
            MethodError::NotFound => ApiError::NotFound,
            MethodError::InUse => ApiError::Conflict(error.to_string()),
            MethodError::Db(db) => ApiError::from(db),
        }
    }
}

/// The summary of a form's problems: the first, and how many more.
fn error_message(problems: &[crate::catalogue::FieldProblem]) -> String {
    match problems {
        [] => "入力内容を確認してください".to_owned(),
        [one] => one.message.clone(),
        [first, rest @ ..] => format!("{}（ほか{}件）", first.message, rest.len()),
    }
}

impl From<CatalogueError> for PageError {
    fn from(error: CatalogueError) -> Self {
        ApiError::from(error).into()
    }
}

impl From<CheckoutError> for ApiError {
    fn from(error: CheckoutError) -> Self {
        match error {
            CheckoutError::Input(message) => ApiError::BadRequest(message),
            CheckoutError::Invalid { message, fields } => ApiError::invalid(message, fields),
            CheckoutError::NotFound => ApiError::NotFound,
            CheckoutError::Unavailable(db) => ApiError::from(db),
            CheckoutError::ModuleFailed(panic) => ApiError::Unavailable(panic.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Unavailable(detail) => {
                tracing::error!(%detail, "request failed");
                json!({ "error": self.to_string() })
            }
            ApiError::Invalid { message, fields } => {
                json!({ "error": message, "fields": fields })
            }
            other => json!({ "error": other.to_string() }),
        };
        (status, Json(body)).into_response()
    }
}

/// A page that could not be shown: the HTML error page instead, with the message for the shopper.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// 400: something the shopper sent is wrong; the message says what.
    #[error("{0}")]
    BadRequest(String),
    /// 401: the request needs a login it does not have.
    #[error("ログインしてください")]
    Unauthorized,
    /// 404: the message names what was not found.
    #[error("{0}")]
    NotFound(String),
    /// 409: refused because of the current state; the message says why.
    #[error("{0}")]
    Conflict(String),
    /// 422: what was sent does not pass the checks; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// 503: storage (or another part of the host) failed; the detail is logged, never shown.
    #[error("ただいま混み合っています。しばらくしてからもう一度お試しください")]
    Unavailable(String),
}

impl PageError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Unauthorized => StatusCode::UNAUTHORIZED,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<DbError> for PageError {
    fn from(error: DbError) -> Self {
        PageError::Unavailable(error.to_string())
    }
}

impl From<CheckoutError> for PageError {
    fn from(error: CheckoutError) -> Self {
        match error {
            CheckoutError::Input(message) => PageError::BadRequest(message),
            CheckoutError::Invalid { message, .. } => PageError::Invalid(message),
            // The variant's message: お支払い手続きが見つかりません.
            CheckoutError::NotFound => PageError::NotFound(error.to_string()),
            CheckoutError::Unavailable(db) => db.into(),
            CheckoutError::ModuleFailed(panic) => PageError::Unavailable(panic.to_string()),
        }
    }
}

/// For a page built from what the JSON API computes: the same status, in words for a shopper.
impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::BadRequest(message) => PageError::BadRequest(message),
            ApiError::Unauthorized => PageError::Unauthorized,
            ApiError::NotFound => PageError::NotFound("ページが見つかりません".to_owned()),
            ApiError::Conflict(message) | ApiError::TooManyRequests(message) => {
                PageError::Conflict(message)
            }
            ApiError::Invalid { message, .. } => PageError::Invalid(message),
            ApiError::Unreadable { message, .. } => PageError::BadRequest(message),
            ApiError::AdminDisabled => PageError::Unavailable(error.to_string()),
            ApiError::Unavailable(detail) => PageError::Unavailable(detail),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let PageError::Unavailable(detail) = &self {
            tracing::error!(%detail, "page failed");
        }
        html::error_page(status, &self.to_string())
    }
}

/// 受注データ登録's refusals: an order that exists or a type no module provides is a 409 (the shop's
/// state), a field as typed a 422 at its key.
impl From<crate::attempt_log::RegisterError> for ApiError {
    fn from(error: crate::attempt_log::RegisterError) -> Self {
        use crate::attempt_log::RegisterError;
        match error {
            RegisterError::NotFound => ApiError::NotFound,
            RegisterError::Invalid(problem) => ApiError::field(problem.field, problem.message),
            RegisterError::Unavailable(db) => ApiError::from(db),
            other => ApiError::Conflict(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_keep_the_status_the_api_meant() {
        for (api, status) in [
            (
                ApiError::BadRequest("x".to_owned()),
                StatusCode::BAD_REQUEST,
            ),
            (ApiError::NotFound, StatusCode::NOT_FOUND),
            (ApiError::Conflict("x".to_owned()), StatusCode::CONFLICT),
            (ApiError::Unauthorized, StatusCode::UNAUTHORIZED),
            (
                ApiError::Unavailable("disk".to_owned()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ] {
            assert_eq!(api.status(), status);
            assert_eq!(PageError::from(api).status(), status);
        }
    }

    #[test]
    fn checkout_errors_map_to_the_same_statuses_for_pages_and_json() {
        let cases = || {
            [
                CheckoutError::Input("数量".to_owned()),
                CheckoutError::NotFound,
                CheckoutError::Unavailable(DbError::Unavailable("down".to_owned())),
                CheckoutError::ModuleFailed(crate::guard::ModulePanic {
                    module: "examplepay".to_owned(),
                    call: "start_payment",
                    message: "bug".to_owned(),
                }),
            ]
        };
        let statuses: Vec<StatusCode> = cases()
            .into_iter()
            .map(|e| PageError::from(e).status())
            .collect();
        let json: Vec<StatusCode> = cases()
            .into_iter()
            .map(|e| ApiError::from(e).status())
            .collect();
        assert_eq!(
            statuses,
            [
                StatusCode::BAD_REQUEST,
                StatusCode::NOT_FOUND,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::SERVICE_UNAVAILABLE
            ]
        );
        assert_eq!(statuses, json);
    }

    #[test]
    fn an_unavailable_page_shows_no_detail() {
        let error = PageError::from(DbError::Unavailable("password=secret".to_owned()));
        assert!(!error.to_string().contains("secret"));
    }
}
