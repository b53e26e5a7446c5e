-- Fewer index pages per notification. On SQLite a commit writes every page it changed, each a frame
-- of the log: a card notification's commit wrote 35 at concurrency 1, and 6 of them were for four
-- indexes that only the reads of open attempts and unpaid orders use (what keeps a module out of
-- use listening, 0005; the deadline job; the attention counts): the attempt's entries taken out of
-- two indexes and put back elsewhere in each, the new order's put into two more.
--
-- The open attempts now have one index, holding only them (a payment takes the attempt out: one
-- page), by module and return time, which the flag for unconfirmed returns searches and the other
-- reads scan. The unpaid orders are read through orders_status_created (0010), whose first column is
-- the status. A card notification's commit writes 30 pages.
DROP INDEX checkout_attempts_open;
DROP INDEX checkout_attempts_module_open;
CREATE INDEX checkout_attempts_open ON checkout_attempts (module_id, returned_at)
    WHERE state = 'open';
DROP INDEX orders_status_deadline;
DROP INDEX orders_module_status;
