//! Small HTML helpers shared by the storefront and the gateway pages: escaping, the page frame, and
//! pages encoded in a gateway's charset.
//!
//! A page that carries a gateway form is served in the gateway's charset (Shift_JIS for Remise) with
//! `accept-charset` on the form, so the browser submits exactly the bytes the gateway expects; the values
//! were checked to be representable before the page is built.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use shophost_module_api::{RedirectForm, WireCharset};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `1,234円`.
pub fn yen(amount: i64) -> String {
    let digits = amount.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}円", if amount < 0 { "-" } else { "" })
}

const STYLE: &str = "body{font-family:sans-serif;max-width:52rem;margin:1.5rem auto;padding:0 1rem;color:#222}\
header{display:flex;justify-content:space-between;align-items:center;border-bottom:2px solid #c33;margin-bottom:1rem}\
header a{color:#c33;text-decoration:none;margin-left:1rem}table{border-collapse:collapse;width:100%}\
td,th{border:1px solid #ccc;padding:.4rem;text-align:left}th{background:#f6f6f6}\
.error{background:#fee;border:1px solid #c33;padding:.6rem}.notice{background:#ffd;border:1px solid #cc3;padding:.6rem}\
button,.button{background:#c33;color:#fff;border:0;padding:.6rem 1.2rem;font-size:1rem;cursor:pointer;text-decoration:none}\
label{display:block;margin:.4rem 0}input[type=text],input[type=email],input[type=password],input[type=tel]{width:18rem}\
input[type=number]{width:4rem}textarea{width:100%;box-sizing:border-box}fieldset{border:1px solid #ddd;margin:1rem 0}\
.product{border-bottom:1px solid #eee;padding:.4rem 0}.price{font-weight:bold;color:#c33}\
.method{border:1px solid #ddd;padding:.6rem;margin:.6rem 0}.method label{display:inline}\
.method select{display:block;margin:.3rem 0}.explanation{color:#555;font-size:.9rem;margin:.3rem 0 .3rem 1.6rem}\
.method-notice,.saved-card{color:#a50;font-size:.9rem;margin:.3rem 0 .3rem 1.6rem}\
.steps{display:flex;gap:1rem;list-style:none;padding:0;color:#888}.steps strong{color:#c33}\
.purchase{margin:1.5rem 0;text-align:center}#purchase_form{margin:1rem 0}nav form{display:inline}";

/// A whole page around `body` (HTML) declaring `charset` in its `<meta>`. The charset goes in directly
/// rather than through a placeholder replaced afterwards, so shop or shopper text that happens to contain
/// the placeholder cannot change the declared charset.
pub fn page_html(charset: &str, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"{charset}\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head><body><header><h1><a href=\"/\">shophost</a></h1>\
         <nav><a href=\"/\">商品一覧</a><a href=\"/cart\">カート</a><a href=\"/mypage\">マイページ</a></nav></header>\
         <main>{body}</main></body></html>",
        escape(title)
    )
}

/// A UTF-8 page response.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = page_html("UTF-8", title, body);
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
        html,
    )
        .into_response()
}

/// A page response encoded in `charset`. Characters the charset lacks (only possible in shop text, never
/// in form values, which are checked beforehand) become HTML numeric references.
pub fn page_in(charset: WireCharset, title: &str, body: &str) -> Response {
    match charset {
        WireCharset::Utf8 => page(StatusCode::OK, title, body),
        WireCharset::ShiftJis => {
            let html = page_html("Shift_JIS", title, body);
            let mut bytes = Vec::with_capacity(html.len());
            for c in html.chars() {
                let text = c.to_string();
                let (encoded, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
                if unmappable {
                    bytes.extend_from_slice(format!("&#{};", u32::from(c)).as_bytes());
                } else {
                    bytes.extend_from_slice(&encoded);
                }
            }
            (
                [(header::CONTENT_TYPE, "text/html; charset=Shift_JIS")],
                bytes,
            )
                .into_response()
        }
    }
}

/// The `<form>` that sends the shopper to the gateway, with a submit button labelled `button`.
pub fn gateway_form(form: &RedirectForm, button: &str) -> String {
    let mut html = format!(
        "<form id=\"purchase_form\" action=\"{}\" method=\"{}\" accept-charset=\"{}\">",
        escape(&form.url),
        escape(&form.method.to_ascii_lowercase()),
        form.charset.http_name()
    );
    for field in &form.fields {
        html.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(&field.name),
            escape(&field.value)
        ));
    }
    html.push_str(&format!(
        "<button type=\"submit\" id=\"purchase_button\">{}</button></form>",
        escape(button)
    ));
    html
}

/// A page holding only the gateway form, optionally submitting itself.
pub fn redirect_form_page(form: &RedirectForm, title: &str, auto_submit: bool) -> Response {
    let mut body = format!(
        "<p>{}</p>{}",
        escape(title),
        gateway_form(form, "決済ページへ進む")
    );
    if auto_submit {
        body.push_str("<script>document.getElementById('purchase_form').submit();</script>");
    }
    page_in(form.charset, title, &body)
}

/// The error page.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "エラー",
        &format!(
            "<h2>エラー</h2><p class=\"error\">{}</p><p><a href=\"/\">トップページへ戻る</a></p>",
            escape(message)
        ),
    )
}

/// The page for a payment that did not complete (NG_RETURL).
pub fn payment_failed_page(message: &str) -> Response {
    page(
        StatusCode::OK,
        "ご注文が完了しませんでした",
        &format!(
            "<h2>ご注文が完了しませんでした</h2><p class=\"error\">{}</p>\
             <p><a class=\"button\" href=\"/checkout/delivery\">お支払方法を選び直す</a></p>",
            escape(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_yen() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(yen(3990), "3,990円");
        assert_eq!(yen(1234567), "1,234,567円");
        assert_eq!(yen(0), "0円");
    }
}
