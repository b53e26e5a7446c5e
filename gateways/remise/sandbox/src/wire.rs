//! Shift_JIS on the wire: form bodies in, form bodies and HTML pages out.
//!
//! Remise speaks Windows-31J everywhere (Welcart's forms say `accept-charset="Shift_JIS"`,
//! notifications are SJIS-encoded). The sandbox does the same on every edge so that a shop
//! which forgets to decode or encode Shift_JIS fails here, in the 接続テスト, and not in
//! production. axum's `Form` extractor is not used because it assumes UTF-8.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use encoding_rs::SHIFT_JIS;
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The characters left as they are when percent-encoding a form value: the same set the
/// WHATWG `application/x-www-form-urlencoded` serializer leaves alone (apart from the space,
/// which we send as `%20`; every decoder accepts that as well as `+`).
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// A decoded `application/x-www-form-urlencoded` body, in the order the fields arrived.
#[derive(Debug, Clone, Default)]
pub(crate) struct RemiseForm {
    pub(crate) fields: Vec<(String, String)>,
}

impl RemiseForm {
    /// Decodes a Shift_JIS form body: split on `&` and `=`, `+` becomes a space, percent-escapes
    /// become bytes, and only then are the bytes decoded, because one Japanese character is
    /// two escaped bytes.
    pub(crate) fn parse_sjis(body: &[u8]) -> RemiseForm {
        let fields = body
            .split(|&byte| byte == b'&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let mut parts = pair.splitn(2, |&byte| byte == b'=');
                let name = parts.next().unwrap_or_default();
                let value = parts.next().unwrap_or_default();
                (decode_component(name), decode_component(value))
            })
            .collect();
        RemiseForm { fields }
    }

    /// The first value sent under `name`, as PHP and ASP.NET would read it.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value sent under `name`, or the empty string when it is missing.
    pub(crate) fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }
}

fn decode_component(raw: &[u8]) -> String {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&byte| if byte == b'+' { b' ' } else { byte })
        .collect();
    let bytes: Vec<u8> = percent_decode(&spaced).collect();
    let (text, _, _) = SHIFT_JIS.decode(&bytes);
    text.into_owned()
}

/// Encodes fields as a Shift_JIS, percent-encoded form body, as Remise posts its notifications.
pub(crate) fn encode_sjis_form(fields: &[(String, String)]) -> Vec<u8> {
    let mut body = String::new();
    for (index, (name, value)) in fields.iter().enumerate() {
        if index > 0 {
            body.push('&');
        }
        let (name_bytes, _, _) = SHIFT_JIS.encode(name);
        let (value_bytes, _, _) = SHIFT_JIS.encode(value);
        body.extend(percent_encode(&name_bytes, FORM_VALUE));
        body.push('=');
        body.extend(percent_encode(&value_bytes, FORM_VALUE));
    }
    body.into_bytes()
}

/// Decodes an answer body (a shop's acknowledgement) for display; they are normally ASCII.
pub(crate) fn decode_sjis(bytes: &[u8]) -> String {
    SHIFT_JIS.decode(bytes).0.into_owned()
}

/// An HTML page encoded as Shift_JIS. Characters that Windows-31J cannot represent become
/// numeric character references, which the browser turns back into the character.
pub(crate) fn sjis_html(status: StatusCode, html: &str) -> Response {
    let (bytes, _, _) = SHIFT_JIS.encode(html);
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=Shift_JIS")],
        bytes.into_owned(),
    )
        .into_response()
}

/// Escapes text for use in HTML element content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn japanese_values_survive_a_round_trip() {
        let fields = pairs(&[
            ("X-NAME", "山田 太郎"),
            ("X-ERRCODE", "   "),
            ("URL", "http://a/?b=1&c=2"),
            ("髙", "①㈱"),
        ]);
        let body = encode_sjis_form(&fields);
        assert!(body.is_ascii());
        assert_eq!(RemiseForm::parse_sjis(&body).fields, fields);
    }

    #[test]
    fn plus_is_a_space_and_escaped_plus_is_a_plus() {
        let form = RemiseForm::parse_sjis(b"A=1+2&B=1%2B2&C&D=");
        assert_eq!(form.get("A"), Some("1 2"));
        assert_eq!(form.get("B"), Some("1+2"));
        assert_eq!(form.get("C"), Some(""));
        assert_eq!(form.value("D"), "");
        assert_eq!(form.get("E"), None);
    }

    #[test]
    fn shift_jis_bytes_are_decoded_after_percent_decoding() {
        // "テスト" in Shift_JIS is 83 65 83 58 83 67.
        let form = RemiseForm::parse_sjis(b"NAME=%83e%83X%83g");
        assert_eq!(form.get("NAME"), Some("テスト"));
    }

    #[test]
    fn escape_covers_attribute_breakers() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
