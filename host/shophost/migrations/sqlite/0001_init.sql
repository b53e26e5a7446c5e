-- shophost schema, SQLite flavour. Times are Unix milliseconds (UTC); money is integer yen.
-- Idempotency lives here: unique link key, unique transaction id per module, unique dedup key,
-- one order per attempt.

CREATE TABLE module_settings (
    module_id   TEXT PRIMARY KEY NOT NULL,
    values_json TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('file', 'admin')),
    valid       BOOLEAN NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sku         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    price       INTEGER NOT NULL CHECK (price >= 0),
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE members (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    details_json  TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE member_cards (
    member_id  INTEGER NOT NULL REFERENCES members (id),
    module_id  TEXT NOT NULL,
    token      TEXT NOT NULL,
    last4      TEXT NOT NULL,
    expiry     TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, module_id)
);

CREATE TABLE payment_methods (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL,
    explanation     TEXT NOT NULL DEFAULT '',
    settlement_type TEXT NOT NULL,
    module          TEXT NOT NULL DEFAULT '',
    active          BOOLEAN NOT NULL,
    sort            INTEGER NOT NULL,
    CONSTRAINT payment_methods_name_key UNIQUE (name)
);

CREATE TABLE checkout_attempts (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    link_key            TEXT NOT NULL,
    kind                TEXT NOT NULL,
    module_id           TEXT NOT NULL,
    settlement_type     TEXT NOT NULL,
    payment_method_id   INTEGER REFERENCES payment_methods (id),
    payment_method_name TEXT NOT NULL,
    member_id           INTEGER REFERENCES members (id),
    snapshot_json       TEXT NOT NULL,
    total               INTEGER NOT NULL,
    state               TEXT NOT NULL,
    returned_at         INTEGER,
    attention           TEXT,
    order_id            INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    CONSTRAINT checkout_attempts_link_key_key UNIQUE (link_key)
);
CREATE INDEX checkout_attempts_open ON checkout_attempts (state, returned_at);

CREATE TABLE orders (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    order_number        TEXT NOT NULL UNIQUE,
    attempt_id          INTEGER NOT NULL UNIQUE REFERENCES checkout_attempts (id),
    link_key            TEXT NOT NULL UNIQUE,
    member_id           INTEGER REFERENCES members (id),
    customer_json       TEXT NOT NULL,
    lines_json          TEXT NOT NULL,
    total               INTEGER NOT NULL,
    payment_method_id   INTEGER REFERENCES payment_methods (id),
    payment_method_name TEXT NOT NULL,
    settlement_type     TEXT NOT NULL,
    settlement_label    TEXT NOT NULL,
    module_id           TEXT NOT NULL,
    payment_status      TEXT NOT NULL,
    transaction_id      TEXT,
    slip_json           TEXT,
    deadline            TEXT,
    attention           TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    CONSTRAINT orders_transaction_key UNIQUE (module_id, transaction_id)
);
CREATE INDEX orders_status_deadline ON orders (payment_status, deadline);

CREATE TABLE order_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    INTEGER NOT NULL REFERENCES orders (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX order_history_order ON order_history (order_id);

CREATE TABLE notification_journal (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    module_id       TEXT,
    endpoint        TEXT NOT NULL,
    method          TEXT NOT NULL,
    query           TEXT NOT NULL,
    content_type    TEXT,
    charset         TEXT NOT NULL,
    source          TEXT NOT NULL,
    headers_json    TEXT NOT NULL,
    body            BLOB NOT NULL,
    received_at     INTEGER NOT NULL,
    verdict         TEXT NOT NULL,
    reason          TEXT NOT NULL,
    link_key        TEXT,
    response_status INTEGER NOT NULL,
    response_body   BLOB NOT NULL,
    replay_of       INTEGER REFERENCES notification_journal (id)
);
CREATE INDEX notification_journal_link_key ON notification_journal (link_key);

CREATE TABLE payment_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key  TEXT NOT NULL,
    module_id  TEXT NOT NULL,
    link_key   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    order_id   INTEGER,
    journal_id INTEGER REFERENCES notification_journal (id),
    source     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    CONSTRAINT payment_events_dedup_key UNIQUE (dedup_key)
);
CREATE INDEX payment_events_link_key ON payment_events (link_key);

CREATE TABLE settlement_errors (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    module_id   TEXT NOT NULL,
    acting      TEXT NOT NULL,
    link_key    TEXT,
    result      TEXT NOT NULL,
    fields_json TEXT NOT NULL,
    journal_id  INTEGER REFERENCES notification_journal (id),
    at          INTEGER NOT NULL
);

