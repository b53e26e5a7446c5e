//! Remise's notification protocol at the shop's door, with crafted Shift_JIS requests and no sandbox
//! in the way: what is acknowledged (`<SDBKDATA>STATUS=800</SDBKDATA>`, or 900), what is refused
//! (`error0` for the source, `error1` for the content), what is journaled, and that nothing a
//! notification or a browser return can forge makes an order by itself.

mod common;

use common::*;
use serde_json::json;

/// A card attempt for one mug; returns its link key.
async fn open_card_attempt(shop: &Shop) -> String {
    shop.checkout(CARD, &[], None).await
}

/// Asserts that nothing was ordered, paid or recorded as an event for `link_key`.
async fn assert_no_order(shop: &Shop, link_key: &str) {
    assert!(
        shop.order(link_key).await.is_none(),
        "no order for {link_key}"
    );
    let attempt = shop.attempt(link_key).await;
    assert_eq!(attempt["state"], "open", "{attempt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cp932_text_is_journaled_as_sent_and_decoded() {
    let shop = Shop::start().await;
    let link_key = open_card_attempt(&shop).await;
    let fields = with(
        card_success(&link_key, "T0001", MUG_PRICE),
        "X-NAME",
        "①㈱髙",
    );
    let body = sjis_form(&fields);
    // ① is 87 40 and ㈱ 87 8A (NEC special characters); 髙 is FB FC (IBM extension).
    assert!(String::from_utf8_lossy(&body).contains("X-NAME=%87%40%87%8A%FB%FC"));
    let answer = shop
        .post_raw(
            &shop.notify_url("remise_card"),
            "application/x-www-form-urlencoded",
            body.clone(),
        )
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    assert_eq!(shop.order_detail(&link_key).await.status, "captured");
    let entry = &shop.journal(&link_key).await[0];
    assert_eq!(entry["verdict"], "accepted");
    assert_eq!(entry["charset"], "Shift_JIS");
    assert_eq!(entry["source"], "127.0.0.1");
    assert_eq!(entry["body"].as_str().unwrap().as_bytes(), body.as_slice());
    let kept = parse_sjis_form(entry["body"].as_str().unwrap());
    assert_eq!(field(&kept, "X-NAME"), Some("①㈱髙"));

    // The decoded fields go to the error log; here a decline sent as raw (unescaped) CP932 bytes,
    // with 髙 as Windows encodes it (EE E0, NEC-selected IBM extension).
    let declined = open_card_attempt(&shop).await;
    let mut raw = format!(
        "X-TRANID=T0002&X-S_TORIHIKI_NO={declined}&X-TOTAL=3990&X-ERRCODE=G12&X-ERRINFO=000000012\
         &X-ERRLEVEL=1&X-R_CODE=1%3A0012&X-NAME="
    )
    .into_bytes();
    raw.extend_from_slice(&[0x87, 0x40, 0x87, 0x8A, 0xEE, 0xE0]);
    raw.extend_from_slice(&encoding_rs::SHIFT_JIS.encode(" ヤマダ").0);
    let answer = shop
        .post_raw(
            &shop.notify_url("remise_card"),
            "application/x-www-form-urlencoded; charset=Shift_JIS",
            raw,
        )
        .await;
    assert_eq!(answer.text(), ACK);
    assert_no_order(&shop, &declined).await;
    let errors = shop.settlement_errors(&declined).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["result"].as_str().unwrap().starts_with("G12"));
    let logged = &errors[0]["fields"];
    assert!(
        logged
            .as_array()
            .unwrap()
            .contains(&json!(["X-NAME", "①㈱髙 ヤマダ"])),
        "{logged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_card_success_is_acknowledged_twice_and_applied_once() {
    let shop = Shop::start().await;
    let link_key = open_card_attempt(&shop).await;
    let fields = card_success(&link_key, "T0001", MUG_PRICE);
    for _ in 0..2 {
        let answer = shop.notify("remise_card", &fields).await;
        assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    }
    let order = shop.order_detail(&link_key).await;
    assert_eq!(
        (order.status.as_str(), order.events, order.history.len()),
        ("captured", 1, 1)
    );
    assert_eq!(order.order["transaction_id"], "T0001");
    let verdicts: Vec<String> = shop
        .journal(&link_key)
        .await
        .iter()
        .map(|e| e["verdict"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(verdicts, ["accepted", "duplicate"]);
    assert_eq!(
        shop.admin_get("/orders").await["orders"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amount_mismatch_is_refused_and_replaying_it_changes_nothing() {
    let shop = Shop::start().await;
    let link_key = open_card_attempt(&shop).await;
    let fields = with(
        with(card_success(&link_key, "T0001", MUG_PRICE), "X-TOTAL", "1"),
        "X-AMOUNT",
        "1",
    );
    let answer = shop.notify("remise_card", &fields).await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "error1"));
    assert_no_order(&shop, &link_key).await;
    let errors = shop.settlement_errors(&link_key).await;
    assert_eq!(errors.len(), 1);
    let result = errors[0]["result"].as_str().unwrap();
    assert!(
        result.contains("amount 1 does not match") && result.contains("3990"),
        "{result}"
    );
    let entry = shop.journal(&link_key).await[0].clone();
    assert_eq!(entry["verdict"], "rejected");

    // An operator replay of the refused entry is refused the same way, without a second log line.
    let (status, replay) = shop
        .admin("POST", &format!("/journal/{}/replay", entry["id"]), None)
        .await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["verdict"], "rejected");
    assert_eq!(replay["response_body"], "error1");
    assert_no_order(&shop, &link_key).await;
    assert_eq!(shop.settlement_errors(&link_key).await.len(), 1);
    let journal = shop.journal(&link_key).await;
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[1]["replay_of"], entry["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_from_a_source_not_allowed_is_refused_with_error0() {
    let shop = Shop::start_with(Options {
        notify_sources: vec!["10.9.9.9/32"],
        ..Options::default()
    })
    .await;
    let link_key = open_card_attempt(&shop).await;
    let answer = shop
        .notify("remise_card", &card_success(&link_key, "T0001", MUG_PRICE))
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "error0"));
    assert_no_order(&shop, &link_key).await;
    // Nothing from an untrusted source is applied, and it is not journaled nor written to the
    // 決済エラーログ one by one (anyone can send it). It is kept for a replay after a fix of
    // `trusted_proxies`, with the link key the module read from it, for the operator's notice only.
    assert_eq!(shop.admin_get("/journal").await["entries"], json!([]));
    assert_eq!(
        shop.admin_get("/settlement-errors").await["errors"],
        json!([])
    );
    let refused = shop.admin_get("/refused").await;
    let kept = &refused["refused"][0];
    assert_eq!(kept["source"], "127.0.0.1");
    assert_eq!(kept["endpoint"], "remise_card");
    assert_eq!(kept["link_key"], link_key.as_str());
    assert_eq!(kept["attempt_state"], "open");
    assert_eq!(kept["allowed_now"], false);
    assert!(kept["replayed_at"].is_null(), "{kept}");
    // The multi-payment endpoint trusts the same addresses.
    let conv = shop.checkout(CONV, &[], None).await;
    let answer = shop
        .notify("remise_conv", &conv_receipt(&conv, "1", MUG_PRICE))
        .await;
    assert_eq!(answer.text(), "error0");
    assert!(shop.order(&conv).await.is_none());
    // A forwarded-for header from an untrusted peer does not help.
    let spoofed = shop
        .http
        .post(shop.notify_url("remise_card"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", "10.9.9.9")
        .body(sjis_form(&card_success(&link_key, "T0001", MUG_PRICE)))
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.text().await.unwrap(), "error0");
    assert_no_order(&shop, &link_key).await;
    let refused = shop.admin_get("/refused").await;
    let sources: Vec<&str> = refused["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["127.0.0.1"; 3]);
    assert_eq!(shop.admin_get("/journal").await["entries"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_link_key_and_foreign_shop_are_refused_with_error1() {
    let shop = Shop::start().await;
    let unknown = "12345678901234567";
    let answer = shop
        .notify("remise_card", &card_success(unknown, "T0001", MUG_PRICE))
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "error1"));
    let errors = shop.settlement_errors(unknown).await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["result"], format!("unknown link key {unknown}"));
    assert_eq!(shop.admin_get("/orders").await["orders"], json!([]));

    // Another shop's notification for one of our link keys is refused too.
    let link_key = open_card_attempt(&shop).await;
    let foreign = with(
        card_success(&link_key, "T0002", MUG_PRICE),
        "X-SHOPCO",
        "OTHER",
    );
    let answer = shop.notify("remise_card", &foreign).await;
    assert_eq!(answer.text(), "error1");
    assert_no_order(&shop, &link_key).await;

    // An endpoint no module listens on is not Remise's protocol at all.
    let page = shop
        .post_sjis(
            &format!("{}/index.php?acting=nobody", shop.base),
            &[("A", "b")],
        )
        .await;
    assert_eq!(page.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_request_is_not_acknowledged() {
    let shop = Shop::start().await;
    let link_key = open_card_attempt(&shop).await;
    let query = String::from_utf8(sjis_form(&card_success(&link_key, "T0001", MUG_PRICE))).unwrap();
    let page = shop
        .get(&format!("{}&{query}", shop.notify_url("remise_card")))
        .await;
    assert_eq!((page.status, page.text().as_str()), (200, "error1"));
    assert_no_order(&shop, &link_key).await;
    let journal = shop.admin_get("/journal").await;
    let entry = &journal["entries"][0];
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["verdict"], "rejected");
    let reason = entry["reason"].as_str().unwrap();
    assert!(reason.contains("must be a POST"), "{reason}");
}

/// A Shift_JIS form of `fields` in which the value of `bad` ends with `%FF`: FF is no Shift_JIS byte.
fn form_with_bad_byte(fields: &[(String, String)], bad: &str) -> Vec<u8> {
    let pairs: Vec<Vec<u8>> = fields
        .iter()
        .map(|(name, value)| {
            let mut pair = sjis_form(&[(name, value)]);
            if name == bad {
                pair.extend_from_slice(b"%FF");
            }
            pair
        })
        .collect();
    pairs.join(&b'&')
}

/// One byte that is not Shift_JIS in a free-text field of a genuine notification must not lose the
/// payment: the value is read with U+FFFD in its place, the order is made once, and the journal keeps
/// the raw bytes and says which field was affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_byte_in_free_text_is_replaced_and_the_payment_is_kept() {
    let shop = Shop::start().await;
    let link_key = open_card_attempt(&shop).await;
    let body = form_with_bad_byte(&card_success(&link_key, "T0001", MUG_PRICE), "X-NAME");
    assert_eq!(String::from_utf8_lossy(&body).matches("%FF").count(), 1);
    let answer = shop
        .post_raw(
            &shop.notify_url("remise_card"),
            "application/x-www-form-urlencoded",
            body.clone(),
        )
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    let order = shop.order_detail(&link_key).await;
    assert_eq!((order.status.as_str(), order.events), ("captured", 1));
    assert_eq!(
        shop.admin_get("/orders").await["orders"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let entry = &shop.journal(&link_key).await[0];
    assert_eq!(entry["verdict"], "accepted");
    assert_eq!(
        entry["reason"],
        format!(
            "order {}; undecodable bytes replaced in X-NAME",
            order.number
        )
    );
    assert_eq!(entry["body"].as_str().unwrap().as_bytes(), body.as_slice());

    // A replay reads it the same way: a copy, nothing changed.
    let (status, replay) = shop
        .admin("POST", &format!("/journal/{}/replay", entry["id"]), None)
        .await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["verdict"], "duplicate");
    assert_eq!(shop.order_detail(&link_key).await.events, 1);
}

/// The same byte where the module relies on the value (the link key, the amount) is refused by the
/// module's own checks, with nothing changed; in a field's name it refuses the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_byte_where_it_matters_is_refused_and_changes_nothing() {
    let shop = Shop::start().await;
    for (field, reason, names_link_key) in [
        ("X-S_TORIHIKI_NO", "malformed X-S_TORIHIKI_NO", false),
        ("X-TOTAL", "malformed X-TOTAL", true),
    ] {
        let link_key = open_card_attempt(&shop).await;
        let body = form_with_bad_byte(&card_success(&link_key, "T0001", MUG_PRICE), field);
        let answer = shop
            .post_raw(
                &shop.notify_url("remise_card"),
                "application/x-www-form-urlencoded",
                body,
            )
            .await;
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (200, "error1"),
            "{field}"
        );
        assert_no_order(&shop, &link_key).await;
        assert_eq!(
            shop.state
                .store
                .payment_event_count(&link_key)
                .await
                .unwrap(),
            0,
            "{field}"
        );
        let entry = &shop.admin_get("/journal").await["entries"][0];
        assert_eq!(entry["verdict"], "rejected", "{field}");
        let kept = entry["reason"].as_str().unwrap();
        assert!(kept.starts_with(reason), "{field}: {kept}");
        assert!(
            kept.ends_with(&format!("; undecodable bytes replaced in {field}")),
            "{field}: {kept}"
        );
        assert_eq!(entry["link_key"].is_string(), names_link_key, "{field}");
    }

    let link_key = open_card_attempt(&shop).await;
    let mut body = sjis_form(&card_success(&link_key, "T0001", MUG_PRICE));
    body.extend_from_slice(b"&X-NOTE%FF=1");
    let answer = shop
        .post_raw(
            &shop.notify_url("remise_card"),
            "application/x-www-form-urlencoded",
            body,
        )
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "error1"));
    assert_no_order(&shop, &link_key).await;
    let entry = &shop.admin_get("/journal").await["entries"][0];
    assert_eq!(entry["verdict"], "rejected");
    assert_eq!(
        entry["reason"],
        "a field name in the body is not valid Shift_JIS"
    );
    assert_eq!(shop.admin_get("/orders").await["orders"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_the_limit_is_not_acknowledged() {
    let shop = Shop::start().await;
    let link_key = open_card_attempt(&shop).await;
    let padding = "A".repeat(70 * 1024);
    let fields = with(
        card_success(&link_key, "T0001", MUG_PRICE),
        "X-PAD",
        &padding,
    );
    let answer = shop.notify("remise_card", &fields).await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "error1"));
    assert_no_order(&shop, &link_key).await;
    let journal = shop.admin_get("/journal").await;
    let entry = &journal["entries"][0];
    assert_eq!(entry["verdict"], "rejected");
    let reason = entry["reason"].as_str().unwrap();
    assert!(
        reason.contains("larger than the limit of 65536"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_type_is_acknowledged_with_status_900() {
    let shop = Shop::start().await;
    let link_key = open_card_attempt(&shop).await;
    let fields = with(
        card_success(&link_key, "T0001", MUG_PRICE),
        "CARIER_TYPE",
        "1",
    );
    let answer = shop.notify("remise_card", &fields).await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK_MOBILE));
    assert_eq!(shop.order_detail(&link_key).await.status, "captured");
    assert_eq!(
        shop.journal(&link_key).await[0]["response_body"],
        ACK_MOBILE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_an_accepted_entry_is_a_duplicate() {
    let shop = Shop::start().await;
    let link_key = open_card_attempt(&shop).await;
    shop.notify("remise_card", &card_success(&link_key, "T0001", MUG_PRICE))
        .await;
    let before = shop.order_detail(&link_key).await;
    let entry = shop.journal(&link_key).await[0].clone();
    assert_eq!(entry["verdict"], "accepted");

    let (status, replay) = shop
        .admin("POST", &format!("/journal/{}/replay", entry["id"]), None)
        .await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["verdict"], "duplicate");
    assert_eq!(replay["response_body"], ACK);
    let after = shop.order_detail(&link_key).await;
    assert_eq!(after.order, before.order);
    assert_eq!((after.events, after.history.len()), (1, 1));
    let journal = shop.journal(&link_key).await;
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[1]["replay_of"], entry["id"]);
    assert_eq!(journal[1]["verdict"], "duplicate");
    let (status, _) = shop.admin("POST", "/journal/999999/replay", None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_success_return_makes_no_order() {
    let shop = Shop::start().await;
    let link_key = open_card_attempt(&shop).await;
    shop.confirm(&link_key).await;
    // Everything a real success return carries, but Remise never sent the notification.
    let mut fields = card_success(&link_key, "T0001", MUG_PRICE);
    fields.retain(|(name, _)| name != "REC_TYPE");
    let page = shop
        .post_sjis(
            &format!("{}/return/acting_remise_card/ok", shop.base),
            &fields,
        )
        .await;
    assert_eq!(page.status, 303);
    let complete = shop.follow(&page).await;
    let text = complete.text();
    assert!(text.contains("お支払いを確認しています"), "{text}");
    assert_no_order(&shop, &link_key).await;
    assert_eq!(
        shop.checkout_state(&link_key).await["state"],
        "awaiting_notification"
    );
    assert!(shop.journal(&link_key).await.is_empty());
    // A return naming a link key that does not exist shows nothing and creates nothing.
    let forged = with(fields.clone(), "X-S_TORIHIKI_NO", "98765432109876543");
    let page = shop
        .post_sjis(
            &format!("{}/return/acting_remise_card/ok", shop.base),
            &forged,
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("ご注文が完了しませんでした"));
    assert_eq!(shop.admin_get("/orders").await["orders"], json!([]));
    // Returns to a settlement type nobody provides, and pay pages of unknown attempts, are not found
    // (not "service unavailable": nothing is wrong with the shop).
    let page = shop
        .post_sjis(
            &format!("{}/return/acting_nobody_card/ok", shop.base),
            &fields,
        )
        .await;
    assert_eq!(page.status, 404, "{}", page.text());
    let page = shop.get("/pay/98765432109876543").await;
    assert_eq!(page.status, 404, "{}", page.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_update_notification_nobody_started_is_refused() {
    let shop = Shop::start().await;
    let (member, _) = shop
        .state
        .store
        .member_by_email(MEMBER.0)
        .await
        .unwrap()
        .expect("demo member");
    let link_key = "00000001234567890";
    let fields = with(
        card_success(link_key, "T0001", 0),
        "X-PAYQUICKID",
        "ATTACKERCARD00000001",
    );
    let answer = shop.notify("remise_card", &fields).await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "error1"));
    assert!(shop
        .state
        .store
        .member_card(member.id, "remise")
        .await
        .unwrap()
        .is_none());
    let errors = shop.settlement_errors(link_key).await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["result"], format!("unknown link key {link_key}"));
    assert_eq!(shop.journal(link_key).await[0]["verdict"], "rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_result_for_a_convenience_store_checkout_is_refused() {
    let shop = Shop::start().await;
    let link_key = shop.checkout(CONV, &[], None).await;
    let answer = shop
        .notify("remise_card", &card_success(&link_key, "T0777", MUG_PRICE))
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "error1"));
    assert_no_order(&shop, &link_key).await;
    let errors = shop.settlement_errors(&link_key).await;
    assert_eq!(errors.len(), 1);
    let result = errors[0]["result"].as_str().unwrap();
    assert!(result.contains("does not fit"), "{result}");
    assert!(result.contains("acting_remise_conv"), "{result}");

    // And the other way round: a receipt for a card checkout changes nothing either.
    let card_key = open_card_attempt(&shop).await;
    let answer = shop
        .notify("remise_conv", &conv_receipt(&card_key, "1", MUG_PRICE))
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, "error1"));
    assert_no_order(&shop, &card_key).await;
}
