//! The client's address for a request to the shop's own pages and APIs: the TCP peer, or behind a
//! trusted proxy the address it forwarded (the same rule as for gateway notifications, see
//! [`crate::forwarded`]). Used to throttle logins per address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::AppState;

/// The client's address (the unspecified address when unknown, e.g. in-process tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let headers: Vec<(String, String)> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| {
                (
                    "x-forwarded-for".to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let source = crate::forwarded::client_source(peer, &headers, &state.config.trusted_proxies);
        Ok(ClientAddress(source.ip()))
    }
}
