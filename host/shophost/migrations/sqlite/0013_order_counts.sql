-- The orders by settlement type and payment status, which `/metrics` reports at every scrape, read from
-- an index of those two columns alone. Before it, each scrape read every order's row and sorted them
-- by the two columns: with a million orders, 1.3–2.4 s and 200 MB more memory a scrape. In this
-- index's order the groups come out already sorted, and counting them reads index pages only. A new
-- order puts one entry into it, a status change moves that entry.
CREATE INDEX orders_type_status ON orders (settlement_type, payment_status);
