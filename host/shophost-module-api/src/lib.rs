//! The payment-module API of shophost: the one crate a gateway module depends on.
//!
//! # The key design decision: gateways translate, the host acts
//!
//! A gateway module is a translator between the host's domain types and one gateway's wire format. It
//! does no I/O: it never opens a database connection, never speaks HTTP, never reads the clock or the
//! network. The host hands it decoded requests and plain data, the module answers with plain data, and
//! the host does the storage, the state changes (in one transaction) and only then sends the response the
//! module asked for. That is what makes every module get idempotency, journaling and "acknowledge only
//! after commit" right without writing any of it.
//!
//! # The flow
//!
//! 1. **Settings schema** — [`PaymentModule::settings_schema`] declares the operator's form
//!    ([`SettingsSchema`]): keys, Japanese labels, kinds, defaults, help, constraints.
//! 2. **Validated config** — [`PaymentModule::validate`] turns a [`SettingsValues`] map into a
//!    [`ModuleConfig`] (your own typed struct inside), or returns *every* [`FieldError`].
//! 3. **Settlement types** — [`PaymentModule::settlement_types`] says which [`SettlementType`]s the
//!    config provides (Remise: `acting_remise_card`, `acting_remise_conv`).
//! 4. **Payment start** — [`PaymentModule::start_payment`] builds a [`PaymentStart`] (a redirect form)
//!    from a [`PaymentStartRequest`]. The host has already stored the checkout attempt and its link key.
//! 5. **Inbound request** — [`PaymentModule::parse_notification`] turns a gateway's server-to-server
//!    request into a [`Notification`] (a [`Signal`] about one link key), or a [`Rejection`];
//!    [`PaymentModule::parse_return`] reads a browser return.
//! 6. **Outcome + response** — the host checks the signal against its records, commits, and asks
//!    [`PaymentModule::respond`] for the exact bytes to answer with ([`Answer`] → [`WireResponse`]).
//!
//! # Required and defaulted methods
//!
//! Required (nine): `id`, `display_name`, `settings_schema`, `validate`, `settlement_types`,
//! `start_payment`, `notification_endpoints`, `parse_notification`, `respond`.
//!
//! With defaults (override only when your gateway differs):
//! - `wire_charset`: UTF-8. Override for gateways that speak Shift_JIS (Remise); the host then decodes
//!   form bodies and serves redirect pages in it.
//! - `link_key_spec`: 17 decimal digits, no card-update prefix. Override when the gateway limits the
//!   order id's length or gives some prefix a meaning.
//! - `parse_return`: reads nothing, which is right for gateways whose returns carry no data. Override it
//!   to read the link key (so the shopper lands on the right completion page) and a failure message.
//!   A return never marks anything paid, whatever it says.
//! - `start_card_update`: unsupported. Override for gateways that keep cards for members.
//!
//! # Registering: compiled in, or loaded from a file
//!
//! A compiled-in module submits a `const` [`ModuleDescriptor`] with [`inventory::submit!`]; the host
//! builds its registry from all submitted descriptors, sorted by id, and refuses duplicate ids.
//!
//! A module loaded at run time is a `cdylib` that calls [`export_module!`] once; the operator lists the
//! library's path under `[[modules.dynamic]]` in `shophost.toml`. The host checks the library's
//! [`abi::AbiDescriptor`] (API version and the compiler/ABI fingerprint) before it calls anything in it,
//! and refuses a mismatch with an error naming the file and both versions. A crate can do both (the
//! template in `examples/module-template` does): `crate-type = ["cdylib", "rlib"]`.
//!
//! # Testing
//!
//! [`testing`] builds settings, payment-start requests and inbound requests and drives a module without
//! a host. The conformance kit (crate `shophost-testkit`) runs a module through a real host on a
//! temporary database and checks what every gateway must get right: duplicate notifications, a
//! notification before or without the browser return, a return without a notification, a wrong amount,
//! an undecodable body, a retry after the host could not store a notification, and invalid settings
//! stopping the module. The guide `docs/writing-a-gateway-module.md` walks through all of it.
//!
//! # A complete small module
//!
//! ```
//! use shophost_module_api::*;
//!
//! struct Example;
//!
//! #[async_trait]
//! impl PaymentModule for Example {
//!     fn id(&self) -> &str { "example" }
//!     fn display_name(&self) -> &str { "例" }
//!     fn settings_schema(&self) -> SettingsSchema {
//!         SettingsSchema::new(vec![SettingField::text("merchant", "加盟店ID").required()])
//!     }
//!     fn validate(&self, values: &SettingsValues) -> Result<ModuleConfig, Vec<FieldError>> {
//!         let errors = self.settings_schema().check(values);
//!         if !errors.is_empty() { return Err(errors); }
//!         Ok(ModuleConfig::new(values["merchant"].clone()))
//!     }
//!     fn settlement_types(&self, _config: &ModuleConfig) -> Vec<SettlementType> {
//!         vec![SettlementType {
//!             id: "acting_example_card".into(), label: "カード決済（例）".into(),
//!             kind: SettlementKind::Immediate, checkout_options: vec![], notice: None, recurring: false,
//!         }]
//!     }
//!     async fn start_payment(&self, config: &ModuleConfig, request: &PaymentStartRequest)
//!         -> Result<PaymentStart, PaymentStartError> {
//!         let merchant: &String = config.get().expect("config built by validate");
//!         Ok(PaymentStart::Redirect(RedirectForm {
//!             url: "https://pay.example/start".into(), method: "POST".into(),
//!             charset: WireCharset::Utf8,
//!             fields: vec![
//!                 FormField::new("merchant", merchant.clone()),
//!                 FormField::new("order", request.link_key.clone()),
//!                 FormField::new("amount", request.total.to_string()),
//!             ],
//!         }))
//!     }
//!     fn notification_endpoints(&self, _config: &ModuleConfig) -> Vec<NotificationEndpoint> {
//!         vec![NotificationEndpoint { name: "example".into(), trust: NotificationTrust::Unverified }]
//!     }
//!     async fn parse_notification(&self, _config: &ModuleConfig, _endpoint: &str,
//!         request: &InboundRequest) -> Result<Notification, Rejection> {
//!         let link_key = request.field("order").ok_or_else(|| Rejection::new("missing order"))?;
//!         let amount = request.field("amount").and_then(|a| a.parse().ok())
//!             .ok_or_else(|| Rejection::new("missing amount"))?;
//!         let transaction_id = request.field("tx").ok_or_else(|| Rejection::new("missing tx"))?;
//!         Ok(Notification {
//!             link_key: link_key.into(),
//!             dedup_key: format!("example:{transaction_id}"),
//!             signal: Signal::PaymentSucceeded { transaction_id: transaction_id.into(), amount,
//!                 capture: Capture::Captured, card: None, recurring_id: None },
//!             mismatches: vec![],
//!         })
//!     }
//!     fn respond(&self, _endpoint: &str, _request: &InboundRequest, answer: &Answer) -> WireResponse {
//!         match answer {
//!             Answer::Acknowledge => WireResponse::text(200, "text/plain", "OK"),
//!             Answer::Refuse { .. } => WireResponse::text(400, "text/plain", "NG"),
//!             Answer::Unavailable => WireResponse::text(503, "text/plain", "RETRY"),
//!         }
//!     }
//! }
//!
//! // Compiled in:
//! inventory::submit! {
//!     ModuleDescriptor { id: "example", display_name: "例", api_version: API_VERSION, build: || Box::new(Example) }
//! }
//! // Loadable from a shared library (in a `cdylib` crate; here it only shows the call):
//! export_module!(Example);
//!
//! // And a test without a host:
//! use shophost_module_api::testing;
//! let module = Example;
//! assert_eq!(testing::field_errors(&module, &[]), vec![("merchant".to_owned(), "加盟店IDを入力してください".to_owned())]);
//! let config = testing::config(&module, &[("merchant", "M1")]);
//! let request = testing::payment_start_request("acting_example_card", "12345678901234567", 1980);
//! let form = testing::start_form(&module, &config, &request);
//! testing::assert_form_fields(&form, &[("merchant", "M1"), ("order", "12345678901234567"), ("amount", "1980")]);
//! let paid = testing::form_post(&[("order", "12345678901234567"), ("amount", "1980"), ("tx", "T1")]);
//! let notification = testing::parse_notification(&module, &config, "example", &paid).unwrap();
//! assert_eq!(notification.dedup_key, "example:T1");
//! ```
// The module API is what third parties read first: every public item says what it is for.
#![deny(missing_docs)]

use std::any::Any;
use std::fmt;
use std::sync::Arc;

pub mod abi;
pub mod payment;
pub mod settings;
pub mod testing;
pub mod wire;

pub use async_trait::async_trait;
pub use inventory;
pub use payment::*;
pub use settings::*;
pub use wire::*;

/// The version of this API. A module built against another version is refused by the host.
///
/// Bump it on any change that a module built against the old version would misread.
pub const API_VERSION: u32 = 2;

/// A module's validated configuration: the module's own typed struct, opaque to the host.
///
/// Only the module that built it reads it back (with [`ModuleConfig::get`]), so the host can keep it
/// without knowing its type.
#[derive(Clone)]
pub struct ModuleConfig(Arc<dyn Any + Send + Sync>);

impl ModuleConfig {
    /// Wraps the module's typed config.
    pub fn new<T: Any + Send + Sync>(config: T) -> Self {
        ModuleConfig(Arc::new(config))
    }

    /// The typed config, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl fmt::Debug for ModuleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config may hold credentials; never print it.
        f.write_str("ModuleConfig(..)")
    }
}

/// A payment gateway module.
///
/// Implementations must be deterministic translators: no I/O, no clock, no randomness. Everything they
/// need (today's date, the link key, URLs) is in the arguments.
#[async_trait]
pub trait PaymentModule: Send + Sync {
    /// Stable id, lower-case ASCII, e.g. `remise`. Used in config files, URLs and storage.
    fn id(&self) -> &str;

    /// Name shown to operators, e.g. `ルミーズ`.
    fn display_name(&self) -> &str;

    /// The operator's settings form.
    fn settings_schema(&self) -> SettingsSchema;

    /// Validates a whole set of settings into a config, or returns every field error (in Japanese, one
    /// per field). Start with [`SettingsSchema::check`] to get the generic checks.
    fn validate(&self, values: &SettingsValues) -> Result<ModuleConfig, Vec<FieldError>>;

    /// The settlement types this config provides (none when the module is switched off).
    fn settlement_types(&self, config: &ModuleConfig) -> Vec<SettlementType>;

    /// The charset the gateway speaks: the host decodes inbound form bodies and serves redirect pages in it.
    fn wire_charset(&self) -> WireCharset {
        WireCharset::Utf8
    }

    /// The format of link keys for this gateway.
    fn link_key_spec(&self) -> LinkKeySpec {
        LinkKeySpec {
            digits: 17,
            card_update_prefix: None,
        }
    }

    /// Builds the start of a payment for a stored checkout attempt.
    async fn start_payment(
        &self,
        config: &ModuleConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError>;

    /// Builds the start of a card update for a member (PayQuick card change). Unsupported by default.
    async fn start_card_update(
        &self,
        _config: &ModuleConfig,
        _request: &CardUpdateRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        Err(PaymentStartError::Unsupported)
    }

    /// The notification endpoints this config listens on, and what vouches for each.
    fn notification_endpoints(&self, config: &ModuleConfig) -> Vec<NotificationEndpoint>;

    /// Reads a server-to-server notification that arrived at `endpoint`.
    async fn parse_notification(
        &self,
        config: &ModuleConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection>;

    /// Reads a browser return for `settlement_type`. The default reads nothing.
    async fn parse_return(
        &self,
        _config: &ModuleConfig,
        _settlement_type: &str,
        _kind: ReturnKind,
        _request: &InboundRequest,
    ) -> BrowserReturn {
        BrowserReturn {
            link_key: None,
            notification: None,
            message: None,
        }
    }

    /// The exact response to a notification at `endpoint`, given what the host decided.
    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse;
}

/// A compiled-in module, submitted with [`inventory::submit!`].
#[derive(Debug)]
pub struct ModuleDescriptor {
    /// The module's id; must equal [`PaymentModule::id`] of what `build` returns.
    pub id: &'static str,
    /// The module's display name.
    pub display_name: &'static str,
    /// The [`API_VERSION`] the module was built against.
    pub api_version: u32,
    /// Makes the module.
    pub build: fn() -> Box<dyn PaymentModule>,
}

inventory::collect!(ModuleDescriptor);

/// Every compiled-in module descriptor, in no particular order.
pub fn compiled_in_modules() -> impl Iterator<Item = &'static ModuleDescriptor> {
    inventory::iter::<ModuleDescriptor>.into_iter()
}
