//! コンビニ・電子マネー: the payment slip, the 収納情報通知 with REC_FLG, and each place's numbers
//! and deadlines.

use super::*;

#[tokio::test]
async fn conv_issue_then_payment_notice_with_rec_flg() {
    let setup = setup().await;
    let ret = setup
        .shop
        .url("/return?page_id=4&acting=remise_conv&acting_return=1");
    let ng = setup
        .shop
        .url("/return?page_id=4&acting=remise_conv&acting_return=0");
    let exit = setup.shop.url("/?page_id=4&confirm=1");
    // Welcart's マルチ決済 form (form_conv_guest), with S_PAYDATE left to the default.
    let form = owned(&[
        ("SHOPCO", "TESTSHOP"),
        ("HOSTID", "12345678"),
        ("REMARKS3", "A0000875"),
        ("S_TORIHIKI_NO", "1681574275"),
        ("NAME1", "山田"),
        ("NAME2", "太郎"),
        ("KANA1", "ヤマダ"),
        ("KANA2", "タロウ"),
        ("YUBIN1", "150"),
        ("YUBIN2", "0001"),
        ("ADD1", "東京都渋谷区神宮前"),
        ("ADD2", "1-2-3"),
        ("ADD3", "テストビル101"),
        ("TEL", "0311112222"),
        ("MAIL", "guest@example.invalid"),
        ("TOTAL", "3990"),
        ("TAX", ""),
        ("S_PAYDATE", ""),
        ("BIKO", "備考テスト"),
        ("MNAME_01", "商品総額"),
        ("MSUM_01", "3990"),
        ("RETURL", &ret),
        ("NG_RETURL", &ng),
        ("OPT", "1"),
        ("EXITURL", &exit),
        ("dummy", "&#65533;"),
    ]);
    let (status, content_type, page) = setup
        .post(&format!("{}/rpgw2/pc/cvs/paycvs.aspx", setup.base), &form)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(content_type, "text/html; charset=Shift_JIS");
    assert!(page.contains("山田 太郎 様"));
    assert!(page.contains("3,990円"));
    for place in ["D001", "D002", "D030", "D405", "D451"] {
        assert!(page.contains(place), "{place}");
    }

    let fields = owned(&[("SESSION", &session_of(&page)), ("PAY_CSV", "D001")]);
    let (status, _, return_page) = setup
        .post(&format!("{}/rpgw2/pc/cvs/submit", setup.base), &fields)
        .await;
    assert_eq!(status, StatusCode::OK);

    let issued = &setup.notifications_for("1681574275")[0];
    assert_eq!(issued.query, "acting=remise_conv");
    let job_id = issued.get("X-JOB_ID").unwrap().to_string();
    assert_eq!(job_id.len(), 17);
    assert!(job_id.bytes().all(|byte| byte.is_ascii_digit()));
    assert_eq!(issued.get("X-R_CODE"), Some("0:0000"));
    assert_eq!(issued.get("X-TOTAL"), Some("3990"));
    assert_eq!(issued.get("X-TAX"), Some("0"));
    assert_eq!(issued.get("X-PAY_CSV"), Some("D001"));
    assert_eq!(issued.get("X-PAY_WAY").map(str::len), Some(3));
    assert_eq!(issued.get("X-PAY_NO1").map(str::len), Some(13));
    assert_eq!(issued.get("X-PAYDATE").map(str::len), Some(8));
    assert_eq!(issued.get("OPT"), Some("1"));
    assert_eq!(issued.get("REC_TYPE"), Some("RET"));
    let slip_url = issued.get("X-PAY_NO2").unwrap().to_string();
    assert_eq!(slip_url, format!("{}/slip/{job_id}", setup.base));

    let transaction = setup.transaction("1681574275");
    assert_eq!(transaction.kind, TransactionKind::Conv);
    assert_eq!(transaction.status, TransactionStatus::Unpaid);
    assert_eq!(transaction.holder_name, "山田 太郎");
    assert!(transaction.notifications[0].delivered);

    // The browser goes back to RETURL with the same fields.
    assert_eq!(return_action(&return_page), ret);
    let carried = hidden_inputs(&return_page);
    assert_eq!(field(&carried, "X-JOB_ID"), Some(job_id.as_str()));
    assert_eq!(field(&carried, "X-PAY_NO2"), Some(slip_url.as_str()));
    setup.post(&ret, &carried).await;
    assert_eq!(setup.shop.returns()[0].get("X-R_CODE"), Some("0:0000"));

    // The slip shows the payment number.
    let (status, slip) = setup.get(&slip_url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(slip.contains(issued.get("X-PAY_NO1").unwrap()));
    assert!(slip.contains("セブン-イレブン"));

    // 入金通知 from the backyard.
    let (status, _, backyard) = setup
        .post(&format!("{}/backyard/tx/{job_id}/paid", setup.base), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(backyard.contains("入金済み"));
    let received = setup.notifications_for("1681574275");
    assert_eq!(received.len(), 2);
    let paid = &received[1];
    assert_eq!(paid.query, "acting=remise_conv");
    assert_eq!(paid.get("S_TORIHIKI_NO"), Some("1681574275"));
    assert_eq!(paid.get("REC_FLG"), Some("1"));
    assert_eq!(paid.get("JOB_ID"), Some(job_id.as_str()));
    assert_eq!(paid.get("TOTAL"), Some("3990"));
    assert_eq!(paid.get("REC_CVSCODE"), Some("D001"));
    assert_eq!(paid.get("REC_CVSNAME"), Some("セブン-イレブン"));
    assert_eq!(paid.get("RECDATE").map(str::len), Some(14));
    assert_eq!(
        paid.get("X-JOB_ID"),
        None,
        "the receipt fields have no X- prefix"
    );
    let transaction = setup.transaction("1681574275");
    assert_eq!(transaction.status, TransactionStatus::Paid);
    assert_eq!(
        transaction.notifications[1].kind,
        NotificationKind::ConvPaid
    );

    // The JSON view for tests.
    let response = setup
        .client
        .get(format!("{}/backyard/api/transactions", setup.base))
        .send()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(json[0]["status"], "入金済み");
    assert_eq!(json[0]["job_id"], job_id.as_str());
    assert_eq!(json[0]["notifications"][1]["kind"], "ConvPaid");
}

#[tokio::test]
async fn conv_places_have_their_own_numbers_and_deadlines() {
    let setup = setup().await;
    let ret = setup.shop.url("/return?acting=remise_conv&acting_return=1");
    let base_form = |torihiki_no: &str, paydate: &str| {
        owned(&[
            ("SHOPCO", "TESTSHOP"),
            ("HOSTID", "12345678"),
            ("S_TORIHIKI_NO", torihiki_no),
            ("NAME1", "髙橋"),
            ("NAME2", "花子"),
            ("TOTAL", "500"),
            ("TAX", ""),
            ("S_PAYDATE", paydate),
            ("RETURL", &ret),
            ("NG_RETURL", &ret),
        ])
    };
    let issue = |torihiki_no: &'static str, place: &'static str| {
        let form = base_form(torihiki_no, "20991231");
        let setup = &setup;
        async move {
            let (status, _, page) = setup
                .post(&format!("{}/rpgw2/pc/cvs/paycvs.aspx", setup.base), &form)
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            // 髙 is a Windows-31J (CP932) character: it must survive the round trip.
            assert!(page.contains("髙橋 花子 様"));
            let fields = owned(&[("SESSION", &session_of(&page)), ("PAY_CSV", place)]);
            setup
                .post(&format!("{}/rpgw2/pc/cvs/submit", setup.base), &fields)
                .await;
            setup.notifications_for(torihiki_no)[0].clone()
        }
    };
    let family_mart = issue("5000000001", "D030").await;
    assert_eq!(family_mart.get("X-PAY_NO1").map(str::len), Some(5));
    let order_number = family_mart.get("X-PAY_NO2").unwrap();
    assert_eq!(order_number.len(), 12);
    assert!(order_number.bytes().all(|byte| byte.is_ascii_digit()));
    assert_eq!(family_mart.get("X-PAYDATE"), Some("20991231"));
    assert_eq!(family_mart.get("OPT"), None, "OPT is echoed only when sent");

    let webmoney = issue("5000000002", "D451").await;
    let paydate = webmoney.get("X-PAYDATE").unwrap();
    assert_ne!(paydate, "20991231", "e-money is due the day after issue");
    assert!(paydate.starts_with("20") && paydate.len() == 8);

    // A bad S_PAYDATE and a zero TOTAL are refused.
    let mut form = base_form("5000000003", "20260230");
    set(&mut form, "TOTAL", "0");
    unset(&mut form, "RETURL");
    let (status, _, html) = setup
        .post(&format!("{}/rpgw2/pc/cvs/paycvs.aspx", setup.base), &form)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("S_PAYDATE が不正です"));
    assert!(html.contains("TOTAL が不正です"));
    assert!(html.contains("RETURL が指定されていません"));
}
