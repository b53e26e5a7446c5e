//! マルチ決済 (convenience store, Pay-easy, e-money): the payment-place page, the issuance of a
//! payment number, its 結果通知, the return to the shop and the 払込票 (slip) page.
//!
//! The payment itself happens later, when the operator presses 入金通知 in the backyard (see
//! `backyard`), just as a real shopper pays at the store days after checkout.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use time::{Date, Duration, Month};

use crate::fields;
use crate::model::{NotificationKind, Transaction, TransactionKind, TransactionStatus};
use crate::pages::{base_url, error_page, layout, return_page, session_error, yen_display};
use crate::wire::{escape, sjis_html, RemiseForm};
use crate::{format_date, now_jst, random_alphanumeric, random_digits, Sandbox};

/// Where the payment-place page posts: fields `SESSION` and `PAY_CSV`.
pub(crate) const SUBMIT_PATH: &str = "/rpgw2/pc/cvs/submit";

/// Days to pay when the shop sends no `S_PAYDATE`.
const DEFAULT_PAY_DAYS: i64 = 14;

/// What `X-PAY_NO2` holds for a payment place (reference §5.3).
#[derive(Clone, Copy)]
enum SecondNumber {
    /// The URL of this sandbox's slip page; the text is that page's title.
    Url(&'static str),
    /// ファミリーマート's 注文番号 (12 digits).
    OrderNumber,
}

/// A payment place (`X-PAY_CSV`) the sandbox offers.
pub(crate) struct PayPlace {
    pub(crate) code: &'static str,
    pub(crate) name: &'static str,
    /// `X-PAY_WAY` (3 digits). Its real meaning is undocumented; the sandbox sends
    /// 001 for convenience stores, 002 for Pay-easy and 003 for e-money.
    pay_way: &'static str,
    /// What the payment number `X-PAY_NO1` is called.
    first_label: &'static str,
    first_digits: usize,
    second: SecondNumber,
    /// E-money must be paid by the next day, whatever `S_PAYDATE` says.
    next_day: bool,
}

pub(crate) const PAY_PLACES: &[PayPlace] = &[
    PayPlace {
        code: "D001",
        name: "セブン-イレブン",
        pay_way: "001",
        first_label: "払込番号",
        first_digits: 13,
        second: SecondNumber::Url("払込票"),
        next_day: false,
    },
    PayPlace {
        code: "D002",
        name: "ローソン",
        pay_way: "001",
        first_label: "受付番号",
        first_digits: 6,
        second: SecondNumber::Url("お支払い方法のご案内"),
        next_day: false,
    },
    PayPlace {
        code: "D015",
        name: "セイコーマート",
        pay_way: "001",
        first_label: "受付番号",
        first_digits: 6,
        second: SecondNumber::Url("お支払い方法のご案内"),
        next_day: false,
    },
    PayPlace {
        code: "D005",
        name: "ミニストップ",
        pay_way: "001",
        first_label: "決済番号",
        first_digits: 11,
        second: SecondNumber::Url("お支払い方法のご案内"),
        next_day: false,
    },
    PayPlace {
        code: "D030",
        name: "ファミリーマート",
        pay_way: "001",
        first_label: "コード",
        first_digits: 5,
        second: SecondNumber::OrderNumber,
        next_day: false,
    },
    PayPlace {
        code: "D405",
        name: "ペイジー",
        pay_way: "002",
        first_label: "受付番号",
        first_digits: 11,
        second: SecondNumber::Url("お支払い方法のご案内"),
        next_day: false,
    },
    PayPlace {
        code: "D451",
        name: "ウェブマネー",
        pay_way: "003",
        first_label: "受付番号",
        first_digits: 16,
        second: SecondNumber::Url("お支払い手続きのご案内"),
        next_day: true,
    },
];

/// The display name of a payment place code.
pub(crate) fn pay_place_name(code: &str) -> &'static str {
    PAY_PLACES
        .iter()
        .find(|place| place.code == code)
        .map(|place| place.name)
        .unwrap_or("")
}

/// A validated multi-payment request waiting for the shopper to choose where to pay.
#[derive(Debug, Clone)]
pub(crate) struct PendingConv {
    shopco: String,
    host_id: String,
    torihiki_no: String,
    total: u64,
    tax: u64,
    customer: String,
    mail: String,
    /// YYYYMMDD.
    paydate: String,
    ret_url: String,
    exit_url: Option<String>,
    opt: Option<String>,
}

/// `POST /rpgw2/pc/cvs/paycvs.aspx`.
pub(crate) async fn start(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let form = RemiseForm::parse_sjis(&body);
    let pending = match validate(&form, &sandbox.config().shops) {
        Ok(pending) => pending,
        Err(problems) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "マルチ決済リクエストのエラー",
                &problems,
            )
        }
    };
    let session = random_alphanumeric(32);
    sandbox
        .store()
        .pending_convs
        .insert(session.clone(), pending.clone());
    place_page(StatusCode::OK, &session, &pending, &[])
}

/// `POST` [`SUBMIT_PATH`]: issues the payment number.
pub(crate) async fn submit(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = RemiseForm::parse_sjis(&body);
    let session = form.value("SESSION").to_string();
    let Some(pending) = sandbox.store().pending_convs.get(&session).cloned() else {
        return session_error();
    };
    let Some(place) = PAY_PLACES
        .iter()
        .find(|place| place.code == form.value("PAY_CSV"))
    else {
        let problems = ["お支払い先を選んでください".to_string()];
        return place_page(StatusCode::BAD_REQUEST, &session, &pending, &problems);
    };
    // Single-use, so a reload does not issue a second number.
    if sandbox.store().pending_convs.remove(&session).is_none() {
        return session_error();
    }

    let now = now_jst();
    let job_id = format!("{}{}", format_date(now.date()), random_digits(9));
    let paydate = if place.next_day {
        format_date(now.date() + Duration::days(1))
    } else {
        pending.paydate.clone()
    };
    let pay_no1 = random_digits(place.first_digits);
    let pay_no2 = match place.second {
        SecondNumber::Url(_) => format!("{}/slip/{job_id}", base_url(&headers)),
        SecondNumber::OrderNumber => random_digits(12),
    };

    let mut result: Vec<(String, String)> = Vec::new();
    let mut put = |name: &str, value: &str| result.push((name.to_string(), value.to_string()));
    put("X-JOB_ID", &job_id);
    put("X-S_TORIHIKI_NO", &pending.torihiki_no);
    put("X-R_CODE", "0:0000");
    put("X-TOTAL", &pending.total.to_string());
    put("X-TAX", &pending.tax.to_string());
    put("X-PAYDATE", &paydate);
    put("X-PAY_WAY", place.pay_way);
    put("X-PAY_CSV", place.code);
    put("X-PAY_NO1", &pay_no1);
    put("X-PAY_NO2", &pay_no2);
    if let Some(opt) = &pending.opt {
        put("OPT", opt);
    }
    put("REC_TYPE", "RET");

    let transaction = Transaction {
        torihiki_no: pending.torihiki_no.clone(),
        tran_id: None,
        job_id: Some(job_id),
        kind: TransactionKind::Conv,
        shopco: pending.shopco.clone(),
        host_id: pending.host_id.clone(),
        holder_name: pending.customer.clone(),
        mail: pending.mail.clone(),
        amount: pending.total,
        tax: pending.tax,
        payment_method: None,
        card_brand: None,
        last4: None,
        expire: None,
        payquick_id: None,
        autocharge: None,
        pay_csv: Some(place.code.to_string()),
        pay_no1: Some(pay_no1),
        pay_no2: Some(pay_no2),
        paydate: Some(paydate),
        error_code: None,
        created: now.to_offset(time::UtcOffset::UTC),
        status: TransactionStatus::Unpaid,
        notifications: Vec::new(),
    };
    // The browser gets the same X- fields as the notification, like Remise's return.
    let return_fields = sandbox
        .record_and_notify(
            transaction,
            NotificationKind::ConvIssued,
            sandbox.conv_notify_url(),
            result,
        )
        .await;
    return_page(
        "お支払い番号を発行しました",
        &pending.ret_url,
        &return_fields,
    )
}

/// `GET /slip/{job_id}`: the 払込票 / payment guide behind `X-PAY_NO2`.
pub(crate) async fn slip(State(sandbox): State<Sandbox>, Path(job_id): Path<String>) -> Response {
    let transaction = sandbox
        .store()
        .transactions
        .iter()
        .find(|transaction| transaction.job_id.as_deref() == Some(job_id.as_str()))
        .cloned();
    let Some(transaction) = transaction else {
        return error_page(
            StatusCode::NOT_FOUND,
            "払込票が見つかりません",
            &[format!("受付番号 {job_id} の払込票はありません")],
        );
    };
    let code = transaction.pay_csv.clone().unwrap_or_default();
    let place = PAY_PLACES.iter().find(|place| place.code == code);
    let first_label = place.map(|place| place.first_label).unwrap_or("番号");
    let (title, order_row) = match place.map(|place| place.second) {
        Some(SecondNumber::Url(title)) => (title, String::new()),
        _ => (
            "お支払い番号のご案内",
            format!(
                "<tr><th>注文番号</th><td><strong>{}</strong></td></tr>",
                escape(transaction.pay_no2.as_deref().unwrap_or_default())
            ),
        ),
    };
    let paid = if transaction.status == TransactionStatus::Paid {
        "<p class=\"ok\">このお支払いは入金済みです。</p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>{title}（{name}）</h1>{paid}<table>\
         <tr><th>お支払先</th><td>{name}</td></tr>\
         <tr><th>{first_label}</th><td><strong>{no1}</strong></td></tr>{order_row}\
         <tr><th>お支払金額</th><td>{total}</td></tr>\
         <tr><th>お支払期限</th><td>{deadline}（期限を過ぎますとお支払ができません）</td></tr>\
         <tr><th>請求番号</th><td>{torihiki_no}</td></tr>\
         <tr><th>お名前</th><td>{customer} 様</td></tr></table>\
         <p class=\"note\">これはテスト環境の払込票です。実際にはお支払いできません。\
         入金は加盟店バックヤードの「入金通知」で再現します。</p>",
        name = escape(pay_place_name(&code)),
        no1 = escape(transaction.pay_no1.as_deref().unwrap_or_default()),
        total = yen_display(transaction.amount),
        deadline = escape(&japanese_date(
            transaction.paydate.as_deref().unwrap_or_default()
        )),
        torihiki_no = escape(&transaction.torihiki_no),
        customer = escape(&transaction.holder_name),
    );
    sjis_html(StatusCode::OK, &layout(title, &body))
}

fn validate(form: &RemiseForm, shops: &[(String, String)]) -> Result<PendingConv, Vec<String>> {
    let mut problems = Vec::new();
    let (shopco, host_id) = fields::shop_identity(form, shops, &mut problems);
    let torihiki_no = fields::torihiki_no(form, &mut problems);
    let total = fields::yen(form, "TOTAL", &mut problems);
    if total == Some(0) {
        problems.push("TOTAL が不正です（1円以上）".to_string());
    }
    // Welcart sends `TAX` empty; an empty tax is zero.
    let tax = if form.value("TAX").is_empty() {
        Some(0)
    } else {
        fields::yen(form, "TAX", &mut problems)
    };
    let ret_url = fields::url(form, "RETURL", true, &mut problems);
    fields::url(form, "NG_RETURL", true, &mut problems);
    let exit_url = fields::url(form, "EXITURL", false, &mut problems);
    let today = now_jst().date();
    let paydate = match form.value("S_PAYDATE") {
        "" => Some(format_date(today + Duration::days(DEFAULT_PAY_DAYS))),
        text => match parse_date(text) {
            Some(date) if date >= today => Some(text.to_string()),
            Some(_) => {
                problems.push("S_PAYDATE が不正です（過去の日付です）".to_string());
                None
            }
            None => {
                problems.push("S_PAYDATE が不正です（YYYYMMDD）".to_string());
                None
            }
        },
    };
    let customer = format!("{} {}", form.value("NAME1"), form.value("NAME2"))
        .trim()
        .to_string();
    match (total, tax, ret_url, paydate) {
        (Some(total), Some(tax), Some(ret_url), Some(paydate)) if problems.is_empty() => {
            Ok(PendingConv {
                shopco,
                host_id,
                torihiki_no,
                total,
                tax,
                customer,
                mail: form.value("MAIL").to_string(),
                paydate,
                ret_url,
                exit_url,
                opt: form.get("OPT").map(str::to_string),
            })
        }
        _ => Err(problems),
    }
}

/// YYYYMMDD into a date, rejecting impossible dates like 20260230.
fn parse_date(text: &str) -> Option<Date> {
    if !fields::is_digits(text, 8, 8) {
        return None;
    }
    let year: i32 = text[..4].parse().ok()?;
    let month: u8 = text[4..6].parse().ok()?;
    let day: u8 = text[6..].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// YYYYMMDD as `YYYY年MM月DD日`, as Welcart's completion page shows it.
fn japanese_date(text: &str) -> String {
    if text.len() == 8 && text.is_ascii() {
        format!("{}年{}月{}日", &text[..4], &text[4..6], &text[6..])
    } else {
        text.to_string()
    }
}

fn place_page(
    status: StatusCode,
    session: &str,
    pending: &PendingConv,
    problems: &[String],
) -> Response {
    let errors = if problems.is_empty() {
        String::new()
    } else {
        let items: String = problems
            .iter()
            .map(|problem| format!("<li>{}</li>", escape(problem)))
            .collect();
        format!("<ul class=\"errors\">{items}</ul>")
    };
    let choices: String = PAY_PLACES
        .iter()
        .enumerate()
        .map(|(index, place)| {
            let checked = if index == 0 { " checked" } else { "" };
            format!(
                "<p><label><input type=\"radio\" name=\"PAY_CSV\" value=\"{code}\"{checked}> \
                 {name}</label> <span class=\"note\">{code}</span></p>",
                code = place.code,
                name = place.name,
            )
        })
        .collect();
    let exit = match &pending.exit_url {
        Some(url) => format!(
            "<p><a href=\"{}\">キャンセルしてショップに戻る</a></p>",
            escape(url)
        ),
        None => String::new(),
    };
    let customer = if pending.customer.is_empty() {
        String::new()
    } else {
        format!(
            "<tr><th>お名前</th><td>{} 様</td></tr>",
            escape(&pending.customer)
        )
    };
    let body = format!(
        "<h1>マルチ決済（コンビニ・電子マネー）</h1>{errors}<table>{customer}\
         <tr><th>請求番号</th><td>{torihiki_no}</td></tr>\
         <tr><th>合計</th><td>{total}</td></tr>\
         <tr><th>お支払期限</th><td>{deadline}</td></tr></table>\
         <h2>お支払い先を選んでください</h2>\
         <form method=\"post\" action=\"{SUBMIT_PATH}\" accept-charset=\"Shift_JIS\">\
         <input type=\"hidden\" name=\"SESSION\" value=\"{session}\">{choices}\
         <button type=\"submit\">お支払い番号を発行する</button></form>{exit}\
         <p class=\"note\">ウェブマネーのお支払期限は発行の翌日です。</p>",
        torihiki_no = escape(&pending.torihiki_no),
        total = yen_display(pending.total),
        deadline = escape(&japanese_date(&pending.paydate)),
        session = escape(session),
    );
    sjis_html(status, &layout("マルチ決済", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_exist() {
        assert!(parse_date("20260228").is_some());
        assert!(parse_date("20260230").is_none());
        assert!(parse_date("2026-02-28").is_none());
        assert_eq!(japanese_date("20261211"), "2026年12月11日");
    }
}
