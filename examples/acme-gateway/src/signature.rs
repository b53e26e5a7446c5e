//! What Acme signs: notifications over the raw body bytes (header `X-Acme-Signature`), and redirect
//! forms over their fields in order, one `name=value` line each, so the payment page can tell a
//! tampered amount. Both with HMAC-SHA256 under the merchant's secret key, hex-encoded, through the
//! module API's helpers ([`shophost_module_api::signature`]), which verify in constant time.

use shophost_module_api::signature::{hmac_sha256_hex, verify_hmac_sha256_hex};

/// The header Acme signs notifications in (lower case, as the host hands headers over).
pub const SIGNATURE_HEADER: &str = "x-acme-signature";

/// The hex HMAC-SHA256 of `message` under `key`.
pub fn sign(key: &str, message: &[u8]) -> String {
    hmac_sha256_hex(key.as_bytes(), message)
}

/// Whether `signature` (hex, either case) is the HMAC-SHA256 of `message` under `key`, compared in
/// constant time.
pub fn verify(key: &str, message: &[u8], signature: &str) -> bool {
    verify_hmac_sha256_hex(key.as_bytes(), message, signature)
}

/// The text a redirect form's signature covers: `name=value\n` for each field, in order.
pub fn form_message<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut message = Vec::new();
    for (name, value) in fields {
        message.extend_from_slice(name.as_bytes());
        message.push(b'=');
        message.extend_from_slice(value.as_bytes());
        message.push(b'\n');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_forgeries_do_not() {
        // RFC 4231 test case 2.
        let mac = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            mac,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify("Jefe", b"what do ya want for nothing?", &mac));
        assert!(verify(
            "Jefe",
            b"what do ya want for nothing?",
            &mac.to_uppercase()
        ));
        assert!(!verify("Jefe", b"what do ya want for nothing!", &mac));
        assert!(!verify("jefe", b"what do ya want for nothing?", &mac));
        assert!(!verify("Jefe", b"what do ya want for nothing?", &mac[..62]));
        assert!(!verify("Jefe", b"what do ya want for nothing?", "zz"));
    }

    #[test]
    fn forms_sign_one_line_per_field() {
        assert_eq!(
            form_message([("amount", "1980"), ("order_id", "1")]),
            b"amount=1980\norder_id=1\n"
        );
    }
}
