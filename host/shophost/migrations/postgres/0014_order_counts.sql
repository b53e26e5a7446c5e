-- The orders by settlement type and payment status, which `/metrics` reports at every scrape, read from
-- an index of those two columns alone (an index-only scan once the table is vacuumed) instead of every
-- order's row: with a million orders a scrape read the whole table. A new order puts one entry into
-- it, a status change one more.
CREATE INDEX orders_type_status ON orders (settlement_type, payment_status);
