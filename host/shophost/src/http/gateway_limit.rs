//! The per-source rate limit in front of the notification routes (`/index.php`, `/notify/*`); the
//! buckets are `crate::rate_limit`'s. The source is worked out as the notification path does it
//! (`X-Forwarded-For` believed only from `server.trusted_proxies`), and an address the endpoint's
//! module allows (`NotificationTrust::SourceAddress`) is never limited, so a gateway's own burst of
//! notifications always gets through. Everyone else over the limit is answered 429 in plain text,
//! before the body is read.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shophost_module_api::NotificationTrust;

use crate::AppState;

/// The endpoint a notification request names: `/notify/{endpoint}`, or `acting` of `/index.php`
/// (read the way the route reads it).
fn endpoint_of(request: &Request) -> Option<String> {
    let uri = request.uri();
    if let Some(segment) = uri.path().strip_prefix("/notify/") {
        return Some(
            percent_encoding::percent_decode_str(segment)
                .decode_utf8_lossy()
                .into_owned(),
        );
    }
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "acting")
        .map(|(_, value)| value.to_owned())
}

/// Whether the module's address list for the endpoint names `source` (a module trusted by
/// signature, or by nothing, has no list).
fn listed(trust: &NotificationTrust, source: IpAddr) -> bool {
    match trust {
        NotificationTrust::SourceAddress(ranges) => ranges.iter().any(|r| r.contains(source)),
        NotificationTrust::Signed | NotificationTrust::Unverified { .. } => false,
    }
}

/// The middleware.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let forwarded: Vec<(String, String)> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|value| {
            (
                "x-forwarded-for".to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let source =
        crate::forwarded::client_source(peer, &forwarded, &state.config.trusted_proxies).ip();
    let allowed = endpoint_of(&request)
        .and_then(|name| state.engine.endpoint(&name))
        .is_some_and(|target| listed(&target.endpoint.trust, source));
    if allowed {
        return next.run(request).await;
    }
    match state.gateway_rate.check(source, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            state.metrics.count_rate_limited();
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::CONTENT_TYPE, "text/plain; charset=UTF-8".to_owned()),
                    (header::RETRY_AFTER, seconds.to_string()),
                ],
                format!("too many requests from {source}; retry in {seconds} s\n"),
            )
                .into_response()
        }
    }
}
