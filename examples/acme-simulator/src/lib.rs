//! An offline stand-in for the Acme payment gateway, for tests and demos of the `acme-gateway` module.
//!
//! It does what the module's counterpart must do, and nothing more: a hosted payment page that accepts
//! the shop's signed redirect form (`POST /pay`), a decision on that page (`POST /pay/{id}/decide`:
//! approve, decline or cancel), a signed JSON notification posted to the shop before the browser is sent
//! back, and, for bank transfers, a button that says the money arrived
//! (`POST /admin/payments/{id}/receive`). `GET /admin/payments` lists everything as JSON.
//!
//! It shares no code with the module on purpose: it signs and checks with its own HMAC code from the
//! written protocol, so a module that drifts from the protocol fails against it.
//!
//! Notifications count as delivered on any 2xx answer; otherwise the simulator retries, up to
//! [`SimulatorConfig::delivery_attempts`] times, while the browser waits (Acme holds the shopper's
//! return until the shop has answered or it gave up).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;

/// How the simulator is set up: the one merchant it knows and where that merchant's shop listens.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The merchant id the shop must send.
    pub merchant_id: String,
    /// The shared secret for form and notification signatures.
    pub secret_key: String,
    /// Where notifications go, e.g. `http://127.0.0.1:8080/notify/acme`.
    pub notify_url: String,
    /// Delivery attempts per notification.
    pub delivery_attempts: u32,
}

/// Where a payment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// The shopper is on the payment page.
    Pending,
    /// Card payment captured.
    Succeeded,
    /// Card declined.
    Failed,
    /// Bank details issued, waiting for the transfer.
    Issued,
    /// Transfer received.
    Received,
    /// The shopper went back to the shop.
    Cancelled,
}

/// One notification and how its delivery went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The event, e.g. `payment.succeeded`.
    pub event: String,
    /// Attempts made.
    pub attempts: u32,
    /// The shop's last HTTP status, if it answered.
    pub last_status: Option<u16>,
    /// The shop's last answer body.
    pub last_answer: String,
    /// Whether a 2xx came back.
    pub delivered: bool,
}

/// A payment the simulator knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    /// Acme's id, e.g. `pay_…`.
    pub payment_id: String,
    /// The shop's link key.
    pub order_id: String,
    /// Yen.
    pub amount: i64,
    /// `card` or `bank`.
    pub method: String,
    /// Status.
    pub status: PaymentStatus,
    /// Where the browser goes on success.
    pub success_url: String,
    /// On failure.
    pub failure_url: String,
    /// On cancel.
    pub cancel_url: String,
    /// Last day to transfer (`YYYY-MM-DD`), bank only.
    pub transfer_due: Option<String>,
    /// Notifications sent about it.
    pub deliveries: Vec<Delivery>,
}

/// The simulator; cheap to clone.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    config: SimulatorConfig,
    payments: Mutex<Vec<Payment>>,
    next_id: AtomicU64,
    http: reqwest::Client,
}

/// The hex HMAC-SHA256 of `message` under `key`, as Acme signs.
pub fn sign(key: &str, message: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Simulator {
    /// A simulator with no payments yet.
    pub fn new(config: SimulatorConfig) -> Simulator {
        Simulator {
            inner: Arc::new(Inner {
                config,
                payments: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
                http: reqwest::Client::new(),
            }),
        }
    }

    /// The routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/pay", post(payment_page))
            .route("/pay/{payment_id}/decide", post(decide))
            .route("/admin/payments", get(list))
            .route("/admin/payments/{payment_id}/receive", post(receive))
            .with_state(self.clone())
    }

    /// Serves on an already-bound listener in a background task.
    pub fn spawn(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let app = self.router();
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("acme simulator stopped: {error}");
            }
        })
    }

    /// Binds `addr` and serves; returns the bound address.
    pub async fn start(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        self.spawn(listener);
        Ok(bound)
    }

    /// Every payment, oldest first.
    pub fn payments(&self) -> Vec<Payment> {
        self.lock().clone()
    }

    /// One payment.
    pub fn payment(&self, payment_id: &str) -> Option<Payment> {
        self.lock()
            .iter()
            .find(|p| p.payment_id == payment_id)
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Payment>> {
        self.inner
            .payments
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, payment_id: &str, change: impl FnOnce(&mut Payment)) {
        if let Some(payment) = self.lock().iter_mut().find(|p| p.payment_id == payment_id) {
            change(payment);
        }
    }

    /// Posts a signed notification about a payment, retrying; returns whether it was delivered.
    pub async fn notify(&self, payment_id: &str, event: &str, extra: Value) -> bool {
        let Some(payment) = self.payment(payment_id) else {
            return false;
        };
        let config = &self.inner.config;
        let mut body = json!({
            "event": event,
            "payment_id": payment.payment_id,
            "order_id": payment.order_id,
            "merchant_id": config.merchant_id,
            "amount": payment.amount,
            "currency": "JPY",
        });
        if let (Some(object), Value::Object(extra)) = (body.as_object_mut(), extra) {
            object.extend(extra);
        }
        let body = serde_json::to_vec(&body).expect("JSON values serialise");
        let signature = sign(&config.secret_key, &body);
        let mut delivery = Delivery {
            event: event.to_owned(),
            attempts: 0,
            last_status: None,
            last_answer: String::new(),
            delivered: false,
        };
        while delivery.attempts < config.delivery_attempts.max(1) && !delivery.delivered {
            if delivery.attempts > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            delivery.attempts += 1;
            let sent = self
                .inner
                .http
                .post(&config.notify_url)
                .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                .header("X-Acme-Signature", &signature)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status();
                    delivery.last_status = Some(status.as_u16());
                    delivery.last_answer = response.text().await.unwrap_or_default();
                    delivery.delivered = status.is_success();
                }
                Err(error) => delivery.last_answer = error.to_string(),
            }
        }
        let delivered = delivery.delivered;
        self.update(payment_id, |p| p.deliveries.push(delivery));
        delivered
    }
}

/// The transfer reference the shopper quotes: `R` and the order's last eight digits.
fn reference(order: &str) -> String {
    let digits: Vec<char> = order.chars().filter(char::is_ascii_digit).collect();
    let last: String = digits[digits.len().saturating_sub(8)..].iter().collect();
    format!("R{last}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>Acme（シミュレーター）</h1><h2>{title}</h2>{body}</body></html>",
        title = escape(title)
    );
    (status, Html(html)).into_response()
}

fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{}", query.join("&"))
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The form fields the payment page requires, in the order they are signed.
const SIGNED_FIELDS: &[&str] = &[
    "merchant_id",
    "order_id",
    "amount",
    "currency",
    "method",
    "description",
    "email",
    "customer_name",
    "success_url",
    "failure_url",
    "cancel_url",
];

async fn payment_page(
    State(simulator): State<Simulator>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let config = &simulator.inner.config;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let mut signed = Vec::new();
    for name in SIGNED_FIELDS.iter().copied().chain(["transfer_due"]) {
        match field(name) {
            Some(value) => signed.extend_from_slice(format!("{name}={value}\n").as_bytes()),
            None if name == "transfer_due" => {}
            None => {
                return page(
                    StatusCode::BAD_REQUEST,
                    "フォームが正しくありません",
                    &format!("<p>{name} がありません。</p>"),
                )
            }
        }
    }
    if field("merchant_id") != Some(config.merchant_id.as_str()) {
        return page(StatusCode::BAD_REQUEST, "加盟店IDが違います", "");
    }
    let expected = sign(&config.secret_key, &signed);
    if field("signature").map(str::to_ascii_lowercase) != Some(expected) {
        return page(StatusCode::BAD_REQUEST, "署名が正しくありません", "");
    }
    let Some(amount) = field("amount").and_then(|a| a.parse::<i64>().ok()) else {
        return page(StatusCode::BAD_REQUEST, "金額が正しくありません", "");
    };
    let method = field("method").unwrap_or("").to_owned();
    if method != "card" && method != "bank" {
        return page(StatusCode::BAD_REQUEST, "支払方法が正しくありません", "");
    }
    if method == "bank" && field("transfer_due").is_none() {
        return page(StatusCode::BAD_REQUEST, "振込期限がありません", "");
    }
    let number = simulator.inner.next_id.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let payment_id = format!("pay_{nanos:x}_{number}");
    let payment = Payment {
        payment_id: payment_id.clone(),
        order_id: field("order_id").unwrap_or("").to_owned(),
        amount,
        method: method.clone(),
        status: PaymentStatus::Pending,
        success_url: field("success_url").unwrap_or("").to_owned(),
        failure_url: field("failure_url").unwrap_or("").to_owned(),
        cancel_url: field("cancel_url").unwrap_or("").to_owned(),
        transfer_due: field("transfer_due").map(str::to_owned),
        deliveries: Vec::new(),
    };
    simulator.lock().push(payment);
    let action = format!("/pay/{payment_id}/decide");
    let approve = if method == "card" {
        "カードで支払う（承認）"
    } else {
        "振込先を発行する"
    };
    let body = format!(
        "<p>ご注文番号 {order} ・ {amount}円 ・ {description}</p>\
         <form method=\"post\" action=\"{action}\"><button name=\"outcome\" value=\"approve\">{approve}</button>\
         <button name=\"outcome\" value=\"decline\">拒否する</button>\
         <button name=\"outcome\" value=\"cancel\">ショップに戻る</button></form>",
        order = escape(field("order_id").unwrap_or("")),
        description = escape(field("description").unwrap_or("")),
        action = escape(&action),
    );
    let mut response = page(StatusCode::OK, "お支払い", &body);
    if let Ok(value) = HeaderValue::from_str(&payment_id) {
        response.headers_mut().insert("x-acme-payment-id", value);
    }
    response
}

async fn decide(
    State(simulator): State<Simulator>,
    Path(payment_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let Some(payment) = simulator.payment(&payment_id) else {
        return page(StatusCode::NOT_FOUND, "お支払いが見つかりません", "");
    };
    if payment.status != PaymentStatus::Pending {
        return page(StatusCode::CONFLICT, "このお支払いは完了しています", "");
    }
    let outcome = fields
        .iter()
        .find(|(key, _)| key == "outcome")
        .map(|(_, value)| value.as_str())
        .unwrap_or("");
    let order = payment.order_id.as_str();
    match (outcome, payment.method.as_str()) {
        ("approve", "card") => {
            simulator.update(&payment_id, |p| p.status = PaymentStatus::Succeeded);
            simulator
                .notify(&payment_id, "payment.succeeded", json!({}))
                .await;
            let url = with_query(
                &payment.success_url,
                &[("order_id", order), ("payment_id", &payment_id)],
            );
            Redirect::to(&url).into_response()
        }
        ("approve", _) => {
            simulator.update(&payment_id, |p| p.status = PaymentStatus::Issued);
            let transfer = json!({ "transfer": {
                "bank_name": "アクメ銀行",
                "branch_name": "本店営業部",
                "account_type": "普通",
                "account_number": "1234567",
                "account_holder": "アクメ（カ",
                "reference": reference(order),
                "due_date": payment.transfer_due.clone().unwrap_or_default(),
            }});
            simulator
                .notify(&payment_id, "transfer.issued", transfer)
                .await;
            let url = with_query(
                &payment.success_url,
                &[("order_id", order), ("payment_id", &payment_id)],
            );
            Redirect::to(&url).into_response()
        }
        ("decline", _) => {
            simulator.update(&payment_id, |p| p.status = PaymentStatus::Failed);
            let decline =
                json!({ "code": "card_declined", "message": "カード会社が承認しませんでした" });
            simulator
                .notify(&payment_id, "payment.failed", decline)
                .await;
            let url = with_query(
                &payment.failure_url,
                &[("order_id", order), ("code", "card_declined")],
            );
            Redirect::to(&url).into_response()
        }
        ("cancel", _) => {
            simulator.update(&payment_id, |p| p.status = PaymentStatus::Cancelled);
            Redirect::to(&with_query(&payment.cancel_url, &[("order_id", order)])).into_response()
        }
        _ => page(StatusCode::BAD_REQUEST, "操作が正しくありません", ""),
    }
}

async fn list(State(simulator): State<Simulator>) -> Json<Value> {
    Json(json!({ "payments": simulator.payments() }))
}

async fn receive(
    State(simulator): State<Simulator>,
    Path(payment_id): Path<String>,
) -> (StatusCode, Json<Value>) {
    match simulator.payment(&payment_id) {
        Some(payment) if payment.status == PaymentStatus::Issued => {
            simulator.update(&payment_id, |p| p.status = PaymentStatus::Received);
            let delivered = simulator
                .notify(&payment_id, "transfer.received", json!({}))
                .await;
            (
                StatusCode::OK,
                Json(json!({ "payment_id": payment_id, "delivered": delivered })),
            )
        }
        Some(_) => (
            StatusCode::CONFLICT,
            Json(json!({ "error": "only an issued transfer can be received" })),
        ),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such payment" })),
        ),
    }
}
