-- What the console's dashboard (ダッシュボード) reads for its 30-day pictures, each by an index on time.

-- When the shop decided its answer to a notification (Unix milliseconds; the answer is sent once the
-- entry is committed): with received_at, the acknowledgement latency. NULL for entries written before.
ALTER TABLE notification_journal ADD COLUMN answered_at INTEGER;
-- The kind of a rejected entry's refusal (malformed, unknown_link_key, mismatch, wrong_state,
-- source_not_allowed), whose reason is free text naming the request. NULL otherwise and before.
ALTER TABLE notification_journal ADD COLUMN refusal TEXT;

-- The existing index on received_at leaves out entries whose body retention emptied.
CREATE INDEX notification_journal_received ON notification_journal (received_at);
CREATE INDEX orders_created ON orders (created_at);
CREATE INDEX payment_events_at ON payment_events (at);
