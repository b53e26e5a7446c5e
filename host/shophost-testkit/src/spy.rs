//! A wrapper around the module under test that counts the calls the host makes into its payment
//! methods (start, notification, return), so that `invalid_settings_stop_module` can tell that a
//! module with invalid settings is left alone. Everything else is passed through unchanged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use shophost_module_api::{
    async_trait, Answer, BrowserReturn, CardUpdateRequest, FieldError, InboundRequest, LinkKeySpec,
    ModuleConfig, Notification, NotificationEndpoint, PaymentModule, PaymentStart,
    PaymentStartError, PaymentStartRequest, Rejection, ReturnKind, SettingsSchema, SettingsValues,
    SettlementType, WireCharset, WireResponse,
};

/// Counts the calls the host makes into the module's payment methods, so the kit can tell that a
/// module with invalid settings is left alone.
pub(crate) struct Spy {
    inner: Arc<dyn PaymentModule>,
    /// Calls into `start_payment`, `start_card_update`, `parse_notification` and `parse_return`.
    pub(crate) calls: AtomicUsize,
}

impl Spy {
    pub(crate) fn new(inner: Arc<dyn PaymentModule>) -> Self {
        Spy {
            inner,
            calls: AtomicUsize::new(0),
        }
    }

    fn counted(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl PaymentModule for Spy {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn display_name(&self) -> &str {
        self.inner.display_name()
    }
    fn settings_schema(&self) -> SettingsSchema {
        self.inner.settings_schema()
    }
    fn validate(&self, values: &SettingsValues) -> Result<ModuleConfig, Vec<FieldError>> {
        self.inner.validate(values)
    }
    fn settlement_types(&self, config: &ModuleConfig) -> Vec<SettlementType> {
        self.inner.settlement_types(config)
    }
    fn wire_charset(&self) -> WireCharset {
        self.inner.wire_charset()
    }
    fn link_key_spec(&self) -> LinkKeySpec {
        self.inner.link_key_spec()
    }
    fn inbound_headers(&self) -> &'static [&'static str] {
        self.inner.inbound_headers()
    }
    async fn start_payment(
        &self,
        config: &ModuleConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        self.counted();
        self.inner.start_payment(config, request).await
    }
    async fn start_card_update(
        &self,
        config: &ModuleConfig,
        request: &CardUpdateRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        self.counted();
        self.inner.start_card_update(config, request).await
    }
    fn notification_endpoints(&self, config: &ModuleConfig) -> Vec<NotificationEndpoint> {
        self.inner.notification_endpoints(config)
    }
    async fn parse_notification(
        &self,
        config: &ModuleConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        self.counted();
        self.inner
            .parse_notification(config, endpoint, request)
            .await
    }
    async fn parse_return(
        &self,
        config: &ModuleConfig,
        settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        self.counted();
        self.inner
            .parse_return(config, settlement_type, kind, request)
            .await
    }
    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
        self.inner.respond(endpoint, request, answer)
    }
}
