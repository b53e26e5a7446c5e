//! Notifications refused for their source address: counted, kept within a budget, and replayed by an
//! operator who confirms the source.
//!
//! Anyone can post to a notification URL, so a request from an address the module does not allow is
//! not written to the notification journal and the 決済エラーログ one by one (that let anyone fill the
//! disk and bury the error log). But the same refusal is what a shop sees when `trusted_proxies` or
//! the gateway's addresses are wrong, and then every refused request is a customer's payment. So the
//! request is kept in `refused_requests`, within a budget: at most
//! `notifications.refused_per_source_per_hour` per source address (IPv6 per /64), and
//! `notifications.refused_max_bytes` in all; beyond it it is only counted (`/metrics`,
//! `shophost_refused_requests_total{outcome="over_budget"}`). A request that names the link key of an
//! open checkout attempt is not counted against the per-source limit: that is what a real payment
//! looks like, and an attacker would need a live link key to get the same treatment.
//!
//! To find that link key the module reads the request (`parse_notification`); nothing of what it
//! reads is applied, it only goes on the kept row, where the dashboard's notice ("check
//! `trusted_proxies` and the gateway's addresses") finds it. After fixing the configuration the
//! operator replays a kept request, confirming its source: it then goes through the normal
//! notification path as if from an allowed source, and is journaled as a replay of the refused
//! request with that confirmation noted.
//!
//! The budget is counted in this process's memory (per-source counts over a sliding hour; the bytes
//! held, read from the database at start-up and after every run of the retention jobs). Several
//! host processes sharing one PostgreSQL database may together keep a little more than the byte
//! budget between two job runs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shophost_module_api::{Answer, InboundRequest, Refusal, WireResponse};

use crate::db::{NewRefused, Verdict};
use crate::domain::{local_datetime, now_millis, AttemptState, RefusedRequest};
use crate::engine::EndpointTarget;
use crate::inbound::{source_address, Arrival, Handled, RawInbound};
use crate::rate_limit::source_key;
use crate::AppState;

/// What a kept row costs beyond its body, query and headers (the row's other columns, its indexes).
const ROW_OVERHEAD: u64 = 256;
/// The window the per-source limit counts over.
const HOUR: Duration = Duration::from_secs(3600);
/// The most sources whose counts are remembered (see [`RefusedBudget::admit`]).
const MAX_SOURCES: usize = 100_000;
/// The longest link key kept; a longer "link key" is not one any module gives out.
const MAX_LINK_KEY_CHARS: usize = 64;

/// The reason every refusal for the source gives (logs, `Handled::verdict`).
fn reason(source: IpAddr) -> String {
    format!("IP ADDRESS NOT ALLOWED: {source}")
}

/// What became of a refused request, as `/metrics` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Kept for a replay.
    Kept,
    /// Over the budget: only counted.
    OverBudget,
    /// Within the budget, but storage failed: only counted.
    NotStored,
}

impl Outcome {
    /// The `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::OverBudget => "over_budget",
            Outcome::NotStored => "not_stored",
        }
    }
}

#[derive(Debug, Default)]
struct BudgetState {
    /// Requests kept per source key in the last hour, oldest first.
    per_source: HashMap<IpAddr, Vec<Instant>>,
    /// Bytes kept rows hold (as of the last reading from the database, plus what was kept since).
    bytes: u64,
}

/// The budget refused requests are kept within.
#[derive(Debug)]
pub struct RefusedBudget {
    per_source_per_hour: usize,
    max_bytes: u64,
    state: Mutex<BudgetState>,
}

impl RefusedBudget {
    /// A budget of `per_source_per_hour` requests per source and `max_bytes` in all, `held` bytes
    /// of which are already kept.
    pub fn new(per_source_per_hour: u32, max_bytes: u64, held: u64) -> Self {
        RefusedBudget {
            per_source_per_hour: per_source_per_hour as usize,
            max_bytes,
            state: Mutex::new(BudgetState {
                per_source: HashMap::new(),
                bytes: held,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `size` more bytes fit at all (checked before the module is asked for a link key).
    pub fn has_room(&self, size: u64) -> bool {
        self.state().bytes.saturating_add(size) <= self.max_bytes
    }

    /// Reserves room for a request of `size` bytes from `source`; `open_attempt` requests are not
    /// counted against the per-source limit. False when it does not fit.
    pub fn admit(&self, source: IpAddr, size: u64, open_attempt: bool, now: Instant) -> bool {
        let mut state = self.state();
        if state.bytes.saturating_add(size) > self.max_bytes {
            return false;
        }
        if !open_attempt {
            if state.per_source.len() >= MAX_SOURCES {
                state
                    .per_source
                    .retain(|_, times| times.iter().any(|t| now.duration_since(*t) < HOUR));
                if state.per_source.len() >= MAX_SOURCES {
                    state.per_source.clear();
                }
            }
            let times = state.per_source.entry(source_key(source)).or_default();
            times.retain(|t| now.duration_since(*t) < HOUR);
            if times.len() >= self.per_source_per_hour {
                return false;
            }
            times.push(now);
        }
        state.bytes += size;
        true
    }

    /// Gives back room reserved for a request that was not stored after all.
    pub fn release(&self, size: u64) {
        let mut state = self.state();
        state.bytes = state.bytes.saturating_sub(size);
    }

    /// Sets the bytes held from the database (after the retention jobs purged some).
    pub fn set_held(&self, held: u64) {
        self.state().bytes = held;
    }
}

/// Answers a notification refused for its source address with the module's own refusal, the request
/// counted and, within the budget, kept for a replay. Nothing is journaled.
pub async fn refuse_for_source(
    state: &AppState,
    target: &EndpointTarget,
    name: &str,
    raw: &RawInbound,
    request: InboundRequest,
    received_at: i64,
    started: Instant,
) -> Handled {
    let module_id = target.module.id().to_owned();
    let source = request.source;
    let verdict = Verdict::Refused {
        refusal: Refusal::SourceNotAllowed,
        reason: reason(source),
    };
    let response = refusal_response(target, name, &request);
    state
        .metrics
        .count_notification(&module_id, name, None, &verdict, started.elapsed());
    let outcome = keep(state, target, name, raw, request, received_at).await;
    state.metrics.count_refused(&module_id, name, outcome);
    Handled {
        response,
        verdict: Some(verdict),
        journal_id: None,
    }
}

/// Keeps the request if the budget allows; says what became of it.
async fn keep(
    state: &AppState,
    target: &EndpointTarget,
    name: &str,
    raw: &RawInbound,
    request: InboundRequest,
    received_at: i64,
) -> Outcome {
    let module_id = target.module.id();
    let source = request.source;
    let headers_size: usize = request.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    let size = (raw.body.len() + raw.query.len() + headers_size) as u64 + ROW_OVERHEAD;
    let budget = &state.refused_budget;
    if !budget.has_room(size) {
        tracing::debug!(module = %module_id, endpoint = %name, %source, "notification refused for its source address; over the budget, only counted");
        return Outcome::OverBudget;
    }
    let link_key = read_link_key(target, name, &request).await;
    let open_attempt = match &link_key {
        Some(link_key) => matches!(
            state.store.attempt_by_link_key(link_key).await,
            Ok(Some(attempt)) if attempt.state == AttemptState::Open
        ),
        None => false,
    };
    if !budget.admit(source, size, open_attempt, Instant::now()) {
        tracing::debug!(module = %module_id, endpoint = %name, %source, "notification refused for its source address; over the budget, only counted");
        return Outcome::OverBudget;
    }
    let refused = NewRefused {
        module_id: module_id.to_owned(),
        endpoint: name.to_owned(),
        method: raw.method.clone(),
        query: raw.query.clone(),
        content_type: request.content_type.clone(),
        peer: raw.peer.to_string(),
        source: source.to_string(),
        headers: request.headers,
        body: raw.body.clone(),
        size: size as i64,
        received_at,
        link_key: link_key.clone(),
    };
    match state.store.keep_refused(&refused).await {
        Ok(id) if open_attempt => {
            tracing::warn!(module = %module_id, endpoint = %name, %source, link_key = link_key.as_deref().unwrap_or(""), refused = id, "a notification for an open checkout was refused for its source address and kept: check trusted_proxies and the gateway's addresses, then replay it");
            Outcome::Kept
        }
        Ok(id) => {
            tracing::info!(module = %module_id, endpoint = %name, %source, refused = id, "notification refused for its source address and kept for a replay");
            Outcome::Kept
        }
        Err(error) => {
            budget.release(size);
            tracing::error!(module = %module_id, endpoint = %name, %source, %error, "notification refused for its source address could not be kept");
            Outcome::NotStored
        }
    }
}

/// The module's refusal for the source. Module code runs under a guard: a panic there must not cost
/// the connection its answer.
fn refusal_response(target: &EndpointTarget, name: &str, request: &InboundRequest) -> WireResponse {
    let answer = Answer::Refuse(Refusal::SourceNotAllowed);
    crate::guard::module_call(target.module.id(), "respond", || {
        target.module.respond(name, request, &answer)
    })
    .unwrap_or_else(|_| {
        WireResponse::text(
            403,
            "text/plain; charset=UTF-8",
            "source address not allowed",
        )
    })
}

/// The link key the module reads from the request, if any. Only read: the notification is not
/// applied. Through the host's door for panics, so that a module that panics on what a stranger sent
/// costs only the link key.
async fn read_link_key(
    target: &EndpointTarget,
    name: &str,
    request: &InboundRequest,
) -> Option<String> {
    let read = crate::guard::module_call_async(target.module.id(), "parse_notification", || {
        target
            .module
            .parse_notification(&target.config, name, request)
    })
    .await;
    let key = match read {
        Ok(Ok(notification)) => Some(notification.link_key),
        Ok(Err(rejection)) => rejection.link_key,
        Err(_) => None,
    };
    key.filter(|key| !key.is_empty() && key.chars().count() <= MAX_LINK_KEY_CHARS)
}

/// Why a refused request could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum RefusedReplayError {
    /// No such refused request.
    #[error("no refused request with that id")]
    NotFound,
    /// It was replayed already; its journal entry, when known.
    #[error("this request was replayed already")]
    AlreadyReplayed(Option<i64>),
    /// No module in use listens on its endpoint now.
    #[error("no module in use listens on the endpoint `{0}` now")]
    NoEndpoint(String),
    /// Its source is not allowed under the current settings either, and the operator did not say
    /// to replay it anyway.
    #[error("its source {0} is not allowed by the current settings either")]
    SourceStillNotAllowed(IpAddr),
    /// Storage failed; it can be tried again.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

/// A kept request as the host reads it again: the peer it came from and its kept headers
/// (`X-Forwarded-For` among them), so that the current `trusted_proxies` apply to it.
pub fn raw_of(refused: &RefusedRequest) -> Option<RawInbound> {
    let mut headers = refused.headers.clone();
    if let Some(content_type) = &refused.content_type {
        if !headers.iter().any(|(k, _)| k == "content-type") {
            headers.push(("content-type".to_owned(), content_type.clone()));
        }
    }
    Some(RawInbound {
        method: refused.method.clone(),
        query: refused.query.clone(),
        headers,
        body: refused.body.clone(),
        peer: refused.peer.parse().ok()?,
    })
}

/// The source of a kept request under the current `trusted_proxies`, and whether the module allows
/// it now (false when no module in use listens on its endpoint).
pub fn source_now(state: &AppState, refused: &RefusedRequest) -> Option<(IpAddr, bool)> {
    let raw = raw_of(refused)?;
    let source = source_address(&raw, &state.config.trusted_proxies);
    let allowed = state
        .engine
        .endpoint(&refused.endpoint)
        .is_some_and(|target| crate::inbound::source_allowed(&target.endpoint.trust, source));
    Some((source, allowed))
}

/// Replays a kept request through the notification path as if from an allowed source. The caller
/// has the operator's confirmation; the journal entry notes it. A request whose source the current
/// settings do not allow either (no fix made it an allowed one: a stranger's, or a proxy that did not
/// forward the gateway's address) is replayed only when the operator vouches for it too
/// (`vouch_unlisted`), having found the payment at the gateway. A request is replayed once: a second
/// replay is refused (the journal entry can be replayed instead).
pub async fn replay(
    state: &AppState,
    id: i64,
    vouch_unlisted: bool,
) -> Result<Handled, RefusedReplayError> {
    let unavailable = |e: crate::db::DbError| RefusedReplayError::Unavailable(e.to_string());
    let refused = state
        .store
        .refused_request(id)
        .await
        .map_err(unavailable)?
        .ok_or(RefusedReplayError::NotFound)?;
    if refused.replayed_at.is_some() {
        return Err(RefusedReplayError::AlreadyReplayed(
            refused.replay_journal_id,
        ));
    }
    let Some(target) = state.engine.endpoint(&refused.endpoint) else {
        return Err(RefusedReplayError::NoEndpoint(refused.endpoint));
    };
    let raw = raw_of(&refused).ok_or_else(|| {
        RefusedReplayError::Unavailable(format!("stored peer `{}` is not an address", refused.peer))
    })?;
    let source = source_address(&raw, &state.config.trusted_proxies);
    let allowed_now = crate::inbound::source_allowed(&target.endpoint.trust, source);
    if !allowed_now && !vouch_unlisted {
        return Err(RefusedReplayError::SourceStillNotAllowed(source));
    }
    if !state
        .store
        .claim_refused_replay(id, now_millis())
        .await
        .map_err(unavailable)?
    {
        return Err(RefusedReplayError::AlreadyReplayed(None));
    }
    let mut note = format!(
        "replay of refused request {id}, received {} from {} (peer {}); the operator confirmed the source",
        local_datetime(refused.received_at),
        refused.source,
        refused.peer
    );
    if source.to_string() != refused.source {
        note.push_str(&format!(" ({source} with the current trusted_proxies)"));
    }
    note.push_str(if allowed_now {
        ", which the current settings allow"
    } else {
        ", which the current settings do not allow either: the operator vouched for it"
    });
    let handled = crate::inbound::handle_notification(
        state,
        &refused.endpoint,
        raw,
        Arrival::ConfirmedRefused { id, note },
    )
    .await;
    if let Err(error) = state
        .store
        .settle_refused_replay(id, handled.journal_id)
        .await
    {
        tracing::error!(refused = id, %error, "could not note the replay of a refused request");
    }
    match handled.journal_id {
        Some(_) => Ok(handled),
        None => Err(RefusedReplayError::Unavailable(
            "the replay was not stored; try again".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_keeps_so_many_an_hour_and_all_keep_so_many_bytes() {
        let budget = RefusedBudget::new(2, 1000, 0);
        let now = Instant::now();
        let one: IpAddr = "198.51.100.1".parse().unwrap();
        let other: IpAddr = "198.51.100.2".parse().unwrap();
        assert!(budget.admit(one, 100, false, now));
        assert!(budget.admit(one, 100, false, now));
        assert!(!budget.admit(one, 100, false, now), "third in the hour");
        // A request for an open checkout is not counted against its source.
        assert!(budget.admit(one, 100, true, now));
        assert!(budget.admit(other, 100, false, now));
        // An hour later the source may again.
        assert!(budget.admit(one, 100, false, now + HOUR));
        // 500 bytes are held; 501 more do not fit, whoever sends them, 500 do.
        assert!(!budget.has_room(501));
        assert!(!budget.admit(other, 501, true, now));
        assert!(budget.admit(other, 500, true, now));
        assert!(!budget.admit(other, 1, true, now));
        // Room given back (a request not stored after all, or the jobs' reading) is room again.
        budget.release(100);
        assert!(budget.admit(other, 100, true, now));
        budget.set_held(0);
        assert!(budget.has_room(1000));
    }
}
