//! The rows one round of a group commit writes, table by table, built once for both backends.
//!
//! A round is many decided requests (see `decide.rs`) that share no link key and no event key, written
//! together: each backend sends a [`Round`]'s rows as JSON, one argument per table, to one write of
//! fixed text (SQLite: `sqlite/round.rs`, arrays unpacked by `json_each`; PostgreSQL:
//! `postgres/round.rs`, objects unpacked by `json_populate_recordset`). The new journal entries and
//! orders get their ids here, before anything is written, so an event can carry its journal entry's
//! and its order's ids in the same statement that inserts it. Where those ids come from is the one
//! thing the backends do differently ([`Ids`]).

use crate::db::columns::{
    card_row, contract_row, error_row, event_row, history_row, journal_row, order_row, NewRow,
    Table, Value, JOURNAL, ORDERS,
};
use crate::db::decide::{Change, Entry};
use crate::db::{ApplyContext, DbError, InboundRecord};
use crate::domain::Attempt;

/// The arguments of an order's update (not a table: the columns of a [`NewRow`] that updates one).
/// NULL leaves a column as it is; `from_status`, when given, guards the move.
pub(super) const ORDER_UPDATE: Table = Table {
    name: "orders (update)",
    key: None,
    columns: &[
        "id",
        "from_status",
        "payment_status",
        "attention",
        "slip_json",
        "deadline",
        "transaction_id",
        "updated_at",
    ],
    bytes: &[],
};

/// The arguments of an attempt's update; see [`ORDER_UPDATE`].
pub(super) const ATTEMPT_UPDATE: Table = Table {
    name: "checkout_attempts (update)",
    key: None,
    columns: &["id", "state", "order_id", "updated_at"],
    bytes: &[],
};

/// Where a round's new journal entries and orders get their ids.
#[derive(Debug)]
pub(super) enum Ids {
    /// The next ids above the highest ones read: SQLite has one writer, so nothing else can take
    /// them before the round's write.
    Counting { journal: i64, order: i64 },
    /// Ids taken from the sequences before the write (PostgreSQL, where several hosts write at
    /// once); exactly as many as the round's decisions need.
    Reserved {
        journal: std::vec::IntoIter<i64>,
        orders: std::vec::IntoIter<i64>,
    },
}

impl Ids {
    /// Ids above `journal_base` and `order_base`, the highest ones read.
    pub fn after(journal_base: i64, order_base: i64) -> Self {
        Ids::Counting {
            journal: journal_base + 1,
            order: order_base + 1,
        }
    }

    /// The ids reserved for the round's journal entries and its orders.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn reserved(journal: Vec<i64>, orders: Vec<i64>) -> Self {
        Ids::Reserved {
            journal: journal.into_iter(),
            orders: orders.into_iter(),
        }
    }

    fn next_journal(&mut self) -> Result<i64, DbError> {
        match self {
            Ids::Counting { journal, .. } => Ok(std::mem::replace(journal, *journal + 1)),
            Ids::Reserved { journal, .. } => journal
                .next()
                .ok_or_else(|| DbError::Corrupt("fewer journal ids reserved than entries".into())),
        }
    }

    fn next_order(&mut self) -> Result<i64, DbError> {
        match self {
            Ids::Counting { order, .. } => Ok(std::mem::replace(order, *order + 1)),
            Ids::Reserved { orders, .. } => orders
                .next()
                .ok_or_else(|| DbError::Corrupt("fewer order ids reserved than orders".into())),
        }
    }
}

/// The rows one round writes, table by table.
#[derive(Debug)]
pub(super) struct Round {
    journal: Vec<NewRow>,
    orders: Vec<NewRow>,
    events: Vec<NewRow>,
    history: Vec<NewRow>,
    order_updates: Vec<NewRow>,
    attempts: Vec<NewRow>,
    cards: Vec<NewRow>,
    errors: Vec<NewRow>,
    contracts: Vec<NewRow>,
    ids: Ids,
    /// The order the latest [`Change::CreateOrder`] created, which a [`Change::CreateContract`]
    /// after it is for.
    last_order_id: Option<i64>,
}

/// An order's update; `None` leaves a column as it is.
fn order_update(order_id: i64) -> NewRow {
    NewRow::new(&ORDER_UPDATE).set("id", order_id)
}

impl Round {
    /// An empty round whose new journal entries and orders get their ids from `ids`.
    pub fn new(ids: Ids) -> Self {
        // Counting up from the highest order read, the order created just before is that one: a
        // contract written in a round of its own (SQLite's `write_change`) after its order's.
        let last_order_id = match &ids {
            Ids::Counting { order, .. } => Some(order - 1),
            Ids::Reserved { .. } => None,
        };
        Round {
            journal: Vec::new(),
            orders: Vec::new(),
            events: Vec::new(),
            history: Vec::new(),
            order_updates: Vec::new(),
            attempts: Vec::new(),
            cards: Vec::new(),
            errors: Vec::new(),
            contracts: Vec::new(),
            ids,
            last_order_id,
        }
    }

    fn attempt_update(&mut self, attempt: &Attempt, state: &str, order_id: Option<i64>, at: i64) {
        self.attempts.push(
            NewRow::new(&ATTEMPT_UPDATE)
                .set("id", attempt.id)
                .set("state", state)
                .set("order_id", order_id)
                .set("updated_at", at),
        );
    }

    /// Adds one change to `attempt`; returns the id of the order it creates, if it creates one.
    pub fn change(
        &mut self,
        attempt: &Attempt,
        change: &Change,
        at: i64,
    ) -> Result<Option<i64>, DbError> {
        let none = None::<String>;
        match change {
            Change::CreateOrder(order) => {
                let id = self.ids.next_order()?;
                self.last_order_id = Some(id);
                let row = NewRow::with_key(&ORDERS, id);
                self.orders.push(order_row(row, attempt, order, at));
                self.history.push(history_row(
                    id.into(),
                    None,
                    order.status,
                    &order.reason,
                    at,
                ));
                self.attempt_update(attempt, "ordered", Some(id), at);
                return Ok(Some(id));
            }
            Change::FlagOrder {
                order_id,
                attention,
            } => self.order_updates.push(
                order_update(*order_id)
                    .set("from_status", none.clone())
                    .set("payment_status", none.clone())
                    .set("attention", attention)
                    .set("slip_json", none.clone())
                    .set("deadline", none.clone())
                    .set("transaction_id", none)
                    .set("updated_at", at),
            ),
            Change::AddSlip {
                order_id,
                slip,
                transaction_id,
            } => self.order_updates.push(
                order_update(*order_id)
                    .set("from_status", none.clone())
                    .set("payment_status", none.clone())
                    .set("attention", none)
                    .set("slip_json", crate::db::columns::json(slip))
                    .set("deadline", slip.deadline.clone())
                    .set("transaction_id", transaction_id)
                    .set("updated_at", at),
            ),
            Change::Transition {
                order_id,
                from,
                to,
                attention,
                reason,
            } => {
                self.history.push(history_row(
                    (*order_id).into(),
                    Some(*from),
                    *to,
                    reason,
                    at,
                ));
                self.order_updates.push(
                    order_update(*order_id)
                        .set("from_status", from.as_str())
                        .set("payment_status", to.as_str())
                        .set("attention", *attention)
                        .set("slip_json", none.clone())
                        .set("deadline", none.clone())
                        .set("transaction_id", none)
                        .set("updated_at", at),
                );
            }
            Change::ConfirmRegistered {
                order_id,
                from,
                to,
                transaction_id,
                reason,
            } => {
                self.history.push(history_row(
                    (*order_id).into(),
                    Some(*from),
                    *to,
                    reason,
                    at,
                ));
                self.order_updates.push(
                    order_update(*order_id)
                        .set("from_status", from.as_str())
                        .set("payment_status", to.as_str())
                        .set("attention", none.clone())
                        .set("slip_json", none.clone())
                        .set("deadline", none)
                        .set("transaction_id", transaction_id)
                        .set("updated_at", at),
                );
            }
            Change::UpsertCard { member_id, card } => {
                let row = card_row(*member_id, &attempt.module_id, card, at);
                // One member's card kept twice in a round (two of their checkouts paid at once): the
                // later request's card, as if the two were written one after the other. PostgreSQL
                // cannot upsert one row twice in a statement.
                let key = &row.values()[..2];
                self.cards.retain(|kept| &kept.values()[..2] != key);
                self.cards.push(row);
            }
            Change::CardUpdated => self.attempt_update(attempt, "card_updated", None, at),
            Change::CreateContract(contract) => {
                let order_id = self.last_order_id.ok_or_else(|| {
                    DbError::Corrupt("a contract without the order before it".to_owned())
                })?;
                self.contracts
                    .push(contract_row(Value::from(order_id), attempt, contract, at))
            }
        }
        Ok(None)
    }

    /// Adds a request's journal entry, with its accepted event (about `order_id`, the attempt's order)
    /// and its error-log line; returns the entry's id.
    pub fn journal(
        &mut self,
        record: &InboundRecord,
        entry: &Entry<'_>,
        context: &ApplyContext,
        order_id: Option<i64>,
    ) -> Result<i64, DbError> {
        let id = self.ids.next_journal()?;
        let row = NewRow::with_key(&JOURNAL, id);
        self.journal.push(journal_row(row, record, entry));
        if let (Some((dedup_key, kind)), Some(link_key)) = (entry.event, &entry.link_key) {
            let at = record.received_at;
            self.events.push(event_row(
                context,
                dedup_key,
                link_key,
                kind,
                at,
                order_id,
                Some(id),
            ));
        }
        if let Some((result, key)) = &entry.error_log {
            self.errors
                .push(error_row(record, result, key.as_deref(), id.into()));
        }
        Ok(id)
    }

    /// The events the round claims (one per accepted request).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn events(&self) -> &[NewRow] {
        &self.events
    }

    /// The rows by table, in the order of the write's arguments: journal entries, orders, events,
    /// history lines, order updates, attempt updates, cards, error-log lines, contracts.
    pub fn tables(&self) -> [&[NewRow]; 9] {
        [
            &self.journal,
            &self.orders,
            &self.events,
            &self.history,
            &self.order_updates,
            &self.attempts,
            &self.cards,
            &self.errors,
            &self.contracts,
        ]
    }
}
