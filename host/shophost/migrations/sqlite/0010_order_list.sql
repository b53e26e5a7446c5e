-- What the console's 受注リスト reads: one page of orders at a time by keyset (created_at, id), newest
-- first, filtered by 入金状況, 決済種別 or 要確認, and searched by order number, link key (both unique
-- already), the customer's name or e-mail. Each filter the list offers has an index that gives its rows
-- in page order, so a page reads about one page of index entries however many orders there are.

-- The customer's name (姓 then 名, no space) and lower-case e-mail, read from the stored customer,
-- as columns an index can hold; generated, so nothing that writes an order names them. Searched by
-- prefix (or exactly), the only match these indexes serve.
ALTER TABLE orders ADD COLUMN customer_name TEXT
    GENERATED ALWAYS AS (coalesce(json_extract(customer_json, '$.family_name'), '')
        || coalesce(json_extract(customer_json, '$.given_name'), '')) VIRTUAL;
ALTER TABLE orders ADD COLUMN customer_email TEXT
    GENERATED ALWAYS AS (lower(coalesce(json_extract(customer_json, '$.email'), ''))) VIRTUAL;
CREATE INDEX orders_customer_name ON orders (customer_name, created_at);
CREATE INDEX orders_customer_email ON orders (customer_email, created_at);

-- The unfiltered list and the date range use orders_created (0009): a SQLite index ends with the
-- rowid, which is id, so it is already (created_at, id).
CREATE INDEX orders_status_created ON orders (payment_status, created_at, id);
CREATE INDEX orders_type_created ON orders (settlement_type, created_at, id);
CREATE INDEX orders_attention_created ON orders (created_at, id) WHERE attention IS NOT NULL;
