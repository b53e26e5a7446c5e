//! The wire formats the harness reads and writes: Shift_JIS form bodies, and the forms, hidden inputs
//! and links of an HTML page.

use super::*;

/// The bytes left alone by the WHATWG form serializer.
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Encodes fields as a Shift_JIS `application/x-www-form-urlencoded` body.
pub fn sjis_form<K: AsRef<str>, V: AsRef<str>>(fields: &[(K, V)]) -> Vec<u8> {
    let encode = |text: &str| {
        let (bytes, _, unmappable) = SHIFT_JIS.encode(text);
        assert!(!unmappable, "{text:?} has no Shift_JIS form");
        percent_encode(&bytes, FORM_VALUE).to_string()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k.as_ref()), encode(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// Decodes a Shift_JIS `application/x-www-form-urlencoded` body (as the journal keeps it).
pub fn parse_sjis_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |part: &str| {
                let spaced = part.replace('+', " ");
                let bytes: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
                SHIFT_JIS.decode(&bytes).0.into_owned()
            };
            (decode(name), decode(value))
        })
        .collect()
}

/// Undoes the five escapes the shop and the sandbox use in HTML.
fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The attributes of the tag starting at `html` (just after its name), up to its `>`.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_owned();
        let after = &rest[eq + 2..];
        let Some(end) = after.find('"') else { break };
        out.push((name, unescape(&after[..end])));
        rest = &after[end + 1..];
    }
    out
}

/// Every tag called `name` in `html`, as its attributes.
fn tags(html: &str, name: &str) -> Vec<Vec<(String, String)>> {
    let open = format!("<{name} ");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find('>').unwrap_or(after.len());
        out.push(attributes(&after[..end]));
        rest = &after[end..];
    }
    out
}

fn attribute<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    field(attributes, name)
}

/// The hidden inputs of an HTML fragment, as `(name, value)`.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    tags(html, "input")
        .into_iter()
        .filter(|a| attribute(a, "type") == Some("hidden"))
        .filter_map(|a| {
            Some((
                attribute(&a, "name")?.to_owned(),
                attribute(&a, "value").unwrap_or("").to_owned(),
            ))
        })
        .collect()
}

/// The action and hidden inputs of `<form id="…">`.
pub fn form_by_id(html: &str, id: &str) -> Option<(String, Vec<(String, String)>)> {
    let marker = format!("<form id=\"{id}\"");
    let start = html.find(&marker)?;
    let form = &html[start..];
    let end = form.find("</form>").unwrap_or(form.len());
    let form = &form[..end];
    let action = attribute(tags(form, "form").first()?, "action")?.to_owned();
    Some((action, hidden_inputs(form)))
}

/// The hidden inputs of the first `<form>` that posts to `action`.
pub fn form_posting_to(html: &str, action: &str) -> Option<Vec<(String, String)>> {
    let mut rest = html;
    while let Some(start) = rest.find("<form ") {
        let form = &rest[start..];
        let end = form.find("</form>").unwrap_or(form.len());
        let tag = tags(form, "form");
        if tag.first().and_then(|a| attribute(a, "action")) == Some(action) {
            return Some(hidden_inputs(&form[..end]));
        }
        rest = &form[end..];
    }
    None
}

/// The `SESSION` of a sandbox page; panics when there is none.
pub fn session_of(page: &Page) -> String {
    let text = page.text();
    hidden_inputs(&text)
        .into_iter()
        .find(|(name, _)| name == "SESSION")
        .map(|(_, value)| value)
        .unwrap_or_else(|| panic!("no SESSION in {text}"))
}

/// The `href` of the link whose text starts with `text`.
pub fn link_with_text(html: &str, text: &str) -> Option<String> {
    let mut rest = html;
    while let Some(start) = rest.find("<a ") {
        let after = &rest[start + 3..];
        let end = after.find('>')?;
        let href = attribute(&attributes(&after[..end]), "href").map(str::to_owned);
        let label = &after[end + 1..];
        if label.starts_with(text) {
            return href;
        }
        rest = &after[end..];
    }
    None
}
