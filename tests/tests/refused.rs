//! Notification URLs under abuse, without losing a misconfigured shop's payments: notifications
//! refused for their source address are counted and kept within a budget (not journaled one by one),
//! the dashboard says when they name open checkouts, an operator who fixed `trusted_proxies` replays
//! them with an explicit confirmation, and the per-source rate limit of the gateway routes never
//! throttles the addresses a module allows.
//!
//! The rescue runs on SQLite always and on PostgreSQL where `SHOPHOST_TEST_PG_URL` names a server.

mod common;

use common::*;
use serde_json::{json, Value};

/// Remise's notifications come from here in these tests (as if from its published ranges).
const REMISE_ADDRESS: &str = "203.0.113.10";

/// Posts a card notification to `base` as a reverse proxy on 127.0.0.1 would pass it on: with the
/// gateway's address in `X-Forwarded-For`.
async fn through_proxy(shop: &Shop, base: &str, fields: &[(String, String)]) -> (u16, String) {
    let response = shop
        .http
        .post(format!("{base}/index.php?acting=remise_card"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", REMISE_ADDRESS)
        .body(sjis_form(fields))
        .send()
        .await
        .expect("the notification is answered");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// An admin call to a host at `base`.
async fn admin_at(
    shop: &Shop,
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = shop
        .http
        .request(method, format!("{base}/admin/api{path}"))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the admin API answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The notice of a kind, if the dashboard shows it.
fn notice(notices: &Value, kind: &str) -> Option<Value> {
    notices["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .find(|n| n["kind"] == kind)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_mistake_is_rescued_by_a_confirmed_replay_on_sqlite() {
    rescue(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_mistake_is_rescued_by_a_confirmed_replay_on_postgres() {
    match postgres_url() {
        Some(url) => rescue(Database::Postgres(url)).await,
        None => println!("the rescue did not run on postgres: SHOPHOST_TEST_PG_URL is not set"),
    }
}

async fn rescue(database: Database) {
    // Remise posts from 203.0.113.0/24; the shop runs behind a proxy on 127.0.0.1 but nobody listed
    // the proxy in `trusted_proxies`, so every notification seems to come from the proxy.
    let shop = Shop::start_with(Options {
        notify_sources: vec!["203.0.113.0/24"],
        database,
        ..Options::default()
    })
    .await;
    let paid = shop.checkout(CARD, &[], None).await;
    let (status, answer) =
        through_proxy(&shop, &shop.base, &card_success(&paid, "T0001", MUG_PRICE)).await;
    assert_eq!((status, answer.as_str()), (200, "error0"));
    let (_, answer) = through_proxy(&shop, &shop.base, &pairs(&[("X-JUNK", "1")])).await;
    assert_eq!(answer, "error0");

    // Nothing applied, nothing journaled, no 決済エラーログ line; both kept, the payment with its link key.
    assert!(shop.order(&paid).await.is_none());
    assert_eq!(shop.admin_get("/journal").await["entries"], json!([]));
    assert_eq!(
        shop.admin_get("/settlement-errors").await["errors"],
        json!([])
    );
    let refused = shop.admin_get("/refused?pending=true").await["refused"].clone();
    let refused = refused.as_array().expect("refused");
    assert_eq!(refused.len(), 2, "{refused:?}");
    let payment = refused
        .iter()
        .find(|r| r["link_key"] == paid.as_str())
        .expect("the payment is kept");
    assert_eq!(payment["source"], "127.0.0.1");
    assert_eq!(payment["attempt_state"], "open");
    assert_eq!(payment["allowed_now"], false);
    assert!(
        payment["headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["x-forwarded-for", REMISE_ADDRESS])),
        "{payment}"
    );
    assert!(payment["fields"]
        .as_array()
        .unwrap()
        .contains(&json!(["X-S_TORIHIKI_NO", paid.as_str()])));
    let junk = refused.iter().find(|r| r["link_key"].is_null()).unwrap();
    assert!(junk["attempt_state"].is_null());

    // Counted in /metrics, with the refusal and with what became of it.
    let metrics = shop.metrics().await;
    assert!(
        metrics.contains(
            "shophost_refused_requests_total{module=\"remise\",endpoint=\"remise_card\",outcome=\"kept\"} 2"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("verdict=\"rejected\",reason=\"SourceNotAllowed\"} 2"));

    // The dashboard says to check trusted_proxies and the gateway's addresses.
    let notices = shop.admin_get("/notices").await;
    let refused_notice = notice(&notices, "refused_for_source").expect("the notice");
    let message = refused_notice["message"].as_str().unwrap();
    assert!(message.contains("trusted_proxies"), "{message}");
    assert!(message.contains("未完了の注文1件"), "{message}");
    assert!(
        message.contains("決済代行会社（ゲートウェイ）の通知元アドレス"),
        "{message}"
    );
    assert_eq!(refused_notice["link"], "/admin/api/refused?pending=true");
    assert!(notice(&notices, "settlement_errors").is_none());

    // A replay without the explicit confirmation does nothing and says what it would do.
    let id = payment["id"].as_i64().unwrap();
    for body in [None, Some(json!({})), Some(json!({"confirm": false}))] {
        let (status, answer) = shop
            .admin("POST", &format!("/refused/{id}/replay"), body.as_ref())
            .await;
        assert_eq!(status, 400, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains("{\"confirm\": true}"), "{error}");
        assert!(error.contains("trusted_proxies"), "{error}");
    }
    assert!(shop.order(&paid).await.is_none());

    // The operator fixes trusted_proxies (a host started with the fixed config, same database).
    let registry = shophost::bundled::registry(vec![]).expect("registry");
    let mut config = shop.state.config.as_ref().clone();
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let fixed = shophost::serve::build_state(config, registry)
        .await
        .expect("the fixed host starts on the same database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fixed_base = format!("http://{}", listener.local_addr().unwrap());
    shophost::serve::spawn_server(fixed.clone(), listener);

    // Now the list says where the kept payment really came from, and that it is allowed.
    let (_, list) = admin_at(&shop, &fixed_base, "GET", "/refused", None).await;
    let payment = list["refused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap();
    assert_eq!(payment["source_now"], REMISE_ADDRESS);
    assert_eq!(payment["allowed_now"], true);
    // New notifications get through.
    let next = shop.checkout(CARD, &[], None).await;
    let (_, answer) =
        through_proxy(&shop, &fixed_base, &card_success(&next, "T0002", MUG_PRICE)).await;
    assert_eq!(answer, ACK);
    assert_eq!(shop.order_detail(&next).await.status, "captured");

    // The confirmed replay goes through the notification path and makes the order.
    let (status, replay) = admin_at(
        &shop,
        &fixed_base,
        "POST",
        &format!("/refused/{id}/replay"),
        Some(json!({"confirm": true})),
    )
    .await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["verdict"], "accepted");
    assert_eq!(replay["response_body"], ACK);
    let order = shop.order_detail(&paid).await;
    assert_eq!((order.status.as_str(), order.events), ("captured", 1));
    // Journaled as a replay of the refused request, with the operator's confirmation noted.
    let entry = shop.journal(&paid).await[0].clone();
    assert_eq!(entry["id"], replay["journal_id"]);
    assert_eq!(entry["verdict"], "accepted");
    assert_eq!(entry["replay_of_refused"], id);
    assert!(entry["replay_of"].is_null());
    assert_eq!(entry["source"], REMISE_ADDRESS);
    let note = entry["replay_note"].as_str().unwrap();
    assert!(note.contains("the operator confirmed the source"), "{note}");
    assert!(note.contains("which the current settings allow"), "{note}");
    assert!(
        note.contains(&format!("replay of refused request {id}")),
        "{note}"
    );
    assert!(
        note.contains("203.0.113.10 with the current trusted_proxies"),
        "{note}"
    );
    let kept = shop.admin_get("/refused").await["refused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap();
    assert!(
        kept["replayed_at"]
            .as_str()
            .is_some_and(|at| at.ends_with("+09:00")),
        "{kept}"
    );
    assert_eq!(kept["replay_journal_id"], replay["journal_id"]);
    assert_eq!(kept["attempt_state"], "ordered");

    // Once replayed it is not replayed again (the journal entry can be), and the notice is gone.
    let (status, again) = shop
        .admin(
            "POST",
            &format!("/refused/{id}/replay"),
            Some(&json!({"confirm": true})),
        )
        .await;
    assert_eq!(status, 409, "{again}");
    assert!(
        again["error"].as_str().unwrap().contains("/journal/"),
        "{again}"
    );
    assert!(notice(&shop.admin_get("/notices").await, "refused_for_source").is_none());
    let pending = shop.admin_get("/refused?pending=true").await["refused"].clone();
    assert_eq!(pending.as_array().unwrap().len(), 1);

    // The junk came through the proxy too: where the proxy is still not trusted, its source is not
    // allowed and a plain confirmation is not enough; on the fixed host it is replayed, and refused
    // as malformed like any other request, journaled this time.
    let junk_id = junk["id"].as_i64().unwrap();
    let path = format!("/refused/{junk_id}/replay");
    let (status, answer) = shop
        .admin("POST", &path, Some(&json!({"confirm": true})))
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, replay) = admin_at(
        &shop,
        &fixed_base,
        "POST",
        &path,
        Some(json!({"confirm": true})),
    )
    .await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["verdict"], "rejected");
    assert_eq!(replay["response_body"], "error1");
    let (_, entry) = admin_at(
        &shop,
        &fixed_base,
        "GET",
        &format!("/journal/{}", replay["journal_id"]),
        None,
    )
    .await;
    assert_eq!(entry["replay_of_refused"], junk_id);
    assert_eq!(entry["verdict"], "rejected");
    let (status, _) = shop
        .admin(
            "POST",
            "/refused/999999/replay",
            Some(&json!({"confirm": true})),
        )
        .await;
    assert_eq!(status, 404);
    shop.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_kept_within_the_budget_and_beyond_it_only_counted() {
    let shop = Shop::start_with(Options {
        notify_sources: vec!["10.9.9.9/32"],
        extra_config:
            "[notifications]\nrefused_per_source_per_hour = 2\nrefused_max_bytes = 3000\n",
        ..Options::default()
    })
    .await;
    // Strangers' requests: two an hour from one source are kept, the rest only counted.
    for _ in 0..4 {
        let answer = shop.notify("remise_card", &pairs(&[("X-JUNK", "1")])).await;
        assert_eq!((answer.status, answer.text().as_str()), (200, "error0"));
    }
    let kept = |list: Value| list["refused"].as_array().unwrap().len();
    assert_eq!(kept(shop.admin_get("/refused").await), 2);
    // A payment for an open checkout is kept although its source used up its share, while the bytes
    // last (each is some 600 bytes against 3000); then it is only counted too.
    let mut payments = Vec::new();
    for n in 0..4 {
        let link_key = shop.checkout(CARD, &[], None).await;
        let answer = shop
            .notify(
                "remise_card",
                &card_success(&link_key, &format!("T{n}"), MUG_PRICE),
            )
            .await;
        assert_eq!(answer.text(), "error0");
        payments.push(link_key);
    }
    let list = shop.admin_get("/refused").await;
    let kept_payments: Vec<&str> = list["refused"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["link_key"].as_str())
        .collect();
    assert!(
        (1..4).contains(&kept_payments.len()),
        "some payments kept, not all: {kept_payments:?}"
    );
    let held: i64 = list["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["size"].as_i64().unwrap())
        .sum();
    assert!(held <= 3000, "{held}");
    let metrics = shop.metrics().await;
    let counted = |outcome: &str| {
        let prefix = format!(
            "shophost_refused_requests_total{{module=\"remise\",endpoint=\"remise_card\",outcome=\"{outcome}\"}} "
        );
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map(|n| n.parse::<u64>().unwrap())
            .unwrap_or(0)
    };
    let kept_now = 2 + kept_payments.len() as u64;
    assert_eq!(counted("kept"), kept_now, "{metrics}");
    assert_eq!(counted("over_budget"), 8 - kept_now, "{metrics}");
    // None of it is journaled or in the 決済エラーログ.
    assert_eq!(shop.admin_get("/journal").await["entries"], json!([]));
    assert_eq!(
        shop.admin_get("/settlement-errors").await["errors"],
        json!([])
    );
    // The notice counts the open checkouts the kept requests name.
    let notices = shop.admin_get("/notices").await;
    let message = notice(&notices, "refused_for_source").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&format!("未完了の注文{}件", kept_payments.len())),
        "{message}"
    );

    // A source the settings do not allow even now is replayed only if the operator vouches for it.
    let payment = list["refused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["link_key"].is_string())
        .cloned()
        .unwrap();
    assert_eq!(payment["allowed_now"], false);
    let path = format!("/refused/{}/replay", payment["id"]);
    let (status, answer) = shop
        .admin("POST", &path, Some(&json!({"confirm": true})))
        .await;
    assert_eq!(status, 400, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("現在の設定でも許可されていません"),
        "{error}"
    );
    assert!(error.contains("\"allow_unlisted_source\": true"), "{error}");
    let link_key = payment["link_key"].as_str().unwrap();
    assert!(shop.order(link_key).await.is_none());
    let (status, replay) = shop
        .admin(
            "POST",
            &path,
            Some(&json!({"confirm": true, "allow_unlisted_source": true})),
        )
        .await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["verdict"], "accepted");
    assert_eq!(shop.order_detail(link_key).await.status, "captured");
    let note = shop.journal(link_key).await[0]["replay_note"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        note.contains("do not allow either: the operator vouched for it"),
        "{note}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_never_throttles_the_gateways_addresses() {
    // 127.0.0.1 is Remise's address here; the limit is three requests, then one a minute.
    let shop = Shop::start_with(Options {
        extra_config: "[notifications]\nrate_per_minute = 1\nrate_burst = 3\n",
        ..Options::default()
    })
    .await;
    for n in 0..10 {
        let link_key = shop.checkout(CARD, &[], None).await;
        let answer = shop
            .notify(
                "remise_card",
                &card_success(&link_key, &format!("T{n}"), MUG_PRICE),
            )
            .await;
        assert_eq!((answer.status, answer.text().as_str()), (200, ACK), "{n}");
    }
    // The same address at an endpoint whose module does not list it is limited like anyone.
    let nobody = |n: usize| format!("{}/notify/nobody{n}", shop.base);
    for n in 0..3 {
        let page = shop.post_raw(&nobody(n), "text/plain", b"x".to_vec()).await;
        assert_eq!(page.status, 404, "{n}: {}", page.text());
    }
    let page = shop.post_raw(&nobody(3), "text/plain", b"x".to_vec()).await;
    assert_eq!(page.status, 429, "{}", page.text());
    assert!(
        page.content_type.starts_with("text/plain"),
        "{}",
        page.content_type
    );
    assert!(page.text().contains("too many requests"), "{}", page.text());
    // Browser returns and the rest of the shop are not behind it.
    assert_eq!(shop.get("/api/products").await.status, 200);
    // The gateway's own notifications still get through.
    let link_key = shop.checkout(CARD, &[], None).await;
    let answer = shop
        .notify("remise_card", &card_success(&link_key, "T99", MUG_PRICE))
        .await;
    assert_eq!(answer.text(), ACK);
    let metrics = shop.metrics().await;
    assert!(
        metrics.contains("shophost_gateway_rate_limited_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_limited_at_the_gateways_endpoints_too() {
    let shop = Shop::start_with(Options {
        notify_sources: vec!["10.9.9.9/32"],
        extra_config: "[notifications]\nrate_per_minute = 1\nrate_burst = 2\n",
        ..Options::default()
    })
    .await;
    let junk = pairs(&[("X-JUNK", "1")]);
    assert_eq!(shop.notify("remise_card", &junk).await.text(), "error0");
    assert_eq!(shop.notify("remise_conv", &junk).await.text(), "error0");
    let page = shop.notify("remise_card", &junk).await;
    assert_eq!(page.status, 429);
    let retry = shop
        .http
        .post(shop.notify_url("remise_card"))
        .body("X-JUNK=1")
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status().as_u16(), 429);
    let seconds: u64 = retry.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
}
