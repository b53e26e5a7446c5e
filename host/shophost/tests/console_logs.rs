//! The console's 決済エラーログ and 通知ジャーナル through the real router: Remise notifications posted
//! to the shop's notification URL make the journal entries and the 決済エラーログ lines; the list and
//! the entry show them with the decoded fields and the raw body; 詳細ログ出力 as text; deleting one
//! and all (the dashboard's 決済エラー発生告知 goes with the last); the journal's filters and pages;
//! 再処理 only after its confirmation, with its outcome (a duplicate changes nothing); the CSRF check;
//! and nothing without a session.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{
    api, assert_redirect, card_result, console_browser, method_id, notify, notify_from, product_id,
    Backend,
};
use serde_json::{json, Value};
use shophost::domain::{local_date, now_millis};
use shophost::AppState;

const ACK: &str = "<SDBKDATA>STATUS=800</SDBKDATA>";

/// A card checkout for one mug through the checkout API: its link key and total.
async fn card_checkout(state: &AppState) -> (String, i64) {
    let customer: serde_json::Map<String, Value> = common::CUSTOMER
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    let (status, answer) = api(
        state,
        "POST",
        "/api/checkout",
        Some(json!({
            "lines": [{"product_id": product_id(state, "有田焼 マグカップ").await, "quantity": 1}],
            "customer": customer,
            "payment_method_id": method_id(state, "acting_remise_card").await,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    (
        answer["link_key"].as_str().expect("link key").to_owned(),
        answer["total"].as_i64().expect("total"),
    )
}

/// A link key no checkout has: `link_key` with its last digit changed.
fn unknown_link_key(link_key: &str) -> String {
    let mut other = link_key.to_owned();
    let last = other.pop().unwrap();
    other.push(if last == '0' { '1' } else { '0' });
    other
}

/// Today in shop time, `YYYY-MM-DD`, and the day after.
fn today_and_tomorrow() -> (String, String) {
    let day = |millis: i64| {
        let date = local_date(millis);
        format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
    };
    (day(now_millis()), day(now_millis() + 86_400_000))
}

async fn a_settlement_error_is_listed_shown_exported_and_deleted(backend: Backend) {
    let (state, _dir) = backend.shop("console-logs-errors").await;
    let (declined, total) = card_checkout(&state).await;
    assert_eq!(
        notify(
            &state,
            "remise_card",
            card_result(&declined, "T0001", total, true)
        )
        .await,
        ACK
    );
    let unknown = unknown_link_key(&declined);
    assert_ne!(
        notify(
            &state,
            "remise_card",
            card_result(&unknown, "T0002", total, false)
        )
        .await,
        ACK
    );
    let errors = state.store.settlement_errors(10).await.unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    let decline = errors
        .iter()
        .find(|e| e.link_key.as_deref() == Some(declined.as_str()))
        .expect("the decline's line");
    let journal_id = decline
        .journal_id
        .expect("the line names its journal entry");

    let (mut browser, csrf) = console_browser(&state).await;
    // The dashboard's notice leads to the list.
    let dashboard = browser.get("/admin").await.text();
    assert!(
        dashboard.contains("決済エラーログを確認してください。")
            && dashboard.contains("<a href=\"/admin/settlement-errors\">確認する</a>"),
        "{dashboard}"
    );
    let list = browser.get("/admin/settlement-errors").await;
    assert_eq!(list.status, StatusCode::OK);
    let html = list.text();
    assert!(html.contains("<h1>決済エラーログ</h1>"), "{html}");
    assert!(html.contains("aria-current=\"page\""), "{html}");
    assert!(
        html.contains(&declined) && html.contains(&unknown),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<td data-label=\"決済種別\">{}</td>",
        decline.acting
    )));
    assert!(html.contains(&format!("<td data-label=\"結果\">{}</td>", decline.result)));
    assert!(html.contains("data-confirm="), "{html}");
    assert!(!html.contains("style="), "{html}");

    // The entry: its decoded fields, and the raw request from the journal entry it came from.
    let detail = browser
        .get(&format!("/admin/settlement-errors/{}", decline.id))
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    let html = detail.text();
    assert!(
        html.contains("<tr><th scope=\"row\">X-ERRCODE</th><td data-label=\"値\">G12</td></tr>"),
        "{html}"
    );
    assert!(html.contains(&format!("<a href=\"/admin/journal/{journal_id}\">")));
    let raw_body = html
        .split("<pre class=\"raw\" id=\"raw-body\">")
        .nth(1)
        .expect("the raw body");
    assert!(
        raw_body.starts_with(&format!(
            "X%2DTRANID=T0001&amp;X%2DS%5FTORIHIKI%5FNO={declined}"
        )),
        "{raw_body}"
    );
    // 詳細ログ出力: the same text in a <pre>, on a copy button, and as a file.
    assert!(
        html.contains("<pre class=\"raw\" id=\"support-text\">"),
        "{html}"
    );
    assert!(html.contains("data-copy=\"決済エラーログ: "), "{html}");
    let file = browser
        .get(&format!("/admin/settlement-errors/{}/log.txt", decline.id))
        .await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.content_type, "text/plain; charset=utf-8");
    let text = file.text();
    assert!(
        text.contains(&format!("リンクキー: {declined}\n")),
        "{text}"
    );
    assert!(text.contains("X-ERRCODE=G12\n"), "{text}");
    assert!(
        text.contains(&format!("[通知ジャーナル {journal_id}]")),
        "{text}"
    );
    assert!(text.contains("送信元: 127.0.0.1\n"), "{text}");
    assert!(
        text.contains(&format!("X%2DS%5FTORIHIKI%5FNO={declined}")),
        "{text}"
    );
    assert!(text.contains(ACK), "{text}");
    let request = Request::builder()
        .uri(format!("/admin/settlement-errors/{}/log.txt", decline.id))
        .header(header::COOKIE, browser.cookie.clone().unwrap())
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(browser.app.clone(), request)
        .await
        .unwrap();
    let disposition = response.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap();
    assert_eq!(
        disposition,
        format!(
            "attachment; filename=\"settlement-error-{}.txt\"",
            decline.id
        )
    );
    assert_eq!(
        browser.get("/admin/settlement-errors/999999").await.status,
        StatusCode::NOT_FOUND
    );

    // Delete one: refused without the form token, done with it, 404 once gone.
    let delete = format!("/admin/settlement-errors/{}/delete", decline.id);
    let refused = browser.post(&delete, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(state.store.settlement_errors(10).await.unwrap().len(), 2);
    let deleted = browser.post(&delete, &[("csrf", &csrf)]).await;
    assert_redirect(&deleted, "/admin/settlement-errors?done=deleted");
    let html = browser
        .get("/admin/settlement-errors?done=deleted")
        .await
        .text();
    assert!(html.contains("決済エラーログを1件削除しました。"), "{html}");
    assert!(!html.contains(&declined), "{html}");
    assert_eq!(state.store.settlement_errors(10).await.unwrap().len(), 1);
    let again = browser.post(&delete, &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.text().contains("すでに削除されています"));
    // The journal keeps the request.
    assert!(state
        .store
        .journal_entry(journal_id)
        .await
        .unwrap()
        .is_some());

    // Delete all: without confirm=1 only the question, then done.
    let all = "/admin/settlement-errors/delete-all";
    assert_eq!(
        browser.post(all, &[("confirm", "1")]).await.status,
        StatusCode::FORBIDDEN
    );
    let question = browser.post(all, &[("csrf", &csrf)]).await;
    assert_eq!(question.status, StatusCode::OK);
    let html = question.text();
    assert!(
        html.contains("決済エラーログを全て（1件）削除します。"),
        "{html}"
    );
    assert!(html.contains("name=\"confirm\" value=\"1\""), "{html}");
    assert_eq!(state.store.settlement_errors(10).await.unwrap().len(), 1);
    let emptied = browser
        .post(all, &[("csrf", &csrf), ("confirm", "1")])
        .await;
    assert_redirect(
        &emptied,
        "/admin/settlement-errors?done=deleted_all&count=1",
    );
    assert!(state.store.settlement_errors(10).await.unwrap().is_empty());
    let html = browser
        .get("/admin/settlement-errors?done=deleted_all&count=1")
        .await
        .text();
    assert!(
        html.contains("決済エラーログを全て（1件）削除しました。"),
        "{html}"
    );
    assert!(html.contains("決済エラーログはありません。"), "{html}");
    // The notice is gone with the last line.
    let dashboard = browser.get("/admin").await.text();
    assert!(
        !dashboard.contains("決済エラーが発生しました"),
        "{dashboard}"
    );
}

async fn the_api_empties_the_log_like_the_console(backend: Backend) {
    let (state, _dir) = backend.shop("console-logs-api").await;
    let (link_key, total) = card_checkout(&state).await;
    notify(
        &state,
        "remise_card",
        card_result(&link_key, "T0001", total, true),
    )
    .await;
    notify(
        &state,
        "remise_card",
        card_result(&unknown_link_key(&link_key), "T0002", total, true),
    )
    .await;
    let (status, answer) = api(&state, "DELETE", "/admin/api/settlement-errors", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["deleted"], 2);
    let (_, notices) = api(&state, "GET", "/admin/api/notices", None).await;
    assert_eq!(notices["notices"], json!([]));
}

async fn the_journal_filters_shows_an_entry_and_replays_it_only_when_confirmed(backend: Backend) {
    let (state, _dir) = backend.shop("console-logs-journal").await;
    let (paid, total) = card_checkout(&state).await;
    let (declined, _) = card_checkout(&state).await;
    assert_eq!(
        notify(
            &state,
            "remise_card",
            card_result(&paid, "T0001", total, false)
        )
        .await,
        ACK
    );
    notify(
        &state,
        "remise_card",
        card_result(&declined, "T0002", total, true),
    )
    .await;
    let unknown = unknown_link_key(&paid);
    notify(
        &state,
        "remise_card",
        card_result(&unknown, "T0003", total, false),
    )
    .await;
    let entries = state.store.journal(None, 10).await.unwrap();
    assert_eq!(entries.len(), 3);
    let accepted = entries
        .iter()
        .find(|e| e.link_key.as_deref() == Some(paid.as_str()))
        .unwrap()
        .clone();
    assert_eq!(accepted.verdict, "accepted");

    let (mut browser, csrf) = console_browser(&state).await;
    let cell = |key: &str| format!("<td data-label=\"リンクキー\"><code>{key}</code></td>");
    let html = browser.get("/admin/journal").await.text();
    for key in [&paid, &declined, &unknown] {
        assert!(html.contains(&cell(key)), "{key}: {html}");
    }
    assert!(
        html.contains("<label for=\"f-verdict\">判定</label>"),
        "{html}"
    );
    assert!(!html.contains("id=\"next-page\""), "{html}");
    // By verdict, link key, module, endpoint, days, and the page before an id.
    let html = browser.get("/admin/journal?verdict=rejected").await.text();
    assert!(html.contains(&cell(&unknown)), "{html}");
    assert!(!html.contains(&cell(&paid)), "{html}");
    let html = browser
        .get(&format!("/admin/journal?link_key={paid}"))
        .await
        .text();
    assert!(html.contains(&cell(&paid)) && !html.contains(&cell(&declined)));
    let html = browser
        .get(&format!(
            "/admin/journal?module=remise&endpoint={}",
            accepted.endpoint
        ))
        .await
        .text();
    assert!(html.contains(&cell(&paid)) && html.contains(&cell(&declined)));
    let html = browser.get("/admin/journal?endpoint=none").await.text();
    assert!(html.contains("該当する記録はありません。"), "{html}");
    let (today, tomorrow) = today_and_tomorrow();
    let html = browser
        .get(&format!("/admin/journal?from={today}&to={today}"))
        .await
        .text();
    assert!(html.contains(&cell(&paid)), "{html}");
    let html = browser
        .get(&format!("/admin/journal?from={tomorrow}"))
        .await
        .text();
    assert!(html.contains("該当する記録はありません。"), "{html}");
    let bad = browser.get("/admin/journal?from=2026-13-40").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .text()
        .contains("日付は YYYY-MM-DD の形で入力してください"));
    let newest = entries[0].id;
    let html = browser
        .get(&format!("/admin/journal?before={newest}"))
        .await
        .text();
    assert!(
        !html.contains(&format!("href=\"/admin/journal/{newest}\"")),
        "{html}"
    );
    assert!(html.contains(&format!("href=\"/admin/journal/{}\"", entries[1].id)));

    // The entry: source, headers, body decoded and as hex, verdict, the answer sent.
    let page = format!("/admin/journal/{}", accepted.id);
    let html = browser.get(&page).await.text();
    assert!(
        html.contains("<dt>送信元</dt><dd><code>127.0.0.1</code></dd>"),
        "{html}"
    );
    assert!(
        html.contains("<table class=\"list\" id=\"headers\">"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<pre class=\"raw\" id=\"body-text\">X%2DTRANID=T0001&amp;X%2DS%5FTORIHIKI%5FNO={paid}"
        )),
        "{html}"
    );
    // `X%2DTRANID=` (the form encoding of `X-TRANID=`) in hex.
    assert!(
        html.contains("00000000  58 25 32 44 54 52 41 4e 49 44 3d"),
        "{html}"
    );
    assert!(
        html.contains("&lt;SDBKDATA&gt;STATUS=800&lt;/SDBKDATA&gt;"),
        "{html}"
    );
    assert!(
        html.contains("この記録はまだ再処理されていません。"),
        "{html}"
    );

    // 再処理: the first post only asks; a post without the token is refused.
    let replay = format!("/admin/journal/{}/replay", accepted.id);
    assert_eq!(
        browser.post(&replay, &[("confirm", "1")]).await.status,
        StatusCode::FORBIDDEN
    );
    let question = browser.post(&replay, &[("csrf", &csrf)]).await;
    assert_eq!(question.status, StatusCode::OK);
    let html = question.text();
    assert!(html.contains("id=\"replay-confirm\""), "{html}");
    assert!(html.contains("name=\"confirm\" value=\"1\""), "{html}");
    assert_eq!(state.store.journal(None, 10).await.unwrap().len(), 3);
    let events = state.store.payment_event_count(&paid).await.unwrap();

    // Confirmed: a duplicate, which changes nothing, shown on the entry with the new journal entry.
    let done = browser
        .post(&replay, &[("csrf", &csrf), ("confirm", "1")])
        .await;
    let after = state.store.journal(None, 10).await.unwrap();
    assert_eq!(after.len(), 4);
    let replayed = &after[0];
    assert_eq!(replayed.replay_of, Some(accepted.id));
    assert_eq!(replayed.verdict, "duplicate");
    let back = format!("{page}?replayed={}", replayed.id);
    assert_redirect(&done, &back);
    let html = browser.get(&back).await.text();
    let outcome = html
        .split("<div class=\"done\" role=\"status\" id=\"replay-outcome\">")
        .nth(1)
        .expect("the outcome");
    assert!(outcome.contains("判定: <strong>重複</strong>"), "{outcome}");
    assert!(outcome.contains("何も変わっていません"), "{outcome}");
    assert!(
        outcome.contains(&format!(
            "<a href=\"/admin/journal/{0}\">通知ジャーナル #{0}</a>",
            replayed.id
        )),
        "{outcome}"
    );
    assert!(
        html.contains("<table class=\"list\" id=\"replays\">"),
        "{html}"
    );
    assert_eq!(
        state.store.payment_event_count(&paid).await.unwrap(),
        events
    );
    // The replay's own page says what it replays.
    let html = browser
        .get(&format!("/admin/journal/{}", replayed.id))
        .await
        .text();
    assert!(html.contains(&format!(
        "<a href=\"/admin/journal/{0}\">通知ジャーナル #{0}</a>",
        accepted.id
    )));
    assert_eq!(
        browser.get("/admin/journal/999999").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        browser
            .post("/admin/journal/999999/replay", &[("csrf", &csrf)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn a_refused_notification_is_replayed_only_once_the_operator_confirms_its_source(
    backend: Backend,
) {
    let (state, _dir) = backend.shop("console-logs-refused").await;
    let (link_key, total) = card_checkout(&state).await;
    notify_from(
        &state,
        "remise_card",
        card_result(&link_key, "T0001", total, false),
        [203, 0, 113, 9],
    )
    .await;
    let kept = state.store.refused_requests(true, 10).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let id = kept[0].id;

    let (mut browser, csrf) = console_browser(&state).await;
    // The dashboard's notice leads here.
    let dashboard = browser.get("/admin").await.text();
    assert!(
        dashboard.contains("<a href=\"/admin/refused\">確認する</a>"),
        "{dashboard}"
    );
    let html = browser.get("/admin/refused?pending=1").await.text();
    assert!(
        html.contains(&format!("<td data-label=\"番号\">#{id}</td>")),
        "{html}"
    );
    assert!(html.contains("<code>203.0.113.9</code>"), "{html}");
    assert!(
        html.contains("<span class=\"badge broken\">不許可</span>"),
        "{html}"
    );

    let replay = format!("/admin/refused/{id}/replay");
    assert_eq!(
        browser.post(&replay, &[("confirm", "1")]).await.status,
        StatusCode::FORBIDDEN
    );
    // The first post only asks, with the box to vouch for a source the settings do not allow.
    let question = browser.post(&replay, &[("csrf", &csrf)]).await;
    assert_eq!(question.status, StatusCode::OK);
    let html = question.text();
    assert!(html.contains("id=\"refused-confirm\""), "{html}");
    assert!(html.contains("name=\"allow_unlisted_source\""), "{html}");
    // Confirmed without vouching for the source: refused, nothing replayed.
    let still = browser
        .post(&replay, &[("csrf", &csrf), ("confirm", "1")])
        .await;
    assert_eq!(still.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(still.text().contains("現在の設定でも許可されていません"));
    assert!(state.store.journal(None, 10).await.unwrap().is_empty());
    // Vouched for: replayed, the order paid, the outcome shown.
    let done = browser
        .post(
            &replay,
            &[
                ("csrf", &csrf),
                ("confirm", "1"),
                ("allow_unlisted_source", "1"),
            ],
        )
        .await;
    assert_redirect(&done, &format!("/admin/refused?replayed={id}"));
    let journal = state.store.journal(None, 10).await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].verdict, "accepted");
    assert_eq!(journal[0].replay_of_refused, Some(id));
    let html = browser
        .get(&format!("/admin/refused?replayed={id}"))
        .await
        .text();
    assert!(
        html.contains(&format!(
            "拒否した通知 #{id} を再実行しました（通知ジャーナル #{}、判定: accepted",
            journal[0].id
        )),
        "{html}"
    );
    assert!(html.contains("再実行済み"), "{html}");
    // Once only.
    let again = browser
        .post(
            &replay,
            &[
                ("csrf", &csrf),
                ("confirm", "1"),
                ("allow_unlisted_source", "1"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(state.store.journal(None, 10).await.unwrap().len(), 1);
    assert_eq!(
        browser
            .post("/admin/refused/999999/replay", &[("csrf", &csrf)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn nothing_without_a_session(backend: Backend) {
    let (state, _dir) = backend.shop("console-logs-session").await;
    let mut browser = common::Browser::new(&state);
    for path in [
        "/admin/settlement-errors",
        "/admin/settlement-errors/1",
        "/admin/settlement-errors/1/log.txt",
        "/admin/journal",
        "/admin/journal/1",
        "/admin/refused",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            page.location
                .as_deref()
                .unwrap()
                .starts_with("/admin/login?next="),
            "{path}"
        );
        assert!(page.bytes.is_empty(), "{path}");
    }
    for path in [
        "/admin/settlement-errors/1/delete",
        "/admin/settlement-errors/delete-all",
        "/admin/journal/1/replay",
        "/admin/refused/1/replay",
    ] {
        let page = browser.post(path, &[("confirm", "1")]).await;
        assert_redirect(&page, "/admin/login?next=%2Fadmin");
        assert!(page.bytes.is_empty(), "{path}");
    }
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    a_settlement_error_is_listed_shown_exported_and_deleted,
    the_api_empties_the_log_like_the_console,
    the_journal_filters_shows_an_entry_and_replays_it_only_when_confirmed,
    a_refused_notification_is_replayed_only_once_the_operator_confirms_its_source,
    nothing_without_a_session,
);
