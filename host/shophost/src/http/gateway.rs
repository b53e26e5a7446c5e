//! Gateway-facing routes: server-to-server notifications and the shopper's browser coming back.
//!
//! Notifications and browser returns have separate endpoints (Welcart told them apart by sniffing
//! fields, and a browser POST could get the raw `<SDBKDATA>` answer). Notification endpoints answer
//! only in the gateway's protocol, never with an HTML error page.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::Router;
use shophost_module_api::{ReturnKind, WireResponse};

use crate::checkout::{self, Confirmed, ReturnView};
use crate::http::{html, PageError};
use crate::inbound::{self, Arrival, RawInbound};
use crate::AppState;

/// The gateway routes; the notification routes behind the per-source rate limit
/// (`gateway_limit.rs`).
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/index.php", any(legacy_notification))
        .route("/notify/{endpoint}", any(notification))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            super::gateway_limit::limit,
        ))
        .route("/return/{settlement_type}/{kind}", any(browser_return))
        .route("/pay/{link_key}", get(pay_page))
}

/// Reads a request into a [`RawInbound`], keeping at most `limit` bytes of body (and saying so).
pub async fn read_raw(request: Request, limit: usize) -> RawInbound {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        // Without connection info (in-process tests) the source is unknown and allowed nowhere.
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    // One byte over the limit is enough to know the body is too large, without buffering all of it.
    let body = match axum::body::to_bytes(body, limit + 1).await {
        Ok(bytes) => bytes.to_vec(),
        Err(_) => vec![0; limit + 1],
    };
    RawInbound {
        method: parts.method.as_str().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body,
        peer,
    }
}

/// Turns a module's wire response into an HTTP response.
pub fn wire(response: WireResponse) -> Response {
    let mut http = Response::new(Body::from(response.body));
    *http.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = HeaderValue::from_str(&response.content_type) {
        http.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    http
}

/// `/index.php?acting=<endpoint>`: Welcart's notification URL, which shops moving from Welcart have
/// registered at their gateway already.
async fn legacy_notification(State(state): State<AppState>, request: Request) -> Response {
    let raw = read_raw(request, state.config.max_body_bytes).await;
    let acting = raw
        .query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "acting")
        .map(|(_, value)| value.to_owned());
    let Some(acting) = acting else {
        return (StatusCode::NOT_FOUND, "unknown notification endpoint").into_response();
    };
    wire(
        inbound::handle_notification(&state, &acting, raw, Arrival::Network)
            .await
            .response,
    )
}

async fn notification(
    State(state): State<AppState>,
    Path(endpoint): Path<String>,
    request: Request,
) -> Response {
    let raw = read_raw(request, state.config.max_body_bytes).await;
    wire(
        inbound::handle_notification(&state, &endpoint, raw, Arrival::Network)
            .await
            .response,
    )
}

async fn browser_return(
    State(state): State<AppState>,
    Path((settlement_type, kind)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Some(kind) = ReturnKind::parse(&kind) else {
        return PageError::NotFound("ページが見つかりません".to_owned()).into_response();
    };
    let raw = read_raw(request, state.config.max_body_bytes).await;
    match checkout::handle_return(&state, &settlement_type, kind, raw).await {
        Ok(ReturnView::Completed(order)) => {
            Redirect::to(&format!("/checkout/complete/{}", order.link_key)).into_response()
        }
        Ok(ReturnView::Confirming(link_key)) => {
            Redirect::to(&format!("/checkout/complete/{link_key}")).into_response()
        }
        Ok(ReturnView::Cancelled(_)) => Redirect::to("/checkout/confirm").into_response(),
        Ok(ReturnView::Failed(message)) => html::payment_failed_page(&message),
        Err(error) => PageError::from(error).into_response(),
    }
}

/// A Shift_JIS page that submits the gateway form (for headless storefronts using the JSON API).
async fn pay_page(State(state): State<AppState>, Path(link_key): Path<String>) -> Response {
    match checkout::confirm(&state, &link_key).await {
        Ok(Confirmed::Redirect(form)) => {
            html::redirect_form_page(&form, "決済ページへ移動しています")
        }
        Ok(Confirmed::Completed(order)) => {
            Redirect::to(&format!("/checkout/complete/{}", order.link_key)).into_response()
        }
        Err(error) => PageError::from(error).into_response(),
    }
}
