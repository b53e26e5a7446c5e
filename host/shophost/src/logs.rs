//! The operator's logs, as the console and the JSON admin API both read and change them: the
//! 決済エラーログ (one entry with the journal entry it came from, emptying the log, the entry as plain
//! text for a support request) and the body of a notification journal entry decoded in its charset.
//!
//! A 決済エラーログ line is written in the same transaction as the journal entry of the request that
//! caused it and names it (`SettlementError::journal_id`), so an entry's raw request is the journal's.

use shophost_module_api::WireCharset;

use crate::db::{DbError, Store};
use crate::domain::{local_datetime, JournalEntry, SettlementError};

/// The charset a journal entry's body was decoded with.
pub fn charset_of(entry: &JournalEntry) -> WireCharset {
    if entry.charset == "Shift_JIS" {
        WireCharset::ShiftJis
    } else {
        WireCharset::Utf8
    }
}

/// A journal entry's body decoded in its charset; `None` when it is not valid in it.
pub fn body_text(entry: &JournalEntry) -> Option<String> {
    crate::inbound::decode_text(&entry.body, charset_of(entry))
}

/// Bytes as hex, 16 to a line, each line led by its offset.
pub fn hex_dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(line, chunk)| {
            let hex: Vec<String> = chunk.iter().map(|byte| format!("{byte:02x}")).collect();
            format!("{:08x}  {}", line * 16, hex.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A 決済エラーログ entry and the journal entry of the request that caused it (none when the journal
/// entry is gone or the line names none).
pub async fn settlement_error(
    store: &dyn Store,
    id: i64,
) -> Result<Option<(SettlementError, Option<JournalEntry>)>, DbError> {
    let Some(error) = store.settlement_error(id).await? else {
        return Ok(None);
    };
    let entry = match error.journal_id {
        Some(journal_id) => store.journal_entry(journal_id).await?,
        None => None,
    };
    Ok(Some((error, entry)))
}

/// Empties the 決済エラーログ (the journal keeps the requests); returns how many entries it held.
pub async fn delete_all_settlement_errors(store: &dyn Store) -> Result<u64, DbError> {
    let deleted = store.delete_settlement_errors().await?;
    tracing::info!(deleted, "settlement error log emptied");
    Ok(deleted)
}

/// A 決済エラーログ entry as plain text for a support request (詳細ログ出力): the decoded fields, then
/// the request as the journal keeps it, its verdict and the answer sent.
pub fn support_text(error: &SettlementError, entry: Option<&JournalEntry>) -> String {
    let mut text = String::new();
    let mut line = |label: &str, value: &str| {
        text.push_str(label);
        text.push_str(": ");
        text.push_str(value);
        text.push('\n');
    };
    line("決済エラーログ", &error.id.to_string());
    line("日時", &local_datetime(error.at));
    line(
        "リンクキー",
        error.link_key.as_deref().unwrap_or("（不明）"),
    );
    line("決済モジュール", &error.module_id);
    line("決済種別", &error.acting);
    line("結果", &error.result);
    text.push_str("\n[受信データ]\n");
    for (key, value) in &error.fields {
        text.push_str(&format!("{key}={value}\n"));
    }
    let Some(entry) = entry else {
        text.push_str("\n[通知ジャーナル]\n（記録がありません）\n");
        return text;
    };
    text.push_str(&format!("\n[通知ジャーナル {}]\n", entry.id));
    let mut line = |label: &str, value: &str| {
        text.push_str(label);
        text.push_str(": ");
        text.push_str(value);
        text.push('\n');
    };
    line("受信日時", &local_datetime(entry.received_at));
    line("送信元", &entry.source);
    line(
        "リクエスト",
        &format!(
            "{} {}{}{}",
            entry.method,
            entry.endpoint,
            if entry.query.is_empty() { "" } else { "?" },
            entry.query
        ),
    );
    line("Content-Type", entry.content_type.as_deref().unwrap_or(""));
    line("文字コード", &entry.charset);
    for (name, value) in &entry.headers {
        line(&format!("ヘッダー {name}"), value);
    }
    line("判定", &entry.verdict);
    line("理由", &entry.reason);
    line("応答", &entry.response_status.to_string());
    text.push_str("\n[本文]\n");
    match (entry.body_purged_at, body_text(entry)) {
        (Some(purged_at), _) => text.push_str(&crate::notices::journal_body_purged(purged_at)),
        (None, Some(body)) => text.push_str(&body),
        (None, None) => text.push_str(&hex_dump(&entry.body)),
    }
    text.push_str("\n\n[応答本文]\n");
    text.push_str(&String::from_utf8_lossy(&entry.response_body));
    text.push('\n');
    text
}
