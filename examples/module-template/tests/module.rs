//! The module without a host, through `shophost_module_api::testing`: settings, the form, and the
//! notifications. Fast, and the first thing to keep green while you change the wire format.

use module_template::{MyGatewayModule, ENDPOINT, SETTLEMENT_CARD};
use shophost_module_api::testing::{
    assert_form_fields, config, field_errors, form_post, parse_notification, payment_start_request,
    start_form,
};
use shophost_module_api::{Capture, Signal};

const SETTINGS: &[(&str, &str)] = &[("shop_id", "SHOP01"), ("notify_sources", "127.0.0.1")];
const LINK_KEY: &str = "12345678901234567";

#[test]
fn settings_errors_name_their_fields() {
    assert_eq!(field_errors(&MyGatewayModule, SETTINGS), vec![]);
    assert_eq!(
        field_errors(&MyGatewayModule, &[("notify_sources", "nowhere")]),
        vec![
            (
                "shop_id".to_owned(),
                "ショップIDを入力してください".to_owned()
            ),
            (
                "notify_sources".to_owned(),
                "通知の送信元はIPアドレスまたはCIDRで入力してください".to_owned()
            ),
        ]
    );
}

#[test]
fn the_form_carries_the_order() {
    let config = config(&MyGatewayModule, SETTINGS);
    // `config` is the module's own type: read its fields directly.
    assert_eq!(config.shop_id, "SHOP01");
    let request = payment_start_request(SETTLEMENT_CARD, LINK_KEY, 1980);
    let form = start_form(&MyGatewayModule, &config, &request);
    assert_form_fields(
        &form,
        &[
            ("shop_id", "SHOP01"),
            ("order_id", LINK_KEY),
            ("amount", "1980"),
            ("email", "shopper@example.com"),
            (
                "success_url",
                "http://shop.test/return/acting_mygateway_card/ok",
            ),
            (
                "failure_url",
                "http://shop.test/return/acting_mygateway_card/ng",
            ),
            (
                "cancel_url",
                "http://shop.test/return/acting_mygateway_card/exit",
            ),
        ],
    );
}

#[test]
fn notifications_become_signals() {
    let config = config(&MyGatewayModule, SETTINGS);
    let paid = form_post(&[
        ("shop_id", "SHOP01"),
        ("order_id", LINK_KEY),
        ("transaction_id", "TX1"),
        ("status", "paid"),
        ("amount", "1980"),
    ]);
    let notification = parse_notification(&MyGatewayModule, &config, ENDPOINT, &paid).unwrap();
    assert_eq!(notification.dedup_key, "mygateway:paid:TX1");
    assert_eq!(
        notification.signal,
        Signal::PaymentSucceeded {
            transaction_id: "TX1".into(),
            amount: 1980,
            capture: Capture::Captured,
            card: None,
            recurring_id: None,
        }
    );
    let odd = form_post(&[
        ("order_id", LINK_KEY),
        ("transaction_id", "TX1"),
        ("status", "maybe"),
    ]);
    let notification = parse_notification(&MyGatewayModule, &config, ENDPOINT, &odd).unwrap();
    assert!(matches!(notification.signal, Signal::NotPaid { .. }));
    assert_eq!(notification.mismatches, ["shop_id is not this shop's"]);
    let broken = form_post(&[("order_id", "x")]);
    assert_eq!(
        parse_notification(&MyGatewayModule, &config, ENDPOINT, &broken)
            .unwrap_err()
            .reason,
        "order_id is not a link key"
    );
}
