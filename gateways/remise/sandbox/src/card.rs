//! カード決済: the card page a shop posts to, the shopper's card entry, the 結果通知 and the
//! return to the shop.
//!
//! Flow: `POST /rpgw2/pc/card/paycard.aspx` validates the shop's form and keeps it server-side
//! under a random `SESSION` id; the page posts `SESSION` plus the card to [`CARD_SUBMIT_PATH`];
//! the sandbox judges the card, records the transaction, delivers the 結果通知 and sends the
//! browser to `RETURL` or `NG_RETURL` by an auto-submitting POST carrying the `X-` fields. Which
//! card gets which answer is `test_cards.rs`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::fields;
use crate::model::NotificationKind;
use crate::model::{
    AutoChargeRecord, PaymentMethod, Transaction, TransactionKind, TransactionStatus,
};
use crate::pages::{error_page, layout, return_page, session_error, test_card_table, yen_display};
use crate::test_cards::{brand, forwarded_to, judge, parse_expiry, Card};
use crate::wire::{escape, sjis_html, RemiseForm};
use crate::{now_jst, random_alphanumeric, random_digits, Sandbox};

/// Where the card page posts: fields `SESSION`, and either `CARDNO`, `EXPIRE` (MM/YY or MMYY),
/// `NAME` (and `METHOD` when the shop sent none), or `USE_PAYQUICK=1` for the saved card.
pub const CARD_SUBMIT_PATH: &str = "/rpgw2/pc/card/submit";
/// What the shop asked for (`JOB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CardJob {
    /// 仮売上: authorise only.
    Auth,
    /// 売上: authorise and capture.
    Capture,
    /// 有効性チェック: register the card, charge nothing.
    Check,
}

/// The `AUTOCHARGE=1` fields (自動継続課金), echoed back as `X-AC_*`.
#[derive(Debug, Clone)]
struct AutoCharge {
    member_id: Option<String>,
    kaiin_no: String,
    total: String,
    next_date: String,
    interval: String,
}

/// A validated card request waiting for the shopper to enter a card.
#[derive(Debug, Clone)]
pub(crate) struct PendingCard {
    shopco: String,
    host_id: String,
    torihiki_no: String,
    job: CardJob,
    amount: u64,
    method: Option<PaymentMethod>,
    ret_url: String,
    ng_ret_url: String,
    exit_url: Option<String>,
    mail: String,
    payquick: bool,
    payquick_id: Option<String>,
    autocharge: Option<AutoCharge>,
}

/// A card registered under a PayQuick id (Remise keeps the card; the shop keeps only the id).
#[derive(Debug, Clone)]
pub(crate) struct SavedCard {
    shopco: String,
    card: Card,
}

/// `POST /rpgw2/pc/card/paycard.aspx`.
pub(crate) async fn start(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let form = RemiseForm::parse_sjis(&body);
    let pending = match validate(&form, &sandbox.config().shops) {
        Ok(pending) => pending,
        Err(problems) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "カード決済リクエストのエラー",
                &problems,
            )
        }
    };
    let session = random_alphanumeric(32);
    let saved = {
        let mut store = sandbox.store();
        store.pending_cards.insert(session.clone(), pending.clone());
        saved_card(&store, &pending)
    };
    card_page(
        StatusCode::OK,
        &session,
        &pending,
        saved.as_ref(),
        &[],
        None,
    )
}

/// `POST` [`CARD_SUBMIT_PATH`].
pub(crate) async fn submit(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let form = RemiseForm::parse_sjis(&body);
    let session = form.value("SESSION").to_string();
    let (pending, saved) = {
        let store = sandbox.store();
        match store.pending_cards.get(&session) {
            Some(pending) => (pending.clone(), saved_card(&store, pending)),
            None => return session_error(),
        }
    };
    let use_saved = form.value("USE_PAYQUICK") == "1";
    let card = if use_saved {
        match &saved {
            Some(saved) => saved.card.clone(),
            None => {
                let problems =
                    ["登録済みのカードがありません。カード番号を入力してください".to_string()];
                return card_page(
                    StatusCode::BAD_REQUEST,
                    &session,
                    &pending,
                    None,
                    &problems,
                    Some(&form),
                );
            }
        }
    } else {
        match read_card(&form) {
            Ok(card) => card,
            Err(problems) => {
                return card_page(
                    StatusCode::BAD_REQUEST,
                    &session,
                    &pending,
                    saved.as_ref(),
                    &problems,
                    Some(&form),
                )
            }
        }
    };
    let method = pending
        .method
        .or_else(|| method_from_code(form.value("METHOD")))
        .unwrap_or(PaymentMethod::Lump);
    // The session is single-use: a second click or a reload must not charge twice.
    if sandbox.store().pending_cards.remove(&session).is_none() {
        return session_error();
    }

    let decline = judge(&card);
    let approved = decline.is_none();
    let now = now_jst();
    let tran_id = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        random_digits(14)
    );
    let amount = if pending.job == CardJob::Check {
        0
    } else {
        pending.amount
    };
    let brand = brand(&card.number);

    let payquick_id = if approved && (pending.payquick || pending.job == CardJob::Check) {
        // Reuse the id the shop sent when it names a card of this shop (the card behind it is
        // replaced when the shopper typed a new one); otherwise issue a new one.
        let id = match (&saved, &pending.payquick_id) {
            (Some(_), Some(id)) => id.clone(),
            _ => random_alphanumeric(20),
        };
        let saved_card = SavedCard {
            shopco: pending.shopco.clone(),
            card: card.clone(),
        };
        sandbox.store().saved_cards.insert(id.clone(), saved_card);
        Some(id)
    } else {
        None
    };

    let mut result: Vec<(String, String)> = Vec::new();
    let mut put = |name: &str, value: &str| result.push((name.to_string(), value.to_string()));
    put("X-TRANID", &tran_id);
    put("X-S_TORIHIKI_NO", &pending.torihiki_no);
    put("X-AMOUNT", &amount.to_string());
    put("X-TAX", "0");
    put("X-TOTAL", &amount.to_string());
    match &decline {
        None => {
            put("X-REFAPPROVED", &random_digits(7));
            put("X-REFFORWARDED", forwarded_to(brand));
            put("X-REFGATEWAYNO", "01");
            put("X-ERRCODE", "   ");
            put("X-ERRINFO", "000000000");
            put("X-ERRLEVEL", "0");
            put("X-R_CODE", "0:0000");
        }
        Some(decline) => {
            put("X-REFAPPROVED", "");
            put("X-REFFORWARDED", "");
            put("X-REFGATEWAYNO", "");
            put("X-ERRCODE", decline.code);
            put("X-ERRINFO", decline.info);
            put("X-ERRLEVEL", "1");
            put("X-R_CODE", decline.r_code);
        }
    }
    if let Some(id) = &payquick_id {
        put("X-PAYQUICKID", id);
    }
    put("X-PARTOFCARD", card.last4());
    put("X-EXPIRE", &card.expire);
    put("X-CARDBRAND", brand);
    put("X-NAME", &card.holder);
    let mut registered = None;
    if let Some(autocharge) = &pending.autocharge {
        if approved {
            let member_id = autocharge
                .member_id
                .clone()
                .unwrap_or_else(|| format!("AC{}", random_digits(12)));
            put("X-AC_MEMBERID", &member_id);
            registered = Some(AutoChargeRecord {
                member_id,
                total: autocharge.total.clone(),
                next_date: autocharge.next_date.clone(),
                interval: autocharge.interval.clone(),
            });
        }
        put("X-AC_S_KAIIN_NO", &autocharge.kaiin_no);
        put("X-AC_TOTAL", &autocharge.total);
        put("X-AC_NEXT_DATE", &autocharge.next_date);
        put("X-AC_INTERVAL", &autocharge.interval);
    }
    put("REC_TYPE", "RET");

    let status = match (&decline, pending.job) {
        (Some(_), _) => TransactionStatus::Declined,
        (None, CardJob::Capture) => TransactionStatus::Sales,
        (None, CardJob::Auth) => TransactionStatus::Authorized,
        (None, CardJob::Check) => TransactionStatus::CardChecked,
    };
    let transaction = Transaction {
        torihiki_no: pending.torihiki_no.clone(),
        tran_id: Some(tran_id),
        job_id: None,
        kind: if pending.job == CardJob::Check {
            TransactionKind::CardCheck
        } else {
            TransactionKind::Card
        },
        shopco: pending.shopco.clone(),
        host_id: pending.host_id.clone(),
        holder_name: card.holder.clone(),
        mail: pending.mail.clone(),
        amount,
        tax: 0,
        payment_method: (pending.job != CardJob::Check).then_some(method),
        card_brand: Some(brand.to_string()),
        last4: Some(card.last4().to_string()),
        expire: Some(card.expire.clone()),
        payquick_id,
        autocharge: registered,
        pay_csv: None,
        pay_no1: None,
        pay_no2: None,
        paydate: None,
        error_code: decline.as_ref().map(|decline| decline.code.to_string()),
        created: now.to_offset(time::UtcOffset::UTC),
        status,
        notifications: Vec::new(),
    };
    // The browser gets the same X- fields as the notification, like Remise's return.
    let return_fields = sandbox
        .record_and_notify(
            transaction,
            NotificationKind::CardResult,
            sandbox.card_notify_url(),
            result,
        )
        .await;
    match decline {
        None => {
            let message = if pending.job == CardJob::Check {
                "カードを登録しました"
            } else {
                "決済が完了しました"
            };
            return_page(message, &pending.ret_url, &return_fields)
        }
        Some(decline) => {
            let message = format!("決済できませんでした：{}", decline.message);
            return_page(&message, &pending.ng_ret_url, &return_fields)
        }
    }
}

/// Checks the shop's form like Remise would, collecting every problem.
fn validate(form: &RemiseForm, shops: &[(String, String)]) -> Result<PendingCard, Vec<String>> {
    let mut problems = Vec::new();
    let (shopco, host_id) = fields::shop_identity(form, shops, &mut problems);
    let torihiki_no = fields::torihiki_no(form, &mut problems);
    let job = match form.value("JOB") {
        "AUTH" => Some(CardJob::Auth),
        "CAPTURE" => Some(CardJob::Capture),
        "CHECK" => Some(CardJob::Check),
        _ => {
            problems.push(fields::invalid_or_missing(
                form,
                "JOB",
                "AUTH / CAPTURE / CHECK",
            ));
            None
        }
    };
    let amount = if job == Some(CardJob::Check) {
        // A check charges nothing; amounts are optional but must still be well-formed.
        for name in ["TOTAL", "AMOUNT"] {
            if !form.value(name).is_empty() {
                fields::yen(form, name, &mut problems);
            }
        }
        0
    } else {
        let total = fields::yen(form, "TOTAL", &mut problems);
        let amount = fields::yen(form, "AMOUNT", &mut problems);
        if let (Some(total), Some(amount)) = (total, amount) {
            if total != amount {
                problems.push("TOTAL と AMOUNT が一致しません".to_string());
            }
        }
        if total == Some(0) {
            problems.push("TOTAL が不正です（1円以上）".to_string());
        }
        total.unwrap_or_default()
    };
    let method = match form.value("METHOD") {
        "" => None,
        "61" => {
            if form.value("PTIMES") != "2" {
                problems.push(fields::invalid_or_missing(
                    form,
                    "PTIMES",
                    "METHOD=61 のときは 2",
                ));
            }
            Some(PaymentMethod::TwoInstallments)
        }
        code => {
            let method = method_from_code(code);
            if method.is_none() {
                problems.push("METHOD が不正です（10 / 61 / 80）".to_string());
            }
            method
        }
    };
    let ret_url = fields::url(form, "RETURL", true, &mut problems);
    let ng_ret_url = fields::url(form, "NG_RETURL", true, &mut problems);
    let exit_url = fields::url(form, "EXITURL", false, &mut problems);
    let payquick_id = match form.value("PAYQUICKID") {
        "" => None,
        id if id.len() <= 20 && id.bytes().all(|byte| byte.is_ascii_alphanumeric()) => {
            Some(id.to_string())
        }
        _ => {
            problems.push("PAYQUICKID が不正です（半角英数字20桁以内）".to_string());
            None
        }
    };
    let autocharge = (form.value("AUTOCHARGE") == "1").then(|| AutoCharge {
        member_id: Some(form.value("AC_MEMBERID").to_string()).filter(|id| !id.is_empty()),
        kaiin_no: form.value("AC_S_KAIIN_NO").to_string(),
        total: form
            .get("AC_TOTAL")
            .filter(|total| !total.is_empty())
            .unwrap_or(form.value("AC_AMOUNT"))
            .to_string(),
        next_date: form.value("AC_NEXT_DATE").to_string(),
        interval: form.value("AC_INTERVAL").to_string(),
    });
    match (job, ret_url, ng_ret_url) {
        (Some(job), Some(ret_url), Some(ng_ret_url)) if problems.is_empty() => Ok(PendingCard {
            shopco,
            host_id,
            torihiki_no,
            job,
            amount,
            method,
            ret_url,
            ng_ret_url,
            exit_url,
            mail: form.value("MAIL").to_string(),
            payquick: form.value("PAYQUICK") == "1",
            payquick_id,
            autocharge,
        }),
        _ => Err(problems),
    }
}

fn method_from_code(code: &str) -> Option<PaymentMethod> {
    match code {
        "10" => Some(PaymentMethod::Lump),
        "61" => Some(PaymentMethod::TwoInstallments),
        "80" => Some(PaymentMethod::Revolving),
        _ => None,
    }
}

/// The saved card behind the PayQuick id the shop sent, if it belongs to the same shop.
fn saved_card(store: &crate::Store, pending: &PendingCard) -> Option<SavedCard> {
    if !pending.payquick {
        return None;
    }
    let id = pending.payquick_id.as_ref()?;
    store
        .saved_cards
        .get(id)
        .filter(|saved| saved.shopco == pending.shopco)
        .cloned()
}

/// Reads the card the shopper typed; format mistakes go back to the page, not to the shop.
fn read_card(form: &RemiseForm) -> Result<Card, Vec<String>> {
    let mut problems = Vec::new();
    let number: String = form
        .value("CARDNO")
        .chars()
        .filter(|character| *character != ' ' && *character != '-')
        .collect();
    if !fields::is_digits(&number, 12, 19) {
        problems.push("カード番号を半角数字で入力してください".to_string());
    }
    let expire = parse_expiry(form.value("EXPIRE"));
    if expire.is_none() {
        problems.push("有効期限を MM/YY の形で入力してください".to_string());
    }
    let holder = form.value("NAME").trim().to_string();
    if holder.is_empty() || holder.chars().count() > 50 {
        problems.push("カード名義人を入力してください（50文字以内）".to_string());
    }
    match expire {
        Some(expire) if problems.is_empty() => Ok(Card {
            number,
            expire,
            holder,
        }),
        _ => Err(problems),
    }
}

/// The card entry page (or its re-display with `problems` after a typing mistake).
fn card_page(
    status: StatusCode,
    session: &str,
    pending: &PendingCard,
    saved: Option<&SavedCard>,
    problems: &[String],
    previous: Option<&RemiseForm>,
) -> Response {
    let check = pending.job == CardJob::Check;
    let title = if check {
        "クレジットカードの登録"
    } else {
        "クレジットカード決済"
    };
    let previous_value = |name: &str| escape(previous.map(|form| form.value(name)).unwrap_or(""));
    let errors = if problems.is_empty() {
        String::new()
    } else {
        let items: String = problems
            .iter()
            .map(|problem| format!("<li>{}</li>", escape(problem)))
            .collect();
        format!("<ul class=\"errors\">{items}</ul>")
    };
    let amount_row = if check {
        "<tr><th>ご請求金額</th><td>0円（カードの有効性確認のみ。請求は発生しません）</td></tr>"
            .to_string()
    } else {
        format!(
            "<tr><th>ご請求金額</th><td>{}</td></tr>",
            yen_display(pending.amount)
        )
    };
    let method_row = match (check, pending.method) {
        (true, _) => String::new(),
        (false, Some(method)) => format!("<tr><th>お支払方法</th><td>{}</td></tr>", method.label()),
        (false, None) => String::new(),
    };
    // Offered only when the shop did not choose; each form gets its own select (and id).
    let method_select = |id: &str| {
        if !check && pending.method.is_none() {
            format!(
                "<p><label for=\"{id}\">お支払方法</label><select id=\"{id}\" name=\"METHOD\">\
                 <option value=\"10\">一括</option><option value=\"61\">分割（2回）</option>\
                 <option value=\"80\">リボ</option></select></p>"
            )
        } else {
            String::new()
        }
    };
    let button = if check {
        "カードを登録する"
    } else {
        "支払う"
    };
    let saved_section = match (saved, &pending.payquick_id) {
        (Some(saved), _) => format!(
            "<h2>登録済みのカード（ペイクイック）</h2><table>\
             <tr><th>カードの種類</th><td>{brand}</td></tr>\
             <tr><th>下4桁</th><td>{last4}</td></tr>\
             <tr><th>有効期限</th><td>{month}/{year}</td></tr></table>\
             <form method=\"post\" action=\"{CARD_SUBMIT_PATH}\" accept-charset=\"Shift_JIS\">\
             <input type=\"hidden\" name=\"SESSION\" value=\"{session}\">\
             <input type=\"hidden\" name=\"USE_PAYQUICK\" value=\"1\">{saved_method}\
             <button type=\"submit\">このカードで支払う</button></form>\
             <h2>別のカードで支払う</h2>",
            brand = brand(&saved.card.number),
            last4 = escape(saved.card.last4()),
            month = escape(&saved.card.expire[..2]),
            year = escape(&saved.card.expire[2..]),
            session = escape(session),
            saved_method = method_select("saved-method"),
        ),
        (None, Some(_)) if pending.payquick => {
            "<p class=\"note\">お送りいただいたペイクイックIDのカードが見つかりません。\
             カード番号を入力してください。</p>"
                .to_string()
        }
        _ => String::new(),
    };
    let payquick_note = if pending.payquick && saved.is_none() {
        "<p class=\"note\">このカードはペイクイックに登録され、次回からカード番号の入力が不要になります。</p>"
    } else {
        ""
    };
    let exit = match &pending.exit_url {
        Some(url) => format!(
            "<p><a href=\"{}\">キャンセルしてショップに戻る</a></p>",
            escape(url)
        ),
        None => String::new(),
    };
    let body = format!(
        "<h1>{title}</h1>{errors}<table>\
         <tr><th>請求番号</th><td>{torihiki_no}</td></tr>{amount_row}{method_row}</table>\
         {saved_section}\
         <form method=\"post\" action=\"{CARD_SUBMIT_PATH}\" accept-charset=\"Shift_JIS\">\
         <input type=\"hidden\" name=\"SESSION\" value=\"{session}\">\
         <p><label for=\"cardno\">カード番号</label><input id=\"cardno\" name=\"CARDNO\" \
         inputmode=\"numeric\" autocomplete=\"cc-number\" size=\"22\" maxlength=\"23\" value=\"{cardno}\"></p>\
         <p><label for=\"expire\">有効期限</label><input id=\"expire\" name=\"EXPIRE\" \
         placeholder=\"MM/YY\" autocomplete=\"cc-exp\" size=\"7\" maxlength=\"7\" value=\"{expire}\"></p>\
         <p><label for=\"holder\">カード名義人</label><input id=\"holder\" name=\"NAME\" \
         autocomplete=\"cc-name\" size=\"30\" value=\"{holder}\"></p>\
         {method_select}{payquick_note}<button type=\"submit\">{button}</button></form>\
         {exit}<h2>テストカード</h2>{cards}",
        title = escape(title),
        torihiki_no = escape(&pending.torihiki_no),
        session = escape(session),
        cardno = previous_value("CARDNO"),
        expire = previous_value("EXPIRE"),
        holder = previous_value("NAME"),
        cards = test_card_table(),
        method_select = method_select("method"),
    );
    sjis_html(status, &layout(title, &body))
}
