//! Operators of the console and their sign-in sessions, as stored.

use serde::Serialize;

/// A console operator (運営者).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    /// Id.
    pub id: i64,
    /// The sign-in name.
    pub login: String,
    /// Disabled operators cannot sign in, and their sessions end.
    pub disabled: bool,
    /// When the account was made (epoch ms).
    pub created_at: i64,
    /// The last successful sign-in (epoch ms).
    pub last_login_at: Option<i64>,
}

/// A signed-in operator's session, as stored: the cookie carries a token whose SHA-256 is the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSession {
    /// SHA-256 of the cookie's token, in hex.
    pub token_hash: String,
    /// Who signed in.
    pub operator_id: i64,
    /// The token every form of this session carries (CSRF).
    pub csrf_token: String,
    /// When the operator signed in (epoch ms): the absolute lifetime counts from here.
    pub created_at: i64,
    /// The last request seen (epoch ms): the idle lifetime counts from here.
    pub touched_at: i64,
}
