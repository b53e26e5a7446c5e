//! The address a request really came from, behind reverse proxies.
//!
//! A gateway's notifications are trusted by their source address (gateways publish the ranges they
//! post from), so reading that address wrongly lets anyone pose as the gateway. `X-Forwarded-For` is read
//! only when the TCP peer is one of `server.trusted_proxies`, and then every line of it counts: a
//! client may send its own `X-Forwarded-For` line, and a proxy such as HAProxy (`option forwardfor`)
//! adds another line rather than appending to the client's. The lines are joined in order, and the scan
//! goes from the right (the hop nearest to us) to the left, skipping trusted proxies; the first entry
//! that is not a trusted proxy is the source. Everything left of it was written by that untrusted
//! party and is never read.
//!
//! Proxies write entries as `ip`, `ip:port` (Azure Application Gateway), `[ipv6]` or `[ipv6]:port`. An
//! entry that is none of those stops the scan: the source is then unknown, which no allowlist admits
//! (scanning on past it would walk into entries the client wrote). The `Forwarded` header (RFC 7239) is
//! not read: a proxy that sends only it leaves the peer as the source, which fails closed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use shophost_module_api::IpRange;

/// Where a request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A known address.
    Address(IpAddr),
    /// A trusted proxy forwarded an entry that is not an address; it is kept for the journal.
    Unparseable(String),
}

impl Source {
    /// The address for allowlist checks: an unknown source is the unspecified address, which no
    /// range a gateway declares contains.
    pub fn ip(&self) -> IpAddr {
        match self {
            Source::Address(ip) => *ip,
            Source::Unparseable(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Address(ip) => write!(f, "{ip}"),
            Source::Unparseable(entry) => {
                write!(
                    f,
                    "unknown (X-Forwarded-For entry {entry:?} is not an address)"
                )
            }
        }
    }
}

/// One `X-Forwarded-For` entry as an address: `ip`, `ip:port`, `[ipv6]`, `[ipv6]:port`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    // `[2001:db8::1]` without a port.
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

/// The source of a request from `peer` with these headers (lower-case names, every line kept in
/// order), believing `X-Forwarded-For` only from `trusted_proxies`.
pub fn client_source(
    peer: IpAddr,
    headers: &[(String, String)],
    trusted_proxies: &[IpRange],
) -> Source {
    let trusted = |ip: IpAddr| trusted_proxies.iter().any(|range| range.contains(ip));
    if !trusted(peer) {
        return Source::Address(peer);
    }
    let entries: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| name == "x-forwarded-for")
        .flat_map(|(_, value)| value.split(','))
        .collect();
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        match parse_entry(entry) {
            None => return Source::Unparseable(entry.trim().to_owned()),
            Some(ip) if trusted(ip) => nearest = ip,
            Some(ip) => return Source::Address(ip),
        }
    }
    // Every hop is a trusted proxy: the request started at the farthest one.
    Source::Address(nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(peer: &str, lines: &[&str], expect: &str) {
        let proxies: Vec<IpRange> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ];
        let headers: Vec<(String, String)> = lines
            .iter()
            .map(|line| ("x-forwarded-for".to_owned(), (*line).to_owned()))
            .collect();
        let source = client_source(peer.parse().unwrap(), &headers, &proxies);
        assert_eq!(source.to_string(), expect, "peer {peer}, lines {lines:?}");
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        check("203.0.113.9", &["3.114.65.232"], "203.0.113.9");
        check("10.0.0.2", &["3.114.65.232"], "3.114.65.232");
        check("10.0.0.2", &[], "10.0.0.2");
    }

    #[test]
    fn the_right_most_untrusted_entry_wins_and_client_entries_are_never_read() {
        check(
            "10.0.0.2",
            &["6.6.6.6, 3.114.65.232, 10.0.0.9"],
            "3.114.65.232",
        );
        // A client behind the proxy wrote a gateway's address itself; the proxy appended the real one.
        check(
            "127.0.0.1",
            &["3.114.65.232, 198.51.100.77"],
            "198.51.100.77",
        );
    }

    #[test]
    fn every_line_is_read_in_order() {
        // HAProxy's `option forwardfor` adds its own line after the client's.
        check(
            "127.0.0.1",
            &["3.114.65.232", "198.51.100.77"],
            "198.51.100.77",
        );
        check(
            "127.0.0.1",
            &["3.114.65.232", "198.51.100.77, 10.1.1.1"],
            "198.51.100.77",
        );
    }

    #[test]
    fn ports_and_bracketed_ipv6_are_addresses() {
        check(
            "127.0.0.1",
            &["3.114.65.232, 198.51.100.77:41234"],
            "198.51.100.77",
        );
        check(
            "127.0.0.1",
            &["3.114.65.232, [2001:db8::1]:443"],
            "2001:db8::1",
        );
        check("127.0.0.1", &["3.114.65.232, [2001:db8::1]"], "2001:db8::1");
        check("127.0.0.1", &["2001:db8::2"], "2001:db8::2");
        check("127.0.0.1", &["2001:db8::3, fd00::1"], "2001:db8::3");
    }

    #[test]
    fn an_entry_that_is_not_an_address_stops_the_scan() {
        check(
            "127.0.0.1",
            &["3.114.65.232, garbage"],
            "unknown (X-Forwarded-For entry \"garbage\" is not an address)",
        );
        check(
            "127.0.0.1",
            &["3.114.65.232, "],
            "unknown (X-Forwarded-For entry \"\" is not an address)",
        );
        check(
            "127.0.0.1",
            &["3.114.65.232", "unknown"],
            "unknown (X-Forwarded-For entry \"unknown\" is not an address)",
        );
        let unknown = Source::Unparseable("x".into());
        assert_eq!(unknown.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let gateway: IpRange = "3.114.65.0/24".parse().unwrap();
        assert!(!gateway.contains(unknown.ip()));
    }

    #[test]
    fn only_trusted_hops_leave_the_farthest_one() {
        check("127.0.0.1", &["10.0.0.5, 10.0.0.6"], "10.0.0.5");
    }
}
