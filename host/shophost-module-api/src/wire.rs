//! What crosses the wire: charsets, inbound requests as the host hands them over, the responses a module
//! asks the host to send, and source-address ranges.
//!
//! The host does the encoding, decoding and source checks; these types only describe them, so no module
//! hand-rolls percent-decoding or Shift_JIS.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The character set a gateway speaks on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireCharset {
    /// UTF-8.
    Utf8,
    /// Shift_JIS, decoded and encoded as Windows-31J (CP932) so that ①, ㈱ and 髙 survive.
    ShiftJis,
}

impl WireCharset {
    /// The name for `accept-charset` and `Content-Type`.
    pub fn http_name(self) -> &'static str {
        match self {
            WireCharset::Utf8 => "UTF-8",
            WireCharset::ShiftJis => "Shift_JIS",
        }
    }
}

/// How far a gateway's notifications can be trusted by themselves.
///
/// The conformance kit checks each: for a signed endpoint it sends forged, unsigned and tampered
/// notifications; a source allowlist must not admit everyone; an unverified endpoint must say why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationTrust {
    /// The module verifies a signature over the raw body in `parse_notification` (see
    /// [`crate::signature`]) and rejects anything whose signature does not verify.
    Signed,
    /// Only the source address vouches for the request: the host accepts it only from these ranges.
    SourceAddress(Vec<IpRange>),
    /// Nothing vouches for it. The host still checks link key and amount against its own records, but
    /// anyone who learns a link key and an amount can post a payment. Declare why that is acceptable
    /// for this gateway (for example, that the operator allows only the gateway's addresses at the
    /// reverse proxy); the conformance kit fails an unverified endpoint without a reason.
    Unverified {
        /// Why the endpoint is not verified, for operators (`shophost modules`) and reviewers.
        reason: String,
    },
}

impl fmt::Display for NotificationTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotificationTrust::Signed => f.write_str("signed"),
            NotificationTrust::SourceAddress(ranges) => {
                f.write_str("source addresses ")?;
                if ranges.is_empty() {
                    return f.write_str("(none: every request is refused)");
                }
                for (index, range) in ranges.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{range}")?;
                }
                Ok(())
            }
            NotificationTrust::Unverified { reason } if reason.trim().is_empty() => {
                f.write_str("UNVERIFIED (no reason given)")
            }
            NotificationTrust::Unverified { reason } => write!(f, "UNVERIFIED: {reason}"),
        }
    }
}

/// Which URL of an endpoint the operator registers at the gateway. The host serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointPath {
    /// `/notify/{name}`.
    Notify,
    /// `/index.php?acting={name}`: the URL Welcart used, which operators moving from Welcart have
    /// already registered at the gateway.
    Welcart,
}

/// A notification endpoint a module listens on, and what the module declares about it: what vouches
/// for its requests and what the operator registers at the gateway. The host builds the operator's
/// advice, the start-up banner and `shophost modules` from it.
///
/// ```
/// use shophost_module_api::{NotificationEndpoint, IpRange};
///
/// let ranges = IpRange::parse_list("210.160.253.128/26").unwrap();
/// let endpoint = NotificationEndpoint::source_address("remise_card", ranges)
///     .welcart_path()
///     .setting_name("結果通知URL")
///     .registered_at("加盟店バックヤード");
/// assert_eq!(endpoint.url("https://shop.example.jp"), "https://shop.example.jp/index.php?acting=remise_card");
/// assert_eq!(endpoint.trust.to_string(), "source addresses 210.160.253.128/26");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotificationEndpoint {
    /// The endpoint's name, unique across all modules. The host serves it at `/notify/{name}` and,
    /// for Welcart compatibility, at `/index.php?acting={name}`.
    pub name: String,
    /// What vouches for requests to it.
    pub trust: NotificationTrust,
    /// Which of the two URLs the operator registers at the gateway.
    pub path: EndpointPath,
    /// What the gateway calls the setting the URL goes in, e.g. `結果通知URL`.
    pub setting_name: Option<String>,
    /// Where at the gateway the operator registers it, e.g. `加盟店バックヤード`.
    pub registered_at: Option<String>,
}

impl NotificationEndpoint {
    fn new(name: impl Into<String>, trust: NotificationTrust) -> Self {
        NotificationEndpoint {
            name: name.into(),
            trust,
            path: EndpointPath::Notify,
            setting_name: None,
            registered_at: None,
        }
    }

    /// An endpoint whose requests the module verifies by their signature.
    pub fn signed(name: impl Into<String>) -> Self {
        Self::new(name, NotificationTrust::Signed)
    }

    /// An endpoint whose requests the host accepts only from these address ranges.
    pub fn source_address(name: impl Into<String>, ranges: Vec<IpRange>) -> Self {
        Self::new(name, NotificationTrust::SourceAddress(ranges))
    }

    /// An endpoint nothing vouches for, and why that is acceptable (see [`NotificationTrust::Unverified`]).
    pub fn unverified(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(
            name,
            NotificationTrust::Unverified {
                reason: reason.into(),
            },
        )
    }

    /// The operator registers `/index.php?acting={name}` (Welcart's URL) rather than `/notify/{name}`.
    pub fn welcart_path(mut self) -> Self {
        self.path = EndpointPath::Welcart;
        self
    }

    /// Sets what the gateway calls the setting the URL goes in.
    pub fn setting_name(mut self, name: impl Into<String>) -> Self {
        self.setting_name = Some(name.into());
        self
    }

    /// Sets where at the gateway the operator registers the URL.
    pub fn registered_at(mut self, place: impl Into<String>) -> Self {
        self.registered_at = Some(place.into());
        self
    }

    /// The path the operator registers, e.g. `/notify/acme`.
    pub fn path(&self) -> String {
        match self.path {
            EndpointPath::Notify => format!("/notify/{}", self.name),
            EndpointPath::Welcart => format!("/index.php?acting={}", self.name),
        }
    }

    /// The URL the operator registers, under the shop's public URL (without a trailing slash).
    pub fn url(&self, public_url: &str) -> String {
        format!("{}{}", public_url.trim_end_matches('/'), self.path())
    }
}

/// What the shopper's browser came back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnKind {
    /// The gateway says the payment went through (Remise `RETURL`).
    Success,
    /// The gateway says it did not (Remise `NG_RETURL`).
    Failure,
    /// The shopper cancelled at the gateway (Remise `EXITURL`).
    Cancel,
}

impl ReturnKind {
    /// The path segment the host uses for this kind: `ok`, `ng` or `exit`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnKind::Success => "ok",
            ReturnKind::Failure => "ng",
            ReturnKind::Cancel => "exit",
        }
    }

    /// The kind for a path segment.
    pub fn parse(segment: &str) -> Option<Self> {
        match segment {
            "ok" => Some(ReturnKind::Success),
            "ng" => Some(ReturnKind::Failure),
            "exit" => Some(ReturnKind::Cancel),
            _ => None,
        }
    }
}

/// An inbound gateway request (notification or browser return) as the host received and decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The raw body bytes exactly as received.
    pub body: Vec<u8>,
    /// Query-string and (for form bodies) body fields, decoded from the module's wire charset, in the
    /// order received: query first, then body. Empty when the body is not a form. Bytes of a value that
    /// are not valid in the charset arrive as U+FFFD (a name that is not valid refuses the request):
    /// a field the module relies on must refuse it.
    pub fields: Vec<(String, String)>,
    /// Whether `fields` includes a decoded form body (a `POST` with a form content type).
    pub form_body: bool,
    /// The sender's address after the host applied its trusted-proxy rules.
    pub source: IpAddr,
    /// The headers that matter to gateways (lower-case names), e.g. signature headers.
    pub headers: Vec<(String, String)>,
}

impl InboundRequest {
    /// The first field with this name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether a field with this name is present (even if empty).
    pub fn has_field(&self, name: &str) -> bool {
        self.fields.iter().any(|(key, _)| key == name)
    }

    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The exact HTTP response a module wants sent to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header value.
    pub content_type: String,
    /// Body bytes, sent as they are.
    pub body: Vec<u8>,
}

impl WireResponse {
    /// A response with a text body.
    pub fn text(status: u16, content_type: &str, body: &str) -> Self {
        WireResponse {
            status,
            content_type: content_type.to_owned(),
            body: body.as_bytes().to_vec(),
        }
    }
}

/// What the host decided about a notification, for the module to put in its own protocol's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The signal was committed (or was a duplicate of one already committed): acknowledge it.
    Acknowledge,
    /// The request was refused and changed nothing; the kind of refusal picks the protocol's error
    /// answer. Why, in words, goes to the host's journal, not to the gateway (the host asks for every
    /// answer before it knows).
    Refuse(Refusal),
    /// The host could not store the signal (database down): the gateway should retry later.
    Unavailable,
}

/// Why the host refused a notification.
///
/// `#[non_exhaustive]`: the host may learn to tell more refusals apart. Answer the ones your protocol
/// distinguishes and the rest (`_`) with its generic error; a refusal is never an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The sender's address is not allowed for this endpoint.
    SourceNotAllowed,
    /// The request could not be read (wrong method, content type, charset, missing or malformed fields,
    /// bad signature).
    Malformed,
    /// No checkout attempt of this shop has the link key.
    UnknownLinkKey,
    /// The link key is known but the amount, shop identity or settlement type does not match it.
    Mismatch,
    /// The attempt or order is in a state this signal cannot apply to.
    WrongState,
}

impl Refusal {
    /// Every refusal, for whoever must prepare an answer to each (the host, the conformance kit).
    pub const ALL: [Refusal; 5] = [
        Refusal::SourceNotAllowed,
        Refusal::Malformed,
        Refusal::UnknownLinkKey,
        Refusal::Mismatch,
        Refusal::WrongState,
    ];
}

/// An IPv4 or IPv6 network in CIDR notation (`210.160.253.128/26`, `::1/128`); a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    /// The network address.
    pub network: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl IpRange {
    /// Whether `address` lies in this range. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
            v4 => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }

    /// Parses a whitespace- or comma-separated list of ranges.
    pub fn parse_list(text: &str) -> Result<Vec<IpRange>, String> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl FromStr for IpRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has an invalid prefix length"))?,
        };
        Ok(IpRange { network, prefix })
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_contain_what_they_should() {
        let range: IpRange = "183.177.132.57/29".parse().unwrap();
        assert!(range.contains("183.177.132.56".parse().unwrap()));
        assert!(range.contains("183.177.132.63".parse().unwrap()));
        assert!(!range.contains("183.177.132.64".parse().unwrap()));
        let single: IpRange = "3.114.65.232".parse().unwrap();
        assert!(single.contains("3.114.65.232".parse().unwrap()));
        assert!(!single.contains("3.114.65.233".parse().unwrap()));
        assert!(single.contains("::ffff:3.114.65.232".parse().unwrap()));
        let v6: IpRange = "::1".parse().unwrap();
        assert!(v6.contains("::1".parse().unwrap()));
        assert!(!v6.contains("127.0.0.1".parse().unwrap()));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn bad_ranges_say_why() {
        assert_eq!(
            "1.2.3.4/33".parse::<IpRange>().unwrap_err(),
            "`1.2.3.4/33` has an invalid prefix length"
        );
        assert!(IpRange::parse_list("1.2.3.4, nope").is_err());
        assert_eq!(IpRange::parse_list("1.2.3.4, ::1").unwrap().len(), 2);
    }
}
