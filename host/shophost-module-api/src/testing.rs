//! A test harness for modules that needs no host: settings (into your typed config), payment-start
//! requests, inbound requests and form assertions, and a tiny executor for the module's `async` methods.
//!
//! Modules do no I/O, so every method can be called directly in a plain `#[test]`; these helpers only
//! save writing the same fixtures in every module. They take the module as a [`TypedModule`] and give
//! its own `Config` back, so a test reads the config's fields directly. Behaviour that needs the host (idempotency, journaling,
//! acknowledging only after commit) is checked by the conformance kit, `shophost-testkit`.
//!
//! ```
//! use shophost_module_api::testing::*;
//! use shophost_module_api::{FormField, PaymentStart, RedirectForm, WireCharset};
//!
//! let request = payment_start_request("acting_example_card", "12345678901234567", 1980);
//! assert_eq!(request.urls.success, "http://shop.test/return/acting_example_card/ok");
//! let form = RedirectForm {
//!     url: "https://pay.example/start".into(),
//!     method: "POST".into(),
//!     charset: WireCharset::Utf8,
//!     fields: vec![FormField::new("order", request.link_key.clone()), FormField::new("amount", "1980")],
//! };
//! assert_form_fields(&form, &[("order", "12345678901234567"), ("amount", "1980")]);
//! let notification = form_post(&[("order", "12345678901234567"), ("amount", "1980")]);
//! assert_eq!(notification.field("amount"), Some("1980"));
//! ```

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::{
    BrowserReturn, CardUpdateRequest, Customer, FieldError, InboundRequest, LineItem, LocalDate,
    MemberRef, Notification, PaymentStart, PaymentStartRequest, RedirectForm, Rejection,
    ReturnKind, ReturnUrls, SettingsValues, TypedModule,
};

/// The base URL [`payment_start_request`] builds return URLs from.
pub const TEST_SHOP_URL: &str = "http://shop.test";

/// The address inbound requests built here come from (loopback, as in the conformance kit).
pub const TEST_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Runs one of a module's `async` methods to completion, in a test (the host never does this: it
/// awaits them).
///
/// A module never waits on anything (no I/O), so one poll finishes it; a module that returns `Pending`
/// is doing I/O it must not do, and this panics to say so.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the module's future waited on something; modules do no I/O"),
    }
}

/// Settings values from `(key, value)` pairs.
pub fn settings(pairs: &[(&str, &str)]) -> SettingsValues {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// Validates settings the way the host does: the schema's defaults filled in first.
pub fn validate<M: TypedModule>(
    module: &M,
    values: &SettingsValues,
) -> Result<M::Config, Vec<FieldError>> {
    module.validate(&module.settings_schema().with_defaults(values))
}

/// A config from settings pairs; panics listing every field error when they do not validate.
pub fn config<M: TypedModule>(module: &M, pairs: &[(&str, &str)]) -> M::Config {
    match validate(module, &settings(pairs)) {
        Ok(config) => config,
        Err(errors) => panic!("the test settings do not validate: {errors:?}"),
    }
}

/// The `(key, message)` of every field error for these settings (empty when they validate).
pub fn field_errors<M: TypedModule>(module: &M, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    match validate(module, &settings(pairs)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| (e.key, e.message)).collect(),
    }
}

/// A card-update request for member 1, who has no card yet, with the same customer, URLs and date as
/// [`payment_start_request`]. Change the fields you care about.
pub fn card_update_request() -> CardUpdateRequest {
    let request = payment_start_request("card_update", "00000001234567890", 0);
    CardUpdateRequest {
        link_key: request.link_key,
        member: MemberRef {
            member_id: 1,
            card: None,
        },
        email: request.customer.email.clone(),
        customer: request.customer,
        recurring: None,
        urls: request.urls,
        today: request.today,
    }
}

/// A payment-start request with sensible defaults: one line item for the whole `total`, a customer
/// with every field filled in, no member, no options, return URLs under [`TEST_SHOP_URL`], and today
/// 2026-04-01. Change the fields you care about.
pub fn payment_start_request(
    settlement_type: &str,
    link_key: &str,
    total: i64,
) -> PaymentStartRequest {
    let url = |kind: &str| format!("{TEST_SHOP_URL}/return/{settlement_type}/{kind}");
    PaymentStartRequest {
        settlement_type: settlement_type.to_owned(),
        link_key: link_key.to_owned(),
        total,
        tax: Some(total * 10 / 110),
        items: vec![LineItem {
            name: "テスト商品".to_owned(),
            unit_price: total,
            quantity: 1,
            recurring: None,
        }],
        customer: Customer {
            email: "shopper@example.com".to_owned(),
            family_name: "山田".to_owned(),
            given_name: "太郎".to_owned(),
            family_kana: "ヤマダ".to_owned(),
            given_kana: "タロウ".to_owned(),
            postcode: "150-0001".to_owned(),
            prefecture: "東京都".to_owned(),
            address1: "渋谷区神宮前".to_owned(),
            address2: "1-2-3".to_owned(),
            address3: String::new(),
            phone: "03-1234-5678".to_owned(),
        },
        member: None,
        note: String::new(),
        options: Default::default(),
        urls: ReturnUrls {
            success: url("ok"),
            failure: url("ng"),
            cancel: url("exit"),
        },
        today: LocalDate {
            year: 2026,
            month: 4,
            day: 1,
        },
    }
}

/// Starts a payment and returns its redirect form; panics when the module refuses.
pub fn start_form<M: TypedModule>(
    module: &M,
    config: &M::Config,
    request: &PaymentStartRequest,
) -> RedirectForm {
    match block_on(module.start_payment(config, request)) {
        Ok(PaymentStart::Redirect(form)) => form,
        Err(error) => panic!("start_payment refused: {error}"),
    }
}

/// The value of a form's first field called `name`.
pub fn form_field<'a>(form: &'a RedirectForm, name: &str) -> Option<&'a str> {
    form.fields
        .iter()
        .find(|field| field.name == name)
        .map(|field| field.value.as_str())
}

/// Asserts that a form has exactly these fields, in this order; the message shows both lists.
pub fn assert_form_fields(form: &RedirectForm, expected: &[(&str, &str)]) {
    let actual: Vec<(&str, &str)> = form
        .fields
        .iter()
        .map(|field| (field.name.as_str(), field.value.as_str()))
        .collect();
    assert_eq!(
        actual, expected,
        "the form's fields (left) differ from the expected ones (right)"
    );
}

/// Reads a notification with the module, as the host would after its own checks.
pub fn parse_notification<M: TypedModule>(
    module: &M,
    config: &M::Config,
    endpoint: &str,
    request: &InboundRequest,
) -> Result<Notification, Rejection> {
    block_on(module.parse_notification(config, endpoint, request))
}

/// Reads a browser return with the module, as the host would.
pub fn parse_return<M: TypedModule>(
    module: &M,
    config: &M::Config,
    settlement_type: &str,
    kind: ReturnKind,
    request: &InboundRequest,
) -> BrowserReturn {
    block_on(module.parse_return(config, settlement_type, kind, request))
}

/// `application/x-www-form-urlencoded` bytes for these fields, UTF-8.
pub fn form_urlencoded(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (index, (name, value)) in fields.iter().enumerate() {
        if index > 0 {
            body.push(b'&');
        }
        percent_encode_into(&mut body, name.as_bytes());
        body.push(b'=');
        percent_encode_into(&mut body, value.as_bytes());
    }
    body
}

fn percent_encode_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in bytes {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(*byte),
            _ => out.extend([
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 15)],
            ]),
        }
    }
}

/// A `POST` with a UTF-8 form body, as the host hands it over: raw body and decoded fields.
pub fn form_post(fields: &[(&str, &str)]) -> InboundRequest {
    InboundRequest {
        method: "POST".to_owned(),
        content_type: Some("application/x-www-form-urlencoded".to_owned()),
        body: form_urlencoded(fields),
        fields: pairs(fields),
        form_body: true,
        source: TEST_SOURCE,
        headers: vec![(
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        )],
    }
}

/// A `GET` with these query fields (a browser return, typically).
pub fn query_get(fields: &[(&str, &str)]) -> InboundRequest {
    InboundRequest {
        method: "GET".to_owned(),
        content_type: None,
        body: Vec::new(),
        fields: pairs(fields),
        form_body: false,
        source: TEST_SOURCE,
        headers: Vec::new(),
    }
}

/// A `POST` with a JSON (or any non-form) body and these headers (names are lower-cased, as the host
/// does). The host does not decode such bodies: the module gets the raw bytes.
pub fn json_post(body: impl Into<Vec<u8>>, headers: &[(&str, &str)]) -> InboundRequest {
    let mut all_headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    all_headers.extend(
        headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned())),
    );
    InboundRequest {
        method: "POST".to_owned(),
        content_type: Some("application/json".to_owned()),
        body: body.into(),
        fields: Vec::new(),
        form_body: false,
        source: TEST_SOURCE,
        headers: all_headers,
    }
}

fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_are_percent_encoded_utf8() {
        assert_eq!(
            form_urlencoded(&[("a b", "山"), ("x", "1&2=3")]),
            b"a%20b=%E5%B1%B1&x=1%262%3D3".to_vec()
        );
    }

    #[test]
    fn futures_that_wait_are_reported() {
        let result = std::panic::catch_unwind(|| block_on(std::future::pending::<()>()));
        assert!(result.is_err());
        assert_eq!(block_on(async { 7 }), 7);
    }
}
