-- Storefront sessions (cart, details, login), kept in the database so that several host processes
-- behind one load balancer serve the same shopper without sticky sessions.
CREATE TABLE storefront_sessions (
    id         TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    touched_at INTEGER NOT NULL
);
CREATE INDEX storefront_sessions_touched ON storefront_sessions (touched_at);
