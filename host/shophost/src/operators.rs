//! Console operators (運営者): accounts, signing in and the sessions that follow.
//!
//! Passwords are Argon2id, hashed and checked on a blocking thread (the work of [`crate::members`]);
//! an unknown or disabled login costs the same work as a known one, and failures are throttled per
//! login and per client address ([`crate::throttle`]). A session is a random token in the
//! `shophost_admin` cookie (path `/admin`, HttpOnly, SameSite=Strict); the database keeps only its
//! SHA-256, so a copy of the table signs no one in, with the token every form of the session must
//! carry (CSRF). Sessions live in the database, so several hosts behind one load balancer share them.
//! A session ends after [`SESSION_IDLE`] without a request, and [`SESSION_ABSOLUTE`] after the
//! sign-in whatever happens; disabling an operator ends theirs at once.

use std::net::IpAddr;
use std::time::Duration;

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::{DbError, Store};
use crate::domain::{now_millis, Operator, OperatorSession};
use crate::members::{hash_password, verify_password, verify_unknown, Verified};
use crate::AppState;

/// A session without a request this long is over.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// A session is over this long after the sign-in, however busy.
pub const SESSION_ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);
/// A session's last request is written down at most this often (not on every page).
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The shortest password an operator may have.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Why an operator account could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The login or password breaks a rule; the message says which, in Japanese.
    #[error("{0}")]
    Invalid(String),
    /// The login is taken.
    #[error("ログイン名「{0}」はすでに使われています")]
    Taken(String),
    /// No such operator.
    #[error("ログイン名「{0}」の運営者はいません")]
    Unknown(String),
    /// Storage failed.
    #[error(transparent)]
    Db(DbError),
}

/// The rules of a login name: 3–64 characters of letters, digits and `. _ - @`.
pub fn check_login(login: &str) -> Result<(), String> {
    let chars = login.chars().count();
    if !(3..=64).contains(&chars) {
        return Err("ログイン名は3〜64文字で入力してください".to_owned());
    }
    if !login
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err("ログイン名に使えるのは半角英数字と . _ - @ です".to_owned());
    }
    Ok(())
}

/// The rules of a password: at least [`MIN_PASSWORD_CHARS`] characters.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "パスワードは{MIN_PASSWORD_CHARS}文字以上で入力してください"
        ));
    }
    Ok(())
}

async fn hash(password: &str) -> Result<String, DbError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|error| DbError::Unavailable(format!("password hashing failed: {error}")))
}

/// Makes an operator account (the CLI's `admin create-user`, the console's 運営者 page).
pub async fn create(
    store: &dyn Store,
    login: &str,
    password: &str,
) -> Result<Operator, AccountError> {
    let login = login.trim();
    check_login(login).map_err(AccountError::Invalid)?;
    check_password(password).map_err(AccountError::Invalid)?;
    let hashed = hash(password).await.map_err(AccountError::Db)?;
    match store.create_operator(login, &hashed, now_millis()).await {
        Ok(operator) => Ok(operator),
        Err(DbError::Conflict("operators_login_key")) => Err(AccountError::Taken(login.to_owned())),
        Err(other) => Err(AccountError::Db(other)),
    }
}

/// Disables or enables an operator; disabling ends their sessions.
pub async fn set_disabled(
    store: &dyn Store,
    login: &str,
    disabled: bool,
) -> Result<Operator, AccountError> {
    match store.set_operator_disabled(login, disabled).await {
        Ok(operator) => Ok(operator),
        Err(DbError::NotFound) => Err(AccountError::Unknown(login.to_owned())),
        Err(other) => Err(AccountError::Db(other)),
    }
}

/// Sets an operator's password (the demo's operator gets a new one at every start).
pub async fn set_password(
    store: &dyn Store,
    login: &str,
    password: &str,
) -> Result<Operator, AccountError> {
    check_password(password).map_err(AccountError::Invalid)?;
    let Some((operator, _)) = store
        .operator_by_login(login)
        .await
        .map_err(AccountError::Db)?
    else {
        return Err(AccountError::Unknown(login.to_owned()));
    };
    let hashed = hash(password).await.map_err(AccountError::Db)?;
    store
        .set_operator_password(operator.id, &hashed)
        .await
        .map_err(AccountError::Db)?;
    Ok(operator)
}

/// A random token: 32 bytes in hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the database keeps of a session token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What a sign-in came to.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// Signed in: the cookie's token and the session.
    Operator {
        /// Who.
        operator: Operator,
        /// The cookie's value.
        token: String,
        /// The session as stored.
        session: OperatorSession,
    },
    /// Wrong login or password, or a disabled operator (which one is not said).
    Wrong,
    /// Too many failures lately from this client or for this login.
    Throttled(Duration),
}

impl SignIn {
    /// The message for a sign-in that did not succeed.
    pub fn refusal(&self) -> Option<String> {
        match self {
            SignIn::Operator { .. } => None,
            SignIn::Wrong => Some("ログイン名またはパスワードが違います".to_owned()),
            SignIn::Throttled(wait) => Some(format!(
                "ログインの失敗が続いたため、しばらく受け付けを止めています。約{}分後にもう一度お試しください",
                wait.as_secs().div_ceil(60).max(1)
            )),
        }
    }
}

/// Checks a login and password from `client` and starts a session when they are an enabled
/// operator's.
pub async fn sign_in(
    state: &AppState,
    client: IpAddr,
    login: &str,
    password: &str,
) -> Result<SignIn, DbError> {
    let login = login.trim();
    // The throttle counts operators apart from members of the same name.
    let key = format!("operator:{login}");
    let now = std::time::Instant::now();
    if let Err(wait) = state.logins.check(client, &key, now) {
        tracing::warn!(%client, "console sign-in refused: too many failures lately");
        return Ok(SignIn::Throttled(wait));
    }
    let found = state.store.operator_by_login(login).await?;
    let (operator, stored) = match found {
        Some((operator, stored)) if !operator.disabled => (Some(operator), Some(stored)),
        _ => (None, None),
    };
    let password = password.to_owned();
    let verified = tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify_password(&password, &stored),
        None => verify_unknown(&password),
    })
    .await
    .map_err(|error| DbError::Unavailable(format!("password check failed: {error}")))?;
    let (Verified::Yes { rehash }, Some(operator)) = (verified, operator) else {
        state.logins.failed(client, &key, now);
        tracing::warn!(%client, login, "console sign-in failed");
        return Ok(SignIn::Wrong);
    };
    state.logins.succeeded(&key);
    if let Some(hash) = rehash {
        state
            .store
            .set_operator_password(operator.id, &hash)
            .await?;
    }
    let token = random_token();
    let at = now_millis();
    let session = OperatorSession {
        token_hash: token_hash(&token),
        operator_id: operator.id,
        csrf_token: random_token(),
        created_at: at,
        touched_at: at,
    };
    state.store.create_operator_session(&session).await?;
    tracing::info!(login = %operator.login, %client, "console sign-in");
    Ok(SignIn::Operator {
        operator,
        token,
        session,
    })
}

/// Whether a session is still alive at `now` (epoch ms).
pub fn alive(session: &OperatorSession, now: i64) -> bool {
    now - session.touched_at < SESSION_IDLE.as_millis() as i64
        && now - session.created_at < SESSION_ABSOLUTE.as_millis() as i64
}

/// The live session a cookie's token names, with its operator; ends one that is over.
pub async fn session(
    store: &dyn Store,
    token: &str,
) -> Result<Option<(OperatorSession, Operator)>, DbError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hash = token_hash(token);
    let Some((session, operator)) = store.operator_session(&hash).await? else {
        return Ok(None);
    };
    let now = now_millis();
    if operator.disabled || !alive(&session, now) {
        store.delete_operator_session(&hash).await?;
        return Ok(None);
    }
    if now - session.touched_at >= TOUCH_EVERY.as_millis() as i64 {
        store.touch_operator_session(&hash, now).await?;
    }
    Ok(Some((session, operator)))
}

/// Ends a session.
pub async fn sign_out(store: &dyn Store, token: &str) -> Result<(), DbError> {
    store.delete_operator_session(&token_hash(token)).await
}

/// Forgets every session that is over (the scheduled jobs).
pub async fn sweep(store: &dyn Store, now: i64) -> Result<u64, DbError> {
    store
        .sweep_operator_sessions(
            now - SESSION_IDLE.as_millis() as i64,
            now - SESSION_ABSOLUTE.as_millis() as i64,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_and_passwords_follow_their_rules() {
        assert!(check_login("shop-owner@example").is_ok());
        assert!(check_login("ab").is_err());
        assert!(check_login("店長").is_err());
        assert!(check_login("a b c").is_err());
        assert!(check_password("0123456789").is_ok());
        assert!(check_password("012345678").is_err());
    }

    #[test]
    fn sessions_end_when_idle_or_old() {
        let at = 1_000_000_000_000;
        let session = OperatorSession {
            token_hash: token_hash("x"),
            operator_id: 1,
            csrf_token: "c".into(),
            created_at: at,
            touched_at: at,
        };
        let idle = SESSION_IDLE.as_millis() as i64;
        assert!(alive(&session, at + idle - 1));
        assert!(!alive(&session, at + idle));
        let busy = OperatorSession {
            touched_at: at + SESSION_ABSOLUTE.as_millis() as i64 - 1000,
            ..session.clone()
        };
        assert!(alive(&busy, busy.touched_at + 500));
        assert!(!alive(&busy, at + SESSION_ABSOLUTE.as_millis() as i64));
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
