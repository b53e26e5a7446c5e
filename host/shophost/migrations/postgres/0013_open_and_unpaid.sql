-- Fewer index entries per notification, as on SQLite (its 0012): four indexes served only the reads
-- of open attempts and unpaid orders (what keeps a module out of use listening, 0005; the deadline
-- job; the attention counts), yet every new row version of a paid attempt and every new order went
-- into them. The open attempts now have one index holding only them, by module and return time,
-- which the flag for unconfirmed returns searches and the other reads scan; the unpaid orders are
-- read through orders_status_created (0010), whose first column is the status.
DROP INDEX checkout_attempts_open;
DROP INDEX checkout_attempts_module_open;
CREATE INDEX checkout_attempts_open ON checkout_attempts (module_id, returned_at)
    WHERE state = 'open';
DROP INDEX orders_status_deadline;
DROP INDEX orders_module_status;
