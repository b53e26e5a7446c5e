//! Card payments end to end: the shop's JSON checkout, the Remise sandbox's card page, its result
//! notification and the browser coming back, all over real sockets.
//!
//! The rule under test throughout is that only the server-to-server notification makes an order; the
//! browser return only decides what the shopper sees.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use remise_sandbox::{PaymentMethod, TransactionStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_card_payment_makes_one_order_from_the_notification() {
    let shop = Shop::start().await;
    let link_key = shop.checkout(CARD, &[], None).await;
    let form = shop.confirm(&link_key).await;
    assert_eq!(form.field("JOB"), Some("CAPTURE"));
    assert_eq!(form.field("S_TORIHIKI_NO"), Some(link_key.as_str()));
    assert_eq!(form.field("TOTAL"), Some("3990"));
    // A guest gets no PayQuick.
    assert_eq!(form.field("PAYQUICK"), None);

    // A browser gets the same form from the shop's Shift_JIS pay page.
    let pay_page = shop.get(&format!("/pay/{link_key}")).await;
    assert_eq!(pay_page.status, 200);
    assert!(
        pay_page.content_type.contains("Shift_JIS"),
        "{}",
        pay_page.content_type
    );
    let browser_fields =
        form_posting_to(&pay_page.text(), &form.url).expect("the pay page posts to the sandbox");
    assert_eq!(browser_fields, form.fields);

    let page = shop.open_gateway(&form).await;
    let back = shop
        .submit_card(&session_of(&page), CardEntry::Number(CARD_OK))
        .await;
    assert!(
        back.action.ends_with("/return/acting_remise_card/ok"),
        "{}",
        back.action
    );

    // The notification was delivered while the shopper waited: the order exists before the return.
    let order = shop.order_detail(&link_key).await;
    assert_eq!(order.status, "captured");
    assert_eq!(order.label, "売上");
    assert_eq!(order.events, 1);
    assert_eq!(order.history.len(), 1);
    assert_eq!(order.order["total"], MUG_PRICE);
    let transaction = shop.transaction(&link_key);
    assert_eq!(transaction.status, TransactionStatus::Sales);
    assert_eq!(
        order.order["transaction_id"].as_str(),
        transaction.tran_id.as_deref()
    );
    assert_eq!(transaction.notifications.len(), 1);
    assert!(transaction.notifications[0].delivered);
    assert_eq!(transaction.notifications[0].attempts, 1);
    assert_eq!(
        transaction.notifications[0].last_answer.as_deref(),
        Some(ACK)
    );

    let journal = shop.journal(&link_key).await;
    assert_eq!(journal.len(), 1, "{journal:?}");
    assert_eq!(journal[0]["endpoint"], "remise_card");
    assert_eq!(journal[0]["verdict"], "accepted");
    assert_eq!(journal[0]["response_body"], ACK);
    assert_eq!(journal[0]["charset"], "Shift_JIS");

    // The browser return after the notification goes straight to the completion page.
    let returned = shop.browser_return(&back).await;
    assert_eq!(returned.status, 303);
    assert_eq!(
        returned.location.as_deref(),
        Some(format!("/checkout/complete/{link_key}").as_str())
    );
    let complete = shop.follow(&returned).await;
    let text = complete.text();
    assert!(text.contains("ご注文ありがとうございました"), "{text}");
    assert!(text.contains(&order.number), "{text}");
    assert!(
        text.contains("<span id=\"payment-status\">売上</span>"),
        "{text}"
    );
    assert_eq!(shop.checkout_state(&link_key).await["state"], "ordered");
    // With the order made, the 要確認 flag is gone from the attempt and from the dashboard.
    assert!(shop.attempt(&link_key).await["attention"].is_null());
    let notices = shop.admin_get("/notices").await;
    assert!(
        !notices["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "unconfirmed_returns"),
        "{notices}"
    );

    // Nothing about the return changed the order or added an event.
    let after = shop.order_detail(&link_key).await;
    assert_eq!((after.status.as_str(), after.events), ("captured", 1));
    assert!(shop.settlement_errors(&link_key).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorised_card_payment_is_kari_uriage() {
    let shop = Shop::start_with(Options {
        card_job: "AUTH",
        ..Options::default()
    })
    .await;
    let link_key = shop.checkout(CARD, &[], None).await;
    let back = shop
        .pay_by_card(&link_key, CardEntry::Number(CARD_OK))
        .await;
    assert_eq!(
        shop.transaction(&link_key).status,
        TransactionStatus::Authorized
    );

    let order = shop.order_detail(&link_key).await;
    assert_eq!(order.status, "authorized");
    assert_eq!(order.label, "仮売上");
    assert_eq!(order.events, 1);
    assert_eq!(shop.journal(&link_key).await[0]["verdict"], "accepted");

    let complete = shop.follow(&shop.browser_return(&back).await).await;
    assert!(complete.text().contains("仮売上"), "{}", complete.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_card_makes_no_order_and_logs_the_error() {
    let shop = Shop::start().await;
    let link_key = shop.checkout(CARD, &[], None).await;
    let back = shop
        .pay_by_card(&link_key, CardEntry::Number(CARD_NG))
        .await;
    assert!(
        back.action.ends_with("/return/acting_remise_card/ng"),
        "{}",
        back.action
    );
    assert_eq!(back.field("X-ERRCODE"), Some("G12"));

    let transaction = shop.transaction(&link_key);
    assert_eq!(transaction.status, TransactionStatus::Declined);
    // The failure is acknowledged (Remise must stop retrying) and recorded, but makes no order.
    assert!(transaction.notifications[0].delivered);
    assert!(shop.order(&link_key).await.is_none());
    let journal = shop.journal(&link_key).await;
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0]["verdict"], "accepted");
    assert_eq!(journal[0]["response_body"], ACK);

    let errors = shop.settlement_errors(&link_key).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["acting"], "remise_card");
    assert_eq!(errors[0]["module_id"], "remise");
    let result = errors[0]["result"].as_str().unwrap();
    assert!(result.starts_with("G12"), "{result}");
    assert_eq!(errors[0]["journal_id"], journal[0]["id"]);
    let notice = shop.admin_get("/settlement-errors").await["notice"].clone();
    assert!(
        notice
            .as_str()
            .unwrap()
            .starts_with("決済エラーが発生しました"),
        "{notice}"
    );

    let page = shop.browser_return(&back).await;
    assert_eq!(page.status, 200);
    let text = page.text();
    assert!(text.contains("ご注文が完了しませんでした"), "{text}");
    assert!(text.contains("G12"), "{text}");
    assert!(shop.order(&link_key).await.is_none());
    assert_eq!(shop.attempt(&link_key).await["state"], "open");
    // The failure notification ends the wait: the API and the completion page say so.
    let state = shop.checkout_state(&link_key).await;
    assert_eq!(state["state"], "failed", "{state}");
    let complete = shop
        .get(&format!("{}/checkout/complete/{link_key}", shop.base))
        .await;
    assert!(complete.text().contains("ご注文が完了しませんでした"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payquick_member_pays_the_second_time_with_the_saved_card() {
    let shop = Shop::start().await;
    let (member, _) = shop
        .state
        .store
        .member_by_email(MEMBER.0)
        .await
        .unwrap()
        .expect("demo member");

    // First purchase: PayQuick is asked for, no id yet; the shopper types the card.
    let first = shop.checkout(CARD, &[], Some(MEMBER)).await;
    let form = shop.confirm(&first).await;
    assert_eq!(form.field("PAYQUICK"), Some("1"));
    assert_eq!(form.field("PAYQUICKID"), None);
    let page = shop.open_gateway(&form).await;
    shop.submit_card(&session_of(&page), CardEntry::Number(CARD_OK))
        .await;
    let issued = shop
        .transaction(&first)
        .payquick_id
        .expect("PayQuick id issued");
    let card = shop
        .state
        .store
        .member_card(member.id, "remise")
        .await
        .unwrap()
        .expect("card stored for the member");
    assert_eq!(card.token, issued);
    assert_eq!(card.last4, "1111");
    assert_eq!(card.expiry, card_expiry());
    let order = shop.order_detail(&first).await;
    assert_eq!(order.status, "captured");
    assert_eq!(order.order["member_id"], member.id);

    // Second purchase: the form names the card, the sandbox offers it, and no number is typed.
    let second = shop.checkout(CARD, &[], Some(MEMBER)).await;
    let form = shop.confirm(&second).await;
    assert_eq!(form.field("PAYQUICK"), Some("1"));
    assert_eq!(form.field("PAYQUICKID"), Some(issued.as_str()));
    let page = shop.open_gateway(&form).await;
    let text = page.text();
    assert!(text.contains("登録済みのカード"), "{text}");
    let back = shop.submit_card(&session_of(&page), CardEntry::Saved).await;
    assert!(back.action.ends_with("/ok"), "{}", back.page);
    let transaction = shop.transaction(&second);
    assert_eq!(transaction.status, TransactionStatus::Sales);
    assert_eq!(transaction.payquick_id.as_deref(), Some(issued.as_str()));
    assert_eq!(transaction.last4.as_deref(), Some("1111"));
    let order = shop.order_detail(&second).await;
    assert_eq!((order.status.as_str(), order.events), ("captured", 1));
    assert_eq!(order.order["member_id"], member.id);
    let card = shop
        .state
        .store
        .member_card(member.id, "remise")
        .await
        .unwrap()
        .expect("card still stored");
    assert_eq!(
        (card.token.as_str(), card.last4.as_str()),
        (issued.as_str(), "1111")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installment_choice_reaches_the_gateway() {
    let shop = Shop::start().await;
    for (div, method, ptimes, recorded) in [
        ("0", "10", None, PaymentMethod::Lump),
        ("1", "61", Some("2"), PaymentMethod::TwoInstallments),
        ("2", "80", None, PaymentMethod::Revolving),
    ] {
        let link_key = shop.checkout(CARD, &[("div", div)], None).await;
        let form = shop.confirm(&link_key).await;
        assert_eq!(form.field("div"), Some(div));
        assert_eq!(form.field("METHOD"), Some(method), "div={div}");
        assert_eq!(form.field("PTIMES"), ptimes, "div={div}");
        let page = shop.open_gateway(&form).await;
        shop.submit_card(&session_of(&page), CardEntry::Number(CARD_OK))
            .await;
        assert_eq!(
            shop.transaction(&link_key).payment_method,
            Some(recorded),
            "div={div}"
        );
        assert_eq!(shop.order_detail(&link_key).await.status, "captured");
    }
    // A choice the method does not offer is refused before anything is stored.
    let method = shop.method_id(CARD).await;
    let mut body = serde_json::json!({
        "lines": [{"product_id": 1, "quantity": 1}],
        "customer": customer(),
        "payment_method_id": method,
        "options": {"div": "3"},
    });
    let page = shop.post_json("/api/checkout", &body).await;
    assert_eq!(page.status, 400, "{}", page.text());
    assert!(page.json()["error"]
        .as_str()
        .unwrap()
        .contains("お支払回数"));
    body["options"] = serde_json::json!({});
    assert_eq!(shop.post_json("/api/checkout", &body).await.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_at_the_gateway_goes_back_to_confirm_and_keeps_the_attempt() {
    let shop = Shop::start().await;
    let link_key = shop.checkout(CARD, &[], None).await;
    let form = shop.confirm(&link_key).await;
    let exit_url = form.field("EXITURL").unwrap().to_owned();
    assert!(
        exit_url.ends_with("/return/acting_remise_card/exit"),
        "{exit_url}"
    );
    let page = shop.open_gateway(&form).await;
    let link = link_with_text(&page.text(), "キャンセル").expect("cancel link on the card page");
    assert_eq!(link, exit_url);

    let back = shop.get(&link).await;
    assert_eq!(back.status, 303);
    assert_eq!(back.location.as_deref(), Some("/checkout/confirm"));
    assert!(shop.order(&link_key).await.is_none());
    let attempt = shop.attempt(&link_key).await;
    assert_eq!(attempt["state"], "open");
    assert!(attempt["returned_at"].is_null(), "{attempt}");
    assert!(shop.journal(&link_key).await.is_empty());

    // The attempt is still payable, with the same link key.
    let again = shop.confirm(&link_key).await;
    assert_eq!(again.field("S_TORIHIKI_NO"), Some(link_key.as_str()));
    let page = shop.open_gateway(&again).await;
    shop.submit_card(&session_of(&page), CardEntry::Number(CARD_OK))
        .await;
    assert_eq!(shop.order_detail(&link_key).await.status, "captured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_return_before_the_notification_waits_for_it() {
    let shop = Shop::start().await;
    // The notification URL is wrong (the server there hangs up), so the notification does not arrive.
    let wrong = format!("{}/index.php", hang_up_url().await);
    shop.sandbox.set_notify_urls(
        format!("{wrong}?acting=remise_card"),
        format!("{wrong}?acting=remise_conv"),
    );
    let link_key = shop.checkout(CARD, &[], None).await;
    let back = shop
        .pay_by_card(&link_key, CardEntry::Number(CARD_OK))
        .await;
    let transaction = shop.transaction(&link_key);
    assert_eq!(transaction.status, TransactionStatus::Sales);
    assert!(!transaction.notifications[0].delivered);
    assert!(shop.order(&link_key).await.is_none());

    // The success return alone makes no order: the shopper is told the payment is being confirmed.
    let returned = shop.browser_return(&back).await;
    assert_eq!(returned.status, 303);
    let page = shop.follow(&returned).await;
    let text = page.text();
    assert!(text.contains("お支払いを確認しています"), "{text}");
    assert!(!text.contains("ご注文ありがとうございました"), "{text}");
    assert_eq!(
        shop.checkout_state(&link_key).await["state"],
        "awaiting_notification"
    );
    assert!(shop.order(&link_key).await.is_none());
    let attempt = shop.attempt(&link_key).await;
    assert_eq!(attempt["state"], "open");
    assert!(
        attempt["returned_at"]
            .as_str()
            .is_some_and(|at| at.ends_with("+09:00")),
        "{attempt}"
    );

    // Left unanswered, the scheduled job flags it 要確認 for the operator.
    let later = shophost::domain::now_millis() + 11 * 60_000;
    let report = shophost::jobs::run_once(&shop.state, later).await.unwrap();
    assert_eq!(report.flagged, vec![link_key.clone()]);
    let attempt = shop.attempt(&link_key).await;
    assert!(
        attempt["attention"].as_str().unwrap().contains("結果通知"),
        "{attempt}"
    );
    let notices = shop.admin_get("/notices").await;
    let unconfirmed = notices["notices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "unconfirmed_returns")
        .cloned()
        .expect("the dashboard says so");
    let message = unconfirmed["message"].as_str().unwrap();
    // The advice is built from what the Remise module declares about its endpoints: where to look,
    // the gateway's name for each URL, and the full URL to register.
    let public = &shop.state.config.public_url;
    assert!(
        message.contains("1件")
            && message.contains("ルミーズの加盟店バックヤードで取引を確認し、")
            && message.contains(&format!(
                "結果通知URL（{public}/index.php?acting=remise_card）・収納情報通知URL（{public}/index.php?acting=remise_conv）"
            )),
        "{message}"
    );

    // The operator fixes the URL and re-sends from the backyard: now the order is made.
    shop.restore_notify_urls();
    shop.backyard(transaction.tran_id.as_deref().unwrap(), "resend")
        .await;
    let transaction = shop.transaction(&link_key);
    assert!(transaction.notifications.last().unwrap().delivered);
    let order = shop.order_detail(&link_key).await;
    assert_eq!((order.status.as_str(), order.events), ("captured", 1));
    let page = shop.get(&format!("/checkout/complete/{link_key}")).await;
    assert!(page.text().contains("ご注文ありがとうございました"));
    assert_eq!(shop.checkout_state(&link_key).await["state"], "ordered");
}

/// A stand-in for the network between Remise and the shop: the first notification gets a 503 without
/// reaching the shop (the shop is down), the second reaches the shop but its acknowledgement is lost
/// (answered 503 to Remise), and from the third on the shop's answer goes through.
async fn flaky_proxy(target: String) -> (String, Arc<AtomicUsize>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let counter = seen.clone();
    let handler = move |headers: HeaderMap, body: Bytes| {
        let counter = counter.clone();
        let client = client.clone();
        let target = target.clone();
        async move {
            let attempt = counter.fetch_add(1, Ordering::SeqCst);
            if attempt == 0 {
                return (StatusCode::SERVICE_UNAVAILABLE, "error2".to_owned());
            }
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let response = client
                .post(&target)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("the shop answers");
            let status = response.status();
            let answer = response.text().await.expect("answer");
            if attempt == 1 {
                return (StatusCode::SERVICE_UNAVAILABLE, "error2".to_owned());
            }
            (status, answer)
        }
    };
    let app = axum::Router::new().route("/notify", axum::routing::post(handler));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/notify"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_retried_until_acknowledged_makes_exactly_one_order() {
    let shop = Shop::start().await;
    let (proxy, seen) = flaky_proxy(shop.notify_url("remise_card")).await;
    shop.sandbox
        .set_notify_urls(proxy, shop.notify_url("remise_conv"));
    let link_key = shop.checkout(CARD, &[], None).await;
    let back = shop
        .pay_by_card(&link_key, CardEntry::Number(CARD_OK))
        .await;

    assert_eq!(seen.load(Ordering::SeqCst), 3);
    let transaction = shop.transaction(&link_key);
    let delivery = &transaction.notifications[0];
    assert_eq!(transaction.notifications.len(), 1);
    assert_eq!(delivery.attempts, 3);
    assert!(delivery.delivered);
    assert_eq!(delivery.last_status, Some(200));
    assert_eq!(delivery.last_answer.as_deref(), Some(ACK));

    // The shop saw the second and third posts: one applied, one recognised as the same event.
    let order = shop.order_detail(&link_key).await;
    assert_eq!((order.status.as_str(), order.events), ("captured", 1));
    assert_eq!(order.history.len(), 1);
    let journal = shop.journal(&link_key).await;
    let verdicts: Vec<&str> = journal
        .iter()
        .map(|e| e["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["accepted", "duplicate"]);
    assert!(journal.iter().all(|e| e["response_body"] == ACK));
    let orders = shop.admin_get("/orders").await;
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);

    let complete = shop.follow(&shop.browser_return(&back).await).await;
    assert!(complete.text().contains("ご注文ありがとうございました"));
}
