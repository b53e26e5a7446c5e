//! Fuzz target: arbitrary settings sets fed to the Remise settings validator, which must never panic,
//! must report every error against a key that exists (or the unknown key itself), and must never accept
//! a set that the schema's own generic checks reject.
//!
//! Input layout: `key=value` lines, decoded lossily as UTF-8 (the host hands modules text).

#![no_main]

use libfuzzer_sys::fuzz_target;
use remise::RemiseModule;
use shophost_module_api::{SettingsValues, TypedModule};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut values = SettingsValues::new();
    for line in text.lines() {
        if let Some((key, value)) = line.split_once('=') {
            values.insert(key.to_owned(), value.to_owned());
        }
    }
    let schema = RemiseModule.settings_schema();
    let with_defaults = schema.with_defaults(&values);
    let generic = schema.check(&with_defaults);
    match RemiseModule.validate(&with_defaults) {
        Ok(config) => {
            assert!(generic.is_empty(), "accepted settings the schema rejects: {generic:?}");
            let _ = RemiseModule.settlement_types(&config);
            let _ = RemiseModule.notification_endpoints(&config);
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for error in errors {
                assert!(schema.field(&error.key).is_some() || values.contains_key(&error.key));
                assert!(!error.message.is_empty());
            }
        }
    }
});
