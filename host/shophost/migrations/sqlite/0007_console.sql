-- Operators of the console (/admin) and their sign-in sessions. Sessions live in the database so that
-- several host processes behind one load balancer share them; a session row holds the SHA-256 of the
-- cookie's token (a copy of the table does not sign anyone in) and the form token of its CSRF checks.
CREATE TABLE operators (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    login         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER
);
CREATE TABLE operator_sessions (
    token_hash  TEXT PRIMARY KEY,
    operator_id INTEGER NOT NULL REFERENCES operators (id),
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    touched_at  INTEGER NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);
CREATE INDEX operator_sessions_touched ON operator_sessions (touched_at);
