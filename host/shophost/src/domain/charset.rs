//! Text in a gateway's charset, going out: which characters a charset cannot carry, and a page encoded
//! in it.
//!
//! A page that carries a gateway form is served in the gateway's charset (Shift_JIS for some), so the
//! browser submits exactly the bytes the gateway expects. Form values are checked with
//! [`unrepresentable`] before such a page is built, so the shopper is told instead of the gateway
//! receiving mojibake; shop text elsewhere on the page that the charset lacks becomes an HTML numeric
//! reference, which the browser shows correctly. (Reading inbound Windows-31J bodies is `inbound.rs`'s.)

use shophost_module_api::WireCharset;

/// The characters of `text` that `charset` cannot carry, in order; `None` when every one fits.
pub fn unrepresentable(charset: WireCharset, text: &str) -> Option<String> {
    match charset {
        WireCharset::Utf8 => None,
        WireCharset::ShiftJis => {
            if !encoding_rs::SHIFT_JIS.encode(text).2 {
                return None;
            }
            let mut buffer = [0u8; 4];
            Some(
                text.chars()
                    .filter(|c| encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut buffer)).2)
                    .collect(),
            )
        }
    }
}

/// An HTML page's bytes in `charset`. Characters the charset lacks become decimal numeric references
/// (`&#134071;`), which `encoding_rs` writes for every non-UTF-8 encoding.
pub fn encode_html(charset: WireCharset, html: String) -> Vec<u8> {
    match charset {
        WireCharset::Utf8 => html.into_bytes(),
        WireCharset::ShiftJis => encoding_rs::SHIFT_JIS.encode(&html).0.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_jis_names_what_it_cannot_carry() {
        assert_eq!(unrepresentable(WireCharset::ShiftJis, "山田 太郎"), None);
        assert_eq!(
            unrepresentable(WireCharset::ShiftJis, "𠮷田と𠮷野"),
            Some("𠮷𠮷".to_owned())
        );
        assert_eq!(unrepresentable(WireCharset::Utf8, "𠮷田"), None);
    }

    #[test]
    fn pages_get_numeric_references_for_what_shift_jis_lacks() {
        let bytes = encode_html(WireCharset::ShiftJis, "<p>𠮷田 ①</p>".to_owned());
        let (text, _, errors) = encoding_rs::SHIFT_JIS.decode(&bytes);
        assert!(!errors);
        assert_eq!(text, "<p>&#134071;田 ①</p>");
        assert_eq!(
            encode_html(WireCharset::Utf8, "𠮷".to_owned()),
            "𠮷".as_bytes()
        );
    }
}
