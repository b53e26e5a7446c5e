-- shophost schema, PostgreSQL flavour. Times are Unix milliseconds (UTC); money is integer yen.
-- Idempotency lives here: unique link key, unique transaction id per module, unique dedup key,
-- one order per attempt.

CREATE TABLE module_settings (
    module_id   TEXT PRIMARY KEY NOT NULL,
    values_json TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('file', 'admin')),
    valid       BOOLEAN NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE products (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    price       BIGINT NOT NULL CHECK (price >= 0),
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE members (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    details_json  TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE member_cards (
    member_id  BIGINT NOT NULL REFERENCES members (id),
    module_id  TEXT NOT NULL,
    token      TEXT NOT NULL,
    last4      TEXT NOT NULL,
    expiry     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, module_id)
);

CREATE TABLE payment_methods (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT NOT NULL,
    explanation     TEXT NOT NULL DEFAULT '',
    settlement_type TEXT NOT NULL,
    module          TEXT NOT NULL DEFAULT '',
    active          BOOLEAN NOT NULL,
    sort            BIGINT NOT NULL,
    CONSTRAINT payment_methods_name_key UNIQUE (name)
);

CREATE TABLE checkout_attempts (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    link_key            TEXT NOT NULL,
    kind                TEXT NOT NULL,
    module_id           TEXT NOT NULL,
    settlement_type     TEXT NOT NULL,
    payment_method_id   BIGINT REFERENCES payment_methods (id),
    payment_method_name TEXT NOT NULL,
    member_id           BIGINT REFERENCES members (id),
    snapshot_json       TEXT NOT NULL,
    total               BIGINT NOT NULL,
    state               TEXT NOT NULL,
    returned_at         BIGINT,
    attention           TEXT,
    order_id            BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CONSTRAINT checkout_attempts_link_key_key UNIQUE (link_key)
);
CREATE INDEX checkout_attempts_open ON checkout_attempts (state, returned_at);

CREATE TABLE orders (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_number        TEXT NOT NULL UNIQUE,
    attempt_id          BIGINT NOT NULL UNIQUE REFERENCES checkout_attempts (id),
    link_key            TEXT NOT NULL UNIQUE,
    member_id           BIGINT REFERENCES members (id),
    customer_json       TEXT NOT NULL,
    lines_json          TEXT NOT NULL,
    total               BIGINT NOT NULL,
    payment_method_id   BIGINT REFERENCES payment_methods (id),
    payment_method_name TEXT NOT NULL,
    settlement_type     TEXT NOT NULL,
    settlement_label    TEXT NOT NULL,
    module_id           TEXT NOT NULL,
    payment_status      TEXT NOT NULL,
    transaction_id      TEXT,
    slip_json           TEXT,
    deadline            TEXT,
    attention           TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CONSTRAINT orders_transaction_key UNIQUE (module_id, transaction_id)
);
CREATE INDEX orders_status_deadline ON orders (payment_status, deadline);

CREATE TABLE order_history (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    BIGINT NOT NULL REFERENCES orders (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX order_history_order ON order_history (order_id);

CREATE TABLE notification_journal (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    module_id       TEXT,
    endpoint        TEXT NOT NULL,
    method          TEXT NOT NULL,
    query           TEXT NOT NULL,
    content_type    TEXT,
    charset         TEXT NOT NULL,
    source          TEXT NOT NULL,
    headers_json    TEXT NOT NULL,
    body            BYTEA NOT NULL,
    received_at     BIGINT NOT NULL,
    verdict         TEXT NOT NULL,
    reason          TEXT NOT NULL,
    link_key        TEXT,
    response_status BIGINT NOT NULL,
    response_body   BYTEA NOT NULL,
    replay_of       BIGINT REFERENCES notification_journal (id)
);
CREATE INDEX notification_journal_link_key ON notification_journal (link_key);

CREATE TABLE payment_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key  TEXT NOT NULL,
    module_id  TEXT NOT NULL,
    link_key   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    order_id   BIGINT,
    journal_id BIGINT REFERENCES notification_journal (id),
    source     TEXT NOT NULL,
    at         BIGINT NOT NULL,
    CONSTRAINT payment_events_dedup_key UNIQUE (dedup_key)
);
CREATE INDEX payment_events_link_key ON payment_events (link_key);

CREATE TABLE settlement_errors (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    module_id   TEXT NOT NULL,
    acting      TEXT NOT NULL,
    link_key    TEXT,
    result      TEXT NOT NULL,
    fields_json TEXT NOT NULL,
    journal_id  BIGINT REFERENCES notification_journal (id),
    at          BIGINT NOT NULL
);

