//! Rendering pages. Every HTML page comes from an askama template under `host/shophost/templates/`
//! (one layout, shared parts in `parts.html`), filled from a typed view model and escaped by [`Html`];
//! this module turns a rendered page into a response, in UTF-8 or in the charset of the gateway form it
//! carries, and holds the few pages the storefront and the gateway routes share.
//!
//! A page that carries a gateway form is served in the gateway's charset (Shift_JIS for some), with
//! `accept-charset` on the form, so the browser submits exactly the bytes the gateway expects; the form's
//! values were checked to be representable before the page is built (`checkout::check_representable`).

use std::fmt;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use shophost_module_api::{RedirectForm, WireCharset};

use crate::domain::charset;

/// The escaper of every `.html` template (set in `host/shophost/askama.toml`). It writes the five named
/// references the host has always written, rather than askama's numeric ones, so pages read the same to
/// the tests, the sandbox and anything else that parses them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

impl askama::filters::Escaper for Html {
    fn write_escaped_str<W: fmt::Write>(&self, mut dest: W, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            dest.write_str(&rest[..at])?;
            dest.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        dest.write_str(rest)
    }
}

/// Filters the templates use, next to the escaper they rely on.
pub mod filters {
    use std::borrow::Borrow;

    /// `1,234円` (`{{ total|yen }}`).
    #[askama::filter_fn]
    pub fn yen<T: Borrow<i64>>(amount: T, _: &dyn askama::Values) -> askama::Result<String> {
        let text = super::yen(*amount.borrow());
        Ok(text)
    }
}

/// `1,234円`.
pub fn yen(amount: i64) -> String {
    format!("{}円", grouped(amount))
}

/// `1,234`: digits grouped by thousands.
pub fn grouped(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}", if value < 0 { "-" } else { "" })
}

/// A page in UTF-8.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    render_in(WireCharset::Utf8, status, page)
}

/// A page encoded in `charset`; its template declares the same charset in its `<meta charset>`.
/// Characters the charset lacks (only possible in shop text, never in form values, which are checked
/// beforehand) become HTML numeric references.
pub fn render_in(charset: WireCharset, status: StatusCode, page: &impl Template) -> Response {
    let html = match page.render() {
        Ok(html) => html,
        Err(error) => {
            // Only a filter or a `Display` can fail, and none of ours do: a bug, not a shopper's error.
            tracing::error!(%error, "a page could not be rendered");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let content_type = format!("text/html; charset={}", charset.http_name());
    let mut response = (status, charset::encode_html(charset, html)).into_response();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The error page: a message and the way back to the shop.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    message: &'a str,
}

/// The error page with `status`.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    render(status, &ErrorPage { message })
}

/// The page for a payment that did not complete (NG_RETURL), with a way to choose again.
#[derive(Template)]
#[template(path = "payment_failed.html")]
struct PaymentFailedPage<'a> {
    message: &'a str,
}

/// The page for a payment that did not complete.
pub fn payment_failed_page(message: &str) -> Response {
    render(StatusCode::OK, &PaymentFailedPage { message })
}

/// A page holding only the gateway form, which submits itself (`/pay/{link_key}`).
#[derive(Template)]
#[template(path = "redirect_form.html")]
struct RedirectFormPage<'a> {
    form: &'a RedirectForm,
    title: &'a str,
}

/// The self-submitting gateway form page, in the form's charset.
pub fn redirect_form_page(form: &RedirectForm, title: &str) -> Response {
    render_in(
        form.charset,
        StatusCode::OK,
        &RedirectFormPage { form, title },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use askama::filters::Escaper;

    #[test]
    fn escaping_writes_named_references() {
        let mut out = String::new();
        Html.write_escaped_str(&mut out, "<a href=\"x\">&'山田")
            .unwrap();
        assert_eq!(out, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;山田");
    }

    #[test]
    fn yen_groups_thousands() {
        assert_eq!(yen(3990), "3,990円");
        assert_eq!(yen(1234567), "1,234,567円");
        assert_eq!(yen(0), "0円");
        assert_eq!(yen(-1200), "-1,200円");
    }

    #[test]
    fn the_error_page_escapes_its_message() {
        let page = ErrorPage {
            message: "<script>",
        }
        .render()
        .unwrap();
        assert!(
            page.contains("<p class=\"error\">&lt;script&gt;</p>"),
            "{page}"
        );
        assert!(page.contains("<meta charset=\"UTF-8\">"), "{page}");
    }

    #[test]
    fn shift_jis_pages_declare_and_use_shift_jis() {
        let form = RedirectForm {
            url: "https://gateway.example/pay?a=1&b=2".to_owned(),
            method: "POST".to_owned(),
            charset: WireCharset::ShiftJis,
            fields: vec![shophost_module_api::FormField::new("NAME1", "山田")],
        };
        let response = redirect_form_page(&form, "決済ページへ移動しています");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=Shift_JIS"
        );
        let page = RedirectFormPage {
            form: &form,
            title: "t",
        }
        .render()
        .unwrap();
        assert!(page.contains("<meta charset=\"Shift_JIS\">"), "{page}");
        assert!(page.contains(
            "<form id=\"purchase_form\" action=\"https://gateway.example/pay?a=1&amp;b=2\" method=\"post\" accept-charset=\"Shift_JIS\">"
        ), "{page}");
        assert!(page.contains("name=\"NAME1\" value=\"山田\""), "{page}");
    }
}
