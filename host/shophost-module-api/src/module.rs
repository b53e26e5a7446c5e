//! The module traits: [`TypedModule`], what an author implements, with the config as an associated
//! type; [`PaymentModule`], the object-safe trait the host keeps modules behind; and the one adapter
//! between them, so that no module ever downcasts its own config.
//!
//! Registration lives here too: [`ModuleDescriptor`], submitted with [`register_module!`](crate::register_module).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::payment::{
    BrowserReturn, CardUpdateRequest, LinkKeySpec, Notification, PaymentStart, PaymentStartError,
    PaymentStartRequest, Rejection, SettlementType,
};
use crate::settings::{FieldError, SettingsSchema, SettingsValues};
use crate::wire::{
    Answer, InboundRequest, NotificationEndpoint, ReturnKind, WireCharset, WireResponse,
};
use crate::API_VERSION;

/// A payment gateway module, as its author writes it.
///
/// A module is a deterministic translator: no I/O, no clock, no randomness (everything it needs, today's
/// date included, is in the arguments). The methods that may one day talk to a gateway (starting a
/// payment, reading a notification or a return) are `async`, so write them as `async fn`; the host
/// awaits them on its runtime and never blocks on them.
///
/// Seven methods are required; the rest have defaults, each saying when to override it. The host
/// never sees this trait: every `TypedModule` is a [`PaymentModule`] through the one adapter in this
/// crate, which keeps the config as an opaque value and hands it back typed.
///
/// ```
/// use shophost_module_api::{
///     Answer, InboundRequest, Notification, NotificationEndpoint, PaymentStart, PaymentStartError,
///     PaymentStartRequest, Rejection, SettingsSchema, SettingsValues, SettlementKind, SettlementType,
///     TypedModule, FieldError, WireResponse,
/// };
///
/// struct Quiet;
///
/// impl TypedModule for Quiet {
///     const ID: &'static str = "quiet";
///     const DISPLAY_NAME: &'static str = "静か";
///     type Config = ();
///     fn settings_schema(&self) -> SettingsSchema { SettingsSchema::default() }
///     fn validate(&self, _values: &SettingsValues) -> Result<(), Vec<FieldError>> { Ok(()) }
///     fn settlement_types(&self, _config: &()) -> Vec<SettlementType> { Vec::new() }
///     fn notification_endpoints(&self, _config: &()) -> Vec<NotificationEndpoint> { Vec::new() }
///     async fn start_payment(&self, _config: &(), request: &PaymentStartRequest)
///         -> Result<PaymentStart, PaymentStartError> {
///         Err(PaymentStartError::UnknownSettlementType(request.settlement_type.clone()))
///     }
///     async fn parse_notification(&self, _config: &(), _endpoint: &str, _request: &InboundRequest)
///         -> Result<Notification, Rejection> {
///         Err(Rejection::new("this module listens nowhere"))
///     }
///     fn respond(&self, _endpoint: &str, _request: &InboundRequest, _answer: &Answer) -> WireResponse {
///         WireResponse::text(404, "text/plain", "")
///     }
/// }
///
/// // What the host holds: the same module behind the object-safe trait.
/// let module: Box<dyn shophost_module_api::PaymentModule> = Box::new(Quiet);
/// assert_eq!(module.id(), "quiet");
/// ```
pub trait TypedModule: Send + Sync + 'static {
    /// Stable id, lower-case ASCII, e.g. `remise`. Used in config files, URLs and storage, and as the
    /// `<id>` of the module's settlement types (`acting_<id>_<kind>`).
    const ID: &'static str;

    /// Name shown to operators, e.g. `ルミーズ`.
    const DISPLAY_NAME: &'static str;

    /// The module's validated settings: its own type, which the host keeps without looking inside and
    /// hands back to every method below.
    type Config: Send + Sync + 'static;

    /// The operator's settings form.
    fn settings_schema(&self) -> SettingsSchema;

    /// Validates a whole set of settings (defaults already filled in) into a config, or returns every
    /// field error (in Japanese, one per field). Start with [`SettingsSchema::check`] to get the generic
    /// checks.
    fn validate(&self, values: &SettingsValues) -> Result<Self::Config, Vec<FieldError>>;

    /// The settlement types this config provides (none when the module is switched off).
    fn settlement_types(&self, config: &Self::Config) -> Vec<SettlementType>;

    /// The notification endpoints this config listens on: what vouches for each, and what the operator
    /// registers at the gateway.
    fn notification_endpoints(&self, config: &Self::Config) -> Vec<NotificationEndpoint>;

    /// Builds the start of a payment for a stored checkout attempt.
    fn start_payment(
        &self,
        config: &Self::Config,
        request: &PaymentStartRequest,
    ) -> impl Future<Output = Result<PaymentStart, PaymentStartError>> + Send;

    /// Reads a server-to-server notification that arrived at `endpoint`.
    fn parse_notification(
        &self,
        config: &Self::Config,
        endpoint: &str,
        request: &InboundRequest,
    ) -> impl Future<Output = Result<Notification, Rejection>> + Send;

    /// The exact response to a notification at `endpoint`, given what the host decided. The host asks
    /// for every possible answer before it stores anything, so this must depend only on its arguments.
    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse;

    /// The charset the gateway speaks: the host decodes inbound form bodies and serves redirect pages in
    /// it. UTF-8 by default; override for gateways that speak Shift_JIS (Remise).
    fn wire_charset(&self) -> WireCharset {
        WireCharset::Utf8
    }

    /// The format of link keys for this gateway: 17 decimal digits and no card-update prefix by
    /// default. Override when the gateway limits the order id's length or gives some prefix a meaning.
    fn link_key_spec(&self) -> LinkKeySpec {
        LinkKeySpec {
            digits: 17,
            card_update_prefix: None,
        }
    }

    /// The request headers this module reads, lower-case (e.g. `x-acme-signature`). The host hands
    /// them over in [`InboundRequest::headers`] and keeps them in the notification journal; other
    /// headers are dropped, but for the few the host always keeps (`content-type`, `content-length`,
    /// `user-agent`, `x-forwarded-for`). None by default.
    fn inbound_headers(&self) -> &'static [&'static str] {
        &[]
    }

    /// Builds the start of a card update for a member (PayQuick card change). Unsupported by default;
    /// override for gateways that keep cards for members.
    fn start_card_update(
        &self,
        _config: &Self::Config,
        _request: &CardUpdateRequest,
    ) -> impl Future<Output = Result<PaymentStart, PaymentStartError>> + Send {
        async { Err(PaymentStartError::Unsupported) }
    }

    /// Reads a browser return for `settlement_type`. The default reads nothing, which is right for
    /// gateways whose returns carry no data; override it to find the link key (so the shopper lands on
    /// the right completion page) and a failure message. A return never marks anything paid.
    fn parse_return(
        &self,
        _config: &Self::Config,
        _settlement_type: &str,
        _kind: ReturnKind,
        _request: &InboundRequest,
    ) -> impl Future<Output = BrowserReturn> + Send {
        async { BrowserReturn::nothing() }
    }
}

/// A module's validated configuration, as the host keeps it: the module's own `Config`, opaque.
///
/// Only this crate's adapter makes one (from [`TypedModule::validate`]) and reads one back, so a module
/// never sees this type and never downcasts.
#[derive(Clone)]
pub struct ModuleConfig(Arc<dyn Any + Send + Sync>);

impl ModuleConfig {
    fn new<T: Any + Send + Sync>(config: T) -> Self {
        ModuleConfig(Arc::new(config))
    }

    fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl fmt::Debug for ModuleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config may hold credentials; never print it.
        f.write_str("ModuleConfig(..)")
    }
}

/// A payment module as the host holds it (`Arc<dyn PaymentModule>`): object-safe, the config opaque.
///
/// Module authors implement [`TypedModule`] instead; every `TypedModule` is a `PaymentModule`. The
/// methods mean what the `TypedModule` methods of the same names mean. Implement this trait directly
/// only to wrap another module (the conformance kit counts calls that way).
#[async_trait]
pub trait PaymentModule: Send + Sync {
    /// [`TypedModule::ID`].
    fn id(&self) -> &str;
    /// [`TypedModule::DISPLAY_NAME`].
    fn display_name(&self) -> &str;
    /// [`TypedModule::settings_schema`].
    fn settings_schema(&self) -> SettingsSchema;
    /// [`TypedModule::validate`], the config kept opaque.
    fn validate(&self, values: &SettingsValues) -> Result<ModuleConfig, Vec<FieldError>>;
    /// [`TypedModule::settlement_types`].
    fn settlement_types(&self, config: &ModuleConfig) -> Vec<SettlementType>;
    /// [`TypedModule::notification_endpoints`].
    fn notification_endpoints(&self, config: &ModuleConfig) -> Vec<NotificationEndpoint>;
    /// [`TypedModule::wire_charset`].
    fn wire_charset(&self) -> WireCharset;
    /// [`TypedModule::link_key_spec`].
    fn link_key_spec(&self) -> LinkKeySpec;
    /// [`TypedModule::inbound_headers`].
    fn inbound_headers(&self) -> &'static [&'static str];
    /// [`TypedModule::start_payment`].
    async fn start_payment(
        &self,
        config: &ModuleConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError>;
    /// [`TypedModule::start_card_update`].
    async fn start_card_update(
        &self,
        config: &ModuleConfig,
        request: &CardUpdateRequest,
    ) -> Result<PaymentStart, PaymentStartError>;
    /// [`TypedModule::parse_notification`].
    async fn parse_notification(
        &self,
        config: &ModuleConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection>;
    /// [`TypedModule::parse_return`].
    async fn parse_return(
        &self,
        config: &ModuleConfig,
        settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn;
    /// [`TypedModule::respond`].
    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse;
}

/// The one adapter: the config goes out opaque from `validate` and comes back typed. A config that
/// another module built (a host bug, never a module's) is treated as "nothing provided".
#[async_trait]
impl<M: TypedModule> PaymentModule for M {
    fn id(&self) -> &str {
        M::ID
    }

    fn display_name(&self) -> &str {
        M::DISPLAY_NAME
    }

    fn settings_schema(&self) -> SettingsSchema {
        TypedModule::settings_schema(self)
    }

    fn validate(&self, values: &SettingsValues) -> Result<ModuleConfig, Vec<FieldError>> {
        TypedModule::validate(self, values).map(ModuleConfig::new)
    }

    fn settlement_types(&self, config: &ModuleConfig) -> Vec<SettlementType> {
        match config.get::<M::Config>() {
            Some(config) => TypedModule::settlement_types(self, config),
            None => Vec::new(),
        }
    }

    fn notification_endpoints(&self, config: &ModuleConfig) -> Vec<NotificationEndpoint> {
        match config.get::<M::Config>() {
            Some(config) => TypedModule::notification_endpoints(self, config),
            None => Vec::new(),
        }
    }

    fn wire_charset(&self) -> WireCharset {
        TypedModule::wire_charset(self)
    }

    fn link_key_spec(&self) -> LinkKeySpec {
        TypedModule::link_key_spec(self)
    }

    fn inbound_headers(&self) -> &'static [&'static str] {
        TypedModule::inbound_headers(self)
    }

    async fn start_payment(
        &self,
        config: &ModuleConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        match config.get::<M::Config>() {
            Some(config) => TypedModule::start_payment(self, config, request).await,
            None => Err(PaymentStartError::UnknownSettlementType(
                request.settlement_type.clone(),
            )),
        }
    }

    async fn start_card_update(
        &self,
        config: &ModuleConfig,
        request: &CardUpdateRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        match config.get::<M::Config>() {
            Some(config) => TypedModule::start_card_update(self, config, request).await,
            None => Err(PaymentStartError::Unsupported),
        }
    }

    async fn parse_notification(
        &self,
        config: &ModuleConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        match config.get::<M::Config>() {
            Some(config) => TypedModule::parse_notification(self, config, endpoint, request).await,
            None => Err(Rejection::new(format!(
                "the config was not built by module `{}`",
                M::ID
            ))),
        }
    }

    async fn parse_return(
        &self,
        config: &ModuleConfig,
        settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        match config.get::<M::Config>() {
            Some(config) => {
                TypedModule::parse_return(self, config, settlement_type, kind, request).await
            }
            None => BrowserReturn::nothing(),
        }
    }

    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
        TypedModule::respond(self, endpoint, request, answer)
    }
}

/// A compiled-in module, submitted with [`register_module!`](crate::register_module).
#[derive(Debug)]
#[non_exhaustive]
pub struct ModuleDescriptor {
    /// The module's id ([`TypedModule::ID`]).
    pub id: &'static str,
    /// The module's display name ([`TypedModule::DISPLAY_NAME`]).
    pub display_name: &'static str,
    /// The [`API_VERSION`] the module was built against.
    pub api_version: u32,
    /// Makes the module.
    pub build: fn() -> Box<dyn PaymentModule>,
}

impl ModuleDescriptor {
    /// The descriptor of module type `M`, built by `build`; what [`register_module!`](crate::register_module)
    /// submits.
    pub const fn of<M: TypedModule>(build: fn() -> Box<dyn PaymentModule>) -> Self {
        ModuleDescriptor {
            id: M::ID,
            display_name: M::DISPLAY_NAME,
            api_version: API_VERSION,
            build,
        }
    }
}

inventory::collect!(ModuleDescriptor);

/// Every compiled-in module descriptor, in no particular order.
pub fn compiled_in_modules() -> impl Iterator<Item = &'static ModuleDescriptor> {
    inventory::iter::<ModuleDescriptor>.into_iter()
}

/// Registers a module for hosts that compile it in: submits its [`ModuleDescriptor`] with `inventory`.
///
/// `register_module!(MyModule)` builds the module with `Default`; `register_module!(MyModule,
/// MyModule::new())` with the expression given. Use it once, at the root of the module's crate. A host
/// that compiles the module in must link the crate (reference something in it), or the linker drops the
/// registration.
#[macro_export]
macro_rules! register_module {
    ($module:ty) => {
        $crate::register_module!($module, <$module as ::core::default::Default>::default());
    };
    ($module:ty, $build:expr) => {
        $crate::inventory::submit! {
            $crate::ModuleDescriptor::of::<$module>(|| {
                let module: $module = $build;
                ::std::boxed::Box::new(module)
            })
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::SettlementKind;
    use crate::testing::{block_on, card_update_request, form_post, payment_start_request};

    /// Two modules with different config types.
    struct Numbers;
    struct Words;

    macro_rules! module {
        ($module:ty, $id:literal, $config:ty, $value:expr) => {
            impl TypedModule for $module {
                const ID: &'static str = $id;
                const DISPLAY_NAME: &'static str = $id;
                type Config = $config;
                fn settings_schema(&self) -> SettingsSchema {
                    SettingsSchema::default()
                }
                fn validate(&self, _values: &SettingsValues) -> Result<$config, Vec<FieldError>> {
                    Ok($value)
                }
                fn settlement_types(&self, _config: &$config) -> Vec<SettlementType> {
                    vec![SettlementType::new(
                        concat!("acting_", $id, "_card"),
                        $id,
                        SettlementKind::Immediate,
                    )]
                }
                fn notification_endpoints(&self, _config: &$config) -> Vec<NotificationEndpoint> {
                    vec![NotificationEndpoint::signed($id)]
                }
                async fn start_payment(
                    &self,
                    _config: &$config,
                    _request: &PaymentStartRequest,
                ) -> Result<PaymentStart, PaymentStartError> {
                    Err(PaymentStartError::Input("reached".to_owned()))
                }
                async fn parse_notification(
                    &self,
                    _config: &$config,
                    _endpoint: &str,
                    _request: &InboundRequest,
                ) -> Result<Notification, Rejection> {
                    Err(Rejection::new("reached"))
                }
                fn respond(
                    &self,
                    _endpoint: &str,
                    _request: &InboundRequest,
                    _answer: &Answer,
                ) -> WireResponse {
                    WireResponse::text(200, "text/plain", $id)
                }
            }
        };
    }
    module!(Numbers, "numbers", u32, 7);
    module!(Words, "words", String, "seven".to_owned());

    #[test]
    fn the_adapter_hands_each_module_its_own_config_and_nothing_else() {
        let numbers: &dyn PaymentModule = &Numbers;
        let words: &dyn PaymentModule = &Words;
        let own = numbers.validate(&SettingsValues::new()).unwrap();
        let foreign = words.validate(&SettingsValues::new()).unwrap();
        assert_eq!(format!("{own:?}"), "ModuleConfig(..)");
        assert_eq!(numbers.settlement_types(&own).len(), 1);
        assert_eq!(numbers.notification_endpoints(&own).len(), 1);
        let request = payment_start_request("acting_numbers_card", "1", 1);
        assert_eq!(
            block_on(numbers.start_payment(&own, &request)),
            Err(PaymentStartError::Input("reached".to_owned()))
        );
        // A config another module built provides nothing and reaches none of the module's code.
        assert_eq!(numbers.settlement_types(&foreign), []);
        assert_eq!(numbers.notification_endpoints(&foreign), []);
        assert_eq!(
            block_on(numbers.start_payment(&foreign, &request)),
            Err(PaymentStartError::UnknownSettlementType(
                "acting_numbers_card".to_owned()
            ))
        );
        assert_eq!(
            block_on(numbers.parse_notification(&foreign, "numbers", &form_post(&[])))
                .unwrap_err()
                .reason,
            "the config was not built by module `numbers`"
        );
        let returned = block_on(numbers.parse_return(
            &foreign,
            "acting_numbers_card",
            ReturnKind::Success,
            &form_post(&[]),
        ));
        assert_eq!(returned, BrowserReturn::nothing());
        assert_eq!(
            block_on(numbers.start_card_update(&own, &card_update_request())),
            Err(PaymentStartError::Unsupported)
        );
        assert_eq!(numbers.id(), "numbers");
        assert_eq!(numbers.inbound_headers(), [] as [&str; 0]);
    }
}
