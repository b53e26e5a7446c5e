//! The JSON checkout API, so a headless storefront or a test can drive a purchase without HTML.
//!
//! `POST /api/checkout` stores the attempt (cart, customer, payment method) and returns its link key;
//! `POST /api/checkout/{link_key}/confirm` returns the gateway redirect form (the same one every time);
//! `GET /api/checkout/{link_key}` tells whether the order is confirmed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::checkout::{self, CheckoutInput, Confirmed, ReturnView};
use crate::http::client::ClientAddress;
use crate::http::error::JsonBody;
use crate::http::ApiError;
use crate::members::Login;
use crate::AppState;

/// The checkout API routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/products", get(products))
        .route("/api/payment-methods", get(payment_methods))
        .route("/api/checkout", post(create))
        .route("/api/checkout/{link_key}", get(status))
        .route("/api/checkout/{link_key}/confirm", post(confirm))
}

/// The products on sale (販売中), each with its tax class.
async fn products(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "products": crate::catalogue::on_sale(&state).await? }),
    ))
}

async fn payment_methods(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "payment_methods": checkout::methods_for_checkout(&state).await? }),
    ))
}

/// Member credentials, when a member checks out through the API.
#[derive(Debug, Deserialize)]
struct MemberLogin {
    email: String,
    password: String,
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    #[serde(flatten)]
    input: CheckoutInput,
    member: Option<MemberLogin>,
}

async fn create(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let member_id = match &body.member {
        Some(login) => {
            match crate::members::authenticate(&state, client, &login.email, &login.password)
                .await?
            {
                Login::Member(member) => Some(member.id),
                refused @ Login::Throttled(_) => {
                    return Err(ApiError::TooManyRequests(
                        refused.refusal().unwrap_or_default(),
                    ))
                }
                refused => return Err(ApiError::BadRequest(refused.refusal().unwrap_or_default())),
            }
        }
        None => None,
    };
    let attempt = checkout::create_attempt(&state, &body.input, member_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "link_key": attempt.link_key,
            "total": attempt.total,
            // The consumption tax per rate (see `domain::Totals`), as a headless storefront shows it.
            "totals": attempt.snapshot.totals(),
            "settlement_type": attempt.settlement_type,
            "payment_method": attempt.payment_method_name,
        })),
    )
        .into_response())
}

async fn confirm(
    State(state): State<AppState>,
    Path(link_key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match checkout::confirm(&state, &link_key).await? {
        Confirmed::Redirect(form) => {
            let fields: Vec<[String; 2]> = form
                .fields
                .iter()
                .map(|f| [f.name.clone(), f.value.clone()])
                .collect();
            Ok(Json(json!({
                "kind": "redirect",
                "link_key": link_key,
                "pay_url": format!("/pay/{link_key}"),
                "form": { "url": form.url, "method": form.method, "charset": form.charset.http_name(), "fields": fields },
            })))
        }
        Confirmed::Completed(order) => Ok(Json(json!({
            "kind": "completed",
            "link_key": link_key,
            "order_number": order.order_number,
            "payment_status": order.payment_status,
        }))),
    }
}

async fn status(
    State(state): State<AppState>,
    Path(link_key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match checkout::view_for(&state, &link_key).await? {
        ReturnView::Completed(order) => Ok(Json(json!({
            "state": "ordered",
            "order_number": order.order_number,
            "payment_status": order.payment_status,
            "payment_status_label": order.payment_status.label(),
            "slip": order.slip,
        }))),
        ReturnView::Failed(message) => Ok(Json(json!({ "state": "failed", "message": message }))),
        _ => Ok(Json(json!({ "state": "awaiting_notification" }))),
    }
}
