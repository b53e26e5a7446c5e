-- Notifications refused for their source address. They are not journaled one by one (anyone can send
-- them); within a budget their requests are kept here, so that an operator who had `trusted_proxies`
-- or the gateway's addresses wrong can replay them after fixing it. `size` is what a row counts
-- against the budget; `link_key` is what the module could read from the body (nothing was applied).
CREATE TABLE refused_requests (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    module_id         TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    method            TEXT NOT NULL,
    query             TEXT NOT NULL,
    content_type      TEXT,
    peer              TEXT NOT NULL,
    source            TEXT NOT NULL,
    headers_json      TEXT NOT NULL,
    body              BYTEA NOT NULL,
    size              BIGINT NOT NULL,
    received_at       BIGINT NOT NULL,
    link_key          TEXT,
    replayed_at       BIGINT,
    replay_journal_id BIGINT REFERENCES notification_journal (id)
);
CREATE INDEX refused_requests_link_key ON refused_requests (link_key);
CREATE INDEX refused_requests_received ON refused_requests (received_at);

-- A replay of a refused request is journaled with the request's id and the operator's confirmation.
-- No foreign key: refused requests are purged after their retention, the journal entry stays.
ALTER TABLE notification_journal ADD COLUMN replay_of_refused BIGINT;
ALTER TABLE notification_journal ADD COLUMN replay_note TEXT;
-- When retention emptied the entry's body (the rest of the entry stays).
ALTER TABLE notification_journal ADD COLUMN body_purged_at BIGINT;

-- What the retention jobs look for, oldest first.
CREATE INDEX notification_journal_body_kept ON notification_journal (received_at)
    WHERE body_purged_at IS NULL;
CREATE INDEX settlement_errors_at ON settlement_errors (at);
CREATE INDEX checkout_attempts_without_order ON checkout_attempts (created_at)
    WHERE order_id IS NULL;
