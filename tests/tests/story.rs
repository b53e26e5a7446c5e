//! The backend-generic story: an operator sets up payment methods and Remise settings, breaks and fixes
//! the settings, shoppers pay by card and at a convenience store, and the operator recovers an order
//! from the 決済直前ログ. It runs on SQLite always and on PostgreSQL when `SHOPHOST_TEST_PG_URL` names a
//! server; in CI (`CI` set) a missing URL fails the test instead of skipping it.

mod common;

use common::*;
use remise_sandbox::TransactionStatus;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_sqlite() {
    story(Database::Sqlite).await;
    println!("story ran on: sqlite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_postgres() {
    match postgres_url() {
        Some(url) => {
            story(Database::Postgres(url)).await;
            println!("story ran on: postgres");
        }
        None => println!("story did not run on postgres: SHOPHOST_TEST_PG_URL is not set"),
    }
}

/// The admin API's payment methods, by name: `(id, 使用/停止)`.
async fn methods(shop: &Shop) -> Vec<(String, i64, String)> {
    shop.admin_get("/payment-methods").await["payment_methods"]
        .as_array()
        .expect("methods")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["id"].as_i64().unwrap(),
                m["use"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The methods a shopper is offered now, by name.
async fn offered(shop: &Shop) -> Vec<String> {
    shop.get("/api/payment-methods").await.json()["payment_methods"]
        .as_array()
        .expect("methods")
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn create_method(
    shop: &Shop,
    name: &str,
    settlement_type: &str,
    explanation: &str,
) -> (u16, Value) {
    let body =
        json!({"name": name, "settlement_type": settlement_type, "explanation": explanation});
    shop.admin("POST", "/payment-methods", Some(&body)).await
}

async fn story(database: Database) {
    let backend = database.name();
    let shop = Shop::start_with(Options {
        demo_data: false,
        database,
        ..Options::default()
    })
    .await;
    let health = shop.get("/healthz").await.json();
    assert_eq!(health, json!({"status": "ok", "database": backend}));

    // The operator creates the two payment methods.
    assert!(methods(&shop).await.is_empty());
    let (status, card) = create_method(
        &shop,
        "クレジットカード",
        CARD,
        "<b>VISA</b>・Mastercard<script>alert(1)</script>",
    )
    .await;
    assert_eq!(status, 201, "{card}");
    assert_eq!(card["active"], true);
    let explanation = card["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("<b>VISA</b>") && !explanation.contains("script"),
        "{explanation}"
    );
    let card_id = card["id"].as_i64().unwrap();
    let (status, conv) = create_method(&shop, "コンビニ払い", CONV, "").await;
    assert_eq!(status, 201, "{conv}");
    let conv_id = conv["id"].as_i64().unwrap();
    let (status, error) = create_method(&shop, "クレジットカード", CARD, "").await;
    assert_eq!(status, 409, "{error}");
    assert!(error["error"].as_str().unwrap().contains("同じ名前"));
    let (status, error) = create_method(&shop, "謎の決済", "acting_nobody_card", "").await;
    assert_eq!(status, 422, "{error}");
    assert!(error["fields"]["settlement_type"].is_string(), "{error}");
    assert_eq!(offered(&shop).await, ["クレジットカード", "コンビニ払い"]);

    // A settings update with an error withdraws Remise's settlement types and stops both methods.
    let settings = shop.admin_get("/modules/remise/settings").await;
    assert_eq!(settings["valid"], true);
    let good = settings["values"].clone();
    let mut broken = good.clone();
    broken["SHOPCO"] = json!("");
    let (status, report) = shop
        .admin(
            "PUT",
            "/modules/remise/settings",
            Some(&json!({"values": broken})),
        )
        .await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["ok"], false);
    assert!(
        report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "SHOPCO"),
        "{report}"
    );
    assert_eq!(
        report["stopped_methods"],
        json!(["クレジットカード", "コンビニ払い"])
    );
    let messages = report["messages"].to_string();
    assert!(
        messages.contains("支払方法のクレジットカードを「停止」しました。"),
        "{messages}"
    );
    assert!(offered(&shop).await.is_empty());
    assert!(methods(&shop)
        .await
        .iter()
        .all(|(_, _, used)| used == "停止"));
    let refused = shop
        .post_json(
            "/api/checkout",
            &json!({"lines": [{"product_id": 1, "quantity": 1}], "customer": customer(), "payment_method_id": card_id}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    // While the type is not provided, the method cannot be set to 使用.
    let use_card = json!({"name": "クレジットカード", "settlement_type": CARD, "explanation": explanation, "active": true});
    let (status, error) = shop
        .admin(
            "PUT",
            &format!("/payment-methods/{card_id}"),
            Some(&use_card),
        )
        .await;
    assert_eq!(status, 409, "{error}");

    // Fixed settings bring the types back, but the methods wait for the operator.
    let (status, report) = shop
        .admin(
            "PUT",
            "/modules/remise/settings",
            Some(&json!({"values": good})),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["stopped_methods"], json!([]));
    assert_eq!(
        report["methods_waiting_for_use"],
        json!(["クレジットカード", "コンビニ払い"])
    );
    assert!(methods(&shop)
        .await
        .iter()
        .all(|(_, _, used)| used == "停止"));
    assert!(offered(&shop).await.is_empty());
    let (status, _) = shop
        .admin(
            "PUT",
            &format!("/payment-methods/{card_id}"),
            Some(&use_card),
        )
        .await;
    assert_eq!(status, 200);
    let use_conv = json!({"name": "コンビニ払い", "settlement_type": CONV, "active": true});
    let (status, _) = shop
        .admin(
            "PUT",
            &format!("/payment-methods/{conv_id}"),
            Some(&use_conv),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(offered(&shop).await, ["クレジットカード", "コンビニ払い"]);

    // A card purchase, end to end.
    let paid_by_card = shop.checkout_with_method(card_id, &[], None).await;
    let back = shop
        .pay_by_card(&paid_by_card, CardEntry::Number(CARD_OK))
        .await;
    let complete = shop.follow(&shop.browser_return(&back).await).await;
    assert!(complete.text().contains("ご注文ありがとうございました"));
    let order = shop.order_detail(&paid_by_card).await;
    assert_eq!((order.status.as_str(), order.events), ("captured", 1));
    assert_eq!(order.order["payment_method_name"], "クレジットカード");
    assert_eq!(order.order["settlement_label"], "カード決済（ルミーズ）");
    let entry = shop.journal(&paid_by_card).await[0].clone();
    assert_eq!(entry["verdict"], "accepted");
    let (status, replay) = shop
        .admin("POST", &format!("/journal/{}/replay", entry["id"]), None)
        .await;
    assert_eq!(
        (status, replay["verdict"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(shop.order_detail(&paid_by_card).await.events, 1);

    // A declined card: no order, one line in the 決済エラーログ.
    let declined = shop.checkout_with_method(card_id, &[], None).await;
    shop.pay_by_card(&declined, CardEntry::Number(CARD_NG))
        .await;
    assert!(shop.order(&declined).await.is_none());
    let errors = shop.settlement_errors(&declined).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["result"].as_str().unwrap().starts_with("G12"));

    // A method with orders cannot be deleted (only stopped); one without can.
    let (status, error) = shop
        .admin("DELETE", &format!("/payment-methods/{card_id}"), None)
        .await;
    assert_eq!(status, 409, "{error}");
    assert!(error["error"].as_str().unwrap().contains("停止"), "{error}");
    let (_, spare) = create_method(&shop, "予備のカード決済", CARD, "").await;
    let (status, _) = shop
        .admin("DELETE", &format!("/payment-methods/{}", spare["id"]), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(methods(&shop).await.len(), 2);

    // A convenience-store purchase: issued, then paid.
    let paid_at_store = shop.checkout_with_method(conv_id, &[], None).await;
    let back = shop.issue_conv(&paid_at_store).await;
    shop.follow(&shop.browser_return(&back).await).await;
    assert_eq!(shop.order_detail(&paid_at_store).await.status, "unpaid");
    let job_id = shop.transaction(&paid_at_store).job_id.unwrap();
    shop.backyard(&job_id, "paid").await;
    assert_eq!(
        shop.transaction(&paid_at_store).status,
        TransactionStatus::Paid
    );
    let order = shop.order_detail(&paid_at_store).await;
    assert_eq!(
        (order.status.as_str(), order.events, order.history.len()),
        ("paid", 2, 2)
    );

    // A shopper paid but no notification ever came: the operator finds the payment in Remise's
    // backyard and recreates the order from the 決済直前ログ.
    let lost = shop.checkout_with_method(card_id, &[], None).await;
    shop.confirm(&lost).await;
    let open = shop.admin_get("/attempts?open_only=true").await;
    let open_keys: Vec<&str> = open["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["link_key"].as_str().unwrap())
        .collect();
    assert_eq!(open_keys, [lost.as_str(), declined.as_str()]);
    let path = format!("/attempts/{lost}/recover");
    let (status, error) = shop
        .admin("POST", &path, Some(&json!({"status": "refunded"})))
        .await;
    assert_eq!(status, 422, "{error}");
    assert!(error["fields"]["status"].is_string(), "{error}");
    let (status, recovered) = shop
        .admin("POST", &path, Some(&json!({"status": "captured"})))
        .await;
    assert_eq!(status, 201, "{recovered}");
    assert_eq!(recovered["payment_status"], "captured");
    let order = shop.order_detail(&lost).await;
    assert_eq!(order.status, "captured");
    assert_eq!(order.events, 0);
    assert_eq!(
        order.history[0].1,
        "決済直前ログより受注データ登録（管理者）"
    );
    let (status, _) = shop
        .admin("POST", &path, Some(&json!({"status": "captured"})))
        .await;
    assert_eq!(status, 409);
    let open = shop.admin_get("/attempts?open_only=true").await;
    assert_eq!(open["attempts"].as_array().unwrap().len(), 1, "{open}");
    assert_eq!(
        shop.admin_get("/orders").await["orders"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // The dashboard's aggregates read this backend too: the three orders today, each notification
    // journaled with its outcome and answered.
    let store = &shop.state.store;
    let since = shophost::domain::now_millis() - 86_400_000;
    let days = store.daily_totals(since).await.expect("daily totals");
    assert_eq!(days.iter().map(|d| d.orders).sum::<i64>(), 3, "{days:?}");
    assert!(
        days.iter()
            .all(|d| d.amount_paid >= 0 && d.payments <= d.orders),
        "{days:?}"
    );
    let outcomes = store.notification_outcomes(since).await.expect("outcomes");
    let journaled: i64 = outcomes.iter().map(|o| o.count).sum();
    assert!(
        outcomes.iter().any(|o| o.module_id == "remise"
            && o.verdict == "accepted"
            && o.settlement_type == CARD),
        "{outcomes:?}"
    );
    let latencies = store.answer_latencies(since).await.expect("latencies");
    assert_eq!(
        latencies.counts.iter().sum::<i64>(),
        journaled,
        "{latencies:?}"
    );
    assert!(latencies.slowest.is_some_and(|ms| ms >= 0), "{latencies:?}");

    // The scheduled jobs run on this backend too (nothing is due).
    let (status, report) = shop.admin("POST", "/jobs/run", None).await;
    assert_eq!(status, 200, "{report}");
    let nothing_purged = json!({
        "attempts_without_order": 0,
        "settlement_errors": 0,
        "sessions": 0,
        "journal_bodies": 0,
        "refused_requests": 0,
        "operator_sessions": 0,
        "mail": 0,
    });
    assert_eq!(
        report,
        json!({"flagged": [], "expired": [], "purged": nothing_purged})
    );

    shop.finish().await;
}
