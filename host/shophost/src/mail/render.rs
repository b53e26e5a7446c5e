//! A mail as its recipient reads it, made from the committed rows the first time a worker claims it:
//! the text (plain, Japanese, with the operator's header, footer and signature) and the message
//! (RFC 5322: RFC 2047 subject, UTF-8 body, Date, Message-ID, From and Reply-To from the settings),
//! built by `lettre`. The bytes are stored with the mail, so every attempt and resend sends them.

use std::collections::HashMap;
use std::fmt::Write as _;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;

use super::{MailKind, MailSettings, OutboxMail};
use crate::db::DbError;
use crate::domain::{
    japanese_date, local_datetime, Order, PaymentStatus, RecurringContract, StoredSlip,
};
use crate::http::html::yen;
use crate::AppState;

/// A rendered mail.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The envelope's recipients.
    pub recipients: Vec<String>,
    /// The subject as read.
    pub subject: String,
    /// The message as sent.
    pub message: Vec<u8>,
}

/// Why a mail could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Nobody to send it to (a shop notice while no notice address is set): not an error to retry.
    #[error("{0}")]
    NoRecipient(String),
    /// What it is about is gone or unreadable.
    #[error("{0}")]
    Missing(String),
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The subject and body text of a mail, and to whom it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// Recipients.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Body, without the header, footer and signature.
    pub body: String,
}

/// Renders a claimed mail from the committed rows.
pub async fn render(
    state: &AppState,
    settings: &MailSettings,
    mail: &OutboxMail,
    read: &mut PassRows,
) -> Result<Rendered, RenderError> {
    let text = text(state, settings, mail, read).await?;
    if text.to.is_empty() {
        return Err(RenderError::NoRecipient(
            "送信先がありません（メール設定の通知先メールアドレスが空です）".to_owned(),
        ));
    }
    let message = message(settings, &text, mail.id)?;
    Ok(Rendered {
        recipients: text.to,
        subject: text.subject,
        message,
    })
}

/// The RFC 5322 message: headers from the settings, the operator's header and footer around the body.
pub fn message(settings: &MailSettings, text: &Text, id: i64) -> Result<Vec<u8>, RenderError> {
    let bad = |what: &str, value: &str| {
        RenderError::Missing(format!("{what} `{value}` はメールアドレスではありません"))
    };
    let from_address: lettre::Address = settings
        .from
        .parse()
        .map_err(|_| bad("送信元", &settings.from))?;
    let from = Mailbox::new(
        (!settings.from_name.is_empty()).then(|| settings.from_name.clone()),
        from_address.clone(),
    );
    let mut builder = Message::builder()
        .from(from)
        .subject(text.subject.clone())
        .date_now()
        .message_id(Some(format!(
            "<{}.{}@{}>",
            id,
            crate::operators::random_token().get(..16).unwrap_or("0"),
            from_address.domain()
        )));
    if !settings.reply_to.is_empty() {
        let reply_to: lettre::Address = settings
            .reply_to
            .parse()
            .map_err(|_| bad("返信先", &settings.reply_to))?;
        builder = builder.reply_to(Mailbox::new(None, reply_to));
    }
    for to in &text.to {
        let address: lettre::Address = to.parse().map_err(|_| bad("宛先", to))?;
        builder = builder.to(Mailbox::new(None, address));
    }
    let mut body = String::new();
    for part in [
        &settings.header,
        &text.body,
        &settings.footer,
        &settings.signature,
    ] {
        let part = part.trim_end();
        if !part.is_empty() {
            body.push_str(part);
            body.push_str("\n\n");
        }
    }
    let body = body.trim_end().replace("\r\n", "\n") + "\n";
    let message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|error| RenderError::Missing(format!("メールを組み立てられません: {error}")))?;
    Ok(message.formatted())
}

const RULE: &str = "────────────────────────────────";

/// The rows the mails of one worker pass are rendered from, read once for the pass: the orders of a
/// claimed batch and their checkout choices in one read ([`PassRows::load`]), as a new order queues two
/// mails (the shopper's and the shop's) from the same order. A mail whose order was not loaded reads
/// it alone.
#[derive(Debug, Default)]
pub struct PassRows {
    orders: HashMap<i64, Order>,
    options: HashMap<i64, Vec<(String, String)>>,
}

impl PassRows {
    /// Reads at once the orders the mails not rendered yet are about, and their checkout choices.
    pub async fn load(&mut self, state: &AppState, mails: &[OutboxMail]) -> Result<(), DbError> {
        let mut ids: Vec<i64> = mails
            .iter()
            .filter(|mail| mail.message.is_none())
            .filter_map(|mail| mail.order_id)
            .filter(|id| !self.orders.contains_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for (order, attempt) in state.store.orders_for_mail(&ids).await? {
            let options = options_of(state, &order, attempt.as_ref());
            self.options.insert(order.id, options);
            self.orders.insert(order.id, order);
        }
        Ok(())
    }

    async fn order(&mut self, state: &AppState, id: i64) -> Result<Order, RenderError> {
        if let Some(order) = self.orders.get(&id) {
            return Ok(order.clone());
        }
        let order = state
            .store
            .order_by_id(id)
            .await?
            .ok_or_else(|| RenderError::Missing(format!("注文 {id} がありません")))?;
        self.orders.insert(id, order.clone());
        Ok(order)
    }

    async fn options(
        &mut self,
        state: &AppState,
        order: &Order,
    ) -> Result<Vec<(String, String)>, DbError> {
        if let Some(options) = self.options.get(&order.id) {
            return Ok(options.clone());
        }
        let options = option_lines(state, order).await?;
        self.options.insert(order.id, options.clone());
        Ok(options)
    }
}

/// The subject, body and recipients of a mail.
pub async fn text(
    state: &AppState,
    settings: &MailSettings,
    mail: &OutboxMail,
    read: &mut PassRows,
) -> Result<Text, RenderError> {
    let shop = state.config.shop.name.as_str();
    let shop_to = settings.notice_to.clone();
    let order = match mail.order_id {
        Some(id) => Some(read.order(state, id).await?),
        None => None,
    };
    let need_order = || {
        order
            .as_ref()
            .ok_or_else(|| RenderError::Missing("注文がありません".to_owned()))
    };
    match mail.kind {
        MailKind::OrderConfirmation => {
            let order = need_order()?;
            let options = read.options(state, order).await?;
            Ok(Text {
                to: vec![order.customer.email.clone()],
                subject: format!(
                    "【{shop}】ご注文内容のご確認（注文番号 {}）",
                    order.order_number
                ),
                body: order_confirmation(shop, order, &options),
            })
        }
        MailKind::OrderNotice => {
            let order = need_order()?;
            let options = read.options(state, order).await?;
            Ok(Text {
                to: shop_to,
                subject: format!(
                    "【{shop}】新規注文がありました（注文番号 {}）",
                    order.order_number
                ),
                body: order_notice(order, &options),
            })
        }
        MailKind::PaymentReceived => {
            let order = need_order()?;
            Ok(Text {
                to: vec![order.customer.email.clone()],
                subject: format!(
                    "【{shop}】ご入金を確認しました（注文番号 {}）",
                    order.order_number
                ),
                body: payment_received(shop, order),
            })
        }
        MailKind::ContractRegistered => {
            let order = need_order()?;
            let id = mail.subject_id.unwrap_or_default();
            let contract = state
                .store
                .contract(id)
                .await?
                .ok_or_else(|| RenderError::Missing(format!("継続課金 {id} がありません")))?;
            Ok(Text {
                to: vec![order.customer.email.clone()],
                subject: format!(
                    "【{shop}】継続課金のお申し込みを承りました（注文番号 {}）",
                    order.order_number
                ),
                body: contract_registered(shop, order, &contract),
            })
        }
        MailKind::SettlementError => {
            let detail: serde_json::Value = mail
                .detail_json
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default();
            Ok(Text {
                to: shop_to,
                subject: format!("【{shop}】決済エラーが発生しました"),
                body: settlement_error(state, &detail),
            })
        }
        MailKind::Test => {
            let detail: serde_json::Value = mail
                .detail_json
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default();
            let to = detail["to"].as_str().unwrap_or_default().to_owned();
            Ok(Text {
                to: vec![to].into_iter().filter(|to| !to.is_empty()).collect(),
                subject: format!("【{shop}】送信テスト"),
                body: format!(
                    "{shop}のメール設定から送信したテストメールです。\n\
                     このメールが届いていれば、送信元・SMTPサーバーの設定は正しく動いています。\n\n\
                     送信日時: {}",
                    local_datetime(mail.created_at)
                ),
            })
        }
    }
}

/// The shopper's choices at checkout (e.g. お支払回数: 一括払い), labelled as the settlement type's
/// module declares them.
async fn option_lines(state: &AppState, order: &Order) -> Result<Vec<(String, String)>, DbError> {
    let attempt = state.store.attempt_by_link_key(&order.link_key).await?;
    Ok(options_of(state, order, attempt.as_ref()))
}

/// The checkout choices of `order` (made on `attempt`), as labels the shopper read.
fn options_of(
    state: &AppState,
    order: &Order,
    attempt: Option<&crate::domain::Attempt>,
) -> Vec<(String, String)> {
    let Some(attempt) = attempt else {
        return Vec::new();
    };
    let declared = state
        .engine
        .provided(&order.settlement_type)
        .map(|provided| provided.settlement_type.checkout_options)
        .unwrap_or_default();
    attempt
        .snapshot
        .options
        .iter()
        .map(
            |(key, value)| match declared.iter().find(|o| &o.key == key) {
                Some(option) => (
                    option.label.clone(),
                    option
                        .choices
                        .iter()
                        .find(|(v, _)| v == value)
                        .map(|(_, label)| label.clone())
                        .unwrap_or_else(|| value.clone()),
                ),
                None => (key.clone(), value.clone()),
            },
        )
        .collect()
}

fn name(order: &Order) -> String {
    format!(
        "{} {}",
        order.customer.family_name, order.customer.given_name
    )
}

/// `20261214` as `2026年12月14日`.
fn deadline_text(yyyymmdd: &str) -> String {
    shophost_module_api::LocalDate::parse_yyyymmdd(yyyymmdd)
        .map(japanese_date)
        .unwrap_or_else(|| yyyymmdd.to_owned())
}

/// The order's lines and sums, with the consumption tax per rate as the storefront shows them.
fn lines(order: &Order, out: &mut String) {
    let totals = order.totals();
    let _ = writeln!(out, "【ご注文商品】");
    for line in &order.lines {
        let mark = if line.reduced() { " ※" } else { "" };
        let _ = writeln!(out, "{}{mark}", line.name);
        let _ = writeln!(
            out,
            "  {} × {} = {}",
            yen(line.unit_price),
            line.quantity,
            yen(line.amount())
        );
    }
    let _ = writeln!(out, "{RULE}");
    let _ = writeln!(out, "商品合計: {}", yen(totals.items));
    let _ = writeln!(out, "送料: {}", yen(totals.shipping));
    let _ = writeln!(
        out,
        "お支払い金額: {}（うち消費税 {}）",
        yen(totals.total),
        yen(totals.tax)
    );
    for rate in &totals.rates {
        let _ = writeln!(
            out,
            "  {}%対象 {}（うち消費税 {}）",
            rate.rate,
            yen(rate.total),
            yen(rate.tax)
        );
    }
    if totals.has_reduced() {
        let _ = writeln!(out, "※は軽減税率対象商品です");
    }
}

/// How a deferred payment is paid: the slip's place, numbers, URL and deadline.
fn slip(slip: &StoredSlip, order: &Order, out: &mut String) {
    let _ = writeln!(out, "お支払先: {}", slip.place);
    for (label, value, _) in &slip.rows {
        let _ = writeln!(out, "{label}: {value}");
    }
    if let Some(deadline) = slip.deadline.as_deref().or(order.deadline.as_deref()) {
        let _ = writeln!(out, "お支払期限: {}", deadline_text(deadline));
    }
    let _ = writeln!(out, "お支払金額: {}", yen(order.total));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "［お支払い方法］\n\
         {}の店頭で、上記の番号をお伝えいただくか、払込票（URLがある場合はそのページ）を\n\
         ご提示のうえ、お支払期限までに現金でお支払いください。\n\
         お支払期限を過ぎますとお支払いができなくなります。\n\
         ご入金を確認しましたら、あらためてメールでお知らせします。",
        slip.place
    );
}

fn payment(order: &Order, options: &[(String, String)], out: &mut String) {
    let _ = writeln!(out, "【お支払方法】");
    let _ = writeln!(out, "{}", order.payment_method_name);
    for (label, value) in options {
        let _ = writeln!(out, "{label}: {value}");
    }
    match &order.slip {
        Some(found) => slip(found, order, out),
        None if order.payment_status == PaymentStatus::Unpaid => {
            let _ = writeln!(
                out,
                "お支払いに必要な番号は、決済会社の画面に表示されたものをご利用ください。"
            );
        }
        None => {}
    }
}

fn order_head(order: &Order, out: &mut String) {
    let _ = writeln!(out, "{RULE}");
    let _ = writeln!(out, "ご注文番号: {}", order.order_number);
    let _ = writeln!(out, "ご注文日時: {}", local_datetime(order.created_at));
    let _ = writeln!(out, "{RULE}");
}

/// 注文確認メール.
pub fn order_confirmation(shop: &str, order: &Order, options: &[(String, String)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} 様\n", name(order));
    let _ = writeln!(
        out,
        "このたびは{shop}をご利用いただき、誠にありがとうございます。\n\
         下記の内容でご注文を承りました。\n"
    );
    order_head(order, &mut out);
    lines(order, &mut out);
    let _ = writeln!(out);
    payment(order, options, &mut out);
    out
}

/// The shop's notice of a new order.
pub fn order_notice(order: &Order, options: &[(String, String)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "新しい注文がありました。\n");
    order_head(order, &mut out);
    let customer = &order.customer;
    let _ = writeln!(out, "お客様: {} 様（{}）", name(order), customer.email);
    let _ = writeln!(out, "電話番号: {}", customer.phone);
    let _ = writeln!(out, "入金状況: {}\n", order.payment_status.label());
    lines(order, &mut out);
    let _ = writeln!(out);
    payment(order, options, &mut out);
    out
}

/// 入金確認メール.
pub fn payment_received(shop: &str, order: &Order) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} 様\n", name(order));
    let _ = writeln!(
        out,
        "このたびは{shop}をご利用いただき、誠にありがとうございます。\n\
         下記のご注文について、ご入金を確認しました。\n"
    );
    order_head(order, &mut out);
    let _ = writeln!(out, "お支払方法: {}", order.payment_method_name);
    if let Some(slip) = &order.slip {
        let _ = writeln!(out, "お支払先: {}", slip.place);
    }
    let _ = writeln!(out, "ご入金額: {}", yen(order.total));
    out
}

/// 継続課金 registered.
pub fn contract_registered(shop: &str, order: &Order, contract: &RecurringContract) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} 様\n", name(order));
    let _ = writeln!(
        out,
        "このたびは{shop}をご利用いただき、誠にありがとうございます。\n\
         下記の継続課金（定期のお支払い）のお申し込みを承りました。\n"
    );
    let _ = writeln!(out, "{RULE}");
    let _ = writeln!(out, "ご注文番号: {}", order.order_number);
    let _ = writeln!(out, "商品: {}", contract.product_name);
    let _ = writeln!(out, "金額: {}（毎回）", yen(contract.amount));
    let interval = match contract.interval_months {
        1 => "毎月".to_owned(),
        12 => "毎年".to_owned(),
        n => format!("{n}か月ごと"),
    };
    let _ = writeln!(out, "課金間隔: {interval}");
    let _ = writeln!(
        out,
        "次回課金予定日: {}",
        deadline_text(&contract.next_charge)
    );
    let _ = writeln!(out, "お支払方法: {}", order.payment_method_name);
    let _ = writeln!(out, "{RULE}\n");
    let _ = writeln!(
        out,
        "以降のお支払いは、ご登録のクレジットカードで自動的に行われます。\n\
         停止をご希望の場合はショップまでご連絡ください。"
    );
    out
}

/// The shop's notice of a 決済エラー.
pub fn settlement_error(state: &AppState, detail: &serde_json::Value) -> String {
    let text = |key: &str| detail[key].as_str().unwrap_or("").to_owned();
    let at = detail["at"]
        .as_i64()
        .map(local_datetime)
        .unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "決済エラーログに記録がありました。管理画面の決済エラーログで内容をご確認ください。\n"
    );
    let _ = writeln!(out, "日時: {at}");
    let _ = writeln!(out, "決済モジュール: {}", text("module_id"));
    let _ = writeln!(out, "決済種別: {}", text("acting"));
    let _ = writeln!(out, "リンクキー: {}", text("link_key"));
    let _ = writeln!(out, "結果: {}\n", text("result"));
    let _ = writeln!(
        out,
        "決済エラーログ: {}/admin/settlement-errors",
        state.config.public_url
    );
    out
}
