//! Member passwords: PBKDF2-HMAC-SHA256 with a random salt, compared in constant time.

use rand::rngs::OsRng;
use rand::RngCore;

const ITERATIONS: u32 = 60_000;

fn derive(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, iterations, &mut out);
    out
}

/// Hashes a password for storage: `pbkdf2-sha256$ITERATIONS$SALT$HASH`.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    format!(
        "pbkdf2-sha256${ITERATIONS}${}${}",
        hex::encode(salt),
        hex::encode(derive(password, &salt, ITERATIONS))
    )
}

/// Whether `password` matches a stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [scheme, iterations, salt, hash] = parts.as_slice() else {
        return false;
    };
    let (Some(salt), Some(hash), Ok(iterations)) = (
        hex::decode(salt).ok(),
        hex::decode(hash).ok(),
        iterations.parse::<u32>(),
    ) else {
        return false;
    };
    if *scheme != "pbkdf2-sha256" || hash.len() != 32 {
        return false;
    }
    let derived = derive(password, &salt, iterations);
    derived
        .iter()
        .zip(&hash)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let stored = hash_password("demo");
        assert!(verify_password("demo", &stored));
        assert!(!verify_password("Demo", &stored));
        assert!(!verify_password("demo", "garbage"));
        assert_ne!(hash_password("demo"), stored, "salted");
    }
}
