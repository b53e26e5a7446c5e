//! The modules in use, chosen at run time (Welcart's 利用中のクレジット決済代行会社), and a module out of
//! use that still finishes what it started: a コンビニ order placed before Remise was taken out of use
//! and paid at the store afterwards gets its 収納情報通知 acknowledged and the order 入金済み, both when
//! the switch is made through the admin API and when it is made in the config file with a restart.
//! Meanwhile checkout offers no Remise method; once nothing is open the endpoint goes quiet.

mod common;

use common::*;
use serde_json::{json, Value};

/// The settlement types checkout offers now.
async fn offered(shop: &Shop) -> Vec<String> {
    shop.get("/api/payment-methods").await.json()["payment_methods"]
        .as_array()
        .expect("methods")
        .iter()
        .filter_map(|m| m["settlement_type"].as_str().map(str::to_owned))
        .collect()
}

/// Remise as `GET /admin/api/modules` shows it.
async fn remise_listed(shop: &Shop) -> Value {
    let modules = shop.admin_get("/modules").await;
    modules["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["id"] == "remise")
        .cloned()
        .unwrap_or_else(|| panic!("remise is not listed: {modules}"))
}

/// A コンビニ order with its payment number issued, unpaid; returns its link key and Remise's job id.
async fn unpaid_conv_order(shop: &Shop) -> (String, String) {
    let link_key = shop.checkout(CONV, &[], None).await;
    shop.issue_conv(&link_key).await;
    assert_eq!(shop.order_detail(&link_key).await.status, "unpaid");
    let job_id = shop.transaction(&link_key).job_id.expect("job id");
    (link_key, job_id)
}

/// The shopper pays at the store: the backyard's 入金通知 is acknowledged and the order is 入金済み.
async fn paid_at_the_store(shop: &Shop, link_key: &str, job_id: &str) {
    shop.backyard(job_id, "paid").await;
    let transaction = shop.transaction(link_key);
    let receipt = transaction
        .notifications
        .last()
        .expect("a receipt was sent");
    assert_eq!(receipt.last_answer.as_deref(), Some(ACK), "{receipt:?}");
    assert!(receipt.delivered);
    let order = shop.order_detail(link_key).await;
    assert_eq!(
        (order.status.as_str(), order.label.as_str()),
        ("paid", "入金済み")
    );
    assert_eq!(order.history.last().unwrap().1, "入金通知");
}

async fn taken_out_of_use_at_run_time(database: Database) {
    let mut shop = Shop::start_with(Options {
        database,
        ..Options::default()
    })
    .await;
    let (link_key, job_id) = unpaid_conv_order(&shop).await;
    let deadline = shop.order(&link_key).await.unwrap()["deadline"]
        .as_str()
        .expect("deadline")
        .to_owned();

    // Taking Remise out of use while its methods are 使用 asks for a confirmation, naming them.
    let (status, refused) = shop
        .admin(
            "PUT",
            "/modules/in-use",
            Some(&json!({"in_use": [], "confirm": false})),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    let methods: Vec<&str> = refused["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(methods.len(), 2, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("停止"),
        "{refused}"
    );
    // Nothing changed.
    assert!(offered(&shop).await.contains(&CONV.to_owned()));
    assert_eq!(remise_listed(&shop).await["in_use"], true);

    // Confirmed: the methods stop (never deleted) and Remise is out of use.
    let (status, applied) = shop
        .admin(
            "PUT",
            "/modules/in-use",
            Some(&json!({"in_use": [], "confirm": true})),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    let mut stopped: Vec<&str> = applied["stopped_methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    stopped.sort();
    let mut named = methods.clone();
    named.sort();
    assert_eq!(stopped, named);
    let all = shop.admin_get("/payment-methods").await;
    let remise_methods: Vec<&Value> = all["payment_methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["settlement_type"]
                .as_str()
                .unwrap()
                .starts_with("acting_remise_")
        })
        .collect();
    assert_eq!(remise_methods.len(), 2, "{all}");
    assert!(remise_methods.iter().all(|m| m["use"] == "停止"), "{all}");
    assert!(offered(&shop).await.is_empty());
    // Out of use, Remise still listens for the order it issued, and says why.
    let remise = remise_listed(&shop).await;
    assert_eq!(remise["in_use"], false, "{remise}");
    assert_eq!(remise["settlement_types"], json!([]), "{remise}");
    assert_eq!(remise["origin"], "bundled", "{remise}");
    assert_eq!(remise["retired"]["listening"], true, "{remise}");
    assert_eq!(remise["retired"]["unpaid_orders"], 1, "{remise}");
    assert_eq!(remise["retired"]["until"], deadline, "{remise}");
    assert!(
        remise["notification_endpoints"].as_array().unwrap().len() >= 2,
        "{remise}"
    );

    // Paid at the store: acknowledged, 入金済み.
    paid_at_the_store(&shop, &link_key, &job_id).await;

    // Nothing open any more: the jobs let the endpoints go quiet.
    let (status, _) = shop.admin("POST", "/jobs/run", None).await;
    assert_eq!(status, 200);
    assert!(remise_listed(&shop).await["retired"].is_null());
    let late = shop
        .notify("remise_conv", &conv_receipt(&link_key, "1", MUG_PRICE))
        .await;
    assert_eq!(late.status, 404, "{}", late.text());
    assert!(late.text().contains("unknown notification endpoint"));

    // The choice survives a restart and wins over the file (which still says remise).
    shop.restart_with_in_use(r#"["remise"]"#).await;
    assert!(shop.state.engine.in_use().is_empty());
    assert!(offered(&shop).await.is_empty());
    assert_eq!(shop.admin_get("/modules").await["in_use"], json!([]));

    // Back into use: settings valid, the methods wait for the operator (still 停止).
    let (status, applied) = shop
        .admin(
            "PUT",
            "/modules/in-use",
            Some(&json!({"in_use": ["remise"]})),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["in_use"], json!(["remise"]));
    assert_eq!(applied["added"][0]["settings_valid"], true, "{applied}");
    assert_eq!(
        applied["added"][0]["methods_waiting_for_use"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{applied}"
    );
    assert!(offered(&shop).await.is_empty());
    shop.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_out_of_use_through_the_admin_api_it_still_takes_the_payment_it_started() {
    taken_out_of_use_at_run_time(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_out_of_use_through_the_admin_api_on_postgres() {
    let Some(url) = postgres_url() else { return };
    taken_out_of_use_at_run_time(Database::Postgres(url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_out_of_use_in_the_file_with_a_restart_it_still_takes_the_payment_it_started() {
    let mut shop = Shop::start().await;
    let (link_key, job_id) = unpaid_conv_order(&shop).await;
    // As today: the methods are set to 停止 first, then the file's in_use is emptied and the shop
    // restarted.
    let all = shop.admin_get("/payment-methods").await;
    for method in all["payment_methods"].as_array().unwrap() {
        let mut body = method.clone();
        body["active"] = json!(false);
        let (status, answer) = shop
            .admin(
                "PUT",
                &format!("/payment-methods/{}", method["id"]),
                Some(&body),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    shop.restart_with_in_use("[]").await;
    assert!(shop.state.engine.in_use().is_empty());
    assert!(offered(&shop).await.is_empty());
    let listening = shop.state.engine.listening();
    assert_eq!(listening.len(), 1, "{listening:?}");
    assert_eq!(listening[0].module, "remise");
    assert_eq!(listening[0].unpaid_orders, 1);
    assert!(listening[0].listening);

    paid_at_the_store(&shop, &link_key, &job_id).await;
    shop.admin("POST", "/jobs/run", None).await;
    assert!(shop.state.engine.listening().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_with_nothing_open_goes_quiet_when_taken_out_of_use() {
    let shop = Shop::start().await;
    let (status, applied) = shop
        .admin(
            "PUT",
            "/modules/in-use",
            Some(&json!({"in_use": [], "confirm": true})),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["listening"], json!([]), "{applied}");
    assert!(remise_listed(&shop).await["retired"].is_null());
    let answer = shop
        .notify(
            "remise_conv",
            &conv_receipt("00000000000000001", "1", MUG_PRICE),
        )
        .await;
    assert_eq!(answer.status, 404, "{}", answer.text());
    // An unknown module is refused.
    let (status, refused) = shop
        .admin(
            "PUT",
            "/modules/in-use",
            Some(&json!({"in_use": ["nosuch"]})),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
}
