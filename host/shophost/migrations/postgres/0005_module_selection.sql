-- The modules in use and their order (Welcart's 利用中のクレジット決済代行会社), once the operator chose
-- them through the admin API. One row: an empty list is a choice too (no module in use). While the row
-- exists it wins over the config file's `modules.in_use`.
CREATE TABLE module_selection (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    in_use_json TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- What keeps a module out of use listening: its open attempts, unpaid orders and running contracts.
CREATE INDEX checkout_attempts_module_open ON checkout_attempts (module_id, state);
CREATE INDEX orders_module_status ON orders (module_id, payment_status);
