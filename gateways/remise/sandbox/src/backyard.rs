//! 加盟店バックヤード: the 売上集計データ一覧 an operator checks during the 接続テスト, its
//! actions, and a JSON view for tests.
//!
//! Card actions (売上 / 取消 / 返品) change only the sandbox's record: Remise does not notify
//! the shop of them, which is why the manual tells operators to mirror them by hand. 入金通知
//! sends the 収納情報通知 a real payment at the store would cause, and 再送 repeats the last
//! notification so an operator can rehearse the recovery from a lost one (受注の取りこぼし).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;

use crate::conv::pay_place_name;
use crate::model::{NotificationDelivery, NotificationKind, TransactionKind, TransactionStatus};
use crate::notify::new_delivery;
use crate::pages::{error_page, layout};
use crate::wire::{escape, sjis_html};
use crate::{now_jst, Sandbox, JST};

/// `GET /backyard`.
pub(crate) async fn page(State(sandbox): State<Sandbox>) -> Response {
    let transactions = sandbox.transactions();
    // Newest first, as the real list sorts by ▼処理日時.
    let rows: String = transactions.iter().rev().map(row).collect();
    let table = if transactions.is_empty() {
        "<p>まだ取引はありません。ショップでテスト購入をしてください。</p>".to_string()
    } else {
        format!(
            "<table><tr><th>請求番号</th><th>カード名義人</th><th>ホスト</th><th>請求金額(円)</th>\
             <th>税送料(円)</th><th>支払方法</th><th>カードの種類</th><th>▼処理日時</th>\
             <th>集計区分</th><th>通知</th><th>操作</th></tr>{rows}</table>"
        )
    };
    let body = format!(
        "<h1>売上集計データ一覧</h1>\
         <p class=\"note\">結果通知URL: <code>{card}</code><br>収納情報通知URL: <code>{conv}</code></p>\
         {table}\
         <p class=\"note\">売上・取消・返品はルミーズ側の記録だけを変更します（ショップには通知されません）。\
         「入金通知」はマルチ決済の入金を再現し、「再送」は最後の通知をもう一度送ります。</p>",
        card = escape(&sandbox.card_notify_url()),
        conv = escape(&sandbox.conv_notify_url()),
    );
    sjis_html(StatusCode::OK, &layout("売上集計データ一覧", &body))
}

fn row(transaction: &crate::Transaction) -> String {
    let method = match transaction.kind {
        TransactionKind::Conv => {
            pay_place_name(transaction.pay_csv.as_deref().unwrap_or_default()).to_string()
        }
        TransactionKind::CardCheck => "有効性チェック".to_string(),
        TransactionKind::Card => transaction
            .payment_method
            .map(|method| method.label().to_string())
            .unwrap_or_default(),
    };
    // A 自動継続課金 registration (or a card change of one) shows its id and schedule (escaped below).
    let method = match &transaction.autocharge {
        Some(ac) if ac.interval.is_empty() => format!("{method} / 自動継続課金 {}", ac.member_id),
        Some(ac) => format!(
            "{method} / 自動継続課金 {}（{}円・{}・次回{}）",
            ac.member_id, ac.total, ac.interval, ac.next_date
        ),
        None => method,
    };
    let created = transaction.created.to_offset(JST);
    let created = format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        created.year(),
        u8::from(created.month()),
        created.day(),
        created.hour(),
        created.minute(),
        created.second()
    );
    let status_class = match transaction.status {
        TransactionStatus::Declined => " class=\"ng\"",
        TransactionStatus::Paid | TransactionStatus::Sales => " class=\"ok\"",
        _ => "",
    };
    let deliveries: String = transaction
        .notifications
        .iter()
        .map(delivery_line)
        .collect::<Vec<_>>()
        .join("<br>");
    let tax = if transaction.kind == TransactionKind::Conv {
        transaction.tax.to_string()
    } else {
        String::new()
    };
    format!(
        "<tr><td>{torihiki_no}<br><span class=\"note\">{remise_id}</span></td><td>{holder}</td>\
         <td>{host}</td><td class=\"num\">{amount}</td><td class=\"num\">{tax}</td><td>{method}</td>\
         <td>{brand}</td><td>{created}</td><td{status_class}>{status}</td><td>{deliveries}</td>\
         <td>{actions}</td></tr>",
        torihiki_no = escape(&transaction.torihiki_no),
        remise_id = escape(transaction.remise_id()),
        holder = escape(&transaction.holder_name),
        host = escape(&transaction.host_id),
        amount = group_thousands(transaction.amount),
        method = escape(&method),
        brand = escape(transaction.card_brand.as_deref().unwrap_or_default()),
        status = transaction.status.label(),
        actions = actions(transaction),
    )
}

fn delivery_line(delivery: &NotificationDelivery) -> String {
    let state = if delivery.delivered {
        format!(
            "<span class=\"ok\">配信済み</span>（{}回）",
            delivery.attempts
        )
    } else if delivery.attempts == 0 {
        "送信待ち".to_string()
    } else {
        let status = delivery
            .last_status
            .map(|status| format!("HTTP {status} "))
            .unwrap_or_default();
        format!(
            "<span class=\"ng\">未配信</span>（{}回、最終応答: {}「{}」）",
            delivery.attempts,
            status,
            escape(delivery.last_answer.as_deref().unwrap_or_default())
        )
    };
    format!("{}: {state}", delivery.kind.label())
}

fn actions(transaction: &crate::Transaction) -> String {
    let mut actions: Vec<(&str, &str)> = Vec::new();
    match (transaction.kind, transaction.status) {
        (TransactionKind::Card, TransactionStatus::Authorized) => {
            actions.push(("capture", "売上"));
            actions.push(("cancel", "取消"));
        }
        (TransactionKind::Card, TransactionStatus::Sales) => {
            actions.push(("cancel", "取消"));
            actions.push(("refund", "返品"));
        }
        (TransactionKind::Conv, TransactionStatus::Unpaid) if !has_paid_notice(transaction) => {
            actions.push(("paid", "入金通知"));
        }
        _ => {}
    }
    if !transaction.notifications.is_empty() {
        actions.push(("resend", "再送"));
    }
    actions
        .iter()
        .map(|(action, label)| {
            format!(
                "<form class=\"inline\" method=\"post\" action=\"/backyard/tx/{id}/{action}\" \
                 accept-charset=\"Shift_JIS\"><button type=\"submit\">{label}</button></form>",
                id = escape(transaction.remise_id()),
            )
        })
        .collect()
}

fn has_paid_notice(transaction: &crate::Transaction) -> bool {
    transaction
        .notifications
        .iter()
        .any(|delivery| delivery.kind == NotificationKind::ConvPaid)
}

/// `POST /backyard/tx/{remise_id}/{action}`, then back to the list.
pub(crate) async fn action(
    State(sandbox): State<Sandbox>,
    Path((remise_id, action)): Path<(String, String)>,
) -> Response {
    let Some(index) = sandbox.store().position(&remise_id) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "取引が見つかりません",
            &[format!("取引 {remise_id} はありません")],
        );
    };
    let result = match action.as_str() {
        "capture" => change_status(
            &sandbox,
            index,
            &[TransactionStatus::Authorized],
            TransactionStatus::Sales,
        ),
        "cancel" => change_status(
            &sandbox,
            index,
            &[TransactionStatus::Authorized, TransactionStatus::Sales],
            TransactionStatus::Cancelled,
        ),
        "refund" => change_status(
            &sandbox,
            index,
            &[TransactionStatus::Sales],
            TransactionStatus::Returned,
        ),
        "paid" => send_paid_notice(&sandbox, index).await,
        "resend" => resend(&sandbox, index).await,
        _ => {
            return error_page(
                StatusCode::NOT_FOUND,
                "操作が見つかりません",
                &[format!("操作 {action} はありません")],
            )
        }
    };
    match result {
        Ok(()) => Redirect::to("/backyard").into_response(),
        Err(problem) => error_page(StatusCode::CONFLICT, "操作できません", &[problem]),
    }
}

/// `GET /backyard/api/transactions`: every transaction as JSON, oldest first.
pub(crate) async fn api(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.transactions()).into_response()
}

fn change_status(
    sandbox: &Sandbox,
    index: usize,
    from: &[TransactionStatus],
    to: TransactionStatus,
) -> Result<(), String> {
    let mut store = sandbox.store();
    let transaction = &mut store.transactions[index];
    if transaction.kind != TransactionKind::Card || !from.contains(&transaction.status) {
        return Err(format!(
            "集計区分が「{}」の取引は「{}」にできません",
            transaction.status.label(),
            to.label()
        ));
    }
    transaction.status = to;
    Ok(())
}

/// 入金通知: the 収納情報通知 a payment at the store would cause. The status becomes 入金済み
/// when the shop acknowledges it (see `notify`).
async fn send_paid_notice(sandbox: &Sandbox, index: usize) -> Result<(), String> {
    let fields = {
        let store = sandbox.store();
        let transaction = &store.transactions[index];
        if transaction.kind != TransactionKind::Conv
            || transaction.status != TransactionStatus::Unpaid
        {
            return Err(format!(
                "集計区分が「{}」の取引には入金通知を送れません",
                transaction.status.label()
            ));
        }
        let code = transaction.pay_csv.clone().unwrap_or_default();
        let now = now_jst();
        let received = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        vec![
            ("S_TORIHIKI_NO".to_string(), transaction.torihiki_no.clone()),
            ("REC_FLG".to_string(), "1".to_string()),
            (
                "JOB_ID".to_string(),
                transaction.job_id.clone().unwrap_or_default(),
            ),
            ("TOTAL".to_string(), transaction.amount.to_string()),
            ("TAX".to_string(), transaction.tax.to_string()),
            ("REC_CVSCODE".to_string(), code.clone()),
            ("REC_CVSNAME".to_string(), pay_place_name(&code).to_string()),
            ("RECDATE".to_string(), received),
        ]
    };
    let delivery = new_delivery(
        NotificationKind::ConvPaid,
        sandbox.conv_notify_url(),
        fields,
    );
    let key = sandbox.add_delivery(index, delivery);
    sandbox.deliver(key).await;
    Ok(())
}

/// 再送: the last notification again, to the URL configured now (the operator may just have
/// fixed it), as a new delivery so the history of the first one stays visible.
async fn resend(sandbox: &Sandbox, index: usize) -> Result<(), String> {
    let last = sandbox.store().transactions[index]
        .notifications
        .last()
        .cloned();
    let Some(last) = last else {
        return Err("この取引には再送できる通知がありません".to_string());
    };
    let url = match last.kind {
        NotificationKind::CardResult => sandbox.card_notify_url(),
        NotificationKind::ConvIssued | NotificationKind::ConvPaid => sandbox.conv_notify_url(),
    };
    let key = sandbox.add_delivery(index, new_delivery(last.kind, url, last.fields));
    sandbox.deliver(key).await;
    Ok(())
}

fn group_thousands(amount: u64) -> String {
    crate::pages::yen_display(amount)
        .trim_end_matches('円')
        .to_string()
}
