//! 受注リスト出力: `GET /admin/orders.csv` with the list's filters, streamed as it is read, keyset page
//! by keyset page (`Body::from_stream`), so the download starts at once however many orders match and
//! memory holds one page. UTF-8 with a BOM, or Shift_JIS (CP932, what Excel opens in Japan) with each
//! character it cannot carry written `?`.
//!
//! A storage failure after the first bytes cannot change the status any more: the stream ends with
//! an error, which cuts the connection, so the browser reports a failed download rather than a short
//! file.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use encoding_rs::{EncoderResult, SHIFT_JIS};
use futures_util::stream;
use serde::Deserialize;

use crate::db::{OrderListFilter, PageCursor};
use crate::domain::{local_date, local_datetime, now_millis, Order};
use crate::http::html;
use crate::orders::{ListQuery, OrderError};
use crate::AppState;

/// Orders read per page of the download.
const CSV_PAGE: i64 = 500;

/// The header row.
const HEADER: [&str; 11] = [
    "注文番号",
    "注文日時",
    "入金状況",
    "決済種別",
    "支払方法",
    "合計金額",
    "お名前",
    "メールアドレス",
    "電話番号",
    "リンクキー",
    "要確認",
];

#[derive(Deserialize)]
pub(super) struct Charset {
    #[serde(default)]
    charset: String,
}

/// The file's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    ShiftJis,
}

/// One CSV field: quoted when it holds a comma, a quote or a line break. A text that a spreadsheet
/// would read as a formula (`=`, `+`, `-`, `@` first) is prefixed with `'`.
fn field(text: &str, out: &mut String) {
    let formula = text.starts_with(['=', '+', '-', '@']);
    let text = if formula {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

fn line(fields: &[&str], out: &mut String) {
    for (n, text) in fields.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        field(text, out);
    }
    out.push_str("\r\n");
}

fn order_line(order: &Order, out: &mut String) {
    line(
        &[
            &order.order_number,
            &local_datetime(order.created_at),
            order.payment_status.label(),
            &order.settlement_label,
            &order.payment_method_name,
            &order.total.to_string(),
            &order.customer.full_name(),
            &order.customer.email,
            &order.customer.phone,
            &order.link_key,
            order.attention.as_deref().unwrap_or(""),
        ],
        out,
    );
}

/// `text` in the file's encoding.
fn encode(encoding: Encoding, text: &str) -> Bytes {
    match encoding {
        Encoding::Utf8 => Bytes::from(text.to_owned()),
        Encoding::ShiftJis => Bytes::from(shift_jis(text)),
    }
}

/// CP932 bytes, `?` for each character it lacks (never `encoding_rs`'s numeric references).
fn shift_jis(text: &str) -> Vec<u8> {
    let mut encoder = SHIFT_JIS.new_encoder();
    let mut out = Vec::with_capacity(text.len() * 2);
    let mut buffer = [0u8; 4096];
    let mut rest = text;
    loop {
        let (result, read, written) =
            encoder.encode_from_utf8_without_replacement(rest, &mut buffer, true);
        out.extend_from_slice(&buffer[..written]);
        rest = &rest[read..];
        match result {
            EncoderResult::InputEmpty => return out,
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(_) => out.push(b'?'),
        }
    }
}

/// Where the download is.
struct Progress {
    state: AppState,
    filter: OrderListFilter,
    encoding: Encoding,
    /// The next page starts after this order; `None` before the first.
    cursor: Option<PageCursor>,
    /// Nothing more to read.
    finished: bool,
}

/// The next chunk: one page of orders as CSV lines, or the end.
async fn next_chunk(mut progress: Progress) -> Option<(Result<Bytes, std::io::Error>, Progress)> {
    if progress.finished {
        return None;
    }
    let page = progress
        .state
        .store
        .order_page(&progress.filter, progress.cursor, CSV_PAGE)
        .await;
    let orders = match page {
        Ok(orders) => orders,
        Err(error) => {
            tracing::error!(%error, "console: order list download failed");
            progress.finished = true;
            return Some((Err(std::io::Error::other("storage failed")), progress));
        }
    };
    progress.finished = (orders.len() as i64) < CSV_PAGE;
    progress.cursor = orders
        .last()
        .map(|last| PageCursor::Older(last.created_at, last.id));
    let mut text = String::new();
    for order in &orders {
        order_line(order, &mut text);
    }
    Some((Ok(encode(progress.encoding, &text)), progress))
}

/// 受注リスト出力.
pub(super) async fn download(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
    Query(charset): Query<Charset>,
) -> Response {
    let encoding = match charset.charset.as_str() {
        "" | "utf8" => Encoding::Utf8,
        "sjis" => Encoding::ShiftJis,
        _ => {
            return html::error_page(
                StatusCode::BAD_REQUEST,
                "文字コードは utf8 か sjis を指定してください。",
            )
        }
    };
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(OrderError::Invalid { message, .. }) => {
            return html::error_page(StatusCode::BAD_REQUEST, &message)
        }
        Err(_) => return html::error_page(StatusCode::BAD_REQUEST, "条件が正しくありません。"),
    };
    let mut head = String::new();
    if encoding == Encoding::Utf8 {
        head.push('\u{FEFF}');
    }
    line(&HEADER, &mut head);
    let first = stream::once(std::future::ready(Ok::<_, std::io::Error>(encode(
        encoding, &head,
    ))));
    let rows = stream::unfold(
        Progress {
            state,
            filter,
            encoding,
            cursor: None,
            finished: false,
        },
        next_chunk,
    );
    let charset = match encoding {
        Encoding::Utf8 => "utf-8",
        Encoding::ShiftJis => "Shift_JIS",
    };
    let date = local_date(now_millis()).yyyymmdd();
    (
        [
            (header::CONTENT_TYPE, format!("text/csv; charset={charset}")),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=orders-{date}.csv"),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(futures_util::StreamExt::chain(first, rows)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        line(&["a,b", "say \"hi\"", "=SUM(A1)", "plain"], &mut out);
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",'=SUM(A1),plain\r\n");
    }

    #[test]
    fn shift_jis_replaces_what_it_cannot_carry() {
        let bytes = shift_jis("髙𠮷野家①");
        let (text, _, _) = SHIFT_JIS.decode(&bytes);
        // 髙 and ① are in CP932; 𠮷 is not.
        assert_eq!(text, "髙?野家①");
    }
}
