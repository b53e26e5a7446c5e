//! What a `/metrics` scrape and the console's notices read from the database, on SQLite and on
//! PostgreSQL: the orders by settlement type and payment status, and the 要確認 counts.

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{header, Request};
use common::{recovered_order, send, Backend, ADMIN_TOKEN};
use shophost::db::AttentionCounts;
use shophost::domain::CustomerDetails;

fn customer(i: usize) -> CustomerDetails {
    CustomerDetails {
        email: format!("metrics{i}@example.jp"),
        family_name: "山田".to_owned(),
        given_name: format!("花子{i}"),
        ..Default::default()
    }
}

on_both_backends!(orders_are_counted_by_settlement_type_and_status);

async fn orders_are_counted_by_settlement_type_and_status(backend: Backend) {
    let (state, db) = backend.shop("metrics-counts").await;
    // Three card orders (売上) and three コンビニ ones (未入金), one of which expires, and the first
    // card order flagged 要確認.
    let mut ids = Vec::new();
    for i in 0..6 {
        let order = recovered_order(&state, &format!("6{i:08}"), customer(i), i < 3).await;
        ids.push(order.id);
    }
    db.sql(&format!(
        "UPDATE orders SET payment_status = 'expired' WHERE id = {}",
        ids[5]
    ))
    .await;
    db.sql(&format!(
        "UPDATE orders SET attention = '通知が届いていません' WHERE id = {}",
        ids[0]
    ))
    .await;

    let counts = state.store.counts().await.expect("counts");
    let expected = [
        ("acting_remise_card", "captured", 3),
        ("acting_remise_conv", "expired", 1),
        ("acting_remise_conv", "unpaid", 2),
    ]
    .map(|(kind, status, n)| (kind.to_owned(), status.to_owned(), n));
    assert_eq!(counts.orders, expected);
    let attention = AttentionCounts {
        attempts: 0,
        orders: 1,
    };
    assert_eq!(counts.attention, attention);
    assert_eq!(
        state.store.attention_counts().await.expect("attention"),
        attention
    );

    // What a scrape shows of them.
    let request = Request::builder()
        .uri("/metrics")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::empty())
        .expect("request");
    let page = send(&shophost::http::router(state.clone()), request).await;
    assert_eq!(page.status, 200);
    let text = page.text();
    for line in [
        "shophost_orders{settlement_type=\"acting_remise_card\",status=\"captured\"} 3",
        "shophost_orders{settlement_type=\"acting_remise_conv\",status=\"expired\"} 1",
        "shophost_orders{settlement_type=\"acting_remise_conv\",status=\"unpaid\"} 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
}
