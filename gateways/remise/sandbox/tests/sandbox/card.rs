//! The card gateway: the form's checks, success and decline, installments and authorisation in the
//! backyard, PayQuick, the card check job, and the retries of a refused notification.

use super::*;

#[tokio::test]
async fn malformed_card_form_gets_an_error_page_naming_each_field() {
    let sandbox = Sandbox::new(SandboxConfig {
        shops: vec![("TESTSHOP".to_string(), "12345678".to_string())],
        ..SandboxConfig::default()
    });
    let form = owned(&[
        ("SHOPCO", "TESTSHOP"),
        ("HOSTID", "12345678"),
        ("S_TORIHIKI_NO", "12ab"),
        ("JOB", "SELL"),
        ("TOTAL", "3990"),
        ("AMOUNT", "3000"),
        ("METHOD", "61"),
        ("NG_RETURL", "javascript:alert(1)"),
    ]);
    let request = Request::post("/rpgw2/pc/card/paycard.aspx")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(sjis_form(&form)))
        .unwrap();
    let response = sandbox.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=Shift_JIS"
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let html = SHIFT_JIS.decode(&bytes).0.into_owned();
    for expected in [
        "S_TORIHIKI_NO が不正です",
        "JOB が不正です",
        "TOTAL と AMOUNT が一致しません",
        "PTIMES が指定されていません",
        "RETURL が指定されていません",
        "NG_RETURL が不正です",
    ] {
        assert!(html.contains(expected), "missing {expected:?} in {html}");
    }
    assert!(sandbox.transactions().is_empty());

    // An unregistered shop is refused when shops are configured.
    let mut form = owned(&[
        ("SHOPCO", "OTHER"),
        ("HOSTID", "1"),
        ("S_TORIHIKI_NO", "1"),
        ("JOB", "CHECK"),
        ("RETURL", "http://127.0.0.1/ok"),
        ("NG_RETURL", "http://127.0.0.1/ng"),
    ]);
    let request = |form: &[(String, String)]| {
        Request::post("/rpgw2/pc/card/paycard.aspx")
            .body(Body::from(sjis_form(form)))
            .unwrap()
    };
    let response = sandbox.router().oneshot(request(&form)).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(SHIFT_JIS
        .decode(&bytes)
        .0
        .contains("SHOPCO と HOSTID の組み合わせ（OTHER / 1）が登録されていません"));
    set(&mut form, "SHOPCO", "TESTSHOP");
    set(&mut form, "HOSTID", "12345678");
    let response = sandbox.router().oneshot(request(&form)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn card_success_notifies_in_shift_jis_and_returns_the_browser_by_post() {
    let setup = setup().await;
    let page = setup.open_card_page(&setup.card_form("5366113344")).await;
    assert!(page.contains("accept-charset=\"Shift_JIS\""));
    assert!(page.contains("3,990円"));
    assert!(
        page.contains(TEST_CARD_VISA),
        "test cards are documented on the page"
    );

    let (status, return_page) = setup
        .pay(&page, "4111 1111 1111 1111", "12/99", "山田 太郎")
        .await;
    assert_eq!(status, StatusCode::OK);

    // The 結果通知.
    let notifications = setup.notifications_for("5366113344");
    assert_eq!(notifications.len(), 1);
    let notification = &notifications[0];
    assert_eq!(notification.query, "acting=remise_card");
    assert_eq!(
        notification.content_type,
        "application/x-www-form-urlencoded; charset=Shift_JIS"
    );
    assert!(notification.raw.is_ascii(), "the body is percent-encoded");
    let tran_id = notification.get("X-TRANID").unwrap().to_string();
    assert_eq!(tran_id.len(), 28);
    assert!(tran_id.bytes().all(|byte| byte.is_ascii_digit()));
    for (name, value) in [
        ("X-ERRCODE", "   "),
        ("X-ERRINFO", "000000000"),
        ("X-ERRLEVEL", "0"),
        ("X-R_CODE", "0:0000"),
        ("X-AMOUNT", "3990"),
        ("X-TAX", "0"),
        ("X-TOTAL", "3990"),
        ("X-PARTOFCARD", "1111"),
        ("X-EXPIRE", "1299"),
        ("X-CARDBRAND", "VISA"),
        ("X-NAME", "山田 太郎"),
        ("REC_TYPE", "RET"),
    ] {
        assert_eq!(notification.get(name), Some(value), "{name}");
    }
    assert_eq!(notification.get("X-REFAPPROVED").map(str::len), Some(7));
    for absent in ["OPT", "SHOPCO", "X-PAYQUICKID", "X-AC_MEMBERID"] {
        assert_eq!(notification.get(absent), None, "{absent}");
    }

    // The sandbox's record.
    let transaction = setup.transaction("5366113344");
    assert_eq!(transaction.kind, TransactionKind::Card);
    assert_eq!(transaction.status, TransactionStatus::Sales);
    assert_eq!(transaction.tran_id.as_deref(), Some(tran_id.as_str()));
    assert_eq!(transaction.holder_name, "山田 太郎");
    assert_eq!(transaction.amount, 3990);
    assert_eq!(transaction.payment_method, Some(PaymentMethod::Lump));
    assert_eq!(transaction.notifications.len(), 1);
    assert!(transaction.notifications[0].delivered);
    assert_eq!(transaction.notifications[0].attempts, 1);
    assert_eq!(
        transaction.notifications[0].last_answer.as_deref(),
        Some(ACK)
    );

    // The browser return: an auto-submitting Shift_JIS form to RETURL with the X- fields.
    assert!(return_page.contains("ショップに戻る"));
    assert!(return_page.contains("accept-charset=\"Shift_JIS\""));
    let action = return_action(&return_page);
    assert_eq!(
        action,
        setup
            .shop
            .url("/return?page_id=4&acting=remise_card&acting_return=1")
    );
    let carried = hidden_inputs(&return_page);
    assert_eq!(field(&carried, "X-TRANID"), Some(tran_id.as_str()));
    assert_eq!(field(&carried, "REC_TYPE"), None);
    let (status, _, _) = setup.post(&action, &carried).await;
    assert_eq!(status, StatusCode::OK);
    let returns = setup.shop.returns();
    assert_eq!(returns.len(), 1);
    assert_eq!(
        returns[0].query,
        "page_id=4&acting=remise_card&acting_return=1"
    );
    assert_eq!(returns[0].get("X-ERRCODE"), Some("   "));
    assert_eq!(returns[0].get("X-S_TORIHIKI_NO"), Some("5366113344"));
    assert_eq!(returns[0].get("X-NAME"), Some("山田 太郎"));

    // The session is single-use: submitting the page again charges nothing.
    let (status, html) = setup.pay(&page, TEST_CARD_VISA, "12/99", "TARO").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("セッションエラー"));
    assert_eq!(setup.sandbox.transactions().len(), 1);
}

#[tokio::test]
async fn declined_cards_go_to_ng_returl_with_their_error_codes() {
    let setup = setup().await;
    let cases = [
        ("1000000001", TEST_CARD_DECLINED, "12/99", "G12", "1:0012"),
        ("1000000002", "4242424242424242", "12/99", "G65", "1:0065"),
        ("1000000003", TEST_CARD_MASTERCARD, "01/20", "G83", "1:0083"),
    ];
    for (torihiki_no, card, expire, code, r_code) in cases {
        let page = setup.open_card_page(&setup.card_form(torihiki_no)).await;
        let (status, return_page) = setup.pay(&page, card, expire, "TARO YAMADA").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            return_action(&return_page).ends_with("acting_return=0"),
            "{card}"
        );
        let notifications = setup.notifications_for(torihiki_no);
        assert_eq!(notifications.len(), 1);
        let notification = &notifications[0];
        assert_eq!(notification.get("X-ERRCODE"), Some(code));
        assert_eq!(notification.get("X-ERRLEVEL"), Some("1"));
        assert_eq!(notification.get("X-R_CODE"), Some(r_code));
        assert_eq!(notification.get("X-TRANID").map(str::len), Some(28));
        let transaction = setup.transaction(torihiki_no);
        assert_eq!(transaction.status, TransactionStatus::Declined);
        assert_eq!(transaction.error_code.as_deref(), Some(code));
    }

    // A typing mistake is not a decline: the page comes back with the problem.
    let page = setup.open_card_page(&setup.card_form("1000000004")).await;
    let (status, html) = setup.pay(&page, "41111", "13/99", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("カード番号を半角数字で入力してください"));
    assert!(html.contains("有効期限を MM/YY の形で入力してください"));
    assert!(html.contains("カード名義人を入力してください"));
    let (status, _) = setup.pay(&html, TEST_CARD_VISA, "12/99", "TARO").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        setup.transaction("1000000004").status,
        TransactionStatus::Sales
    );
}

#[tokio::test]
async fn installments_and_authorisation_are_recorded_and_operable_in_the_backyard() {
    let setup = setup().await;
    let mut form = setup.card_form("2000000001");
    set(&mut form, "JOB", "AUTH");
    set(&mut form, "div", "1");
    set(&mut form, "METHOD", "61");
    set(&mut form, "PTIMES", "2");
    let page = setup.open_card_page(&form).await;
    assert!(page.contains("分割（2回）"));
    setup
        .pay(&page, TEST_CARD_MASTERCARD, "0699", "HANAKO")
        .await;
    let transaction = setup.transaction("2000000001");
    assert_eq!(transaction.status, TransactionStatus::Authorized);
    assert_eq!(
        transaction.payment_method,
        Some(PaymentMethod::TwoInstallments)
    );
    assert_eq!(transaction.card_brand.as_deref(), Some("MASTER"));

    let (_, backyard) = setup.get(&format!("{}/backyard", setup.base)).await;
    assert!(backyard.contains("2000000001"));
    assert!(backyard.contains("分割（2回）"));
    assert!(backyard.contains("仮売上"));
    assert!(backyard.contains("3,990"));

    // 仮売上 → 売上 → 返品, and a refused transition.
    let tran_id = transaction.tran_id.unwrap();
    let action = |name: &str| format!("{}/backyard/tx/{tran_id}/{name}", setup.base);
    let (status, _, _) = setup.post(&action("capture"), &[]).await;
    assert_eq!(status, StatusCode::OK, "redirected back to the list");
    assert_eq!(
        setup.transaction("2000000001").status,
        TransactionStatus::Sales
    );
    let (status, _, _) = setup.post(&action("refund"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        setup.transaction("2000000001").status,
        TransactionStatus::Returned
    );
    let (status, _, html) = setup.post(&action("capture"), &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("集計区分が「返品」の取引は「売上」にできません"));
    // Backyard actions are not notified to the shop.
    assert_eq!(setup.notifications_for("2000000001").len(), 1);

    // Revolving, and an installment form without PTIMES.
    let mut form = setup.card_form("2000000002");
    set(&mut form, "METHOD", "80");
    let page = setup.open_card_page(&form).await;
    setup.pay(&page, TEST_CARD_VISA, "0699", "HANAKO").await;
    assert_eq!(
        setup.transaction("2000000002").payment_method,
        Some(PaymentMethod::Revolving)
    );
    let mut form = setup.card_form("2000000003");
    set(&mut form, "METHOD", "61");
    let (status, _, html) = setup
        .post(&format!("{}/rpgw2/pc/card/paycard.aspx", setup.base), &form)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("PTIMES が指定されていません"));
}

#[tokio::test]
async fn payquick_is_issued_then_reused_without_a_card_number() {
    let setup = setup().await;
    let mut form = setup.card_form("3000000001");
    set(&mut form, "PAYQUICK", "1");
    let page = setup.open_card_page(&form).await;
    assert!(!page.contains("このカードで支払う"));
    setup
        .pay(&page, TEST_CARD_VISA, "08/99", "KAIIN HANAKO")
        .await;
    let first = &setup.notifications_for("3000000001")[0];
    let payquick_id = first
        .get("X-PAYQUICKID")
        .expect("a PayQuick id")
        .to_string();
    assert_eq!(payquick_id.len(), 20);
    assert!(payquick_id.bytes().all(|byte| byte.is_ascii_alphanumeric()));

    // The member's next checkout sends the id: the page offers the saved card.
    let mut form = setup.card_form("3000000002");
    set(&mut form, "PAYQUICK", "1");
    set(&mut form, "PAYQUICKID", &payquick_id);
    let page = setup.open_card_page(&form).await;
    assert!(page.contains("このカードで支払う"));
    assert!(page.contains("1111"));
    assert!(page.contains("08/99"));
    let fields = owned(&[("SESSION", &session_of(&page)), ("USE_PAYQUICK", "1")]);
    let (status, _, return_page) = setup
        .post(&format!("{}{CARD_SUBMIT_PATH}", setup.base), &fields)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(return_action(&return_page).ends_with("acting_return=1"));
    let second = &setup.notifications_for("3000000002")[0];
    assert_eq!(second.get("X-ERRCODE"), Some("   "));
    assert_eq!(second.get("X-PAYQUICKID"), Some(payquick_id.as_str()));
    assert_eq!(second.get("X-PARTOFCARD"), Some("1111"));
    assert_eq!(second.get("X-EXPIRE"), Some("0899"));
    assert_eq!(second.get("X-NAME"), Some("KAIIN HANAKO"));
    let transaction = setup.transaction("3000000002");
    assert_eq!(transaction.status, TransactionStatus::Sales);
    assert_eq!(
        transaction.payquick_id.as_deref(),
        Some(payquick_id.as_str())
    );

    // Another shop cannot use the id.
    let mut form = setup.card_form("3000000003");
    set(&mut form, "SHOPCO", "OTHER");
    set(&mut form, "PAYQUICK", "1");
    set(&mut form, "PAYQUICKID", &payquick_id);
    let page = setup.open_card_page(&form).await;
    assert!(!page.contains("このカードで支払う"));
}

#[tokio::test]
async fn job_check_registers_the_card_without_charging() {
    let setup = setup().await;
    // Welcart's My Page card update form (§7).
    let url = setup
        .shop
        .url("/return?usces_page=member_update_settlement&settlement=1&re-enter=1");
    let form = owned(&[
        ("SHOPCO", "TESTSHOP"),
        ("HOSTID", "12345678"),
        ("REMARKS3", "A0000875"),
        ("S_TORIHIKI_NO", "00000001000"),
        ("JOB", "CHECK"),
        ("MAIL", "member@example.invalid"),
        ("ITEM", "0000990"),
        ("RETURL", &url),
        ("NG_RETURL", &url),
        ("EXITURL", &url),
        ("OPT", "welcart_card_update"),
        ("PAYQUICK", "1"),
        ("dummy", "&#65533;"),
    ]);
    let page = setup.open_card_page(&form).await;
    assert!(page.contains("カードを登録する"));
    let (status, return_page) = setup
        .pay(&page, TEST_CARD_MASTERCARD, "1199", "HANAKO")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(return_page.contains("カードを登録しました"));
    let transaction = setup.transaction("00000001000");
    assert_eq!(transaction.kind, TransactionKind::CardCheck);
    assert_eq!(transaction.status, TransactionStatus::CardChecked);
    assert_eq!(transaction.amount, 0);
    let notification = &setup.notifications_for("00000001000")[0];
    assert_eq!(notification.get("X-TOTAL"), Some("0"));
    assert_eq!(notification.get("X-ERRLEVEL"), Some("0"));
    assert_eq!(notification.get("X-PARTOFCARD"), Some("4444"));
    assert_eq!(notification.get("X-EXPIRE"), Some("1199"));
    assert_eq!(notification.get("X-PAYQUICKID").map(str::len), Some(20));
    assert_eq!(
        notification.get("OPT"),
        None,
        "Remise does not echo OPT for cards"
    );
}

#[tokio::test]
async fn refused_notification_is_retried_shown_undelivered_then_delivered() {
    let setup = setup().await;
    setup.shop.state.refuse.store(true, Ordering::SeqCst);
    let page = setup.open_card_page(&setup.card_form("4000000001")).await;
    let (status, return_page) = setup.pay(&page, TEST_CARD_VISA, "12/99", "TARO").await;
    // The browser is sent back even though the shop did not acknowledge.
    assert_eq!(status, StatusCode::OK);
    assert!(return_action(&return_page).ends_with("acting_return=1"));
    let delivery = setup.transaction("4000000001").notifications[0].clone();
    assert!(!delivery.delivered);
    assert!(delivery.attempts >= 3, "inline attempts were made");
    assert_eq!(delivery.last_answer.as_deref(), Some("SESSION TIME OUT"));
    assert_eq!(delivery.last_status, Some(200));
    let (_, backyard) = setup.get(&format!("{}/backyard", setup.base)).await;
    assert!(backyard.contains("未配信"));
    assert!(backyard.contains("SESSION TIME OUT"));

    // The background retries deliver it once the shop answers properly.
    setup.shop.state.refuse.store(false, Ordering::SeqCst);
    wait_until("background delivery", || {
        setup.transaction("4000000001").notifications[0].delivered
    })
    .await;
    let delivery = setup.transaction("4000000001").notifications[0].clone();
    assert!(delivery.attempts > 3);
    let received = setup.notifications_for("4000000001");
    assert_eq!(received.len() as u32, delivery.attempts);
    assert!(received
        .iter()
        .all(|notification| notification.fields == received[0].fields));
    let (_, backyard) = setup.get(&format!("{}/backyard", setup.base)).await;
    assert!(backyard.contains("配信済み"));

    // 再送 repeats the notification as a new delivery.
    let tran_id = delivery.field("X-TRANID").unwrap().to_string();
    let (status, _, _) = setup
        .post(&format!("{}/backyard/tx/{tran_id}/resend", setup.base), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let transaction = setup.transaction("4000000001");
    assert_eq!(transaction.notifications.len(), 2);
    assert!(transaction.notifications[1].delivered);
    assert_eq!(transaction.notifications[1].attempts, 1);
    assert_eq!(
        transaction.notifications[1].fields,
        transaction.notifications[0].fields
    );
}

#[tokio::test]
async fn notifications_give_up_after_max_attempts() {
    let setup = setup_with(SandboxConfig {
        inline_attempts: 2,
        max_attempts: 4,
        retry_base: Duration::from_millis(5),
        ..SandboxConfig::default()
    })
    .await;
    // Nothing listens on the notification URL's port any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}/notify", closed.local_addr().unwrap());
    drop(closed);
    setup
        .sandbox
        .set_notify_urls(closed_url.clone(), closed_url);
    let page = setup.open_card_page(&setup.card_form("4100000001")).await;
    setup.pay(&page, TEST_CARD_VISA, "12/99", "TARO").await;
    wait_until("all attempts", || {
        setup.transaction("4100000001").notifications[0].attempts == 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let delivery = setup.transaction("4100000001").notifications[0].clone();
    assert_eq!(delivery.attempts, 4);
    assert!(!delivery.delivered);
    assert_eq!(delivery.last_status, None);
    assert!(delivery.last_answer.unwrap().starts_with("接続エラー"));
}
