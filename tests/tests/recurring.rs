//! 自動継続課金 end to end: a member subscribes to a recurring product by card through the sandbox, the
//! first payment registers the recurring charge at Remise (`AUTOCHARGE`), the notification's
//! `X-AC_MEMBERID` lands in the shop's contract, and the operator can stop it. Carts that cannot be
//! subscribed are refused before anything is sent.

mod common;

use common::*;
use remise_sandbox::TransactionStatus;
use serde_json::{json, Value};
use shophost::domain::{local_date, now_millis, ProductRecurrence};

const SUBSCRIPTION: &str = "SUB01";
const SUBSCRIPTION_PRICE: i64 = 3300;
const RECURRENCE: ProductRecurrence = ProductRecurrence {
    interval_months: 1,
    charging_day: 10,
};

/// The operator adds the product and makes it monthly, on the 10th, through the admin API.
async fn subscription(shop: &Shop) -> i64 {
    let (status, product) = shop
        .admin(
            "POST",
            "/products",
            Some(&json!({"sku": SUBSCRIPTION, "name": "オンライン茶道教室 月謝", "price": SUBSCRIPTION_PRICE})),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let path = format!("/products/{SUBSCRIPTION}/recurrence");
    for (body, message) in [
        (
            json!({"interval_months": 3, "charging_day": 10}),
            "課金間隔",
        ),
        (json!({"interval_months": 1, "charging_day": 31}), "課金日"),
    ] {
        let (status, answer) = shop.admin("PUT", &path, Some(&body)).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(message),
            "{answer}"
        );
        let field = answer["fields"].as_object().expect("fields");
        assert_eq!(field.len(), 1, "{answer}");
    }
    let (status, _) = shop
        .admin("PUT", "/products/NOSUCH/recurrence", Some(&json!(null)))
        .await;
    assert_eq!(status, 404);
    let (status, product) = shop
        .admin(
            "PUT",
            &path,
            Some(&json!({"interval_months": RECURRENCE.interval_months, "charging_day": RECURRENCE.charging_day})),
        )
        .await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(
        product["recurrence"],
        json!({"interval_months": 1, "charging_day": 10})
    );
    product["id"].as_i64().expect("product id")
}

async fn checkout(shop: &Shop, lines: Value, method: i64, member: bool) -> Page {
    let mut body = json!({
        "lines": lines,
        "customer": customer(),
        "payment_method_id": method,
        "note": "",
        "options": {},
    });
    if member {
        body["member"] = json!({"email": MEMBER.0, "password": MEMBER.1});
    }
    shop.post_json("/api/checkout", &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_subscribes_by_card_on_sqlite() {
    subscribe(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_subscribes_by_card_on_postgres() {
    let Some(url) = postgres_url() else {
        eprintln!("SHOPHOST_TEST_PG_URL is not set: the PostgreSQL subscription did not run");
        return;
    };
    subscribe(Database::Postgres(url)).await;
}

/// The subscription and the contract that keeps Remise's id, then stopping it.
async fn subscribe(database: Database) {
    let shop = Shop::start_with(Options {
        database,
        ..Options::default()
    })
    .await;
    let product = subscription(&shop).await;
    let method = shop.method_id(CARD).await;
    let page = checkout(
        &shop,
        json!([{"product_id": product, "quantity": 1}]),
        method,
        true,
    )
    .await;
    assert_eq!(page.status, 201, "{}", page.text());
    let created = page.json();
    let link_key = created["link_key"].as_str().expect("link key").to_owned();
    let total = created["total"].as_i64().expect("total");
    let next_charge = RECURRENCE.first_charge(local_date(now_millis())).yyyymmdd();

    // The form registers the recurring charge: an authorisation, paid in one, with the AC_* fields.
    let form = shop.confirm(&link_key).await;
    let (member, _) = shop
        .state
        .store
        .member_by_email(MEMBER.0)
        .await
        .unwrap()
        .expect("demo member");
    let member_no = member.id.to_string();
    let total_text = total.to_string();
    for (name, value) in [
        ("JOB", "AUTH"),
        ("ITEM", "0000990"),
        ("METHOD", "10"),
        ("AUTOCHARGE", "1"),
        ("AC_S_KAIIN_NO", member_no.as_str()),
        ("AC_NAME", ""),
        ("AC_AMOUNT", total_text.as_str()),
        ("AC_TOTAL", total_text.as_str()),
        ("AC_NEXT_DATE", next_charge.as_str()),
        ("AC_INTERVAL", "1M"),
    ] {
        assert_eq!(form.field(name), Some(value), "{name}");
    }
    assert_eq!(form.field("PTIMES"), None);

    let page = shop.open_gateway(&form).await;
    let back = shop
        .submit_card(&session_of(&page), CardEntry::Number(CARD_OK))
        .await;
    assert!(back.action.ends_with("/ok"), "{}", back.page);
    let order = shop.order_detail(&link_key).await;
    assert_eq!((order.status.as_str(), order.events), ("authorized", 1));
    assert!(order.order["attention"].is_null(), "{}", order.order);

    let contracts = shop.admin_get("/contracts").await;
    let contracts = contracts["contracts"]
        .as_array()
        .expect("contracts")
        .clone();
    assert_eq!(contracts.len(), 1, "{contracts:?}");
    let contract = &contracts[0];
    let gateway_id = contract["gateway_id"].as_str().expect("X-AC_MEMBERID kept");
    assert!(gateway_id.starts_with("AC"), "{contract}");
    // Remise's side (the sandbox) holds the same registration, with the schedule the shop sent.
    let registered = shop
        .transaction(&link_key)
        .autocharge
        .expect("the sandbox recorded the registration");
    assert_eq!(
        (
            registered.member_id.as_str(),
            registered.interval.as_str(),
            registered.next_date.as_str()
        ),
        (gateway_id, "1M", next_charge.as_str())
    );
    assert_eq!(contract["order_id"], order.order["id"]);
    assert_eq!(contract["member_id"], member.id);
    assert_eq!(contract["amount"], total);
    assert_eq!(contract["interval_months"], 1);
    assert_eq!(contract["charging_day"], 10);
    assert_eq!(contract["next_charge"], next_charge);
    assert_eq!(contract["next_charge_expected"], next_charge);
    assert_eq!(contract["status"], "continuation");

    // A duplicate of the notification registers nothing more.
    let transaction = shop.transaction(&link_key);
    let remise_id = transaction.tran_id.clone().expect("X-TRANID");
    shop.backyard(&remise_id, "resend").await;
    let order = shop.order_detail(&link_key).await;
    assert_eq!(order.events, 1);
    assert_eq!(
        shop.admin_get("/contracts").await["contracts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // The member changes their card: the form names the recurring charge, so Remise moves it to the new
    // card too (reference §8.3), and the new card is kept for PayQuick.
    let form = shophost::checkout::start_card_update(&shop.state, member.id, "remise")
        .await
        .expect("card update form")
        .form;
    let form = GatewayForm {
        url: form.url,
        fields: form
            .fields
            .into_iter()
            .map(|field| (field.name, field.value))
            .collect(),
    };
    for (name, value) in [
        ("JOB", "CHECK"),
        ("AUTOCHARGE", "1"),
        ("AC_MEMBERID", gateway_id),
        ("AC_S_KAIIN_NO", member_no.as_str()),
        ("AC_AMOUNT", total_text.as_str()),
    ] {
        assert_eq!(form.field(name), Some(value), "card update {name}");
    }
    let page = shop.open_gateway(&form).await;
    let back = shop
        .submit_card(
            &session_of(&page),
            CardEntry::Number(remise_sandbox::TEST_CARD_MASTERCARD),
        )
        .await;
    assert!(back.action.contains("/mypage/card/done"), "{}", back.page);
    let card = shop
        .state
        .store
        .member_card(member.id, "remise")
        .await
        .unwrap()
        .expect("card kept");
    assert_eq!(card.last4, "4444");
    let update = shop.transaction(form.field("S_TORIHIKI_NO").expect("link key"));
    assert_eq!(update.status, TransactionStatus::CardChecked, "{update:?}");

    // The operator stops it (and is told to stop it at Remise too); stopping twice is a conflict.
    let id = contract["id"].as_i64().expect("id");
    let (status, stopped) = shop
        .admin("POST", &format!("/contracts/{id}/stop"), None)
        .await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["contract"]["status"], "stopped");
    let listed = shop.admin_get("/contracts").await;
    assert!(
        listed["contracts"][0]["next_charge_expected"].is_null(),
        "{listed}"
    );
    let metrics = shop.metrics().await;
    assert!(
        metrics.contains("shophost_recurring_contracts{module=\"remise\",status=\"stopped\"} 1"),
        "{metrics}"
    );
    assert!(stopped["notice"]
        .as_str()
        .unwrap_or("")
        .contains("加盟店バックヤード"));
    let (status, _) = shop
        .admin("POST", &format!("/contracts/{id}/stop"), None)
        .await;
    assert_eq!(status, 409);
    let (status, _) = shop.admin("POST", "/contracts/999999/stop", None).await;
    assert_eq!(status, 404);
    shop.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carts_that_cannot_subscribe_are_refused_before_the_gateway() {
    let shop = Shop::start().await;
    let product = subscription(&shop).await;
    let card = shop.method_id(CARD).await;
    let conv = shop.method_id(CONV).await;
    let alone = json!([{"product_id": product, "quantity": 1}]);
    let cases = [
        ("a guest", alone.clone(), card, false, "会員ログイン"),
        (
            "with another item",
            json!([{"product_id": product, "quantity": 1}, {"product_id": 1, "quantity": 1}]),
            card,
            true,
            "別に1点ずつ",
        ),
        (
            "two of it",
            json!([{"product_id": product, "quantity": 2}]),
            card,
            true,
            "別に1点ずつ",
        ),
        (
            "by multi-payment",
            alone,
            conv,
            true,
            "ではお支払いいただけません",
        ),
    ];
    for (case, lines, method, member, message) in cases {
        let page = checkout(&shop, lines, method, member).await;
        assert_eq!(page.status, 400, "{case}: {}", page.text());
        assert!(page.text().contains(message), "{case}: {}", page.text());
    }
    let attempts = shop.admin_get("/attempts").await;
    assert_eq!(attempts["attempts"].as_array().map(Vec::len), Some(0));

    // Made one-off again, the same cart goes through for a guest.
    let (status, product) = shop
        .admin(
            "PUT",
            &format!("/products/{SUBSCRIPTION}/recurrence"),
            Some(&json!(null)),
        )
        .await;
    assert_eq!((status, &product["recurrence"]), (200, &Value::Null));
    let page = checkout(
        &shop,
        json!([{"product_id": product["id"], "quantity": 2}]),
        card,
        false,
    )
    .await;
    assert_eq!(page.status, 201, "{}", page.text());
    shop.finish().await;
}
