//! Storefront sessions: what the shop remembers about one shopper between requests, and the cookie that
//! names it.
//!
//! Sessions live in the database (`storefront_sessions`): a random id in the `shophost_session` cookie
//! (HttpOnly, SameSite=Lax, so another site cannot post a form with it) keys a JSON row, changed in one
//! transaction per change, so a restart keeps carts and logins and several host processes behind a load
//! balancer serve the same shopper. They end a day after their last change (the scheduled jobs sweep
//! them). Nothing that matters after the gateway is in the session — attempts and orders have their own
//! tables, and the gateway return finds the order by its link key, not by the cookie.
//!
//! The session keeps the current attempt's link key, so that confirming again (a reload, a second
//! click, the way back from the gateway) reuses the attempt: one link key per attempt, not per request.
//! Any change to the cart, the customer, the payment method or the login drops it and bumps `revision`,
//! and the next confirmation stores a new attempt; the confirm page's button carries the revision it was
//! shown with, so it confirms only the order the page showed.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::db::DbError;
use crate::domain::{now_millis, CustomerDetails};
use crate::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "shophost_session";

/// A session unused this long is forgotten.
const SESSION_IDLE: Duration = Duration::from_secs(24 * 60 * 60);

/// What the storefront remembers about one shopper between requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Session {
    /// Product id → quantity.
    pub cart: BTreeMap<i64, i64>,
    /// お客様情報, once entered.
    pub customer: Option<CustomerDetails>,
    /// The chosen payment method.
    pub payment_method_id: Option<i64>,
    /// Its checkout options (e.g. `div`).
    pub options: BTreeMap<String, String>,
    /// 備考.
    pub note: String,
    /// The logged-in member.
    pub member_id: Option<i64>,
    /// The current attempt's link key, while nothing it was made from has changed.
    pub link_key: Option<String>,
    /// Bumped on every change that invalidates the attempt, so a confirmation that was building an
    /// attempt from older data while the shopper changed something does not keep it, and a confirm
    /// button shown before the change confirms nothing.
    pub revision: u64,
    /// The link key of the member's last card-update attempt.
    pub card_update_key: Option<String>,
}

impl Session {
    /// Something the attempt is made from changed: the next confirmation needs a new attempt.
    pub fn changed(&mut self) {
        self.link_key = None;
        self.revision += 1;
    }

    /// The order for the current attempt exists: start a new cart.
    pub fn order_placed(&mut self) {
        self.cart.clear();
        self.note.clear();
        self.changed();
    }

    /// [`Session::order_placed`], if `link_key` is still the session's attempt.
    pub fn order_placed_for(&mut self, link_key: &str) {
        if self.link_key.as_deref() == Some(link_key) {
            self.order_placed();
        }
    }
}

/// 32 random bytes from the OS CSPRNG, in hex: a session id nobody can guess.
fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Whether a cookie value is one of our session ids (64 hex digits).
fn is_session_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Sessions changed before this are over.
fn fresh_after() -> i64 {
    now_millis() - SESSION_IDLE.as_millis() as i64
}

/// One request's view of the shopper's session: a copy read at the start, changes written back at once.
/// Sessions live in the database, so any host process behind a load balancer can serve the next request.
pub(super) struct Visit {
    id: Option<String>,
    /// The session as this request last read or wrote it.
    pub session: Session,
    set_cookie: Option<String>,
    secure: bool,
}

impl Visit {
    /// The shopper's session, or an empty one (not stored until something changes).
    pub async fn read(state: &AppState, headers: &HeaderMap) -> Result<Visit, DbError> {
        let secure = state.config.public_url.starts_with("https://");
        let mut visit = Visit {
            id: None,
            session: Session::default(),
            set_cookie: None,
            secure,
        };
        if let Some(id) = cookie_value(headers, SESSION_COOKIE).filter(|id| is_session_id(id)) {
            if let Some(data) = state.store.session(&id, fresh_after()).await? {
                visit.session = serde_json::from_str(&data).unwrap_or_default();
                visit.id = Some(id);
            }
        }
        Ok(visit)
    }

    fn cookie(&self, id: &str, max_age: Option<u32>) -> String {
        let mut cookie = format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(max_age) = max_age {
            cookie.push_str(&format!("; Max-Age={max_age}"));
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }

    /// Applies `change` to the stored session (starting one if there is none) and keeps the result.
    /// Changes go to the stored session, not to this request's copy, so two requests of one shopper
    /// do not undo each other's changes.
    pub async fn update<R: Send>(
        &mut self,
        state: &AppState,
        change: impl FnOnce(&mut Session) -> R + Send,
    ) -> Result<R, DbError> {
        // Sessions are only started by a change; idle ones are swept by the scheduled jobs.
        let (id, new) = match &self.id {
            Some(id) => (id.clone(), false),
            None => (new_session_id(), true),
        };
        let mut result = None;
        let mut after = None;
        {
            let (result, after) = (&mut result, &mut after);
            state
                .store
                .modify_session(
                    &id,
                    fresh_after(),
                    now_millis(),
                    Box::new(move |data| {
                        let mut session: Session = data
                            .and_then(|data| serde_json::from_str(&data).ok())
                            .unwrap_or_default();
                        *result = Some(change(&mut session));
                        let text = serde_json::to_string(&session).unwrap_or_default();
                        *after = Some(session);
                        text
                    }),
                )
                .await?;
        }
        if new {
            self.set_cookie = Some(self.cookie(&id, None));
            self.id = Some(id);
        }
        self.session = after.unwrap_or_default();
        result.ok_or_else(|| DbError::Corrupt("the session change did not run".to_owned()))
    }

    /// A new session id for the same session, at login, so an id planted before login is worthless.
    pub async fn rotate(&mut self, state: &AppState) -> Result<(), DbError> {
        let mut session = self.session.clone();
        if let Some(old) = self.id.take() {
            if let Some(data) = state.store.session(&old, fresh_after()).await? {
                session = serde_json::from_str(&data).unwrap_or(session);
            }
            state.store.delete_session(&old).await?;
        }
        let id = new_session_id();
        let text = serde_json::to_string(&session).unwrap_or_default();
        state
            .store
            .modify_session(&id, fresh_after(), now_millis(), Box::new(move |_| text))
            .await?;
        self.session = session;
        self.set_cookie = Some(self.cookie(&id, None));
        self.id = Some(id);
        Ok(())
    }

    /// Forgets the session (logout): cart, details and login.
    pub async fn end(&mut self, state: &AppState) -> Result<(), DbError> {
        if let Some(id) = self.id.take() {
            state.store.delete_session(&id).await?;
        }
        self.session = Session::default();
        self.set_cookie = Some(self.cookie("", Some(0)));
        Ok(())
    }

    /// The response, with the session cookie when one was started.
    pub fn respond(self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        if let Some(cookie) = self.set_cookie {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        // Pages show the shopper's cart and details: never let a shared cache keep them.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; shophost_session=abc; b=2"),
        );
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("abc")
        );
        assert_eq!(cookie_value(&headers, "missing"), None);
    }

    #[test]
    fn only_our_ids_are_session_ids() {
        assert!(is_session_id(&new_session_id()));
        assert!(!is_session_id("abc"));
        assert!(!is_session_id(&"g".repeat(64)));
    }
}
