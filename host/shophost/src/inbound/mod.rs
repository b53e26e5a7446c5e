//! Inbound gateway requests: source checks and the notification path (decoding is in `decode.rs`).
//!
//! The path for every notification, from every module, is the same: decode the body in the module's wire
//! charset (Windows-31J for Shift_JIS), work out the real source address, check it against what the
//! module trusts, let the module read the request, then journal and apply it in one transaction, and
//! only then answer with the bytes the module chose. If storage fails the answer is the module's
//! "unavailable" (never an acknowledgement), so the gateway retries.

use std::net::IpAddr;

use shophost_module_api::{Answer, NotificationTrust, Refusal, WireCharset, WireResponse};

use crate::db::{ApplyContext, InboundRecord, Intent, Responses, Verdict};
use crate::domain::now_millis;
use crate::AppState;

mod decode;

pub(crate) use decode::replaced_note;
pub use decode::{
    decode, decode_for, decode_text, parse_form, source_address, Decoded, Form, RawInbound,
};

/// The outcome of handling a notification, for the web layer and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// What to send.
    pub response: WireResponse,
    /// The verdict, when the request was journaled.
    pub verdict: Option<Verdict>,
    /// The journal entry.
    pub journal_id: Option<i64>,
}

/// Where a request handed to [`handle_notification`] comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// From the network, as it came.
    Network,
    /// An operator's replay of this journal entry.
    JournalReplay(i64),
    /// An operator's replay of this refused request (see [`crate::refused`]), whose source the
    /// operator confirmed: the source check is skipped, and the journal entry notes `note`.
    ConfirmedRefused {
        /// The refused request.
        id: i64,
        /// What the operator confirmed.
        note: String,
    },
}

impl Arrival {
    /// The journal entry this replays.
    fn replay_of(&self) -> Option<i64> {
        match self {
            Arrival::JournalReplay(id) => Some(*id),
            _ => None,
        }
    }

    /// The journal record of a request, with the replay of a refused request noted.
    fn record(&self, mut record: InboundRecord) -> InboundRecord {
        if let Arrival::ConfirmedRefused { id, note } = self {
            record.replay_of_refused = Some(*id);
            record.replay_note = Some(note.clone());
        }
        record
    }
}

/// Handles a server-to-server notification at endpoint `name`, from the network or replayed by an
/// operator through the same path (`arrival`).
pub async fn handle_notification(
    state: &AppState,
    name: &str,
    raw: RawInbound,
    arrival: Arrival,
) -> Handled {
    let received_at = now_millis();
    let started = std::time::Instant::now();
    let replay_of = arrival.replay_of();
    let Some(target) = state.engine.endpoint(name) else {
        // No module listens here: journal what came, answer plainly. There is no protocol to answer in.
        let decoded = decode(&raw, WireCharset::Utf8, &state.config.trusted_proxies);
        let record = arrival.record(record_for(
            None,
            name,
            &raw,
            &decoded,
            received_at,
            replay_of,
        ));
        let intent = Intent::Refuse {
            refusal: Refusal::Malformed,
            reason: format!("no module listens on notification endpoint `{name}`"),
            link_key: None,
        };
        let context = ApplyContext {
            module_id: String::new(),
            settlement_labels: Default::default(),
            settlement_kinds: Default::default(),
            channel: "notification",
        };
        let response = WireResponse::text(
            404,
            "text/plain; charset=UTF-8",
            "unknown notification endpoint",
        );
        return match state
            .store
            .record_inbound(record, intent, context, Responses::always(response.clone()))
            .await
        {
            Ok(recorded) => Handled {
                response: recorded.response,
                verdict: Some(recorded.verdict),
                journal_id: Some(recorded.journal_id),
            },
            Err(error) => {
                tracing::error!(endpoint = %name, %error, "could not journal a request to an unknown endpoint");
                Handled {
                    response,
                    verdict: None,
                    journal_id: None,
                }
            }
        };
    };
    let module = target.module.clone();
    let module_id = module.id().to_owned();
    let decoded = decode_for(
        &raw,
        target.wire_charset,
        module.as_ref(),
        &state.config.trusted_proxies,
    );
    let record = arrival.record(record_for(
        Some(&module_id),
        name,
        &raw,
        &decoded,
        received_at,
        replay_of,
    ));
    let request = decoded.request;
    // Refused for its source: counted and kept within a budget, never journaled one by one, before
    // anything else is looked at (see `crate::refused`). A replay the operator confirmed goes on.
    let confirmed = matches!(arrival, Arrival::ConfirmedRefused { .. });
    if !confirmed && !source_allowed(&target.endpoint.trust, request.source) {
        return crate::refused::refuse_for_source(
            state,
            &target,
            name,
            &raw,
            request,
            received_at,
            started,
        )
        .await;
    }
    // Every call into the module goes through the host's door for panics (`guard`). A panic reading
    // the request is journaled as a refusal and answered "unavailable", so the gateway retries and an
    // operator can replay the entry once the module is fixed.
    let mut panicked = false;
    let mut intent = if raw.body.len() > state.config.max_body_bytes {
        Intent::Refuse {
            refusal: Refusal::Malformed,
            reason: format!(
                "body of {} bytes is larger than the limit of {}",
                raw.body.len(),
                state.config.max_body_bytes
            ),
            link_key: None,
        }
    } else if let Some(error) = &decoded.error {
        Intent::Refuse {
            refusal: Refusal::Malformed,
            reason: error.clone(),
            link_key: None,
        }
    } else {
        let parsed = crate::guard::module_call_async(&module_id, "parse_notification", || {
            module.parse_notification(&target.config, name, &request)
        })
        .await;
        match parsed {
            Ok(Ok(notification)) if !notification.mismatches.is_empty() => Intent::Refuse {
                refusal: Refusal::Mismatch,
                reason: notification.mismatches.join("; "),
                link_key: Some(notification.link_key),
            },
            Ok(Ok(notification)) => Intent::Apply(notification),
            Ok(Err(rejection)) => Intent::Refuse {
                refusal: Refusal::Malformed,
                reason: rejection.reason,
                link_key: rejection.link_key,
            },
            Err(panic) => {
                panicked = true;
                Intent::Refuse {
                    refusal: Refusal::Malformed,
                    reason: panic.to_string(),
                    link_key: None,
                }
            }
        }
    };
    let link_key = match &intent {
        Intent::Apply(n) => Some(n.link_key.clone()),
        Intent::Refuse { link_key, .. } => link_key.clone(),
    };
    // The module's answers are worked out now, so storage runs no module code; the store journals the
    // one its verdict picks and the caller sends it after the commit. When the module panics here, the
    // request is refused with "unavailable" whatever it said.
    let unavailable = crate::guard::module_call(&module_id, "respond", || {
        module.respond(name, &request, &Answer::Unavailable)
    })
    .unwrap_or_else(|_| plain_unavailable());
    let asked = crate::guard::module_call(&module_id, "respond", || {
        Responses::ask(|answer| module.respond(name, &request, answer))
    });
    let responses = match asked {
        Ok(responses) if !panicked => responses,
        Ok(_) => Responses::always(unavailable.clone()),
        Err(panic) => {
            intent = Intent::Refuse {
                refusal: Refusal::Malformed,
                reason: panic.to_string(),
                link_key: link_key.clone(),
            };
            Responses::always(unavailable.clone())
        }
    };
    let context = ApplyContext {
        module_id: module_id.clone(),
        settlement_labels: target.labels.clone(),
        settlement_kinds: target.kinds.clone(),
        channel: "notification",
    };
    match state
        .store
        .record_inbound(record, intent, context, responses)
        .await
    {
        Ok(recorded) => {
            state.metrics.count_notification(
                &module_id,
                name,
                recorded.settlement_type.as_deref(),
                &recorded.verdict,
                started.elapsed(),
            );
            match &recorded.verdict {
                Verdict::Refused { reason, .. } => {
                    tracing::warn!(module = %module_id, endpoint = %name, link_key = link_key.as_deref().unwrap_or(""), journal = recorded.journal_id, "notification refused: {reason}")
                }
                verdict => {
                    tracing::info!(module = %module_id, endpoint = %name, link_key = link_key.as_deref().unwrap_or(""), journal = recorded.journal_id, verdict = verdict.as_str(), "notification")
                }
            }
            Handled {
                response: recorded.response,
                verdict: Some(recorded.verdict),
                journal_id: Some(recorded.journal_id),
            }
        }
        Err(error) => {
            state.metrics.count_unavailable(&module_id, name);
            tracing::error!(module = %module_id, endpoint = %name, link_key = link_key.as_deref().unwrap_or(""), %error, "notification not stored; answering unavailable so the gateway retries");
            Handled {
                response: unavailable,
                verdict: None,
                journal_id: None,
            }
        }
    }
}

/// "Unavailable" when the module cannot even say it: a bare 503, so the gateway retries.
fn plain_unavailable() -> WireResponse {
    WireResponse::text(503, "text/plain; charset=UTF-8", "unavailable")
}

/// Whether `trust` lets a request from `source` in (the source check of every notification).
pub(crate) fn source_allowed(trust: &NotificationTrust, source: IpAddr) -> bool {
    match trust {
        NotificationTrust::SourceAddress(ranges) => {
            ranges.iter().any(|range| range.contains(source))
        }
        NotificationTrust::Signed | NotificationTrust::Unverified { .. } => true,
    }
}

/// The journal record for a request.
pub fn record_for(
    module_id: Option<&str>,
    endpoint: &str,
    raw: &RawInbound,
    decoded: &Decoded,
    received_at: i64,
    replay_of: Option<i64>,
) -> InboundRecord {
    let mut body = raw.body.clone();
    // A body over any sane size is not kept whole; its size is in the reason.
    body.truncate(1024 * 1024);
    InboundRecord {
        module_id: module_id.map(str::to_owned),
        endpoint: endpoint.to_owned(),
        method: raw.method.clone(),
        query: raw.query.clone(),
        content_type: decoded.request.content_type.clone(),
        charset: decoded.charset.http_name().to_owned(),
        source: decoded.request.source.to_string(),
        headers: decoded.request.headers.clone(),
        body,
        fields: decoded.request.fields.clone(),
        received_at,
        replay_of,
        note: replaced_note(&decoded.replaced),
        replay_of_refused: None,
        replay_note: None,
    }
}

/// Replays a journal entry through the notification path (idempotent: a duplicate changes nothing).
pub async fn replay(state: &AppState, journal_id: i64) -> Result<Handled, ReplayError> {
    let entry = state
        .store
        .journal_entry(journal_id)
        .await
        .map_err(|e| ReplayError::Unavailable(e.to_string()))?
        .ok_or(ReplayError::NotFound)?;
    if entry.endpoint.starts_with("return:") {
        return Err(ReplayError::NotANotification);
    }
    let source: IpAddr = entry
        .source
        .parse()
        .map_err(|_| ReplayError::NotANotification)?;
    let mut headers = entry.headers.clone();
    if let Some(content_type) = &entry.content_type {
        if !headers.iter().any(|(k, _)| k == "content-type") {
            headers.push(("content-type".to_owned(), content_type.clone()));
        }
    }
    // The stored source is already the post-proxy address; replay it as the peer, without forwarding.
    headers.retain(|(k, _)| k != "x-forwarded-for");
    let raw = RawInbound {
        method: entry.method.clone(),
        query: entry.query.clone(),
        headers,
        body: entry.body.clone(),
        peer: source,
    };
    Ok(handle_notification(
        state,
        &entry.endpoint,
        raw,
        Arrival::JournalReplay(journal_id),
    )
    .await)
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No such entry.
    #[error("no journal entry with that id")]
    NotFound,
    /// The entry is a browser return.
    #[error("only notifications can be replayed")]
    NotANotification,
    /// Storage failed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(peer: &str, forwarded: Option<&str>) -> RawInbound {
        let mut headers = Vec::new();
        if let Some(f) = forwarded {
            headers.push(("x-forwarded-for".to_owned(), f.to_owned()));
        }
        RawInbound {
            method: "POST".into(),
            query: String::new(),
            headers,
            body: Vec::new(),
            peer: peer.parse().unwrap(),
        }
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxies = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            source_address(&raw("1.2.3.4", Some("3.114.65.232")), &proxies).to_string(),
            "1.2.3.4"
        );
        assert_eq!(
            source_address(&raw("10.0.0.2", Some("3.114.65.232")), &proxies).to_string(),
            "3.114.65.232"
        );
        assert_eq!(
            source_address(
                &raw("10.0.0.2", Some("6.6.6.6, 3.114.65.232, 10.0.0.9")),
                &proxies
            )
            .to_string(),
            "3.114.65.232"
        );
        assert_eq!(
            source_address(&raw("10.0.0.2", None), &proxies).to_string(),
            "10.0.0.2"
        );
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn cp932_forms_decode_and_bad_bytes_are_replaced_in_values_and_refused_in_names() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("①㈱髙");
        let encoded: String =
            percent_encoding::percent_encode(&bytes, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let form = format!("X-NAME={encoded}&A=b+c");
        let parsed = parse_form(form.as_bytes(), WireCharset::ShiftJis).unwrap();
        assert_eq!(parsed.fields, fields(&[("X-NAME", "①㈱髙"), ("A", "b c")]));
        assert!(parsed.replaced.is_empty());

        // A lead byte with nothing after it, and FF, which is no Shift_JIS byte: the value keeps what
        // decodes and names the field; the next field is read as sent.
        let parsed = parse_form(b"A=x%82&B=%FFy&A=%82&C=d", WireCharset::ShiftJis).unwrap();
        assert_eq!(
            parsed.fields,
            fields(&[
                ("A", "x\u{fffd}"),
                ("B", "\u{fffd}y"),
                ("A", "\u{fffd}"),
                ("C", "d")
            ])
        );
        assert_eq!(parsed.replaced, ["A", "B"]);
        let parsed = parse_form(b"A=%FF%FF", WireCharset::Utf8).unwrap();
        assert_eq!(parsed.fields, fields(&[("A", "\u{fffd}\u{fffd}")]));
        assert_eq!(parsed.replaced, ["A"]);

        // A bad byte in a field's name still refuses the whole form.
        assert_eq!(parse_form(b"A%82=1&B=2", WireCharset::ShiftJis), None);
        assert_eq!(parse_form(b"B=2&%FF", WireCharset::Utf8), None);
    }

    #[test]
    fn the_journal_notes_which_fields_were_replaced() {
        let raw = RawInbound {
            method: "POST".into(),
            query: "acting=examplepay_card".into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: b"X-TOTAL=3990&X-NAME=%82".to_vec(),
            peer: "127.0.0.1".parse().unwrap(),
        };
        let decoded = decode(&raw, WireCharset::ShiftJis, &[]);
        assert_eq!(decoded.error, None);
        let record = record_for(
            Some("examplepay"),
            "examplepay_card",
            &raw,
            &decoded,
            1,
            None,
        );
        assert_eq!(
            record.note.as_deref(),
            Some("undecodable bytes replaced in X-NAME")
        );
        assert_eq!(record.body, raw.body);

        let many: Vec<String> = (0..10).map(|n| format!("F{n}")).collect();
        assert_eq!(
            replaced_note(&many).unwrap(),
            "undecodable bytes replaced in F0, F1, F2, F3, F4, F5, F6, F7, 2 more"
        );
        assert_eq!(replaced_note(&[]), None);

        let bad_name = RawInbound {
            body: b"X-TOTAL=3990&X%82=1".to_vec(),
            ..raw
        };
        let decoded = decode(&bad_name, WireCharset::ShiftJis, &[]);
        assert_eq!(
            decoded.error.as_deref(),
            Some("a field name in the body is not valid Shift_JIS")
        );
    }

    /// The stable companion of a fuzz target for the host's decoder: random bytes as query, body and
    /// content type never panic, and whatever decodes re-encodes to valid text.
    #[test]
    fn random_bytes_never_panic_the_decoder() {
        let mut state: u64 = 0x0dec_0de5_eed5;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        const PIECES: &[&[u8]] = &[
            b"X-TRANID=",
            b"&",
            b"=",
            b"%",
            b"%8",
            b"%82%A0",
            b"+",
            b"%FF",
            b"\x82",
            b"a",
            b"%E3%81%82",
        ];
        for _ in 0..20_000 {
            let mut body = Vec::new();
            for _ in 0..(next() % 16) {
                if next() % 3 == 0 {
                    body.push((next() & 0xff) as u8);
                } else {
                    body.extend_from_slice(PIECES[(next() % PIECES.len() as u64) as usize]);
                }
            }
            for charset in [WireCharset::ShiftJis, WireCharset::Utf8] {
                if let Some(form) = parse_form(&body, charset) {
                    if charset == WireCharset::ShiftJis {
                        // Shift_JIS user-defined characters (gaiji, 0xF040–0xF9FC) decode to the
                        // Private Use Area, which the WHATWG encoder does not map back; so does the
                        // U+FFFD that replaced undecodable bytes; all else must.
                        let private = |c: char| ('\u{e000}'..='\u{f8ff}').contains(&c);
                        for (name, value) in &form.fields {
                            // No Shift_JIS bytes decode to U+FFFD: it is there only where bytes
                            // were replaced, never in a name, and the field says so.
                            assert!(!name.contains('\u{fffd}'), "{name:?}");
                            if value.contains('\u{fffd}') {
                                assert!(form.replaced.contains(name), "{name:?}={value:?}");
                            }
                            for text in [name, value] {
                                let mappable: String = text
                                    .chars()
                                    .filter(|c| !private(*c) && *c != '\u{fffd}')
                                    .collect();
                                assert!(!encoding_rs::SHIFT_JIS.encode(&mappable).2, "{text:?}");
                            }
                        }
                    }
                }
            }
            let content_type = match next() % 4 {
                0 => "application/x-www-form-urlencoded",
                1 => "application/x-www-form-urlencoded; charset=UTF-8",
                2 => "text/plain",
                _ => "application/x-www-form-urlencoded; charset=windows-31j",
            };
            let raw = RawInbound {
                method: if next() % 2 == 0 {
                    "POST".into()
                } else {
                    "GET".into()
                },
                query: String::from_utf8_lossy(&body).into_owned(),
                headers: vec![("content-type".into(), content_type.into())],
                body: body.clone(),
                peer: "127.0.0.1".parse().unwrap(),
            };
            let decoded = decode(&raw, WireCharset::ShiftJis, &[]);
            // One field per `&`-separated piece of the query and of a form body, never more.
            let pieces = |bytes: &[u8]| bytes.iter().filter(|b| **b == b'&').count() + 1;
            let most = pieces(raw.query.as_bytes())
                + if decoded.request.form_body {
                    pieces(&body)
                } else {
                    0
                };
            assert!(
                decoded.request.fields.len() <= most,
                "{} fields from {most} pieces",
                decoded.request.fields.len()
            );
        }
    }
}
