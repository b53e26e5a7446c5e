//! shophost: a shop host whose payment gateways are plug-in modules.
//!
//! The host owns every side effect: storage, HTTP, time and randomness. Gateway modules (see
//! `shophost-module-api`) only translate between the host's domain types and their wire formats. A
//! gateway signal changes state in exactly one transaction ([`db::Store::record_inbound`]) that also
//! journals the raw request and the response, and the response is sent only after that commit.

use std::sync::Arc;

pub mod attempt_log;
pub mod bundled;
pub mod catalogue;
pub mod checkout;
pub mod config;
pub mod contracts;
pub mod db;
pub mod domain;
pub mod dynamic;
pub mod engine;
pub mod forwarded;
pub mod guard;
pub mod http;
pub mod inbound;
pub mod jobs;
pub mod logs;
pub mod mail;
pub mod members;
pub mod methods;
pub mod metrics;
pub mod notices;
pub mod operators;
pub mod orders;
pub mod rate_limit;
pub mod refused;
pub mod registry;
pub mod retention;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod serve;
pub mod throttle;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub store: Arc<dyn db::Store>,
    /// The modules in use.
    pub engine: Arc<engine::Engine>,
    /// The validated config.
    pub config: Arc<config::Config>,
    /// Counters.
    pub metrics: Arc<metrics::Metrics>,
    /// Failed logins, per client address and per account.
    pub logins: Arc<throttle::LoginThrottle>,
    /// The per-source rate limit of the notification routes.
    pub gateway_rate: Arc<rate_limit::SourceRateLimit>,
    /// The budget requests refused for their source are kept within.
    pub refused_budget: Arc<refused::RefusedBudget>,
}
