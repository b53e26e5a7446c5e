//! Inbound gateway requests: decoding, source checks, and the notification path.
//!
//! The path for every notification, from every module, is the same: decode the body in the module's wire
//! charset (Windows-31J for Shift_JIS), work out the real source address, check it against what the
//! module trusts, let the module read the request, then journal and apply it in one transaction, and
//! only then answer with the bytes the module chose. If storage fails the answer is the module's
//! "unavailable" (never an acknowledgement), so the gateway retries.

use std::net::IpAddr;

use shophost_module_api::{
    Answer, InboundRequest, IpRange, NotificationTrust, PaymentModule, Refusal, WireCharset,
    WireResponse,
};

use crate::db::{ApplyContext, InboundRecord, Intent, Responses, Verdict};
use crate::domain::now_millis;
use crate::AppState;

/// Headers worth keeping in the journal for every request (lower-case); a module adds the ones it reads
/// (`PaymentModule::inbound_headers`, see [`decode_for`]).
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "user-agent",
    "x-forwarded-for",
];

/// An HTTP request as the host's web layer received it, before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInbound {
    /// Method.
    pub method: String,
    /// Query string without `?`.
    pub query: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// The TCP peer.
    pub peer: IpAddr,
}

impl RawInbound {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The source address after trusted-proxy rules (see [`crate::forwarded`]); a forwarded entry that is
/// not an address makes the source the unspecified address, which no allowlist admits.
pub fn source_address(raw: &RawInbound, trusted_proxies: &[IpRange]) -> IpAddr {
    crate::forwarded::client_source(raw.peer, &raw.headers, trusted_proxies).ip()
}

/// The charset named in a `Content-Type` header, when it names one we know.
fn declared_charset(content_type: Option<&str>) -> Option<WireCharset> {
    let content_type = content_type?.to_ascii_lowercase();
    let charset = content_type
        .split(';')
        .filter_map(|part| part.trim().strip_prefix("charset="))
        .next()?
        .trim_matches('"')
        .to_owned();
    match charset.as_str() {
        "utf-8" | "utf8" => Some(WireCharset::Utf8),
        "shift_jis" | "shift-jis" | "sjis" | "windows-31j" | "cp932" | "ms_kanji" | "x-sjis" => {
            Some(WireCharset::ShiftJis)
        }
        _ => None,
    }
}

/// Decodes bytes in a charset, refusing anything that is not valid in it.
pub fn decode_text(bytes: &[u8], charset: WireCharset) -> Option<String> {
    match charset {
        WireCharset::Utf8 => String::from_utf8(bytes.to_vec()).ok(),
        // encoding_rs's Shift_JIS is the WHATWG one, i.e. Windows-31J (CP932) with NEC and IBM
        // extensions, so ①, ㈱ and 髙 decode.
        WireCharset::ShiftJis => encoding_rs::SHIFT_JIS
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|text| text.into_owned()),
    }
}

/// Decodes bytes in a charset, replacing each sequence not valid in it with U+FFFD; says whether any
/// was replaced.
fn decode_replacing(bytes: &[u8], charset: WireCharset) -> (String, bool) {
    match charset {
        WireCharset::Utf8 => match String::from_utf8(bytes.to_vec()) {
            Ok(text) => (text, false),
            Err(error) => (String::from_utf8_lossy(error.as_bytes()).into_owned(), true),
        },
        WireCharset::ShiftJis => {
            let (text, replaced) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
            (text.into_owned(), replaced)
        }
    }
}

/// A decoded form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// Names and values, in the order sent.
    pub fields: Vec<(String, String)>,
    /// The names of the fields whose values held bytes not valid in the charset (each once, in order).
    pub replaced: Vec<String>,
}

/// Parses `application/x-www-form-urlencoded` bytes: `+` is a space, `%XX` are bytes, and the bytes are
/// decoded in `charset`.
///
/// One bad byte in a genuine notification must not lose the payment, and the host cannot know which
/// values matter, so values are decoded leniently: bytes not valid in the charset become U+FFFD and the
/// field is listed in [`Form::replaced`]. The module decides: a value it relies on (a link key, an
/// amount, a code) with U+FFFD in it fails its own checks. Names are decoded strictly: a name that is
/// not valid in the charset refuses the whole form (`None`), since no module can tell what it was.
pub fn parse_form(bytes: &[u8], charset: WireCharset) -> Option<Form> {
    let mut form = Form::default();
    for pair in bytes.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        let unescape = |part: &[u8]| -> Vec<u8> {
            let plus: Vec<u8> = part
                .iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect();
            percent_encoding::percent_decode(&plus).collect()
        };
        let name = decode_text(&unescape(name), charset)?;
        let (value, replaced) = decode_replacing(&unescape(value), charset);
        if replaced && !form.replaced.contains(&name) {
            form.replaced.push(name.clone());
        }
        form.fields.push((name, value));
    }
    Some(form)
}

/// The journal's note on fields whose undecodable bytes were replaced; the names are the sender's, so
/// only the first few are named.
fn replaced_note(replaced: &[String]) -> Option<String> {
    const NAMED: usize = 8;
    let (first, rest) = replaced.split_at(replaced.len().min(NAMED));
    let mut names: Vec<String> = first
        .iter()
        .map(|name| name.chars().take(64).collect())
        .collect();
    if !rest.is_empty() {
        names.push(format!("{} more", rest.len()));
    }
    (!names.is_empty()).then(|| format!("undecodable bytes replaced in {}", names.join(", ")))
}

/// A decoded request, or why it could not be decoded.
pub struct Decoded {
    /// The request for the module.
    pub request: InboundRequest,
    /// The charset actually used.
    pub charset: WireCharset,
    /// Why decoding failed, when it did.
    pub error: Option<String>,
    /// Fields whose values had undecodable bytes, replaced with U+FFFD (see [`parse_form`]).
    pub replaced: Vec<String>,
}

/// Decodes a raw request for a module speaking `charset`.
pub fn decode(raw: &RawInbound, charset: WireCharset, trusted_proxies: &[IpRange]) -> Decoded {
    let content_type = raw.header("content-type").map(str::to_owned);
    let charset = declared_charset(content_type.as_deref()).unwrap_or(charset);
    let mut error = None;
    let not_valid = |part: &str| {
        format!(
            "a field name in the {part} is not valid {}",
            charset.http_name()
        )
    };
    let mut form = match parse_form(raw.query.as_bytes(), charset) {
        Some(form) => form,
        None => {
            error = Some(not_valid("query string"));
            Form::default()
        }
    };
    let is_form = content_type
        .as_deref()
        .map(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    let form_body = raw.method == "POST" && is_form;
    if form_body {
        match parse_form(&raw.body, charset) {
            Some(body) => {
                form.fields.extend(body.fields);
                for name in body.replaced {
                    if !form.replaced.contains(&name) {
                        form.replaced.push(name);
                    }
                }
            }
            None => error = Some(not_valid("body")),
        }
    }
    let headers = raw
        .headers
        .iter()
        .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
        .cloned()
        .collect();
    Decoded {
        request: InboundRequest {
            method: raw.method.clone(),
            content_type,
            body: raw.body.clone(),
            fields: form.fields,
            form_body,
            source: source_address(raw, trusted_proxies),
            headers,
        },
        charset,
        error,
        replaced: form.replaced,
    }
}

/// Decodes a raw request for `module`: in its wire charset (asked once, with its settings), with the
/// headers it declares it reads beside the ones the host always keeps, so that the module sees them
/// and the journal keeps them.
pub fn decode_for(
    raw: &RawInbound,
    charset: WireCharset,
    module: &dyn PaymentModule,
    trusted_proxies: &[IpRange],
) -> Decoded {
    let mut decoded = decode(raw, charset, trusted_proxies);
    let declared = module.inbound_headers();
    decoded.request.headers.extend(
        raw.headers
            .iter()
            .filter(|(name, _)| {
                !KEPT_HEADERS.contains(&name.as_str())
                    && declared
                        .iter()
                        .any(|wanted| wanted.eq_ignore_ascii_case(name))
            })
            .cloned(),
    );
    decoded
}

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
