//! Acme's signatures: HMAC-SHA256 with the merchant's secret key, hex-encoded.
//!
//! Notifications are signed over the raw body bytes (header `X-Acme-Signature`), so the module verifies
//! before it decodes anything. Redirect forms are signed over their fields in order, one `name=value`
//! line each, so the payment page can tell a tampered amount. Verification compares in constant time
//! (`Mac::verify_slice`): a byte-by-byte compare that stops early would tell an attacker how much of a
//! forged signature is right.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header Acme signs notifications in (lower case, as the host hands headers over).
pub const SIGNATURE_HEADER: &str = "x-acme-signature";

/// The hex HMAC-SHA256 of `message` under `key`.
pub fn sign(key: &str, message: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC accepts any key length");
    mac.update(message);
    hex(&mac.finalize().into_bytes())
}

/// Whether `signature` (hex, either case) is the HMAC-SHA256 of `message` under `key`, compared in
/// constant time.
pub fn verify(key: &str, message: &[u8], signature: &str) -> bool {
    let Some(bytes) = unhex(signature.trim()) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC accepts any key length");
    mac.update(message);
    mac.verify_slice(&bytes).is_ok()
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

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    text
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    // A SHA-256 MAC is 32 bytes; anything else is not a signature, and capping it bounds the work.
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
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
}
