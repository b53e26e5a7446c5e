//! The storefront's view models: one askama template per page (`host/shophost/templates/storefront/`),
//! each filled from a plain struct the handlers build. Values arrive as text or numbers and the
//! templates escape them; the only HTML that passes unescaped is a payment method's explanation (see
//! `delivery.html`).

use askama::Template;
use shophost_module_api::RedirectForm;

use crate::domain::{
    japanese_date, local_datetime, CartLine, CustomerDetails, MemberCard, Order, ProductRecurrence,
    Totals, ORDER_DAY,
};
// The templates' filters (`yen`), which the generated code finds by name.
use crate::http::html::filters;

pub use crate::http::forms::FormErrors;

/// 商品一覧.
#[derive(Template)]
#[template(path = "storefront/index.html")]
pub struct IndexPage {
    pub shop_name: String,
    pub products: Vec<ProductCard>,
    pub max_quantity: i64,
}

impl IndexPage {
    /// Whether a product is at the reduced rate (the page says what ※ means).
    pub fn has_reduced(&self) -> bool {
        self.products.iter().any(|product| product.reduced)
    }
}

/// One product on the index.
pub struct ProductCard {
    pub id: i64,
    pub name: String,
    pub price: i64,
    pub description: String,
    /// 軽減税率 (marked ※).
    pub reduced: bool,
    /// For a recurring product, how it recurs (`毎月（ご注文日と同じ日）`).
    pub recurrence: Option<String>,
}

/// 毎月 / 6か月ごと / 毎年, with the charging day.
pub fn recurrence_label(recurrence: ProductRecurrence) -> String {
    let every = recurrence.interval_label();
    if recurrence.charging_day == ORDER_DAY {
        format!("{every}（ご注文日と同じ日）")
    } else {
        format!("{every}{}日", recurrence.charging_day)
    }
}

/// カート.
#[derive(Template)]
#[template(path = "storefront/cart.html")]
pub struct CartPage {
    pub lines: Vec<CartLine>,
    pub totals: Totals,
    pub errors: FormErrors,
    pub max_quantity: i64,
}

/// お客様情報.
#[derive(Template)]
#[template(path = "storefront/customer.html")]
pub struct CustomerPage {
    /// A member is logged in (the form shows the member's details).
    pub member: bool,
    pub customer: CustomerDetails,
    pub errors: FormErrors,
}

/// 発送・支払方法.
#[derive(Template)]
#[template(path = "storefront/delivery.html")]
pub struct DeliveryPage {
    pub methods: Vec<MethodChoice>,
    /// The cart holds a recurring (継続課金) item: only methods that take one are listed.
    pub recurring_cart: bool,
    pub note: String,
    pub errors: FormErrors,
}

/// A payment method to choose on the delivery page.
pub struct MethodChoice {
    pub id: i64,
    pub name: String,
    /// Operator HTML, sanitised when it was saved.
    pub explanation: String,
    pub notice: Option<String>,
    pub checked: bool,
    /// The member's card the method's gateway keeps (PayQuick), if any.
    pub saved_card: Option<MemberCard>,
    pub options: Vec<OptionChoice>,
}

/// A checkout option of a method, as a `<select>`.
pub struct OptionChoice {
    /// The form field (`opt_{method}_{key}`).
    pub field: String,
    pub label: String,
    pub choices: Vec<Choice>,
}

/// One `<option>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// 内容確認.
#[derive(Template)]
#[template(path = "storefront/confirm.html")]
pub struct ConfirmPage {
    /// The charset the page is served in: the gateway form's, or UTF-8 without a form.
    pub charset: &'static str,
    pub summary: Option<AttemptSummary>,
    pub outcome: ConfirmOutcome,
}

/// What the confirm page offers.
pub enum ConfirmOutcome {
    /// The order to review, and a button that confirms it (a POST back to the confirm step, carrying the
    /// session's revision so that it confirms what the page showed).
    Review {
        /// The session's revision when the page was shown.
        revision: u64,
        /// The shopper confirmed an older page: say that this is the order as it is now.
        changed: bool,
    },
    /// The form to the gateway.
    Purchase(RedirectForm),
    /// Why the order cannot go to the gateway, and where to fix it.
    Refused(String),
}

/// The order as the attempt stores it, or would store it (what will be charged).
pub struct AttemptSummary {
    pub lines: Vec<CartLine>,
    pub totals: Totals,
    pub customer: CustomerSummary,
    pub payment_method: String,
    pub notice: Option<String>,
    /// `(label, chosen)` for each checkout option.
    pub options: Vec<(String, String)>,
    /// 備考, line by line (empty: none).
    pub note_lines: Vec<String>,
}

/// Who ordered, as the confirm page shows it.
pub struct CustomerSummary {
    pub name: String,
    pub kana: String,
    pub email: String,
    pub address: String,
    pub phone: String,
}

impl From<&CustomerDetails> for CustomerSummary {
    fn from(customer: &CustomerDetails) -> Self {
        let kana = format!("{} {}", customer.family_kana, customer.given_kana);
        let address = format!(
            "〒{} {}{} {} {}",
            customer.postcode,
            customer.prefecture,
            customer.address1,
            customer.address2,
            customer.address3
        );
        CustomerSummary {
            name: customer.full_name(),
            kana: kana.trim().to_owned(),
            email: customer.email.clone(),
            address: address.trim().to_owned(),
            phone: customer.phone.clone(),
        }
    }
}

/// ご注文完了.
#[derive(Template)]
#[template(path = "storefront/complete.html")]
pub struct CompletePage {
    pub order_number: String,
    pub payment_method: String,
    pub total: i64,
    /// The lines as ordered, each with its recorded tax rate.
    pub lines: Vec<CartLine>,
    /// The sums with the consumption tax per rate.
    pub totals: Totals,
    pub payment_status: &'static str,
    pub link_key: String,
    pub slip: Option<SlipView>,
}

/// A deferred payment's slip: where and until when to pay.
pub struct SlipView {
    /// `YYYY年MM月DD日`.
    pub deadline: Option<String>,
    pub place: String,
    pub rows: Vec<SlipRowView>,
}

/// One row of a slip.
pub struct SlipRowView {
    pub label: String,
    pub value: String,
    /// Shown as a link: the module asked for one and the value is an `http(s)` URL.
    pub link: bool,
}

impl From<&Order> for CompletePage {
    fn from(order: &Order) -> Self {
        CompletePage {
            order_number: order.order_number.clone(),
            payment_method: order.payment_method_name.clone(),
            total: order.total,
            lines: order.lines.clone(),
            totals: order.totals(),
            payment_status: order.payment_status.label(),
            link_key: order.link_key.clone(),
            slip: order.slip.as_ref().map(|slip| SlipView {
                deadline: slip
                    .deadline
                    .as_deref()
                    .and_then(shophost_module_api::LocalDate::parse_yyyymmdd)
                    .map(japanese_date),
                place: slip.place.clone(),
                rows: slip
                    .rows
                    .iter()
                    .map(|(label, value, link)| SlipRowView {
                        label: label.clone(),
                        value: value.clone(),
                        link: *link
                            && (value.starts_with("https://") || value.starts_with("http://")),
                    })
                    .collect(),
            }),
        }
    }
}

/// お支払いを確認しています: the gateway's notification has not arrived yet.
#[derive(Template)]
#[template(path = "storefront/confirming.html")]
pub struct ConfirmingPage;

/// 会員ログイン.
#[derive(Template)]
#[template(path = "storefront/login.html")]
pub struct LoginPage {
    pub email: String,
    pub next: &'static str,
    pub errors: FormErrors,
}

/// 会員登録.
#[derive(Template)]
#[template(path = "storefront/register.html")]
pub struct RegisterPage {
    pub customer: CustomerDetails,
    pub next: &'static str,
    pub errors: FormErrors,
}

/// マイページ.
#[derive(Template)]
#[template(path = "storefront/mypage.html")]
pub struct MyPage {
    pub member_id: i64,
    pub name: String,
    pub email: String,
    pub cards: Vec<MemberCard>,
    pub contracts: Vec<ContractRow>,
    pub orders: Vec<OrderRow>,
}

/// A recurring contract on マイページ.
pub struct ContractRow {
    pub product_name: String,
    pub amount: i64,
    /// The next charge on the registered schedule, or `—` when stopped.
    pub next_charge: String,
    /// 継続中 / 停止.
    pub status: &'static str,
}

/// An order on マイページ.
pub struct OrderRow {
    pub number: String,
    /// Shop-local `YYYY-MM-DD HH:MM:SS`.
    pub date: String,
    pub total: i64,
    pub payment_method: String,
    pub status: &'static str,
    /// The lines as ordered, each with its recorded tax rate.
    pub lines: Vec<CartLine>,
    /// The sums with the consumption tax per rate.
    pub totals: Totals,
}

impl From<&Order> for OrderRow {
    fn from(order: &Order) -> Self {
        OrderRow {
            number: order.order_number.clone(),
            date: local_datetime(order.created_at),
            total: order.total,
            payment_method: order.payment_method_name.clone(),
            status: order.payment_status.label(),
            lines: order.lines.clone(),
            totals: order.totals(),
        }
    }
}

/// クレジットカード更新: the card on file and the gateway's card-change form.
#[derive(Template)]
#[template(path = "storefront/card_update.html")]
pub struct CardUpdatePage {
    pub card: Option<MemberCard>,
    pub form: RedirectForm,
}

/// The page the gateway sends the member back to after a card change.
#[derive(Template)]
#[template(path = "storefront/card_done.html")]
pub struct CardDonePage {
    pub result: CardResult,
}

/// What is known of a card change.
pub enum CardResult {
    /// The gateway's notification changed the card: the cards now on file.
    Updated { cards: Vec<MemberCard> },
    /// The gateway's notification said the card was declined.
    Declined,
    /// No result yet: the page looks again (`?n=` counts the looks).
    Waiting { next_look: u32 },
    /// Still no result after a few looks.
    GaveUp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_errors_are_kept_once_and_found_by_field() {
        let mut errors = FormErrors::default();
        errors.add("password", "パスワードは6文字以上で入力してください");
        errors.add("password", "パスワードは6文字以上で入力してください");
        errors.add("", "数量は0から99までの数字で入力してください");
        assert_eq!(errors.messages().len(), 2, "kept once");
        assert_eq!(
            errors.for_field("password"),
            ["パスワードは6文字以上で入力してください"]
        );
        assert!(errors.for_field("email").is_empty());
    }

    #[test]
    fn the_customer_summary_leaves_out_what_is_missing() {
        let summary = CustomerSummary::from(&CustomerDetails {
            family_name: "山田".into(),
            given_name: "太郎".into(),
            postcode: "100-0001".into(),
            prefecture: "東京都".into(),
            address1: "千代田区千代田".into(),
            ..CustomerDetails::default()
        });
        assert_eq!(summary.name, "山田 太郎");
        assert_eq!(summary.kana, "");
        assert_eq!(summary.address, "〒100-0001 東京都千代田区千代田");
    }
}
