//! A card checkout and a bank transfer (issued, then received) through the loaded Acme module,
//! against the Acme simulator over real sockets.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaded_module_takes_card_payments_and_bank_transfers() -> anyhow::Result<()> {
    let dir = scratch("checkout");
    let (shop_listener, shop_port) = bind().await;
    let (simulator_listener, simulator_port) = bind().await;
    let text = shop_config(&dir, shop_port, simulator_port, r#""acme""#);
    let (config, registry) = start_up(&text).map_err(anyhow::Error::msg)?;
    let acme = registry.get("acme").context("acme is registered")?;
    assert_eq!(acme.origin, Origin::File(built().acme.clone()));
    assert_eq!(acme.display_name, "アクメ");
    assert_eq!(
        registry.get("remise").map(|m| m.origin.clone()),
        Some(Origin::CompiledIn),
        "loaded modules sit beside compiled-in ones"
    );
    let state = shophost::serve::build_state(config, registry).await?;
    shophost::serve::spawn_server(state.clone(), shop_listener);
    let shop = format!("http://127.0.0.1:{shop_port}");
    let simulator = Simulator::new(SimulatorConfig {
        merchant_id: MERCHANT.to_owned(),
        secret_key: SECRET.to_owned(),
        notify_url: format!("{shop}/notify/acme"),
        delivery_attempts: 3,
    });
    simulator.spawn(simulator_listener);
    let running = Running {
        shop,
        simulator: format!("http://127.0.0.1:{simulator_port}"),
        state,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
    };

    // The admin API lists the module with its origin and settlement types.
    let (_, modules) = running
        .json(reqwest::Method::GET, "/admin/api/modules", None)
        .await?;
    let listed = modules.to_string();
    assert!(
        listed.contains(&built().acme.display().to_string()),
        "{listed}"
    );
    assert!(listed.contains(CARD) && listed.contains(BANK), "{listed}");
    let acme_listed = modules["modules"]
        .as_array()
        .context("modules")?
        .iter()
        .find(|m| m["id"] == "acme")
        .context("acme is listed")?;
    assert_eq!(
        acme_listed["notification_endpoints"][0]["url"],
        format!("{}/notify/acme", running.shop),
        "{acme_listed}"
    );
    assert_eq!(acme_listed["notification_endpoints"][0]["trust"], "signed");
    let card = running.create_method("アクメ カード", CARD).await?;
    let bank = running.create_method("アクメ 銀行振込", BANK).await?;
    let (_, methods) = running
        .json(reqwest::Method::GET, "/api/payment-methods", None)
        .await?;
    let offered: Vec<&str> = methods["payment_methods"]
        .as_array()
        .context("methods")?
        .iter()
        .filter_map(|m| m["settlement_type"].as_str())
        .collect();
    assert_eq!(offered, [CARD, BANK]);

    // Card: the notification arrives before the browser, which lands on the completed order.
    let (link_key, payment_id, back) = running.pay(card, "approve").await?;
    let delivered = simulator.payment(&payment_id).context("the payment")?;
    assert!(delivered.deliveries[0].delivered, "{delivered:?}");
    assert_eq!(delivered.deliveries[0].last_answer, r#"{"received":true}"#);
    let next = running.come_back(&back).await?;
    assert_eq!(next, format!("/checkout/complete/{link_key}"));
    let order = running.order(&link_key).await?;
    assert_eq!(order.payment_status, PaymentStatus::Captured);
    assert_eq!(order.module_id, "acme");
    assert_eq!(order.settlement_label, "カード決済（アクメ）");
    assert_eq!(order.transaction_id.as_deref(), Some(payment_id.as_str()));
    assert_eq!(order.total, MUG_PRICE);
    let (_, status) = running
        .json(
            reqwest::Method::GET,
            &format!("/api/checkout/{link_key}"),
            None,
        )
        .await?;
    assert_eq!(status["state"], "ordered", "{status}");
    assert_eq!(status["payment_status"], "captured", "{status}");

    // A forged notification (signed with another key) is refused and changes nothing.
    let forged = format!(
        r#"{{"event":"transfer.received","payment_id":"{payment_id}","order_id":"{link_key}","merchant_id":"{MERCHANT}","amount":{MUG_PRICE}}}"#
    );
    let response = running
        .http
        .post(format!("{}/notify/acme", running.shop))
        .header("content-type", "application/json")
        .header(
            "x-acme-signature",
            acme_simulator::sign("not-the-secret", forged.as_bytes()),
        )
        .body(forged)
        .send()
        .await?;
    assert_eq!(response.status(), 400);
    assert_eq!(
        running.order(&link_key).await?.payment_status,
        PaymentStatus::Captured
    );

    // Bank transfer: issued (the order exists, unpaid, with the slip), then received (paid).
    let (link_key, payment_id, back) = running.pay(bank, "approve").await?;
    running.come_back(&back).await?;
    let order = running.order(&link_key).await?;
    assert_eq!(order.payment_status, PaymentStatus::Unpaid);
    let slip = order.slip.as_ref().context("a slip")?;
    let slip_text = serde_json::to_string(slip)?;
    assert!(
        slip_text.contains("アクメ銀行") && slip_text.contains("1234567"),
        "{slip_text}"
    );
    assert!(order.deadline.is_some(), "the transfer deadline is kept");
    let received = running
        .http
        .post(format!(
            "{}/admin/payments/{payment_id}/receive",
            running.simulator
        ))
        .send()
        .await?;
    assert_eq!(received.status(), 200);
    let received: Value = serde_json::from_str(&received.text().await?)?;
    assert_eq!(received["delivered"], true, "{received}");
    assert_eq!(
        running.order(&link_key).await?.payment_status,
        PaymentStatus::Paid
    );
    let (_, status) = running
        .json(
            reqwest::Method::GET,
            &format!("/api/checkout/{link_key}"),
            None,
        )
        .await?;
    assert_eq!(status["payment_status"], "paid", "{status}");

    // A declined card makes no order and lands on the failure page.
    let (link_key, _, back) = running.pay(card, "decline").await?;
    let failed = running.http.get(&back).send().await?;
    assert_eq!(failed.status(), 200);
    assert!(failed.text().await?.contains("card_declined"));
    let none = running
        .state
        .store
        .orders(
            &OrderFilter {
                link_key: Some(link_key),
                ..OrderFilter::default()
            },
            10,
        )
        .await?;
    assert!(none.is_empty());

    // The loaded module is taken out of use like any other: refused while its methods are in use...
    let out_of_use = shop_config(&dir, shop_port, simulator_port, "");
    let (config, registry) = start_up(&out_of_use).map_err(anyhow::Error::msg)?;
    let refused = shophost::serve::build_state(config, registry).await;
    let error = format!(
        "{:#}",
        refused.err().context("taking acme out of use is refused")?
    );
    assert!(
        error.contains("module `acme` cannot be taken out of use: payment method `アクメ カード` is in use (使用)"),
        "{error}"
    );
    // ...and accepted once they are stopped (停止).
    for (id, name, settlement_type) in [
        (card, "アクメ カード", CARD),
        (bank, "アクメ 銀行振込", BANK),
    ] {
        let stopped = NewPaymentMethod {
            name: name.to_owned(),
            explanation: String::new(),
            settlement_type: settlement_type.to_owned(),
            active: false,
        };
        running
            .state
            .store
            .update_payment_method(id, &stopped)
            .await?;
    }
    let (config, registry) = start_up(&out_of_use).map_err(anyhow::Error::msg)?;
    let state = shophost::serve::build_state(config, registry).await?;
    assert!(state.engine.in_use().is_empty());
    Ok(())
}
