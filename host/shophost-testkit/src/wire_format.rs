//! What a module author writes for the kit: [`WireFormat`], the module's wire format described once
//! (settings that validate and settings that do not, and how to make each kind of notification and
//! return), in terms of [`TestRequest`], an HTTP request as a gateway or a browser sends it.
//!
//! The kit never builds a gateway's requests itself: only the author knows the protocol, and the kit
//! only needs these few requests to drive every check.

use shophost_module_api::SettingsValues;

/// An HTTP request as a gateway (or the shopper's browser) would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRequest {
    /// `GET`, `POST`.
    pub method: String,
    /// Query string, without `?`, already percent-encoded.
    pub query: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// Other headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes exactly as sent.
    pub body: Vec<u8>,
}

impl TestRequest {
    /// A `POST` with this content type and body.
    pub fn post(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        TestRequest {
            method: "POST".to_owned(),
            query: String::new(),
            content_type: Some(content_type.to_owned()),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A `GET` with this (percent-encoded) query string.
    pub fn get(query: impl Into<String>) -> Self {
        TestRequest {
            method: "GET".to_owned(),
            query: query.into(),
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The same request with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What the kit needs to know about a module's wire format. Implement it in your module's tests.
pub trait WireFormat: Send + Sync {
    /// Settings that validate, with notifications allowed from 127.0.0.1.
    fn valid_settings(&self) -> SettingsValues;

    /// Settings that fail validation.
    fn invalid_settings(&self) -> SettingsValues;

    /// The notification endpoint the requests below are sent to (served at `/notify/{endpoint}`).
    fn endpoint(&self) -> String;

    /// The settlement type to check out with; by default the first `Immediate` one the valid settings
    /// provide.
    fn settlement_type(&self) -> Option<String> {
        None
    }

    /// A notification saying the payment for `link_key` succeeded for `amount` yen. Two calls with the
    /// same arguments must describe the same gateway event (a resend).
    fn success_notification(&self, link_key: &str, amount: i64) -> TestRequest;

    /// A notification saying the payment for `link_key` failed.
    fn failure_notification(&self, link_key: &str) -> TestRequest;

    /// A success notification for `link_key` and `amount`, otherwise well formed (signed, if the gateway
    /// signs), with bytes that are not valid in the module's wire charset (for UTF-8 modules: invalid
    /// UTF-8) where they must stop it. In a form the host replaces such bytes in a value with U+FFFD
    /// and lets the module decide, so put them in a value the module relies on (the amount, the link
    /// key) or in a field's name, which the host refuses itself; in free text the module may read them.
    fn undecodable_notification(&self, link_key: &str, amount: i64) -> TestRequest;

    /// The shopper's browser coming back to the success return URL after paying for `link_key`.
    fn success_return(&self, link_key: &str) -> TestRequest;

    /// For a signed endpoint: [`WireFormat::success_notification`] with a signature that is not the
    /// right one (made with another key). By default (`None`) the kit changes every character of the
    /// headers the module declares it reads (`inbound_headers`), which is right when the signature
    /// travels in a header.
    fn forged_notification(&self, _link_key: &str, _amount: i64) -> Option<TestRequest> {
        None
    }

    /// For a signed endpoint: [`WireFormat::success_notification`] without its signature. By default
    /// (`None`) the kit leaves out the headers the module declares it reads.
    fn unsigned_notification(&self, _link_key: &str, _amount: i64) -> Option<TestRequest> {
        None
    }

    /// For a signed endpoint: a notification correctly signed for `signed_amount`, whose amount was then
    /// changed to `amount` without signing it again. By default (`None`) the kit takes
    /// [`WireFormat::success_notification`] for `signed_amount` and replaces the amount's digits in the
    /// query and body, which is right when the amount is written as its decimal digits.
    fn tampered_notification(
        &self,
        _link_key: &str,
        _signed_amount: i64,
        _amount: i64,
    ) -> Option<TestRequest> {
        None
    }
}
