//! Members: logging in with an e-mail and a password, for the storefront and the checkout API alike.
//!
//! Passwords are Argon2id in PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$…`, the OWASP
//! minimum), with hashes made by earlier versions (PBKDF2-HMAC-SHA256, 60,000 iterations) still
//! verified and replaced by Argon2id at the next successful login.
//!
//! Hashing and verifying take tens of milliseconds of CPU on purpose: callers run them on a blocking
//! thread, never on the async workers. An unknown e-mail address costs the same work
//! ([`verify_unknown`]), so the time of a failed login does not tell whether the address is a member.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::rngs::OsRng;
use rand::RngCore;

use crate::db::DbError;
use crate::domain::Member;
use crate::AppState;

/// The scheme prefix of hashes made before Argon2id.
const LEGACY_SCHEME: &str = "pbkdf2-sha256";

/// Hashes a password for storage as an Argon2id PHC string.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("the default Argon2id parameters hash any password")
        .to_string()
}

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// The password matches; `rehash` is the hash to store instead when the stored one is of an
    /// older scheme.
    Yes {
        /// The Argon2id hash replacing a legacy one.
        rehash: Option<String>,
    },
    /// It does not match (or the stored hash is unreadable).
    No,
}

/// Checks `password` against a stored hash of either scheme.
pub fn verify_password(password: &str, stored: &str) -> Verified {
    if stored.starts_with(LEGACY_SCHEME) {
        return if verify_legacy(password, stored) {
            Verified::Yes {
                rehash: Some(hash_password(password)),
            }
        } else {
            Verified::No
        };
    }
    match PasswordHash::new(stored) {
        Ok(parsed)
            if Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok() =>
        {
            Verified::Yes { rehash: None }
        }
        _ => Verified::No,
    }
}

/// The work of a verification for an e-mail address that is not a member's, so that a failed login
/// takes as long whether or not the address exists. Always [`Verified::No`].
pub fn verify_unknown(password: &str) -> Verified {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("no member has this password"));
    let _ = verify_password(password, dummy);
    Verified::No
}

/// `pbkdf2-sha256$ITERATIONS$SALT$HASH` (hex), compared in constant time.
fn verify_legacy(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [scheme, iterations, salt, hash] = parts.as_slice() else {
        return false;
    };
    let (Ok(salt), Ok(hash), Ok(iterations)) = (
        hex::decode(salt),
        hex::decode(hash),
        iterations.parse::<u32>(),
    ) else {
        return false;
    };
    if *scheme != LEGACY_SCHEME || hash.len() != 32 || iterations == 0 {
        return false;
    }
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, iterations, &mut derived);
    derived
        .iter()
        .zip(&hash)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// What a login came to.
#[derive(Debug, Clone)]
pub enum Login {
    /// The e-mail and password are a member's.
    Member(Box<Member>),
    /// Either is wrong (which one is not said).
    Wrong,
    /// This client or account failed too often lately; try again after this long.
    Throttled(std::time::Duration),
}

impl Login {
    /// The message for a login that did not succeed, in the shop's Japanese.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Login::Member(_) => None,
            Login::Wrong => Some("メールアドレスまたはパスワードが違います".to_owned()),
            Login::Throttled(wait) => Some(format!(
                "ログインの失敗が続いたため、しばらく受け付けを止めています。約{}分後にもう一度お試しください",
                wait.as_secs().div_ceil(60).max(1)
            )),
        }
    }
}

/// Checks a member's e-mail and password for a login from `client`. Throttled per client address and
/// per account ([`crate::throttle`]); the hash is checked on a blocking thread, and an unknown e-mail
/// costs the same work as a known one.
pub async fn authenticate(
    state: &AppState,
    client: std::net::IpAddr,
    email: &str,
    password: &str,
) -> Result<Login, DbError> {
    let now = std::time::Instant::now();
    if let Err(wait) = state.logins.check(client, email, now) {
        tracing::warn!(%client, "login refused: too many failures lately");
        return Ok(Login::Throttled(wait));
    }
    let found = state.store.member_by_email(email.trim()).await?;
    let password = password.to_owned();
    let (member, stored) = match found {
        Some((member, stored)) => (Some(member), Some(stored)),
        None => (None, None),
    };
    let verified = tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify_password(&password, &stored),
        None => verify_unknown(&password),
    })
    .await
    .map_err(|error| DbError::Unavailable(format!("password check failed: {error}")))?;
    match (verified, member) {
        (Verified::Yes { rehash }, Some(member)) => {
            state.logins.succeeded(email);
            if let Some(hash) = rehash {
                // An older scheme's hash: store the Argon2id one now that the password is known.
                state.store.set_member_password(member.id, &hash).await?;
            }
            Ok(Login::Member(Box::new(member)))
        }
        _ => {
            state.logins.failed(client, email, now);
            Ok(Login::Wrong)
        }
    }
}

/// Forgets the card `module_id` keeps for member `member_id` (ペイクイックを解除する): the member's
/// next payment asks for a card again. The admin API and the console call this. `false` when no card
/// was kept. The gateway keeps its copy until it expires, but no form names it again.
pub async fn release_card(
    state: &AppState,
    member_id: i64,
    module_id: &str,
) -> Result<bool, DbError> {
    let released = state.store.delete_member_card(member_id, module_id).await?;
    if released {
        tracing::info!(
            member = member_id,
            module = module_id,
            "member card released"
        );
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let stored = hash_password("demo");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            verify_password("demo", &stored),
            Verified::Yes { rehash: None }
        );
        assert_eq!(verify_password("Demo", &stored), Verified::No);
        assert_eq!(verify_password("demo", "garbage"), Verified::No);
        assert_ne!(hash_password("demo"), stored, "salted");
        assert_eq!(verify_unknown("demo"), Verified::No);
    }

    #[test]
    fn legacy_hashes_verify_and_are_replaced_by_argon2id() {
        // A hash as the previous version stored it: PBKDF2-HMAC-SHA256, 60,000 iterations.
        let salt = [7u8; 16];
        let mut derived = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"demo", &salt, 60_000, &mut derived);
        let legacy = format!(
            "pbkdf2-sha256$60000${}${}",
            hex::encode(salt),
            hex::encode(derived)
        );
        let Verified::Yes {
            rehash: Some(rehash),
        } = verify_password("demo", &legacy)
        else {
            panic!("the legacy hash of `demo` must verify and ask to be replaced");
        };
        assert!(rehash.starts_with("$argon2id$"));
        assert_eq!(
            verify_password("demo", &rehash),
            Verified::Yes { rehash: None }
        );
        assert_eq!(verify_password("wrong", &legacy), Verified::No);
        assert_eq!(
            verify_password("demo", "pbkdf2-sha256$0$00$00"),
            Verified::No
        );
    }
}
