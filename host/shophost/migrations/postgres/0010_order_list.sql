-- What the console's 受注リスト reads: one page of orders at a time by keyset (created_at, id), newest
-- first, filtered by 入金状況, 決済種別 or 要確認, and searched by order number, link key (both unique
-- already), the customer's name or e-mail. Each filter the list offers has an index that gives its rows
-- in page order, so a page reads about one page of index entries however many orders there are.

-- The customer's name (姓 then 名, no space) and lower-case e-mail, read from the stored customer,
-- as columns an index can hold; generated (stored: adding them rewrites the table once), so nothing
-- that writes an order names them. Collation "C" orders them by code point, as SQLite's BINARY does,
-- so the prefix search's range (`>= prefix AND < prefix || U+10FFFF`) means the same on both.
ALTER TABLE orders ADD COLUMN customer_name TEXT COLLATE "C"
    GENERATED ALWAYS AS (coalesce(customer_json::jsonb ->> 'family_name', '')
        || coalesce(customer_json::jsonb ->> 'given_name', '')) STORED;
ALTER TABLE orders ADD COLUMN customer_email TEXT COLLATE "C"
    GENERATED ALWAYS AS (lower(coalesce(customer_json::jsonb ->> 'email', ''))) STORED;
CREATE INDEX orders_customer_name ON orders (customer_name, created_at);
CREATE INDEX orders_customer_email ON orders (customer_email, created_at);

-- (created_at, id): the unfiltered list and the date range, in page order without a sort.
CREATE INDEX orders_created_id ON orders (created_at, id);
CREATE INDEX orders_status_created ON orders (payment_status, created_at, id);
CREATE INDEX orders_type_created ON orders (settlement_type, created_at, id);
CREATE INDEX orders_attention_created ON orders (created_at, id) WHERE attention IS NOT NULL;
