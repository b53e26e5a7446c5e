//! The settings validator over 20,000 pseudo-random settings sets: no panic, every error names a field
//! (or the unknown key it is about), and nothing the schema's generic checks reject is ever accepted.
//!
//! The stable-toolchain companion of the `settings` fuzz target.

use remise::RemiseModule;
use shophost_module_api::{PaymentModule, SettingsValues};

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

#[test]
fn random_settings_never_panic_and_errors_name_fields() {
    let schema = RemiseModule.settings_schema();
    let mut rng = XorShift(0x005e_ed0f_5e77_1265);
    for _ in 0..20_000 {
        let mut values = SettingsValues::new();
        for _ in 0..(rng.next() % 12) {
            values.insert(rng.pick(KEYS).to_owned(), rng.pick(VALUES).to_owned());
        }
        let with_defaults = schema.with_defaults(&values);
        let generic = schema.check(&with_defaults);
        match RemiseModule.validate(&with_defaults) {
            Ok(config) => {
                assert!(
                    generic.is_empty(),
                    "accepted {values:?} although {generic:?}"
                );
                let _ = RemiseModule.settlement_types(&config);
            }
            Err(errors) => {
                assert!(!errors.is_empty());
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
}
