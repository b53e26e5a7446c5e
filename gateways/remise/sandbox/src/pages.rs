//! The HTML shared by every screen: the layout, the error page, the auto-submitting return
//! form and the top page.
//!
//! Pages are built with `format!` because there are few of them and they are plain; every
//! value from a request goes through [`escape`]. Every form says `accept-charset="Shift_JIS"`
//! so that a browser posts Shift_JIS, as it does to the real Remise.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::test_cards::TEST_CARDS;
use crate::wire::{escape, sjis_html};
use crate::Sandbox;

const STYLE: &str = "body{font-family:sans-serif;margin:0;background:#f4f6f8;color:#222}\
header{background:#1d4e89;color:#fff;padding:.6em 1.2em}\
header a{color:#fff}\
main{max-width:60em;margin:1.2em auto;background:#fff;padding:1.2em 1.6em;border-radius:6px}\
table{border-collapse:collapse;margin:.6em 0}\
th,td{border:1px solid #ccd;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#eef2f7}\
td.num{text-align:right}\
.errors{color:#a00;border:1px solid #a00;background:#fff3f3;padding:.6em 1.6em}\
.note{color:#555;font-size:.9em}\
.ok{color:#070}.ng{color:#a00}\
button{padding:.4em 1.2em;margin:.2em}\
label{display:inline-block;min-width:9em}\
form.inline{display:inline}";

/// A full page around `body`, declaring Shift_JIS so that `<meta>` and HTTP header agree.
pub(crate) fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"Shift_JIS\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><header>ルミーズ サンドボックス（テスト環境） ｜ <a href=\"/\">トップ</a> ｜ \
         <a href=\"/backyard\">加盟店バックヤード</a></header><main>{body}</main></body></html>",
        title = escape(title),
    )
}

/// A 4xx page that lists each problem, so an operator can fix the shop's settings.
pub(crate) fn error_page(status: StatusCode, title: &str, problems: &[String]) -> Response {
    let items: String = problems
        .iter()
        .map(|problem| format!("<li>{}</li>", escape(problem)))
        .collect();
    let body = format!(
        "<h1>{title}</h1><ul class=\"errors\">{items}</ul>\
         <p class=\"note\">ショップの送信内容（決済設定）を確認してください。</p>",
        title = escape(title),
    );
    sjis_html(status, &layout(title, &body))
}

/// The page that sends the shopper's browser back to the shop: a POST form carrying the
/// result fields, submitted by script, with a visible button for when scripts are off.
pub(crate) fn return_page(message: &str, action: &str, fields: &[(String, String)]) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(name),
                escape(value)
            )
        })
        .collect();
    let body = format!(
        "<h1>{message}</h1>\
         <form id=\"return\" method=\"post\" action=\"{action}\" accept-charset=\"Shift_JIS\">\n\
         {inputs}<button type=\"submit\">ショップに戻る</button></form>\
         <p class=\"note\">自動的にショップに戻ります。戻らない場合は「ショップに戻る」を押してください。</p>\
         <script>document.getElementById('return').submit();</script>",
        message = escape(message),
        action = escape(action),
    );
    sjis_html(StatusCode::OK, &layout(message, &body))
}

/// The test-card table shown on the top page and the card page.
pub(crate) fn test_card_table() -> String {
    let rows: String = TEST_CARDS
        .iter()
        .map(|card| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                card.number, card.brand, card.result
            )
        })
        .collect();
    format!(
        "<table><tr><th>テストカード番号</th><th>ブランド</th><th>結果</th></tr>{rows}\
         <tr><td>上記以外の番号</td><td>番号から判定</td><td>NG（X-ERRCODE G65 カード番号エラー）</td></tr>\
         <tr><td>有効期限が過去のカード</td><td>—</td><td>NG（X-ERRCODE G83 有効期限エラー）</td></tr>\
         </table><p class=\"note\">有効期限（MM/YY）は未来の月、カード名義人は任意の文字列で結構です。</p>"
    )
}

/// `GET /`: what the sandbox is and how to use it.
pub(crate) async fn index(State(sandbox): State<Sandbox>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let shops = if sandbox.config().shops.is_empty() {
        "（制限なし：形式が正しければどの SHOPCO / HOSTID でも受け付けます）".to_string()
    } else {
        sandbox
            .config()
            .shops
            .iter()
            .map(|(shopco, host)| format!("{} / {}", escape(shopco), escape(host)))
            .collect::<Vec<_>>()
            .join("、")
    };
    let body = format!(
        "<h1>ルミーズ サンドボックス</h1>\
         <p>ルミーズ（Remise）のテスト環境の代わりに動く、オフラインの模擬決済サーバーです。\
         マニュアルの「接続テスト」を、インターネットにつながずに行えます。実際の決済は行われません。</p>\
         <h2>ショップの設定</h2><table>\
         <tr><th>カード決済 送信先URL</th><td><code>{base}/rpgw2/pc/card/paycard.aspx</code></td></tr>\
         <tr><th>マルチ決済 送信先URL</th><td><code>{base}/rpgw2/pc/cvs/paycvs.aspx</code></td></tr>\
         <tr><th>結果通知URL</th><td><code>{card}</code></td></tr>\
         <tr><th>収納情報通知URL</th><td><code>{conv}</code></td></tr>\
         <tr><th>加盟店コード / ホスト番号</th><td>{shops}</td></tr></table>\
         <h2>テストカード</h2>{cards}\
         <h2>確認のしかた</h2><ol>\
         <li>ショップでテスト購入をします（成功カードと NG カードの両方で）。</li>\
         <li><a href=\"/backyard\">加盟店バックヤード</a>の売上集計データ一覧で、取引と通知の配信状況を確認します。</li>\
         <li>マルチ決済は「入金通知」で、ショップの受注が「入金済み」になることを確認します。</li>\
         <li>「再送」で通知を送り直し、通知の取りこぼしへの対応を練習できます。</li></ol>\
         <p class=\"note\">通知はショップが <code>&lt;SDBKDATA&gt;STATUS=800&lt;/SDBKDATA&gt;</code> と応答したときだけ配信済みになり、\
         それ以外は間隔を空けて最大 {max} 回まで再送します。</p>",
        base = escape(&base),
        card = escape(&sandbox.card_notify_url()),
        conv = escape(&sandbox.conv_notify_url()),
        cards = test_card_table(),
        max = sandbox.config().max_attempts,
    );
    sjis_html(StatusCode::OK, &layout("ルミーズ サンドボックス", &body))
}

/// `http://<Host header>`: the sandbox's own address as the browser sees it, for slip URLs
/// and the top page. Plain HTTP because the sandbox only listens on plain HTTP.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b".-:[]".contains(&byte))
        })
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// `3990` as `3,990円`.
pub(crate) fn yen_display(amount: u64) -> String {
    let digits = amount.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}円")
}

/// The page for a submit whose pending session is unknown or already used (sessions are single-use).
pub(crate) fn session_error() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "セッションエラー",
        &[
            "このお支払い画面は無効か、すでに処理済みです。ショップからやり直してください。"
                .to_string(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yen_has_thousands_separators() {
        assert_eq!(yen_display(0), "0円");
        assert_eq!(yen_display(999), "999円");
        assert_eq!(yen_display(3990), "3,990円");
        assert_eq!(yen_display(1234567), "1,234,567円");
    }
}
