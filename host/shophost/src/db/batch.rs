//! What both group-commit writers share: the inbound requests waiting for a writer, how a batch of
//! them is cut into rounds, and how one request of a round is decided and added to the round's rows.
//!
//! SQLite's writer (`sqlite/writer.rs`) and PostgreSQL's (`postgres/writer.rs`) differ in how they read
//! a round, where the ids come from and how they lock; deciding (`decide.rs`, no I/O) and the rows
//! written (`round.rs`) are the same.

use std::collections::{HashMap, HashSet};

use tokio::sync::{mpsc, oneshot};

use super::decide::{self, Decision, Loaded};
use super::round::Round;
use super::{ApplyContext, DbError, InboundRecord, Intent, Recorded, Responses};

/// A request to this endpoint makes a writer panic in the middle of its round, with the round's
/// transaction open (the writers' tests).
#[cfg(test)]
pub(super) const PANICS_HERE: &str = "test:the-writer-panics-here";

/// A request from `module_id` to `endpoint` as the notification path records it (the writers' tests).
#[cfg(test)]
pub(super) fn test_record(module_id: Option<&str>, endpoint: &str) -> InboundRecord {
    InboundRecord {
        module_id: module_id.map(str::to_owned),
        endpoint: endpoint.to_owned(),
        method: "POST".to_owned(),
        query: String::new(),
        content_type: None,
        charset: "UTF-8".to_owned(),
        source: "127.0.0.1".to_owned(),
        headers: Vec::new(),
        body: b"a=b".to_vec(),
        fields: Vec::new(),
        received_at: crate::domain::now_millis(),
        replay_of: None,
        note: None,
        replay_of_refused: None,
        replay_note: None,
    }
}

/// A request to `endpoint` refused as malformed, through `store`'s writer (the writers' tests).
#[cfg(test)]
pub(super) async fn refuse_through(
    store: &impl super::Store,
    endpoint: &str,
) -> Result<Recorded, DbError> {
    let intent = Intent::Refuse {
        refusal: shophost_module_api::Refusal::Malformed,
        reason: "a test".to_owned(),
        link_key: None,
    };
    let context = ApplyContext {
        module_id: String::new(),
        settlement_labels: Default::default(),
        settlement_kinds: Default::default(),
        channel: "notification",
    };
    let response = Responses::always(shophost_module_api::WireResponse::text(
        200,
        "text/plain",
        "refused",
    ));
    store
        .record_inbound(test_record(None, endpoint), intent, context, response)
        .await
}

/// One inbound request waiting for the writer.
pub(super) struct WriteJob {
    pub record: InboundRecord,
    pub intent: Intent,
    pub context: ApplyContext,
    pub responses: Responses,
    pub reply: oneshot::Sender<Result<Recorded, DbError>>,
}

/// Puts a request on a writer's queue and waits for the commit that holds it; `writer` names the
/// backend's writer in the error when it has stopped.
pub(super) async fn submit(
    queue: &mpsc::Sender<WriteJob>,
    writer: &str,
    record: InboundRecord,
    intent: Intent,
    context: ApplyContext,
    responses: Responses,
) -> Result<Recorded, DbError> {
    let stopped = || DbError::Unavailable(format!("the {writer} writer has stopped"));
    let (reply, answer) = oneshot::channel();
    let job = WriteJob {
        record,
        intent,
        context,
        responses,
        reply,
    };
    queue.send(job).await.map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

/// The most inbound requests one commit carries.
pub(super) const MAX_BATCH: usize = 64;

/// Moves waiting requests into the batch, up to [`MAX_BATCH`]; returns how many.
pub(super) fn take_waiting(
    jobs: &mut mpsc::Receiver<WriteJob>,
    batch: &mut Vec<WriteJob>,
) -> usize {
    let before = batch.len();
    while batch.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    batch.len() - before
}

/// Takes from `waiting` the requests that share no link key and no event key with `keys` (the keys of
/// the round so far) or with one another, adding theirs to `keys`. What a round reads is then true for
/// each of its requests until the round writes: a request about a key already in the round waits for
/// the next round, which reads what this one wrote.
pub(super) fn take_fitting(
    batch: &[WriteJob],
    waiting: &mut Vec<usize>,
    keys: &mut HashSet<(&'static str, String)>,
) -> Vec<usize> {
    let (fitting, later): (Vec<usize>, Vec<usize>) =
        waiting.iter().partition(|&&i| match &batch[i].intent {
            Intent::Refuse { .. } => true,
            Intent::Apply(notification) => {
                let link = ("link", notification.link_key.clone());
                let event = ("event", notification.dedup_key.clone());
                let free = !keys.contains(&link) && !keys.contains(&event);
                if free {
                    keys.insert(link);
                    keys.insert(event);
                }
                free
            }
        });
    *waiting = later;
    fitting
}

/// The link and event keys of the signals among `requests` (refusals have none), for a round's read.
pub(super) fn signal_keys<'a>(
    batch: &'a [WriteJob],
    requests: &'a [usize],
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    requests.iter().filter_map(|&i| match &batch[i].intent {
        Intent::Apply(notification) => Some((
            notification.link_key.as_str(),
            notification.dedup_key.as_str(),
        )),
        Intent::Refuse { .. } => None,
    })
}

/// Decides one request of a round from what the round read (attempts by link key); returns the
/// decision and the attempt it is about, if one was found.
pub(super) fn decide<'a>(
    job: &WriteJob,
    loaded: &'a HashMap<String, Loaded>,
) -> (Decision, Option<&'a Loaded>) {
    #[cfg(test)]
    if job.record.endpoint == PANICS_HERE {
        panic!("a panic the writer's tests put in a round");
    }
    let at = job.record.received_at;
    match &job.intent {
        Intent::Refuse {
            refusal,
            reason,
            link_key,
        } => (
            Decision::for_refusal(*refusal, reason, link_key.as_deref()),
            None,
        ),
        Intent::Apply(notification) => {
            let found = loaded.get(&notification.link_key);
            (decide::decide(found, notification, &job.context, at), found)
        }
    }
}

/// Adds a decided request's writes and journal entry to the round; returns what the request comes
/// to once the round is committed.
pub(super) fn write_into(
    round: &mut Round,
    job: &WriteJob,
    decision: Decision,
    found: Option<&Loaded>,
) -> Result<Recorded, DbError> {
    let at = job.record.received_at;
    let mut order_id = found.and_then(|found| found.order.as_ref().map(|order| order.0));
    for change in &decision.writes {
        let attempt = &found
            .ok_or_else(|| DbError::Corrupt("a change without an attempt".to_owned()))?
            .attempt;
        order_id = round.change(attempt, change, at)?.or(order_id);
    }
    let (entry, journaled) = decide::entry(&job.record, &job.intent, decision, &job.responses);
    let journal_id = round.journal(&job.record, &entry, &job.context, order_id)?;
    Ok(journaled.recorded(journal_id))
}
