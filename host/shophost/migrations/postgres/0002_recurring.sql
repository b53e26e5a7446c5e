-- 自動継続課金: recurring products and the contracts their first payments register at the gateway.
ALTER TABLE products ADD COLUMN recurring_months BIGINT CHECK (recurring_months IN (1, 6, 12));
-- Day of the month recurring charges fall on: 1–28, or 99 = the day of the first order (受注日).
ALTER TABLE products ADD COLUMN charging_day BIGINT
    CHECK (charging_day IS NULL OR charging_day BETWEEN 1 AND 28 OR charging_day = 99);

CREATE TABLE recurring_contracts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        BIGINT NOT NULL UNIQUE REFERENCES orders (id),
    member_id       BIGINT NOT NULL REFERENCES members (id),
    module_id       TEXT NOT NULL,
    settlement_type TEXT NOT NULL,
    -- The gateway's id for the recurring charge (Remise X-AC_MEMBERID); NULL when it was not reported.
    gateway_id      TEXT,
    product_name    TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    interval_months BIGINT NOT NULL,
    charging_day    BIGINT NOT NULL,
    -- YYYYMMDD of the next charge, as registered at the gateway.
    next_charge     TEXT NOT NULL,
    -- continuation (継続中) or stopped (停止).
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX recurring_contracts_member ON recurring_contracts (member_id);
