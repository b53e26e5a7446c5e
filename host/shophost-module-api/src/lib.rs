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
//! The methods that start a payment or read a gateway's request are `async` all the same: a gateway
//! may one day need a call of its own (capture, refund), and the host awaits them on its runtime, never
//! blocking on them.
//!
//! # The flow
//!
//! A module implements [`TypedModule`]; its config is an associated type, so every method gets the
//! module's own struct back and no module downcasts anything.
//!
//! 1. **Settings schema** — [`TypedModule::settings_schema`] declares the operator's form
//!    ([`SettingsSchema`]): keys, Japanese labels, kinds, defaults, help, constraints.
//! 2. **Validated config** — [`TypedModule::validate`] turns a [`SettingsValues`] map into your
//!    `Config`, or returns *every* [`FieldError`].
//! 3. **Settlement types** — [`TypedModule::settlement_types`] says which [`SettlementType`]s the
//!    config provides (Remise: `acting_remise_card`, `acting_remise_conv`).
//! 4. **Notification endpoints** — [`TypedModule::notification_endpoints`] declares where the gateway
//!    posts, what vouches for it ([`NotificationTrust`]: a signature, a source allowlist, or nothing and
//!    why), and what the operator registers at the gateway ([`NotificationEndpoint`]).
//! 5. **Payment start** — [`TypedModule::start_payment`] builds a [`PaymentStart`] (a redirect form)
//!    from a [`PaymentStartRequest`]. The host has already stored the checkout attempt and its link key.
//! 6. **Inbound request** — [`TypedModule::parse_notification`] turns a gateway's server-to-server
//!    request into a [`Notification`] (a [`Signal`] about one link key), or a [`Rejection`];
//!    [`TypedModule::parse_return`] reads a browser return.
//! 7. **Outcome + response** — the host checks the signal against its records, commits, and sends what
//!    [`TypedModule::respond`] gave for the outcome ([`Answer`] → [`WireResponse`]).
//!
//! The host holds every module as an `Arc<dyn` [`PaymentModule`]`>`, the object-safe face of the same
//! methods with the config kept opaque ([`ModuleConfig`]); one adapter in this crate turns every
//! `TypedModule` into a `PaymentModule`.
//!
//! # Required and defaulted methods
//!
//! Required (seven, plus the constants `ID` and `DISPLAY_NAME` and the type `Config`):
//! `settings_schema`, `validate`, `settlement_types`, `notification_endpoints`, `start_payment`,
//! `parse_notification`, `respond`.
//!
//! With defaults (override only when your gateway differs):
//! - `wire_charset`: UTF-8. Override for gateways that speak Shift_JIS (Remise); the host then decodes
//!   form bodies and serves redirect pages in it.
//! - `link_key_spec`: 17 decimal digits, no card-update prefix. Override when the gateway limits the
//!   order id's length or gives some prefix a meaning.
//! - `inbound_headers`: none. Name the headers you read (a signature header); the host hands over and
//!   journals only those, besides a few of its own.
//! - `parse_return`: reads nothing, which is right for gateways whose returns carry no data. Override it
//!   to read the link key (so the shopper lands on the right completion page) and a failure message.
//!   A return never marks anything paid, whatever it says.
//! - `start_card_update`: unsupported. Override for gateways that keep cards for members.
//!
//! # Helpers
//!
//! - [`signature`]: HMAC-SHA256 verified in constant time, and hex.
//! - [`InboundRequest::required_field`], [`InboundRequest::required_amount`],
//!   [`InboundRequest::required_link_key`], [`InboundRequest::required_header`]: required values, each
//!   refused with a [`ReadError`] naming the field, which `?` turns into a [`Rejection`].
//!
//! # Registering: compiled in, or loaded from a file
//!
//! A compiled-in module calls [`register_module!`] once, which submits a `const` [`ModuleDescriptor`]
//! with [`inventory`]; the host builds its registry from all submitted descriptors, sorted by id, and
//! refuses duplicate ids.
//!
//! A module loaded at run time is a `cdylib` that calls [`export_module!`] once; the operator lists the
//! library's path under `[[modules.dynamic]]` in `shophost.toml`. The host checks the library's
//! [`abi::AbiDescriptor`] (API version and the compiler/ABI fingerprint) before it calls anything in it,
//! and refuses a mismatch with an error naming the file, both versions, and the part of the fingerprint
//! that differs. A crate can do both (the template in `examples/module-template` does):
//! `crate-type = ["cdylib", "rlib"]`.
//!
//! # What may grow without breaking modules
//!
//! The structs a module builds and that are expected to grow ([`SettlementType`], [`CheckoutOption`],
//! [`NotificationEndpoint`], [`Notification`], [`Rejection`], [`BrowserReturn`], [`PaymentSlip`],
//! [`SlipRow`], [`SettingField`], [`ModuleDescriptor`]) are `#[non_exhaustive]`: build them with their
//! constructors and setters. Among the enums a module *matches*, [`Refusal`] is `#[non_exhaustive]`:
//! answer the refusals your protocol tells apart and the rest with its generic error. [`Answer`] and
//! [`ReturnKind`] are closed: there is nothing else a host can decide or a browser can come back to.
//! The enums a module only *builds* ([`Signal`], [`NotificationTrust`], [`SettlementKind`], …) are
//! closed too: a new variant breaks no module, and the host, which matches them, must handle it anyway.
//! The request types the host builds ([`PaymentStartRequest`], [`InboundRequest`], …) stay open to
//! struct literals; module tests build them through [`testing`].
//!
//! # Testing
//!
//! [`testing`] builds settings, payment-start requests and inbound requests and drives a module without
//! a host, with your typed config. The conformance kit (crate `shophost-testkit`) runs a module through
//! a real host on a temporary database and checks what every gateway must get right: duplicate
//! notifications, a notification before or without the browser return, a return without a notification,
//! a wrong amount, an undecodable body, a retry after the host could not store a notification, invalid
//! settings stopping the module, and the trust each endpoint declares (forged, unsigned and tampered
//! notifications to a signed endpoint). The guide `docs/writing-a-gateway-module.md` walks through all
//! of it.
//!
//! # A complete small module
//!
//! ```
//! use shophost_module_api::{
//!     register_module, Answer, Capture, FieldError, FormField, InboundRequest, Notification,
//!     NotificationEndpoint, PaymentStart, PaymentStartError, PaymentStartRequest, RedirectForm,
//!     Rejection, SettingField, SettingsSchema, SettingsValues, SettlementKind, SettlementType, Signal,
//!     TypedModule, WireCharset, WireResponse,
//! };
//!
//! #[derive(Default)]
//! struct Example;
//!
//! /// The validated settings.
//! struct ExampleConfig {
//!     merchant: String,
//! }
//!
//! impl TypedModule for Example {
//!     const ID: &'static str = "example";
//!     const DISPLAY_NAME: &'static str = "例";
//!     type Config = ExampleConfig;
//!
//!     fn settings_schema(&self) -> SettingsSchema {
//!         SettingsSchema::new(vec![SettingField::text("merchant", "加盟店ID").required()])
//!     }
//!     fn validate(&self, values: &SettingsValues) -> Result<ExampleConfig, Vec<FieldError>> {
//!         let errors = self.settings_schema().check(values);
//!         if !errors.is_empty() { return Err(errors); }
//!         Ok(ExampleConfig { merchant: values["merchant"].clone() })
//!     }
//!     fn settlement_types(&self, _config: &ExampleConfig) -> Vec<SettlementType> {
//!         vec![SettlementType::new("acting_example_card", "カード決済（例）", SettlementKind::Immediate)]
//!     }
//!     fn notification_endpoints(&self, _config: &ExampleConfig) -> Vec<NotificationEndpoint> {
//!         vec![NotificationEndpoint::unverified("example", "an example that never takes real money")
//!             .setting_name("通知URL")]
//!     }
//!     async fn start_payment(&self, config: &ExampleConfig, request: &PaymentStartRequest)
//!         -> Result<PaymentStart, PaymentStartError> {
//!         Ok(PaymentStart::Redirect(RedirectForm::post("https://pay.example/start", WireCharset::Utf8, vec![
//!             FormField::new("merchant", config.merchant.clone()),
//!             FormField::new("order", request.link_key.clone()),
//!             FormField::new("amount", request.total.to_string()),
//!         ])))
//!     }
//!     async fn parse_notification(&self, _config: &ExampleConfig, _endpoint: &str,
//!         request: &InboundRequest) -> Result<Notification, Rejection> {
//!         let link_key = request.required_link_key("order")?;
//!         let amount = request.required_amount("amount")?;
//!         let transaction_id = request.required_field("tx")?;
//!         let signal = Signal::PaymentSucceeded { transaction_id: transaction_id.into(), amount,
//!             capture: Capture::Captured, card: None, recurring_id: None };
//!         Ok(Notification::new(link_key, format!("example:{transaction_id}"), signal))
//!     }
//!     fn respond(&self, _endpoint: &str, _request: &InboundRequest, answer: &Answer) -> WireResponse {
//!         match answer {
//!             Answer::Acknowledge => WireResponse::text(200, "text/plain", "OK"),
//!             Answer::Refuse(_) => WireResponse::text(400, "text/plain", "NG"),
//!             Answer::Unavailable => WireResponse::text(503, "text/plain", "RETRY"),
//!         }
//!     }
//! }
//!
//! // Compiled in:
//! register_module!(Example);
//! // Loadable from a shared library (in a `cdylib` crate; here it only shows the call):
//! shophost_module_api::export_module!(Example);
//!
//! // And a test without a host, with the typed config:
//! use shophost_module_api::testing;
//! let module = Example;
//! assert_eq!(testing::field_errors(&module, &[]), vec![("merchant".to_owned(), "加盟店IDを入力してください".to_owned())]);
//! let config = testing::config(&module, &[("merchant", "M1")]);
//! assert_eq!(config.merchant, "M1");
//! let request = testing::payment_start_request("acting_example_card", "12345678901234567", 1980);
//! let form = testing::start_form(&module, &config, &request);
//! testing::assert_form_fields(&form, &[("merchant", "M1"), ("order", "12345678901234567"), ("amount", "1980")]);
//! let paid = testing::form_post(&[("order", "12345678901234567"), ("amount", "1980"), ("tx", "T1")]);
//! let notification = testing::parse_notification(&module, &config, "example", &paid).unwrap();
//! assert_eq!(notification.dedup_key, "example:T1");
//! let unpaid = testing::form_post(&[("order", "12345678901234567"), ("tx", "T1")]);
//! assert_eq!(testing::parse_notification(&module, &config, "example", &unpaid).unwrap_err().reason, "missing amount");
//! ```
// The module API is what third parties read first: every public item says what it is for.
#![deny(missing_docs)]

pub mod abi;
mod module;
mod payment;
mod read;
mod settings;
pub mod signature;
pub mod testing;
mod wire;

pub use async_trait::async_trait;
pub use inventory;

pub use module::{compiled_in_modules, ModuleConfig, ModuleDescriptor, PaymentModule, TypedModule};
pub use payment::{
    BrowserReturn, Capture, CardOnFile, CardUpdateRequest, CheckoutOption, Customer, FormField,
    LineItem, LinkKeySpec, LocalDate, MemberRef, Notification, PaymentSlip, PaymentStart,
    PaymentStartError, PaymentStartRequest, Recurrence, RecurringCharge, RedirectForm, Rejection,
    ReturnUrls, SettlementKind, SettlementType, Signal, SlipRow,
};
pub use read::{ReadError, AMOUNT_MAX_DIGITS, LINK_KEY_MAX_DIGITS};
pub use settings::{
    CharClass, ChoiceOption, FieldError, FieldKind, Secret, SettingField, SettingsSchema,
    SettingsValues, REDACTED,
};
pub use wire::{
    Answer, EndpointPath, InboundRequest, IpRange, NotificationEndpoint, NotificationTrust,
    Refusal, ReturnKind, WireCharset, WireResponse,
};

/// The version of this API. A module built against another version is refused by the host, which
/// names both versions.
///
/// Bump it on any change that a module built against the old version would misread. Version 3: modules
/// implement [`TypedModule`] (their config an associated type, no downcast), `Answer::Refuse` carries
/// only the [`Refusal`], endpoints declare what the operator registers and why an unverified one is
/// acceptable, and modules declare the headers they read.
pub const API_VERSION: u32 = 3;
