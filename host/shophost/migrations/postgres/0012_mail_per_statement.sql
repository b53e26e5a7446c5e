-- The 注文確認メール and the shop's notice of new orders are queued once per statement, from the
-- statement's new orders (a transition table), rather than once per order. The writers insert a
-- batch's orders in one statement (up to 64), and the row trigger ran its function and its insert once
-- for each: in a batch of 64, 111 µs an order, against 53 µs so (EXPLAIN ANALYZE, warm). The rows are
-- the same, in the same order (an order's confirmation, then its notice), in the same transaction as
-- the orders, so a mail still exists exactly when its order was committed. An order inserted inside
-- a WITH is in the statement's one transition table with the others (PostgreSQL merges them).
CREATE FUNCTION mail_orders_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mail_outbox (kind, subject_id, order_id, status, created_at, next_attempt_at)
    SELECT mail.kind, created.id, created.id, 'pending', created.created_at, created.created_at
    FROM created
    CROSS JOIN (VALUES (1, 'order_confirmation'), (2, 'order_notice')) AS mail (position, kind)
    ORDER BY created.id, mail.position;
    RETURN NULL;
END $$;

DROP TRIGGER mail_order_created ON orders;
DROP FUNCTION mail_order_created();
CREATE TRIGGER mail_order_created AFTER INSERT ON orders REFERENCING NEW TABLE AS created
    FOR EACH STATEMENT EXECUTE FUNCTION mail_orders_created();

-- (created_at) is a prefix of orders_created_id (created_at, id), which serves every query it did;
-- one index fewer to write for every order.
DROP INDEX orders_created;
