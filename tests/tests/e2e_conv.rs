//! Multi-payments (マルチ決済: convenience stores, Pay-easy, e-money) end to end: the payment number
//! issued at the sandbox, the 収納情報通知 when the shopper pays, and the orders' unpaid → paid →
//! expired life, including notifications that arrive out of order, twice, or wrong.

mod common;

use common::*;
use remise_sandbox::TransactionStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issued_then_paid_through_the_backyard() {
    let shop = Shop::start().await;
    let link_key = shop.checkout(CONV, &[], None).await;
    let form = shop.confirm(&link_key).await;
    assert_eq!(form.field("NAME1"), Some("山田"));
    assert_eq!(form.field("KANA1"), Some("ヤマダ"));
    assert_eq!(form.field("TOTAL"), Some("3990"));
    let back = shop.issue_conv(&link_key).await;
    assert!(
        back.action.ends_with("/return/acting_remise_conv/ok"),
        "{}",
        back.action
    );

    let transaction = shop.transaction(&link_key);
    assert_eq!(transaction.status, TransactionStatus::Unpaid);
    assert!(transaction.notifications[0].delivered);
    let order = shop.order_detail(&link_key).await;
    assert_eq!(order.status, "unpaid");
    assert_eq!(order.label, "未入金");
    assert_eq!(order.events, 1);
    assert_eq!(
        order.order["deadline"].as_str(),
        transaction.paydate.as_deref()
    );
    assert_eq!(
        order.order["transaction_id"].as_str(),
        transaction.job_id.as_deref()
    );
    assert_eq!(order.order["slip"]["place"], "セブン-イレブン");

    // The return carries the same slip: recognised as the same event, journaled, nothing changed.
    let returned = shop.browser_return(&back).await;
    assert_eq!(returned.status, 303);
    let page = shop.follow(&returned).await;
    let text = page.text();
    assert!(text.contains("ご注文ありがとうございました"), "{text}");
    assert!(text.contains("未入金"), "{text}");
    assert!(text.contains("セブン-イレブン"), "{text}");
    assert!(
        text.contains(transaction.pay_no1.as_deref().unwrap()),
        "{text}"
    );
    assert!(text.contains("お支払期限"), "{text}");
    let journal = shop.journal(&link_key).await;
    let seen: Vec<(&str, &str)> = journal
        .iter()
        .map(|e| {
            (
                e["endpoint"].as_str().unwrap(),
                e["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("remise_conv", "accepted"),
            ("return:acting_remise_conv:ok", "duplicate")
        ]
    );
    assert_eq!(shop.order_detail(&link_key).await.events, 1);

    // The shopper pays at the store: the backyard's 入金通知 sends the receipt.
    let job_id = transaction.job_id.clone().unwrap();
    shop.backyard(&job_id, "paid").await;
    let transaction = shop.transaction(&link_key);
    assert_eq!(transaction.status, TransactionStatus::Paid);
    assert!(transaction.notifications[1].delivered);
    let order = shop.order_detail(&link_key).await;
    assert_eq!(order.status, "paid");
    assert_eq!(order.label, "入金済み");
    assert_eq!(order.events, 2);
    let statuses: Vec<&str> = order.history.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(statuses, ["unpaid", "paid"]);
    assert_eq!(order.history[0].1, "支払番号発行");
    assert_eq!(order.history[1].1, "入金通知");
    assert!(order.order["attention"].is_null());

    // 再送: the same receipt again is acknowledged and changes nothing.
    shop.backyard(&job_id, "resend").await;
    let transaction = shop.transaction(&link_key);
    let resent = transaction.notifications.last().unwrap();
    assert!(resent.delivered);
    assert_eq!(resent.last_answer.as_deref(), Some(ACK));
    let again = shop.order_detail(&link_key).await;
    assert_eq!((again.status.as_str(), again.events), ("paid", 2));
    assert_eq!(again.history.len(), 2);
    assert_eq!(
        shop.journal(&link_key).await.last().unwrap()["verdict"],
        "duplicate"
    );
    let page = shop.get(&format!("/checkout/complete/{link_key}")).await;
    assert!(page.text().contains("入金済み"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_before_the_issue_makes_a_paid_order_once() {
    let shop = Shop::start().await;
    let link_key = shop.checkout(CONV, &[], None).await;
    // The shopper is on Remise's payment-place page when the receipt arrives.
    let gateway = shop.open_gateway(&shop.confirm(&link_key).await).await;
    let receipt = conv_receipt(&link_key, "1", MUG_PRICE);

    let answer = shop.notify("remise_conv", &receipt).await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    let order = shop.order_detail(&link_key).await;
    assert_eq!(order.status, "paid");
    assert_eq!(order.events, 1);
    assert_eq!(order.history.len(), 1);
    assert!(
        order.history[0].1.contains("先に到着"),
        "{:?}",
        order.history
    );

    // The same receipt again: acknowledged, one event, nothing changed.
    let answer = shop.notify("remise_conv", &receipt).await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    let again = shop.order_detail(&link_key).await;
    assert_eq!(
        (again.status.as_str(), again.events, again.history.len()),
        ("paid", 1, 1)
    );
    let verdicts: Vec<String> = shop
        .journal(&link_key)
        .await
        .iter()
        .map(|e| e["verdict"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(verdicts, ["accepted", "duplicate"]);

    // Paid, the attempt cannot be sent to the gateway again.
    let confirm = shop
        .post_json(
            &format!("/api/checkout/{link_key}/confirm"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(confirm.status, 404);

    // The issuance (and the shopper's return) come late: the slip is added, the order stays paid.
    let fields = [
        ("SESSION", session_of(&gateway)),
        ("PAY_CSV", "D001".to_owned()),
    ];
    let issued = shop
        .post_sjis(
            &format!("{}/rpgw2/pc/cvs/submit", shop.sandbox_base),
            &fields,
        )
        .await;
    let back = ReturnForm::from_page(&issued);
    let order = shop.order_detail(&link_key).await;
    assert_eq!(order.status, "paid");
    assert_eq!(order.events, 2);
    assert_eq!(order.history.len(), 1);
    assert_eq!(order.order["slip"]["place"], "セブン-イレブン");
    let page = shop.follow(&shop.browser_return(&back).await).await;
    let text = page.text();
    assert!(text.contains("入金済み"), "{text}");
    assert!(shop.settlement_errors(&link_key).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_flag_other_than_1_is_recorded_but_pays_nothing() {
    let shop = Shop::start().await;
    let link_key = shop.checkout(CONV, &[], None).await;
    shop.issue_conv(&link_key).await;
    assert_eq!(shop.order_detail(&link_key).await.status, "unpaid");

    let answer = shop
        .notify("remise_conv", &conv_receipt(&link_key, "0", MUG_PRICE))
        .await;
    // Remise's message is understood and recorded (so acknowledged), but it is not a payment.
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    let order = shop.order_detail(&link_key).await;
    assert_eq!(order.status, "unpaid");
    assert_eq!(order.history.len(), 1);
    assert_eq!(order.events, 2);
    let errors = shop.settlement_errors(&link_key).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["result"], "NOT PAID: REC_FLG=0");
    assert_eq!(errors[0]["acting"], "remise_conv");
    assert_eq!(
        shop.journal(&link_key).await.last().unwrap()["verdict"],
        "accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_with_the_wrong_amount_is_refused() {
    let shop = Shop::start().await;
    let link_key = shop.checkout(CONV, &[], None).await;
    shop.issue_conv(&link_key).await;

    let answer = shop
        .notify("remise_conv", &conv_receipt(&link_key, "1", MUG_PRICE + 1))
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "error1"));
    let order = shop.order_detail(&link_key).await;
    assert_eq!(
        (order.status.as_str(), order.events, order.history.len()),
        ("unpaid", 1, 1)
    );
    let errors = shop.settlement_errors(&link_key).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let result = errors[0]["result"].as_str().unwrap();
    assert!(
        result.contains("3991") && result.contains("3990"),
        "{result}"
    );
    let last = shop.journal(&link_key).await.pop().unwrap();
    assert_eq!(last["verdict"], "rejected");
    assert_eq!(last["response_body"], "error1");

    // The right receipt still goes through afterwards.
    let answer = shop
        .notify("remise_conv", &conv_receipt(&link_key, "1", MUG_PRICE))
        .await;
    assert_eq!(answer.text(), ACK);
    assert_eq!(shop.order_detail(&link_key).await.status, "paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_orders_expire_after_the_deadline_and_a_late_receipt_is_flagged() {
    let shop = Shop::start().await;
    // One slip whose deadline has passed (an issuance with a deadline we choose) …
    let overdue = shop.checkout(CONV, &[], None).await;
    let answer = shop
        .notify(
            "remise_conv",
            &conv_issued(&overdue, "20200101000000001", MUG_PRICE, "20200101"),
        )
        .await;
    assert_eq!(answer.text(), ACK);
    let order = shop.order_detail(&overdue).await;
    assert_eq!(order.status, "unpaid");
    assert_eq!(order.order["deadline"], "20200101");
    // … and one issued by the sandbox, due in 14 days.
    let current = shop.checkout(CONV, &[], None).await;
    shop.issue_conv(&current).await;

    let (status, report) = shop.admin("POST", "/jobs/run", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["expired"], serde_json::json!([order.number]));
    let expired = shop.order_detail(&overdue).await;
    assert_eq!(expired.status, "expired");
    assert_eq!(expired.label, "期限切れ");
    let statuses: Vec<&str> = expired.history.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(statuses, ["unpaid", "expired"]);
    assert!(
        expired.history[1].1.contains("支払期限切れ"),
        "{:?}",
        expired.history
    );
    assert_eq!(shop.order_detail(&current).await.status, "unpaid");
    // Running the job again changes nothing.
    let (_, report) = shop.admin("POST", "/jobs/run", None).await;
    assert_eq!(report["expired"], serde_json::json!([]));

    // The shopper paid anyway: the money is taken, the order is paid and flagged for the operator.
    let answer = shop
        .notify("remise_conv", &conv_receipt(&overdue, "1", MUG_PRICE))
        .await;
    assert_eq!(answer.text(), ACK);
    let paid = shop.order_detail(&overdue).await;
    assert_eq!(paid.status, "paid");
    let statuses: Vec<&str> = paid.history.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(statuses, ["unpaid", "expired", "paid"]);
    assert!(
        paid.history[2].1.contains("期限後入金"),
        "{:?}",
        paid.history
    );
    let attention = paid.order["attention"].as_str().expect("flagged");
    assert!(attention.contains("期限後入金"), "{attention}");
    let flagged = shop.admin_get("/orders?attention=true").await;
    assert_eq!(flagged["orders"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_before_the_issuance_notification_makes_the_unpaid_order_once() {
    let shop = Shop::start().await;
    let wrong = format!("{}/index.php", hang_up_url().await);
    shop.sandbox.set_notify_urls(
        format!("{wrong}?acting=remise_card"),
        format!("{wrong}?acting=remise_conv"),
    );
    let link_key = shop.checkout(CONV, &[], None).await;
    let back = shop.issue_conv(&link_key).await;
    let transaction = shop.transaction(&link_key);
    assert!(!transaction.notifications[0].delivered);
    assert!(shop.order(&link_key).await.is_none());

    // The return carries the slip: the unpaid order is made from it (a return never pays).
    let page = shop.follow(&shop.browser_return(&back).await).await;
    let text = page.text();
    assert!(text.contains("未入金"), "{text}");
    assert!(
        text.contains(transaction.pay_no1.as_deref().unwrap()),
        "{text}"
    );
    let order = shop.order_detail(&link_key).await;
    assert_eq!((order.status.as_str(), order.events), ("unpaid", 1));
    let journal = shop.journal(&link_key).await;
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0]["endpoint"], "return:acting_remise_conv:ok");
    assert_eq!(journal[0]["verdict"], "accepted");

    // The notification arrives late: the same event, acknowledged, nothing changed.
    shop.restore_notify_urls();
    let job_id = transaction.job_id.clone().unwrap();
    shop.backyard(&job_id, "resend").await;
    assert!(
        shop.transaction(&link_key)
            .notifications
            .last()
            .unwrap()
            .delivered
    );
    let again = shop.order_detail(&link_key).await;
    assert_eq!(
        (again.status.as_str(), again.events, again.history.len()),
        ("unpaid", 1, 1)
    );
    assert_eq!(shop.journal(&link_key).await[1]["verdict"], "duplicate");

    // A return whose amount is not the order's is refused and changes nothing.
    let other = shop.checkout(CONV, &[], None).await;
    let forged = with(
        conv_issued(&other, "20260101000000009", MUG_PRICE - 1, "20991231"),
        "REC_TYPE",
        "",
    );
    let page = shop
        .post_sjis(
            &format!("{}/return/acting_remise_conv/ok", shop.base),
            &forged,
        )
        .await;
    assert_eq!(page.status, 303);
    assert!(shop.order(&other).await.is_none());
    let errors = shop.settlement_errors(&other).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["acting"], "return:acting_remise_conv:ok");
}
