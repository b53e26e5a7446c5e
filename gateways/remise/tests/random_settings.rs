//! The settings validator over 20,000 pseudo-random settings sets: no panic, every error names a field
//! (or the unknown key it is about), and nothing the schema's generic checks reject is ever accepted.
//! Half the sets are random keys and values; the other half are a working set (both payment kinds on)
//! with a few random changes, so that sets the validator accepts with payments on are reached too.
//!
//! The stable-toolchain companion of the `settings` fuzz target.

use remise::RemiseModule;
use shophost_module_api::{SettingsValues, TypedModule};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const KEYS: &[&str] = &[
    "SHOPCO",
    "HOSTID",
    "card_activate",
    "card_jb",
    "payquick",
    "howpay",
    "card_pc_ope",
    "send_url_pc",
    "send_url_pc_test",
    "conv_activate",
    "S_PAYDATE",
    "conv_pc_ope",
    "send_url_cvs_pc",
    "send_url_cvs_pc_test",
    "continuation",
    "notify_sources_test",
    "notify_sources_public",
    "unknown",
    "",
];

const VALUES: &[&str] = &[
    "",
    "on",
    "off",
    "AUTH",
    "CAPTURE",
    "CHECK",
    "test",
    "public",
    "TESTSHOP",
    "12345678",
    "123456789",
    "ABC-1",
    "14",
    "1",
    "31",
    "０１",
    "https://example.jp/pay",
    "ftp://x",
    "http://",
    "127.0.0.1/32",
    "10.0.0.0/99",
    "::1 3.114.65.232",
    "加盟店",
    "\u{0}",
    "99999999999999999999999",
];

/// Settings that turn on card and multi-payment in the test environment, all valid.
const WORKING: &[(&str, &str)] = &[
    ("SHOPCO", "TESTSHOP"),
    ("HOSTID", "12345678"),
    ("card_activate", "on"),
    ("card_jb", "CAPTURE"),
    ("payquick", "on"),
    ("howpay", "on"),
    ("card_pc_ope", "test"),
    ("send_url_pc_test", "https://example.jp/pay"),
    ("conv_activate", "on"),
    ("S_PAYDATE", "14"),
    ("conv_pc_ope", "test"),
    ("send_url_cvs_pc_test", "https://example.jp/pay"),
    ("notify_sources_test", "127.0.0.1/32"),
];

fn working() -> SettingsValues {
    WORKING
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn the_working_settings_provide_both_payment_kinds() {
    let config = RemiseModule.validate(&working()).expect("valid");
    assert_eq!(RemiseModule.settlement_types(&config).len(), 2);
}

#[test]
fn random_settings_never_panic_and_errors_name_fields() {
    let schema = RemiseModule.settings_schema();
    let mut rng = XorShift(0x005e_ed0f_5e77_1265);
    // Sets accepted with at least one payment kind on, and working sets a change made invalid.
    let (mut accepted_with_payments, mut broken_working_sets) = (0, 0);
    for round in 0..20_000 {
        let from_working = round % 2 == 1;
        let mut values = if from_working {
            working()
        } else {
            SettingsValues::new()
        };
        let changes = if from_working {
            1 + rng.next() % 3
        } else {
            rng.next() % 12
        };
        for _ in 0..changes {
            let key = rng.pick(KEYS).to_owned();
            if from_working && rng.next() % 4 == 0 {
                values.remove(&key);
            } else {
                values.insert(key, rng.pick(VALUES).to_owned());
            }
        }
        let with_defaults = schema.with_defaults(&values);
        let generic = schema.check(&with_defaults);
        match RemiseModule.validate(&with_defaults) {
            Ok(config) => {
                assert!(
                    generic.is_empty(),
                    "accepted {values:?} although {generic:?}"
                );
                if !RemiseModule.settlement_types(&config).is_empty() {
                    accepted_with_payments += 1;
                }
            }
            Err(errors) => {
                assert!(!errors.is_empty());
                broken_working_sets += usize::from(from_working);
                for error in &errors {
                    assert!(
                        schema.field(&error.key).is_some() || values.contains_key(&error.key),
                        "error about a key that is neither a field nor given: {error:?}"
                    );
                    assert!(!error.message.is_empty());
                }
            }
        }
    }
    // The generator must reach both branches with payments on, or the invariants above check only
    // switched-off settings.
    assert!(
        accepted_with_payments > 0,
        "no random set was accepted with a payment kind on"
    );
    assert!(
        broken_working_sets > 0,
        "no change made a working set invalid"
    );
    eprintln!(
        "accepted with payments on: {accepted_with_payments}; working sets made invalid: {broken_working_sets}"
    );
}
