//! Forged requests for the `notification_trust` check, made from the author's genuine ones without
//! knowing the gateway's protocol: a signature with every character changed, a request without its
//! signature, and a request whose amount was changed after it was signed.
//!
//! They work where the signature travels in a header the module declares it reads
//! (`inbound_headers`), and where the amount is written as its decimal digits. A gateway that signs
//! differently says how to forge its requests in [`crate::WireFormat`]'s `forged_notification`,
//! `unsigned_notification` and `tampered_notification`.

use crate::wire_format::TestRequest;

/// Whether `name` is one of the headers the module declares it reads.
fn declared(name: &str, headers: &[&str]) -> bool {
    headers
        .iter()
        .any(|wanted| wanted.eq_ignore_ascii_case(name))
}

/// The request without the declared headers (its signature, for a gateway that signs in a header).
/// `None` when it carries none of them, so there is nothing to remove.
pub(crate) fn without_headers(request: &TestRequest, headers: &[&str]) -> Option<TestRequest> {
    let mut unsigned = request.clone();
    unsigned
        .headers
        .retain(|(name, _)| !declared(name, headers));
    (unsigned.headers.len() < request.headers.len()).then_some(unsigned)
}

/// The request with every character of the declared headers changed (a signature of the same form
/// that is not the right one). `None` when it carries none of them.
pub(crate) fn with_forged_headers(request: &TestRequest, headers: &[&str]) -> Option<TestRequest> {
    let mut forged = request.clone();
    let mut changed = false;
    for (name, value) in &mut forged.headers {
        if declared(name, headers) {
            *value = value.chars().map(other_char).collect();
            changed = true;
        }
    }
    changed.then_some(forged)
}

/// A character of the same kind that differs from `c`: the next hex digit for hex, the next letter or
/// digit otherwise; anything else stays.
fn other_char(c: char) -> char {
    match c {
        '0'..='8' | 'a'..='e' | 'A'..='E' => char::from(c as u8 + 1),
        '9' => 'a',
        'f' => '0',
        'F' => '0',
        'g'..='y' | 'G'..='Y' => char::from(c as u8 + 1),
        'z' => 'g',
        'Z' => 'G',
        other => other,
    }
}

/// The request with every `from` amount written in its query and body replaced by `to` (both the same
/// number of digits), its headers (and so a signature in them) untouched. `None` when the amount does
/// not appear.
pub(crate) fn with_amount(request: &TestRequest, from: i64, to: i64) -> Option<TestRequest> {
    let (from, to) = (from.to_string(), to.to_string());
    let mut tampered = request.clone();
    tampered.query = tampered.query.replace(&from, &to);
    tampered.body = replace_bytes(&tampered.body, from.as_bytes(), to.as_bytes());
    (tampered != *request).then_some(tampered)
}

fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while !rest.is_empty() {
        if rest.starts_with(from) {
            out.extend_from_slice(to);
            rest = &rest[from.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> TestRequest {
        TestRequest::post(
            "application/json",
            br#"{"amount":1890,"order":"1"}"#.to_vec(),
        )
        .header("X-Sig", "09afAF-zZ")
        .header("User-Agent", "gateway")
    }

    #[test]
    fn forgeries_change_only_what_they_say() {
        let unsigned = without_headers(&signed(), &["x-sig"]).unwrap();
        assert_eq!(
            unsigned.headers,
            [("User-Agent".to_owned(), "gateway".to_owned())]
        );
        assert_eq!(unsigned.body, signed().body);
        let forged = with_forged_headers(&signed(), &["x-sig"]).unwrap();
        assert_eq!(forged.headers[0].1, "1ab0B0-gG");
        assert_eq!(forged.headers[1], signed().headers[1]);
        assert_eq!(without_headers(&signed(), &["x-other"]), None);
        assert_eq!(with_forged_headers(&signed(), &[]), None);
        let tampered = with_amount(&signed(), 1890, 1980).unwrap();
        assert_eq!(tampered.body, br#"{"amount":1980,"order":"1"}"#);
        assert_eq!(tampered.headers, signed().headers);
        assert_eq!(with_amount(&signed(), 1234, 1980), None);
        let query = with_amount(&TestRequest::get("amount=1890&x=1"), 1890, 1980).unwrap();
        assert_eq!(query.query, "amount=1980&x=1");
    }
}
