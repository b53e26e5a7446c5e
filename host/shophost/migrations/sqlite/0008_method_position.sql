-- The operator's order of the payment methods (支払方法), as the console's move up / move down keeps it:
-- one position per method, 1 at the top. It replaces `sort`, which moving could not keep (two methods
-- could share a value). Existing methods keep the order they were shown in (`sort`, then id).
ALTER TABLE payment_methods ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
UPDATE payment_methods SET position = (
    SELECT COUNT(*) FROM payment_methods AS before
    WHERE before.sort < payment_methods.sort
       OR (before.sort = payment_methods.sort AND before.id <= payment_methods.id)
);
ALTER TABLE payment_methods DROP COLUMN sort;
