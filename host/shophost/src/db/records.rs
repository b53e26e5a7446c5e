//! The plain records the [`Store`](super::Store) trait takes and gives: what is stored for a module,
//! new rows, filters of the lists, an inbound request and the verdict on it, the responses worked out
//! before storage, and the purges of retention.

use std::collections::BTreeMap;

use shophost_module_api::{
    Answer, Notification, Refusal, SettingsValues, SettlementKind, WireResponse,
};

use crate::domain::{AttemptKind, AttemptSnapshot, PaymentStatus, ProductRecurrence, TaxClass};

/// Settings as stored for one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSettings {
    /// The values.
    pub values: SettingsValues,
    /// `file` (seeded from the config file) or `admin` (set through the admin API).
    pub source: String,
    /// Whether they passed validation when saved.
    pub valid: bool,
    /// When saved.
    pub updated_at: i64,
}

/// What one module still has open that a notification may come for (see [`Store::open_work`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OpenWork {
    /// The module.
    pub module_id: String,
    /// Checkout attempts without an order yet, recent enough to be kept.
    pub open_attempts: i64,
    /// When the newest of them was created (Unix milliseconds).
    pub latest_attempt_at: Option<i64>,
    /// Unpaid orders not past their deadline and its grace.
    pub unpaid_orders: i64,
    /// The latest deadline among them (`YYYYMMDD`).
    pub latest_deadline: Option<String>,
    /// Unpaid orders without a deadline (they never expire by themselves).
    pub unpaid_without_deadline: i64,
    /// Recurring contracts still running (継続中).
    pub running_contracts: i64,
}

impl OpenWork {
    /// Whether anything is open.
    pub fn any(&self) -> bool {
        self.open_attempts + self.unpaid_orders + self.running_contracts > 0
    }
}

/// A payment method as entered by the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPaymentMethod {
    /// Unique name.
    pub name: String,
    /// Sanitised explanation.
    pub explanation: String,
    /// Settlement type slug.
    pub settlement_type: String,
    /// 使用 / 停止.
    pub active: bool,
}

/// A product as entered by the operator (see `crate::catalogue`, which checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// Unique stock-keeping unit code (kept when a product is changed).
    pub sku: String,
    /// Name.
    pub name: String,
    /// Price in yen, tax included.
    pub price: i64,
    /// Description (plain text).
    pub description: String,
    /// 販売中 / 停止.
    pub active: bool,
    /// 標準税率 / 軽減税率.
    pub tax_class: TaxClass,
    /// 継続課金, if recurring.
    pub recurrence: Option<ProductRecurrence>,
}

/// A checkout attempt about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttempt {
    /// The link key.
    pub link_key: String,
    /// What for.
    pub kind: AttemptKind,
    /// Module.
    pub module_id: String,
    /// Settlement type.
    pub settlement_type: String,
    /// Method id.
    pub payment_method_id: Option<i64>,
    /// Method name.
    pub payment_method_name: String,
    /// Member.
    pub member_id: Option<i64>,
    /// Snapshot.
    pub snapshot: AttemptSnapshot,
}

/// Filters for listing orders (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Exact link key.
    pub link_key: Option<String>,
    /// Exact order number.
    pub order_number: Option<String>,
    /// Payment status.
    pub status: Option<PaymentStatus>,
    /// Member.
    pub member_id: Option<i64>,
    /// Only orders flagged 要確認.
    pub attention: bool,
}

/// A search of the 決済直前ログ (all optional, combined with AND), newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptFilter {
    /// Part of the link key.
    pub link_key: Option<String>,
    /// Part of the customer's name or its kana, without spaces (Latin letters in any case).
    pub customer_name: Option<String>,
    /// Registered at or after (Unix ms).
    pub from: Option<i64>,
    /// Registered before (Unix ms).
    pub until: Option<i64>,
    /// Only attempts flagged 要確認.
    pub attention: bool,
    /// Keyset paging: only attempts with an id below this one.
    pub before_id: Option<i64>,
}

/// The order 受注データ登録 makes of an open attempt, as the operator chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredOrder {
    /// Its payment status.
    pub status: PaymentStatus,
    /// The settlement type's label.
    pub settlement_label: String,
    /// The first line of its history.
    pub reason: String,
    /// Its 受注日時 (Unix ms): the attempt's registration or now.
    pub created_at: i64,
    /// The gateway's transaction id (the 請求番号 its backyard shows), when the operator gave it.
    pub transaction_id: Option<String>,
    /// For a recurring item (継続課金): the gateway's id for its recurring registration, as its backyard
    /// shows it, when the operator gave it. The contract is registered either way; without the id the
    /// order is 要確認, as when a notification does not name it.
    pub recurring_id: Option<String>,
}

/// Filters for the console's notification journal list (all optional, combined with AND), keyset-paged
/// by id: entries older than `before_id`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalFilter {
    /// Module.
    pub module_id: Option<String>,
    /// Endpoint name (or `return:…`), exact.
    pub endpoint: Option<String>,
    /// `accepted`, `duplicate` or `rejected`.
    pub verdict: Option<String>,
    /// Exact link key.
    pub link_key: Option<String>,
    /// Received at or after (Unix ms).
    pub from: Option<i64>,
    /// Received before (Unix ms).
    pub until: Option<i64>,
    /// Only entries with a smaller id (the next page).
    pub before_id: Option<i64>,
    /// Only replays of this entry.
    pub replay_of: Option<i64>,
}

/// A raw inbound request as the journal stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    /// Module, when the endpoint belongs to one.
    pub module_id: Option<String>,
    /// Endpoint name or `return:<settlement type>:<kind>`.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Query string.
    pub query: String,
    /// Content type.
    pub content_type: Option<String>,
    /// Charset used to decode.
    pub charset: String,
    /// Source address.
    pub source: String,
    /// Headers that matter.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// Decoded fields (for the error log).
    pub fields: Vec<(String, String)>,
    /// Received.
    pub received_at: i64,
    /// The journal entry this replays.
    pub replay_of: Option<i64>,
    /// What the host adds to the entry's reason, whatever the verdict (e.g. which fields had
    /// undecodable bytes replaced).
    pub note: Option<String>,
    /// The refused request this replays (see `crate::refused`).
    pub replay_of_refused: Option<i64>,
    /// What the operator confirmed for a replay of a refused request.
    pub replay_note: Option<String>,
}

/// A notification refused for its source address, about to be kept for a later replay (see
/// `crate::refused`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefused {
    /// The module whose endpoint it came to.
    pub module_id: String,
    /// The endpoint.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Query string.
    pub query: String,
    /// Content type.
    pub content_type: Option<String>,
    /// The TCP peer.
    pub peer: String,
    /// The source address after the trusted proxies of the time.
    pub source: String,
    /// The headers the journal keeps.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// Bytes counted against the budget.
    pub size: i64,
    /// Received.
    pub received_at: i64,
    /// The link key the module read from it, if any.
    pub link_key: Option<String>,
}

/// Refused requests still waiting for a replay that name an open checkout attempt: what the
/// dashboard's `trusted_proxies` notice counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefusedForOpenAttempts {
    /// Distinct link keys of open attempts among them.
    pub link_keys: i64,
    /// When the newest of them came.
    pub latest: Option<i64>,
}

/// What the retention jobs remove, oldest first, a bounded batch at a time (see `crate::retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// Checkout attempts (決済直前ログ) that never became an order, by creation time.
    AttemptsWithoutOrder,
    /// 決済エラーログ lines, by time.
    SettlementErrors,
    /// Storefront sessions, by their last change.
    Sessions,
    /// Notification journal bodies, by receipt: the body is emptied and the time noted, the entry stays.
    JournalBodies,
    /// Requests refused for their source, by receipt.
    RefusedRequests,
    /// Mail sent, given up or without a recipient (with its delivery attempts), by when it was queued.
    Mail,
}

/// What the host decided to do with an inbound request before touching storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Refuse it: journal it, write the error log, change nothing else.
    Refuse {
        /// The kind.
        refusal: Refusal,
        /// Why, in words.
        reason: String,
        /// The link key, when readable.
        link_key: Option<String>,
    },
    /// Apply this signal (the store checks it against the attempt first).
    Apply(Notification),
}

/// Facts about the module the store needs while applying a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyContext {
    /// The module the request came to.
    pub module_id: String,
    /// Labels of settlement types, for the order's snapshot.
    pub settlement_labels: BTreeMap<String, String>,
    /// How each of the module's settlement types settles, so a signal of the wrong kind (a card
    /// payment for a convenience-store checkout) is refused. Types missing here are not checked.
    pub settlement_kinds: BTreeMap<String, SettlementKind>,
    /// `notification` or `browser_return`: where the signal came from.
    pub channel: &'static str,
}

/// What happened to an inbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Applied (state changed or an event recorded).
    Accepted,
    /// A copy of an event already applied: nothing changed.
    Duplicate,
    /// Refused: nothing changed.
    Refused {
        /// The kind.
        refusal: Refusal,
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// Journal word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Duplicate => "duplicate",
            Verdict::Refused { .. } => "rejected",
        }
    }

    /// The journal's word for the kind of a refusal (its reason is free text); `None` unless refused.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            Verdict::Refused { refusal, .. } => Some(match refusal {
                Refusal::SourceNotAllowed => "source_not_allowed",
                Refusal::Malformed => "malformed",
                Refusal::UnknownLinkKey => "unknown_link_key",
                Refusal::Mismatch => "mismatch",
                Refusal::WrongState => "wrong_state",
                _ => "other",
            }),
            Verdict::Accepted | Verdict::Duplicate => None,
        }
    }
}

/// The result of [`Store::record_inbound`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The verdict.
    pub verdict: Verdict,
    /// The settlement type of the attempt the request was about, when it named a known one.
    pub settlement_type: Option<String>,
    /// The journal entry's id.
    pub journal_id: i64,
    /// The order the signal concerned, if any.
    pub order_number: Option<String>,
    /// The response that was stored with the journal entry (send exactly this).
    pub response: WireResponse,
}

/// Every response a request may get from [`Store::record_inbound`], worked out by the caller before
/// storage: one to acknowledge (accepted or duplicate) and one for each [`Refusal`]. The store picks one
/// by its verdict and journals it in the same transaction as the change, so storage runs no module code.
/// "Unavailable" is not here: it is the caller's answer when storage fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responses {
    acknowledge: WireResponse,
    /// By [`Responses::slot`].
    refused: [WireResponse; Refusal::ALL.len()],
}

impl Responses {
    /// Asks `respond` now for the acknowledgement and for every refusal (the store decides the reason
    /// later and journals it; the module's answer never carries it).
    pub fn ask(respond: impl Fn(&Answer) -> WireResponse) -> Self {
        Responses {
            acknowledge: respond(&Answer::Acknowledge),
            refused: Refusal::ALL.map(|refusal| respond(&Answer::Refuse(refusal))),
        }
    }

    /// The same response whatever the verdict (an endpoint no module listens on, a browser return).
    pub fn always(response: WireResponse) -> Self {
        Responses {
            refused: std::array::from_fn(|_| response.clone()),
            acknowledge: response,
        }
    }

    /// The response for a verdict.
    pub fn pick(&self, verdict: &Verdict) -> &WireResponse {
        match verdict {
            Verdict::Accepted | Verdict::Duplicate => &self.acknowledge,
            Verdict::Refused { refusal, .. } => &self.refused[Self::slot(*refusal)],
        }
    }

    /// Where a refusal's response is kept: its place in [`Refusal::ALL`], the order [`Responses::ask`]
    /// fills them in.
    fn slot(refusal: Refusal) -> usize {
        Refusal::ALL
            .iter()
            .position(|known| *known == refusal)
            .expect("Refusal::ALL lists every refusal")
    }
}

/// The change [`Store::modify_session`] applies: current data in, new data out.
pub type SessionChange<'a> = Box<dyn FnOnce(Option<String>) -> String + Send + 'a>;

#[cfg(test)]
mod tests {
    use shophost_module_api::{Answer, Refusal, WireResponse};

    use super::{Responses, Verdict};

    #[test]
    fn each_verdict_picks_the_response_the_module_gave_for_it() {
        let responses = Responses::ask(|answer| {
            let body = match answer {
                Answer::Acknowledge => "ack".to_owned(),
                Answer::Refuse(refusal) => format!("{refusal:?}"),
                Answer::Unavailable => "unavailable".to_owned(),
            };
            WireResponse::text(200, "text/plain", &body)
        });
        let body = |verdict: Verdict| String::from_utf8(responses.pick(&verdict).body.clone());
        assert_eq!(body(Verdict::Accepted).unwrap(), "ack");
        assert_eq!(body(Verdict::Duplicate).unwrap(), "ack");
        for refusal in Refusal::ALL {
            let verdict = Verdict::Refused {
                refusal,
                reason: String::new(),
            };
            assert_eq!(body(verdict).unwrap(), format!("{refusal:?}"));
        }
    }
}
