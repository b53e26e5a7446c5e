//! Helpers shared by the Remise integration tests: settings and requests from Remise's addresses. The
//! module's `async` methods run with `shophost_module_api::testing::block_on`, which keeps tokio out of
//! this crate's dev-dependencies.

#![allow(dead_code)] // Each test binary uses a different subset.

use remise::RemiseConfig;
use shophost_module_api::{InboundRequest, SettingsValues};

/// Settings values from pairs.
pub fn values(pairs: &[(&str, &str)]) -> SettingsValues {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// The settings of the observed Welcart shop: card (CAPTURE, PayQuick on, lump sum only) and conv
/// (14 days), both in the test environment.
pub const SHOP: &[(&str, &str)] = &[
    ("SHOPCO", "TESTSHOP"),
    ("HOSTID", "12345678"),
    ("card_activate", "on"),
    ("card_jb", "CAPTURE"),
    ("payquick", "on"),
    ("howpay", "off"),
    ("card_pc_ope", "test"),
    ("conv_activate", "on"),
    ("S_PAYDATE", "14"),
    ("conv_pc_ope", "test"),
];

/// [`SHOP`] with some values replaced or added.
pub fn shop_with(changes: &[(&str, &str)]) -> SettingsValues {
    let mut values = values(SHOP);
    for (key, value) in changes {
        values.insert((*key).to_owned(), (*value).to_owned());
    }
    values
}

/// A validated config from [`shop_with`]; panics with the errors when it does not validate.
pub fn config(changes: &[(&str, &str)]) -> RemiseConfig {
    match remise::settings::validate(&shop_with(changes)) {
        Ok(config) => config,
        Err(errors) => panic!("test settings do not validate: {errors:?}"),
    }
}

/// A POST with a form body, from one of Remise's test addresses.
pub fn post(fields: &[(&str, &str)]) -> InboundRequest {
    InboundRequest {
        method: "POST".to_owned(),
        content_type: Some("application/x-www-form-urlencoded".to_owned()),
        body: Vec::new(),
        fields: fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
        form_body: true,
        source: "183.177.132.57".parse().expect("address"),
        headers: Vec::new(),
    }
}

/// A GET with these query fields.
pub fn get(fields: &[(&str, &str)]) -> InboundRequest {
    InboundRequest {
        method: "GET".to_owned(),
        content_type: None,
        form_body: false,
        ..post(fields)
    }
}
