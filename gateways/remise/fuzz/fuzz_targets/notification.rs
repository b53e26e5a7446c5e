//! Fuzz target: arbitrary field lists fed to the Remise notification and return parsers, at both
//! endpoints, which must never panic and never read anything but an exact success as a payment.
//!
//! Input layout: the first byte picks the method (bit 0: POST or GET) and whether the fields came as a
//! form body (bit 1); the rest is `name=value` pairs separated by `&`, decoded lossily as UTF-8 (the
//! host hands the module decoded text, so invalid bytes never reach it as such).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use remise::RemiseConfig;
use shophost_module_api::{Answer, InboundRequest, ReturnKind, SettingsValues, Signal};

fn config() -> &'static RemiseConfig {
    static CONFIG: OnceLock<RemiseConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let values: SettingsValues = [
            ("SHOPCO", "TESTSHOP"),
            ("HOSTID", "12345678"),
            ("card_activate", "on"),
            ("card_jb", "CAPTURE"),
            ("payquick", "on"),
            ("howpay", "on"),
            ("card_pc_ope", "test"),
            ("conv_activate", "on"),
            ("S_PAYDATE", "14"),
            ("conv_pc_ope", "test"),
        ]
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
        remise::settings::validate(&values).expect("fuzz settings are valid")
    })
}

fn request(data: &[u8]) -> InboundRequest {
    let (flags, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let post = flags & 1 == 0;
    let fields = rest
        .split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            (
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            )
        })
        .collect();
    InboundRequest {
        method: if post { "POST" } else { "GET" }.to_owned(),
        content_type: None,
        body: rest.to_vec(),
        fields,
        form_body: post && flags & 2 == 0,
        source: "183.177.132.57".parse().expect("address"),
        headers: Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let request = request(data);
    let config = config();
    for endpoint in ["remise_card", "remise_conv"] {
        if let Ok(notification) = remise::parse_notification(config, endpoint, &request) {
            match notification.signal {
                Signal::PaymentSucceeded { .. } => {
                    assert_eq!(request.field("X-ERRLEVEL").map(str::trim), Some("0"));
                }
                Signal::PaymentReceived { .. } => {
                    assert_eq!(request.field("REC_FLG").map(str::trim), Some("1"));
                }
                _ => {}
            }
        }
        let _ = remise::respond(endpoint, &request, &Answer::Acknowledge);
    }
    for settlement_type in ["acting_remise_card", "acting_remise_conv"] {
        for kind in [ReturnKind::Success, ReturnKind::Failure, ReturnKind::Cancel] {
            let _ = remise::parse_return(config, settlement_type, kind, &request);
        }
    }
});
