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

/// Parses `application/x-www-form-urlencoded` bytes: `+` is a space, `%XX` are bytes, and the bytes are
/// decoded in `charset`. Refuses the whole form if any name or value is not valid in the charset.
pub fn parse_form(bytes: &[u8], charset: WireCharset) -> Option<Vec<(String, String)>> {
    let mut fields = Vec::new();
    for pair in bytes.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        let decode = |part: &[u8]| {
            let plus: Vec<u8> = part
                .iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect();
            let bytes: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
            decode_text(&bytes, charset)
        };
        fields.push((decode(name)?, decode(value)?));
    }
    Some(fields)
}

/// A decoded request, or why it could not be decoded.
pub struct Decoded {
    /// The request for the module.
    pub request: InboundRequest,
    /// The charset actually used.
    pub charset: WireCharset,
    /// Why decoding failed, when it did.
    pub error: Option<String>,
}

/// Decodes a raw request for a module speaking `charset`.
pub fn decode(raw: &RawInbound, charset: WireCharset, trusted_proxies: &[IpRange]) -> Decoded {
    let content_type = raw.header("content-type").map(str::to_owned);
    let charset = declared_charset(content_type.as_deref()).unwrap_or(charset);
    let mut error = None;
    let mut fields = match parse_form(raw.query.as_bytes(), charset) {
        Some(fields) => fields,
        None => {
            error = Some(format!("query string is not valid {}", charset.http_name()));
            Vec::new()
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
            Some(body_fields) => fields.extend(body_fields),
            None => error = Some(format!("body is not valid {}", charset.http_name())),
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
            fields,
            form_body,
            source: source_address(raw, trusted_proxies),
            headers,
        },
        charset,
        error,
    }
}

/// Decodes a raw request for `module`: in its wire charset, with the headers it declares it reads
/// beside the ones the host always keeps, so that the module sees them and the journal keeps them.
pub fn decode_for(
    raw: &RawInbound,
    module: &dyn PaymentModule,
    trusted_proxies: &[IpRange],
) -> Decoded {
    let mut decoded = decode(raw, module.wire_charset(), trusted_proxies);
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

/// Handles a server-to-server notification at endpoint `name`. `replay_of` is set when an operator
/// replays a journal entry through the same path.
pub async fn handle_notification(
    state: &AppState,
    name: &str,
    raw: RawInbound,
    replay_of: Option<i64>,
) -> Handled {
    let received_at = now_millis();
    let started = std::time::Instant::now();
    let Some(target) = state.engine.endpoint(name) else {
        // No module listens here: journal what came, answer plainly. There is no protocol to answer in.
        let decoded = decode(&raw, WireCharset::Utf8, &state.config.trusted_proxies);
        let record = record_for(None, name, &raw, &decoded, received_at, replay_of);
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
    let decoded = decode_for(&raw, module.as_ref(), &state.config.trusted_proxies);
    let record = record_for(
        Some(&module_id),
        name,
        &raw,
        &decoded,
        received_at,
        replay_of,
    );
    let request = decoded.request;
    let intent = if raw.body.len() > state.config.max_body_bytes {
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
    } else if !source_allowed(&target.endpoint.trust, request.source) {
        Intent::Refuse {
            refusal: Refusal::SourceNotAllowed,
            reason: format!("IP ADDRESS NOT ALLOWED: {}", request.source),
            link_key: None,
        }
    } else {
        match module
            .parse_notification(&target.config, name, &request)
            .await
        {
            Ok(notification) if !notification.mismatches.is_empty() => Intent::Refuse {
                refusal: Refusal::Mismatch,
                reason: notification.mismatches.join("; "),
                link_key: Some(notification.link_key),
            },
            Ok(notification) => Intent::Apply(notification),
            Err(rejection) => Intent::Refuse {
                refusal: Refusal::Malformed,
                reason: rejection.reason,
                link_key: rejection.link_key,
            },
        }
    };
    let link_key = match &intent {
        Intent::Apply(n) => Some(n.link_key.clone()),
        Intent::Refuse { link_key, .. } => link_key.clone(),
    };
    let context = ApplyContext {
        module_id: module_id.clone(),
        settlement_labels: target.labels.clone(),
        settlement_kinds: target.kinds.clone(),
        channel: "notification",
    };
    // The module's answers are worked out now, so storage runs no module code; the store journals the
    // one its verdict picks and the caller sends it after the commit.
    let responses = Responses::ask(|answer| module.respond(name, &request, answer));
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
                response: module.respond(name, &request, &Answer::Unavailable),
                verdict: None,
                journal_id: None,
            }
        }
    }
}

fn source_allowed(trust: &NotificationTrust, source: IpAddr) -> bool {
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
    Ok(handle_notification(state, &entry.endpoint, raw, Some(journal_id)).await)
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

    #[test]
    fn cp932_forms_decode_and_bad_bytes_are_refused() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("①㈱髙");
        let encoded: String =
            percent_encoding::percent_encode(&bytes, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let form = format!("X-NAME={encoded}&A=b+c");
        let fields = parse_form(form.as_bytes(), WireCharset::ShiftJis).unwrap();
        assert_eq!(
            fields,
            vec![
                ("X-NAME".into(), "①㈱髙".into()),
                ("A".into(), "b c".into())
            ]
        );
        assert_eq!(parse_form(b"A=%82", WireCharset::ShiftJis), None);
        assert_eq!(parse_form(b"A=%FF%FF", WireCharset::Utf8), None);
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
                if let Some(fields) = parse_form(&body, charset) {
                    if charset == WireCharset::ShiftJis {
                        // Shift_JIS user-defined characters (gaiji, 0xF040–0xF9FC) decode to the
                        // Private Use Area, which the WHATWG encoder does not map back; all else must.
                        let private = |c: char| ('\u{e000}'..='\u{f8ff}').contains(&c);
                        for text in fields.iter().flat_map(|(name, value)| [name, value]) {
                            let mappable: String = text.chars().filter(|c| !private(*c)).collect();
                            assert!(!encoding_rs::SHIFT_JIS.encode(&mappable).2, "{text:?}");
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
