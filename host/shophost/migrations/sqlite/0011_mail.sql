-- Mail (注文確認メール, 入金確認メール, 継続課金の登録, the shop's notices): a transactional outbox.
--
-- A mail row is written by a trigger in the same transaction as the row that causes it: an order
-- created, an unpaid order paid, a recurring contract registered, a 決済エラーログ line. So a mail exists
-- exactly when its cause was committed (a duplicate notification changes nothing, so it makes no
-- mail), and the hot path's writers (the SQLite rounds, the PostgreSQL statements) stay as they were.
-- The message is rendered from the committed rows when a delivery worker first claims the row, and
-- stored (`message`), so a resend is byte-identical. `(kind, subject_id)` is the mail's cause: one
-- mail per kind and order (contract, error line); a test mail has none.
--
-- status: held (an order registered from the 決済直前ログ: sent only when the operator presses the
-- button), pending (待機中), retry (再送待ち), sent (送信済み), failed (失敗: given up), skipped (no
-- recipient: a shop notice while no notice address is set).
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    subject_id      INTEGER,
    order_id        INTEGER REFERENCES orders (id),
    detail_json     TEXT,
    status          TEXT NOT NULL
        CHECK (status IN ('held', 'pending', 'retry', 'sent', 'failed', 'skipped')),
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    lease_until     INTEGER,
    lease_token     TEXT,
    recipients      TEXT,
    subject         TEXT,
    message         BLOB,
    rendered_at     INTEGER,
    sent_at         INTEGER,
    released_at     INTEGER,
    CONSTRAINT mail_outbox_event_key UNIQUE (kind, subject_id)
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE status IN ('pending', 'retry');
CREATE INDEX mail_outbox_order ON mail_outbox (order_id);
CREATE INDEX mail_outbox_status ON mail_outbox (status, id);
-- What the retention job removes, oldest first: mail done with.
CREATE INDEX mail_outbox_done ON mail_outbox (created_at) WHERE status IN ('sent', 'failed', 'skipped');

-- Every delivery attempt: when, through what, and what came of it (the SMTP server's answer or the
-- error).
CREATE TABLE mail_deliveries (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    mail_id   INTEGER NOT NULL REFERENCES mail_outbox (id),
    at        INTEGER NOT NULL,
    transport TEXT NOT NULL,
    outcome   TEXT NOT NULL CHECK (outcome IN ('sent', 'error')),
    detail    TEXT NOT NULL
);
CREATE INDEX mail_deliveries_mail ON mail_deliveries (mail_id);

-- The mail settings the operator saved in the console (sender, notice addresses, header and footer,
-- SMTP server); while the row exists it wins over the config file's `[mail]`.
CREATE TABLE mail_settings (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    values_json TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- The causes. A new order: the shopper's 注文確認メール and the shop's notice.
CREATE TRIGGER mail_order_created AFTER INSERT ON orders
BEGIN
    INSERT INTO mail_outbox (kind, subject_id, order_id, status, created_at, next_attempt_at)
    VALUES ('order_confirmation', NEW.id, NEW.id, 'pending', NEW.created_at, NEW.created_at),
           ('order_notice', NEW.id, NEW.id, 'pending', NEW.created_at, NEW.created_at);
END;

-- A deferred payment's receipt (収納情報通知) paying an unpaid order: 入金確認メール.
CREATE TRIGGER mail_order_paid AFTER UPDATE OF payment_status ON orders
WHEN OLD.payment_status = 'unpaid' AND NEW.payment_status = 'paid'
BEGIN
    INSERT INTO mail_outbox (kind, subject_id, order_id, status, created_at, next_attempt_at)
    VALUES ('payment_received', NEW.id, NEW.id, 'pending', NEW.updated_at, NEW.updated_at);
END;

-- 継続課金 registered by its first payment: the shopper's confirmation.
CREATE TRIGGER mail_contract_registered AFTER INSERT ON recurring_contracts
BEGIN
    INSERT INTO mail_outbox (kind, subject_id, order_id, status, created_at, next_attempt_at)
    VALUES ('contract_registered', NEW.id, NEW.order_id, 'pending', NEW.created_at, NEW.created_at);
END;

-- A 決済エラーログ line: the shop's notice. What the line said is copied, as the log may be emptied
-- before the mail is rendered.
CREATE TRIGGER mail_settlement_error AFTER INSERT ON settlement_errors
BEGIN
    INSERT INTO mail_outbox (kind, subject_id, detail_json, status, created_at, next_attempt_at)
    VALUES ('settlement_error', NEW.id,
            json_object('module_id', NEW.module_id, 'acting', NEW.acting, 'link_key', NEW.link_key,
                        'result', NEW.result, 'at', NEW.at),
            'pending', NEW.at, NEW.at);
END;
