//! A gateway module that panics does not take the shop down. The shop runs Remise with faults put in
//! (`Faulty`): a notification whose reading panics is answered "unavailable" (`503 error2`, so Remise
//! retries) and journaled as refused with the panic, and the next good notification is acknowledged;
//! a panic in the module's answer gives a plain 503; a panic starting a payment or reading a browser
//! return gives a 503 page or JSON. `/healthz` answers 503 once the writer that commits notifications
//! has stopped.

mod common;

use common::*;
use serde_json::json;
use shophost_module_api::{
    async_trait, Answer, BrowserReturn, FieldError, InboundRequest, LinkKeySpec, ModuleConfig,
    Notification, NotificationEndpoint, PaymentModule, PaymentStart, PaymentStartError,
    PaymentStartRequest, Rejection, ReturnKind, SettingsSchema, SettingsValues, SettlementType,
    WireCharset, WireResponse,
};

/// `X-NAME` that makes [`Faulty`] panic reading the notification or the browser return.
const PANIC_READING: &str = "PANIC";
/// `X-NAME` that makes [`Faulty`] panic answering the notification.
const PANIC_ANSWERING: &str = "PANIC-ANSWERING";
/// The checkout note that makes [`Faulty`] panic starting the payment.
const PANIC_STARTING: &str = "PANIC";

/// Remise, except that it panics where the constants above say.
struct Faulty;

fn faulty() -> Box<dyn PaymentModule> {
    Box::new(Faulty)
}

#[async_trait]
impl PaymentModule for Faulty {
    fn id(&self) -> &str {
        remise::RemiseModule.id()
    }
    fn display_name(&self) -> &str {
        remise::RemiseModule.display_name()
    }
    fn settings_schema(&self) -> SettingsSchema {
        remise::RemiseModule.settings_schema()
    }
    fn validate(&self, values: &SettingsValues) -> Result<ModuleConfig, Vec<FieldError>> {
        remise::RemiseModule.validate(values)
    }
    fn settlement_types(&self, config: &ModuleConfig) -> Vec<SettlementType> {
        remise::RemiseModule.settlement_types(config)
    }
    fn wire_charset(&self) -> WireCharset {
        remise::RemiseModule.wire_charset()
    }
    fn link_key_spec(&self) -> LinkKeySpec {
        remise::RemiseModule.link_key_spec()
    }
    fn inbound_headers(&self) -> &'static [&'static str] {
        PaymentModule::inbound_headers(&remise::RemiseModule)
    }
    async fn start_card_update(
        &self,
        config: &ModuleConfig,
        request: &shophost_module_api::CardUpdateRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        remise::RemiseModule
            .start_card_update(config, request)
            .await
    }
    async fn start_payment(
        &self,
        config: &ModuleConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        if request.note == PANIC_STARTING {
            panic!("a fault in start_payment");
        }
        remise::RemiseModule.start_payment(config, request).await
    }
    fn notification_endpoints(&self, config: &ModuleConfig) -> Vec<NotificationEndpoint> {
        remise::RemiseModule.notification_endpoints(config)
    }
    async fn parse_notification(
        &self,
        config: &ModuleConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        // Past an await, as a real async method would be.
        tokio::task::yield_now().await;
        if request.field("X-NAME") == Some(PANIC_READING) {
            panic!("a fault in parse_notification");
        }
        remise::RemiseModule
            .parse_notification(config, endpoint, request)
            .await
    }
    async fn parse_return(
        &self,
        config: &ModuleConfig,
        settlement_type: &str,
        kind: ReturnKind,
        request: &InboundRequest,
    ) -> BrowserReturn {
        if request.field("X-NAME") == Some(PANIC_READING) {
            panic!("a fault in parse_return");
        }
        remise::RemiseModule
            .parse_return(config, settlement_type, kind, request)
            .await
    }
    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
        if request.field("X-NAME") == Some(PANIC_ANSWERING) {
            panic!("a fault in respond");
        }
        remise::RemiseModule.respond(endpoint, request, answer)
    }
}

async fn faulty_shop() -> Shop {
    Shop::start_with(Options {
        stand_in: Some(faulty),
        ..Options::default()
    })
    .await
}

/// The newest journal entry, whatever its link key.
async fn newest_entry(shop: &Shop) -> serde_json::Value {
    shop.admin_get("/journal").await["entries"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_reading_a_notification_is_answered_unavailable_and_journaled() {
    let shop = faulty_shop().await;
    let link_key = shop.checkout(CARD, &[], None).await;
    let panicking = with(
        card_success(&link_key, "T0001", MUG_PRICE),
        "X-NAME",
        PANIC_READING,
    );
    for _ in 0..2 {
        let answer = shop.notify("remise_card", &panicking).await;
        assert_eq!((answer.status, answer.text().as_str()), (503, "error2"));
    }
    assert!(shop.order(&link_key).await.is_none());
    let entry = newest_entry(&shop).await;
    assert_eq!(entry["verdict"], "rejected", "{entry}");
    assert_eq!(entry["response_status"], 503, "{entry}");
    assert_eq!(
        entry["reason"],
        "module panicked: a fault in parse_notification (in remise.parse_notification)"
    );
    assert_eq!(
        shop.admin_get("/journal").await["entries"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The shop goes on: the next good notification is acknowledged and makes the order, and the
    // health check is still fine.
    let answer = shop
        .notify("remise_card", &card_success(&link_key, "T0001", MUG_PRICE))
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    let order = shop.order_detail(&link_key).await;
    assert_eq!((order.status.as_str(), order.events), ("captured", 1));
    assert_eq!(shop.get("/healthz").await.status, 200);

    // A replay of the panicked entry goes through the same door: refused again, nothing changed.
    let (status, replay) = shop
        .admin("POST", &format!("/journal/{}/replay", entry["id"]), None)
        .await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["verdict"], "rejected", "{replay}");
    assert_eq!(shop.order_detail(&link_key).await.events, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_answering_a_notification_gives_a_plain_503_and_applies_nothing() {
    let shop = faulty_shop().await;
    let link_key = shop.checkout(CARD, &[], None).await;
    let fields = with(
        card_success(&link_key, "T0001", MUG_PRICE),
        "X-NAME",
        PANIC_ANSWERING,
    );
    let answer = shop.notify("remise_card", &fields).await;
    assert_eq!(
        (answer.status, answer.text().as_str()),
        (503, "unavailable")
    );
    // The module read a good payment, but without an answer to send it is not applied.
    assert!(shop.order(&link_key).await.is_none());
    let entry = &shop.journal(&link_key).await[0];
    assert_eq!(entry["verdict"], "rejected", "{entry}");
    assert_eq!(
        entry["reason"],
        "module panicked: a fault in respond (in remise.respond)"
    );
    let answer = shop
        .notify("remise_card", &card_success(&link_key, "T0001", MUG_PRICE))
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (200, ACK));
    assert_eq!(shop.order_detail(&link_key).await.status, "captured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_starting_a_payment_or_reading_a_return_is_a_503() {
    let shop = faulty_shop().await;
    let method = shop.method_id(CARD).await;
    let created = shop
        .post_json(
            "/api/checkout",
            &json!({
                "lines": [{"product_id": 1, "quantity": 1}],
                "customer": customer(),
                "payment_method_id": method,
                "note": PANIC_STARTING,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let link_key = created.json()["link_key"].as_str().unwrap().to_owned();

    let confirm = shop
        .post_json(&format!("/api/checkout/{link_key}/confirm"), &json!({}))
        .await;
    assert_eq!(confirm.status, 503, "{}", confirm.text());
    let error = confirm.json()["error"].as_str().unwrap().to_owned();
    assert!(
        !error.contains("fault"),
        "no detail for the client: {error}"
    );
    let page = shop.get(&format!("/pay/{link_key}")).await;
    assert_eq!(page.status, 503);
    assert!(page.text().contains("しばらくしてから"), "{}", page.text());

    let card_return = shop
        .post_sjis(
            &format!("/return/{CARD}/ok"),
            &with(
                card_success(&link_key, "T0001", MUG_PRICE),
                "X-NAME",
                PANIC_READING,
            ),
        )
        .await;
    assert_eq!(card_return.status, 503);

    // Other checkouts go on.
    let other = shop.checkout(CARD, &[], None).await;
    let form = shop.confirm(&other).await;
    assert_eq!(form.field("S_TORIHIKI_NO"), Some(other.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_503_once_the_writer_has_stopped() {
    let shop = Shop::start().await;
    assert_eq!(shop.get("/healthz").await.status, 200);
    let link_key = shop.checkout(CARD, &[], None).await;

    // Closing the store (what shutdown does) stops the writer that commits notifications.
    shop.state.store.close().await;
    assert!(!shop.state.store.writer_running());
    let health = shop.get("/healthz").await;
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["writer"], "stopped");
    let answer = shop
        .notify("remise_card", &card_success(&link_key, "T0001", MUG_PRICE))
        .await;
    assert_eq!((answer.status, answer.text().as_str()), (503, "error2"));
}
