-- 商品: the consumption tax class (standard = 標準税率 10 %, reduced = 軽減税率 8 %) and whether the
-- product is on sale (販売中) or stopped (停止: kept for the orders that name it, not offered).
-- Prices stay tax-included; each order line records its rate in its JSON, so a later change of class
-- changes no order.
ALTER TABLE products ADD COLUMN tax_class TEXT NOT NULL DEFAULT 'standard'
    CHECK (tax_class IN ('standard', 'reduced'));
ALTER TABLE products ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
