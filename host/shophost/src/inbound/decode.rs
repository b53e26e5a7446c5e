//! Decoding an inbound gateway request: the raw request as the web layer received it, the source
//! address behind trusted proxies, the form in the module's charset (values leniently, names strictly),
//! and the headers the journal keeps.

use std::net::IpAddr;

use shophost_module_api::{InboundRequest, IpRange, PaymentModule, WireCharset};

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
pub(crate) fn replaced_note(replaced: &[String]) -> Option<String> {
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
