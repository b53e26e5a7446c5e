//! What every signed gateway writes: HMAC-SHA256 over the exact bytes received, compared in constant
//! time, and the hex text signatures travel in.
//!
//! Verify before decoding anything: a module that parses a body before checking its signature reads
//! whatever an attacker sends. [`verify_hmac_sha256_hex`] compares with `Mac::verify_slice`, in constant
//! time, because a byte-by-byte compare that stops at the first difference tells an attacker how much of
//! a forged signature is right.
//!
//! ```
//! use shophost_module_api::signature::{hmac_sha256_hex, verify_hmac_sha256_hex};
//!
//! // RFC 4231, test case 2.
//! let mac = hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?");
//! assert_eq!(mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
//! assert!(verify_hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?", &mac.to_uppercase()));
//! assert!(!verify_hmac_sha256_hex(b"Jefe", b"what do ya want for nothing!", &mac));
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The length of an HMAC-SHA256 in bytes.
pub const HMAC_SHA256_LEN: usize = 32;

fn mac(key: &[u8], message: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed first), so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac
}

/// The HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; HMAC_SHA256_LEN] {
    mac(key, message).finalize().into_bytes().into()
}

/// The HMAC-SHA256 of `message` under `key`, as lower-case hex.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    hex(&hmac_sha256(key, message))
}

/// Whether `signature` is the HMAC-SHA256 of `message` under `key`, compared in constant time.
pub fn verify_hmac_sha256(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    mac(key, message).verify_slice(signature).is_ok()
}

/// Whether `signature` (hex, either case, surrounding white space ignored) is the HMAC-SHA256 of
/// `message` under `key`, compared in constant time. Anything that is not 64 hex digits is no
/// signature and does not verify.
pub fn verify_hmac_sha256_hex(key: &[u8], message: &[u8], signature: &str) -> bool {
    let signature = signature.trim();
    // Checking the length first also bounds the work a sender can cause.
    if signature.len() != HMAC_SHA256_LEN * 2 {
        return false;
    }
    match unhex(signature) {
        Some(bytes) => verify_hmac_sha256(key, message, &bytes),
        None => false,
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    text
}

/// The bytes of hex `text` (either case), or `None` when it has an odd length or a non-hex character.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
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
        let message = b"what do ya want for nothing?";
        let mac = hmac_sha256_hex(b"Jefe", message);
        assert!(verify_hmac_sha256_hex(b"Jefe", message, &mac));
        assert!(verify_hmac_sha256_hex(
            b"Jefe",
            message,
            &format!(" {mac}\n")
        ));
        assert!(!verify_hmac_sha256_hex(b"jefe", message, &mac));
        assert!(!verify_hmac_sha256_hex(b"Jefe", message, &mac[..62]));
        assert!(!verify_hmac_sha256_hex(
            b"Jefe",
            message,
            &format!("{}zz", &mac[..62])
        ));
        assert!(!verify_hmac_sha256_hex(b"Jefe", message, ""));
        assert!(verify_hmac_sha256(
            b"Jefe",
            message,
            &hmac_sha256(b"Jefe", message)
        ));
    }

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
        assert_eq!(unhex("0001ABff"), Some(vec![0, 1, 0xab, 0xff]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("é1"), None);
        assert_eq!(unhex(""), Some(Vec::new()));
    }
}
