//! The notification and return parsers over 10,000 pseudo-random field lists: no panic, and nothing
//! that is not an exact success is ever read as a payment.
//!
//! This is the stable-toolchain companion of the `fuzz/` crate (which needs nightly and cargo-fuzz): a
//! tiny xorshift generator, seeded, so a failure reproduces, draws field names and values mostly from
//! what Remise sends (and what it must not), with random text mixed in.

mod common;

use common::config;
use remise::notifications::{is_link_key, CARD_UPDATE_PREFIX, R_CODE_OK};
use shophost_module_api::{Answer, InboundRequest, Refusal, ReturnKind, Signal};

/// xorshift64*: small, deterministic, good enough to spread inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const NAMES: &[&str] = &[
    "X-TRANID",
    "X-S_TORIHIKI_NO",
    "X-ERRLEVEL",
    "X-ERRCODE",
    "X-ERRINFO",
    "X-R_CODE",
    "X-TOTAL",
    "X-AMOUNT",
    "X-PAYQUICKID",
    "X-PARTOFCARD",
    "X-EXPIRE",
    "X-JOB_ID",
    "X-PAYDATE",
    "X-PAY_CSV",
    "X-PAY_NO1",
    "X-PAY_NO2",
    "S_TORIHIKI_NO",
    "REC_FLG",
    "TOTAL",
    "JOB_ID",
    "SHOPCO",
    "HOSTID",
    "X-SHOPCO",
    "X-HOSTID",
    "CARIER_TYPE",
    "OPT",
    "REC_TYPE",
    "acting",
    "",
    "x-errlevel",
];

const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "2",
    "9",
    " 0 ",
    "   ",
    "00",
    "OK",
    "0:0000",
    "8:1234",
    "12345678901234567",
    "00000001234567890",
    "0000000",
    "123456789012345678",
    "12ab",
    "3990",
    "-1",
    "3,990",
    "3990.0",
    "999999999999999999999",
    "TESTSHOP",
    "12345678",
    "1229",
    "1399",
    "12",
    "D001",
    "D030",
    "D451",
    "Z999",
    "20261211",
    "20261301",
    "https://slip.example/1",
    "javascript:alert(1)",
    "<script>",
    "ヤマダ",
    "ｶﾞ",
    "\u{0}",
    "\u{FFFD}",
    "😀",
    "E01",
    "2611271502000000000000000001",
];

fn random_text(rng: &mut XorShift) -> String {
    let length = rng.below(24);
    (0..length)
        .map(|_| match rng.below(4) {
            0 => char::from(b' ' + rng.below(95) as u8),
            1 => char::from_digit(rng.below(10) as u32, 10).unwrap_or('0'),
            2 => char::from_u32(0x3040 + rng.below(0xC0) as u32).unwrap_or('あ'),
            _ => char::from_u32(rng.next() as u32 % 0x11_0000).unwrap_or('\u{FFFD}'),
        })
        .collect()
}

/// Valid requests of each kind, which the generator mutates so that the success paths are reached.
const TEMPLATES: &[&[(&str, &str)]] = &[
    &[
        ("X-TRANID", "2611271502000000000000000001"),
        ("X-S_TORIHIKI_NO", "12345678901234567"),
        ("X-ERRCODE", "   "),
        ("X-ERRLEVEL", "0"),
        ("X-R_CODE", "0:0000"),
        ("X-TOTAL", "3990"),
        ("X-PAYQUICKID", "PQ1"),
    ],
    &[
        ("X-TRANID", "2611271502000000000000000002"),
        ("X-S_TORIHIKI_NO", "00000001234567890"),
        ("X-ERRLEVEL", "0"),
        ("X-PAYQUICKID", "PQ2"),
        ("X-PARTOFCARD", "4242"),
        ("X-EXPIRE", "0731"),
    ],
    &[
        ("S_TORIHIKI_NO", "12345678901234567"),
        ("REC_FLG", "1"),
        ("TOTAL", "3990"),
    ],
    &[
        ("X-S_TORIHIKI_NO", "12345678901234567"),
        ("X-JOB_ID", "26112700000000042"),
        ("X-R_CODE", "0:0000"),
        ("X-PAY_CSV", "D001"),
        ("X-PAY_NO1", "1"),
        ("X-PAYDATE", "20261211"),
    ],
];

fn random_field(rng: &mut XorShift) -> (String, String) {
    let name = if rng.below(10) == 0 {
        random_text(rng)
    } else {
        rng.pick(NAMES).to_owned()
    };
    let value = if rng.below(4) == 0 {
        random_text(rng)
    } else {
        rng.pick(VALUES).to_owned()
    };
    (name, value)
}

fn random_request(rng: &mut XorShift) -> InboundRequest {
    let mut fields: Vec<(String, String)> = if rng.below(2) == 0 {
        let template = TEMPLATES[rng.below(TEMPLATES.len())];
        template
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    } else {
        Vec::new()
    };
    // Mutate: replace, drop or add a few fields (none at all for some templates, to keep valid ones).
    for _ in 0..rng.below(4) {
        match rng.below(3) {
            0 if !fields.is_empty() => {
                let at = rng.below(fields.len());
                fields[at].1 = random_field(rng).1;
            }
            1 if !fields.is_empty() => {
                let at = rng.below(fields.len());
                fields.remove(at);
            }
            _ => {
                let at = rng.below(fields.len() + 1);
                fields.insert(at, random_field(rng));
            }
        }
    }
    let method = rng
        .pick(&["POST", "POST", "POST", "GET", "PUT", ""])
        .to_owned();
    InboundRequest {
        form_body: method == "POST" && rng.below(8) != 0,
        method,
        content_type: None,
        body: Vec::new(),
        fields,
        source: "183.177.132.57".parse().expect("address"),
        headers: Vec::new(),
    }
}

fn first<'a>(request: &'a InboundRequest, name: &str) -> Option<&'a str> {
    request.field(name).map(str::trim)
}

#[test]
fn ten_thousand_random_requests() {
    let configs = [
        config(&[]),
        config(&[("card_jb", "AUTH"), ("howpay", "on")]),
        config(&[("card_activate", "off"), ("conv_activate", "off")]),
    ];
    let mut rng = XorShift(0x5EED_2026_1127_0001);
    let mut payments = 0;
    for round in 0..10_000 {
        let request = random_request(&mut rng);
        let config = &configs[round % configs.len()];
        for endpoint in ["remise_card", "remise_conv", "remise_other"] {
            match remise::parse_notification(config, endpoint, &request) {
                Ok(notification) => {
                    assert!(is_link_key(&notification.link_key), "{request:?}");
                    assert!(request.method == "POST" && request.form_body, "{request:?}");
                    match &notification.signal {
                        Signal::PaymentSucceeded { amount, .. } => {
                            payments += 1;
                            assert_eq!(endpoint, "remise_card");
                            assert_eq!(first(&request, "X-ERRLEVEL"), Some("0"), "{request:?}");
                            assert!(
                                first(&request, "X-R_CODE").is_none_or(|code| code == R_CODE_OK),
                                "{request:?}"
                            );
                            assert!(first(&request, "X-ERRCODE").is_none_or(str::is_empty));
                            assert!(!notification.link_key.starts_with(CARD_UPDATE_PREFIX));
                            assert!(*amount >= 0);
                        }
                        Signal::PaymentReceived { .. } => {
                            payments += 1;
                            assert_eq!(endpoint, "remise_conv");
                            assert_eq!(first(&request, "REC_FLG"), Some("1"), "{request:?}");
                        }
                        Signal::PaymentIssued { .. } => {
                            assert_eq!(first(&request, "X-R_CODE"), Some(R_CODE_OK));
                        }
                        Signal::CardRegistered { .. } => {
                            assert!(notification.link_key.starts_with(CARD_UPDATE_PREFIX));
                        }
                        Signal::PaymentFailed { .. } | Signal::NotPaid { .. } => {}
                    }
                    assert!(notification.dedup_key.starts_with(endpoint));
                }
                Err(rejection) => {
                    assert!(rejection.link_key.as_deref().is_none_or(is_link_key));
                }
            }
            for answer in [
                Answer::Acknowledge,
                Answer::Unavailable,
                Answer::Refuse(Refusal::Malformed),
            ] {
                let response = remise::respond(endpoint, &request, &answer);
                assert!(
                    response.body.starts_with(b"<SDBKDATA>") || response.body.starts_with(b"error")
                );
            }
        }
        for settlement_type in ["acting_remise_card", "acting_remise_conv", "acting_other"] {
            for kind in [ReturnKind::Success, ReturnKind::Failure, ReturnKind::Cancel] {
                let browser_return = remise::parse_return(config, settlement_type, kind, &request);
                if let Some(notification) = browser_return.notification {
                    assert!(matches!(notification.signal, Signal::PaymentIssued { .. }));
                    assert_eq!(kind, ReturnKind::Success);
                }
                assert!(browser_return.link_key.as_deref().is_none_or(is_link_key));
            }
        }
    }
    // The generator must reach the success paths, or the invariants above check nothing.
    assert!(payments > 0, "no random request was a payment");
}
