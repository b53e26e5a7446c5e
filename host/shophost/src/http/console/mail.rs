//! 送信メール and メール設定: the outbox with each mail's status (待機中, 送信済み, 再送待ち, 失敗),
//! attempts and last error; one mail as its recipient reads it (headers and subject decoded, the text
//! body) with every delivery attempt; 再送信 after a confirmation step; the mail settings (sender,
//! Reply-To, the shop's notice addresses, header, footer, signature, SMTP server with a write-only
//! password) and 送信テスト. The actions are `crate::mail::actions`.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, ConsoleForm, Signed};
use crate::domain::local_datetime;
use crate::http::forms::FormErrors;
use crate::http::html;
use crate::mail::actions::{self, MailActionError};
use crate::mail::settings::current;
use crate::mail::{MailFilter, MailSettings, MailStatus, OutboxMail, SmtpSettings, Tls, Transport};
use crate::AppState;

/// The menu entry of the mail screens.
const MENU: &str = "/admin/mail";

/// Mails a page of the list shows.
const PAGE_SIZE: i64 = 50;

/// One mail as listed.
pub(super) struct Row {
    pub id: i64,
    pub created: String,
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub attempts: i64,
    pub last_error: String,
}

/// The badge class of a status.
fn status_class(status: MailStatus) -> &'static str {
    match status {
        MailStatus::Sent => "active",
        MailStatus::Failed => "broken",
        MailStatus::Retry => "listening",
        MailStatus::Pending | MailStatus::Held | MailStatus::Skipped => "stopped",
    }
}

pub(super) fn row(mail: &OutboxMail) -> Row {
    Row {
        id: mail.id,
        created: local_datetime(mail.created_at),
        kind: mail.kind.label(),
        to: mail
            .recipients
            .clone()
            .unwrap_or_else(|| "（送信時に決定）".to_owned()),
        subject: mail.subject.clone().unwrap_or_default(),
        status: mail.status.label(),
        status_class: status_class(mail.status),
        attempts: mail.attempts,
        last_error: mail.last_error.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "console/mail_list.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    next: Option<i64>,
    transport: &'static str,
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: String,
    before: Option<i64>,
}

/// `GET /admin/mail`.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(query): Query<ListQuery>,
) -> Response {
    let filter = MailFilter {
        status: MailStatus::parse(&query.status),
        order_id: None,
        before: query.before,
    };
    let (mails, settings) = match (
        state.store.mails(&filter, PAGE_SIZE + 1).await,
        current(&state).await,
    ) {
        (Ok(mails), Ok(settings)) => (mails, settings),
        (Err(error), _) | (_, Err(error)) => return super::unavailable(error),
    };
    let next = (mails.len() as i64 > PAGE_SIZE)
        .then(|| mails.get(PAGE_SIZE as usize - 1).map(|m| m.id))
        .flatten();
    let page = ListPage {
        chrome: Chrome::new(&signed, MENU),
        rows: mails.iter().take(PAGE_SIZE as usize).map(row).collect(),
        status: filter.status.map(|s| s.as_str()).unwrap_or("").to_owned(),
        statuses: MailStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        next,
        transport: transport_label(settings.transport),
    };
    html::render(StatusCode::OK, &page)
}

fn transport_label(transport: Transport) -> &'static str {
    match transport {
        Transport::Capture => "保存のみ（このマシンに保存し、外部には送信しません）",
        Transport::Smtp => "SMTPサーバーから送信",
    }
}

/// One delivery attempt as shown.
struct AttemptRow {
    at: String,
    transport: String,
    outcome: &'static str,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/mail.html")]
struct DetailPage {
    chrome: Chrome,
    mail: Row,
    /// Decoded headers as the recipient's reader shows them.
    headers: Vec<(String, String)>,
    body: String,
    /// Why there is no message yet (not rendered).
    pending_note: String,
    order_number: String,
    attempts: Vec<AttemptRow>,
    can_resend: bool,
    confirm_resend: bool,
    notice: String,
    errors: FormErrors,
}

/// A stored message's headers and text body, decoded as a mail reader does.
fn decoded(message: &[u8]) -> (Vec<(String, String)>, String) {
    let Some(parsed) = mail_parser::MessageParser::default().parse(message) else {
        return (Vec::new(), String::from_utf8_lossy(message).into_owned());
    };
    let address = |list: Option<&mail_parser::Address<'_>>| {
        list.map(|list| {
            list.iter()
                .map(|addr| match (addr.name(), addr.address()) {
                    (Some(name), Some(address)) => format!("{name} <{address}>"),
                    (None, Some(address)) => address.to_owned(),
                    (Some(name), None) => name.to_owned(),
                    (None, None) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    let mut headers = Vec::new();
    let mut push = |name: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            headers.push((name.to_owned(), value));
        }
    };
    push("From", address(parsed.from()));
    push("To", address(parsed.to()));
    push("Reply-To", address(parsed.reply_to()));
    push("Subject", parsed.subject().map(str::to_owned));
    push(
        "Date",
        parsed.header_raw("Date").map(|d| d.trim().to_owned()),
    );
    push(
        "Message-ID",
        parsed.message_id().map(|id| format!("<{id}>")),
    );
    let body = parsed
        .body_text(0)
        .map(|text| text.replace("\r\n", "\n"))
        .unwrap_or_default();
    (headers, body)
}

async fn render_detail(
    state: &AppState,
    signed: &Signed,
    id: i64,
    status: StatusCode,
    confirm_resend: bool,
    notice: String,
    errors: FormErrors,
) -> Response {
    let mail = match state.store.mail(id).await {
        Ok(Some(mail)) => mail,
        Ok(None) => return not_found(),
        Err(error) => return super::unavailable(error),
    };
    let deliveries = match state.store.mail_deliveries(id).await {
        Ok(list) => list,
        Err(error) => return super::unavailable(error),
    };
    let order_number = match mail.order_id {
        Some(order_id) => match state.store.order_by_id(order_id).await {
            Ok(order) => order.map(|o| o.order_number).unwrap_or_default(),
            Err(error) => return super::unavailable(error),
        },
        None => String::new(),
    };
    let (headers, body) = mail.message.as_deref().map(decoded).unwrap_or_default();
    let pending_note = if mail.message.is_none() {
        match mail.status {
            MailStatus::Held => "この注文確認メールは、受注データ登録した注文のものです。注文の画面の「注文確認メールを送信する」で送信するまで送信しません。",
            MailStatus::Skipped => "送信先がないため送信しませんでした。",
            _ => "まだ作成していません。送信時に、その時点の注文内容から作成します。",
        }
        .to_owned()
    } else {
        String::new()
    };
    let page = DetailPage {
        chrome: Chrome::new(signed, MENU),
        can_resend: matches!(mail.status, MailStatus::Sent | MailStatus::Failed)
            && mail.message.is_some(),
        mail: row(&mail),
        headers,
        body,
        pending_note,
        order_number,
        attempts: deliveries
            .into_iter()
            .map(|d| AttemptRow {
                at: local_datetime(d.at),
                transport: d.transport,
                outcome: if d.outcome == "sent" {
                    "成功"
                } else {
                    "エラー"
                },
                detail: d.detail,
            })
            .collect(),
        confirm_resend,
        notice,
        errors,
    };
    html::render(status, &page)
}

fn not_found() -> Response {
    html::error_page(StatusCode::NOT_FOUND, "このメールはありません。")
}

#[derive(Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
}

/// `GET /admin/mail/{id}`.
pub(super) async fn detail(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Response {
    let notice = match done.done.as_str() {
        "resend" => "再送信を予約しました。まもなく送信します。".to_owned(),
        _ => String::new(),
    };
    render_detail(
        &state,
        &signed,
        id,
        StatusCode::OK,
        false,
        notice,
        FormErrors::default(),
    )
    .await
}

/// `POST /admin/mail/{id}/resend`: with `confirm=1` queues the mail again as it was sent; without it
/// the page asks to confirm.
pub(super) async fn resend(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: ConsoleForm,
) -> Response {
    if form.get("confirm") != "1" {
        return render_detail(
            &state,
            &form.signed,
            id,
            StatusCode::OK,
            true,
            String::new(),
            FormErrors::default(),
        )
        .await;
    }
    match actions::resend(&state, id).await {
        Ok(()) => {
            tracing::info!(by = %form.signed.operator.login, mail = id, "console: mail queued again");
            Redirect::to(&format!("/admin/mail/{id}?done=resend")).into_response()
        }
        Err(MailActionError::Refused(reason)) => {
            render_detail(
                &state,
                &form.signed,
                id,
                StatusCode::CONFLICT,
                false,
                String::new(),
                FormErrors::general(reason),
            )
            .await
        }
        Err(MailActionError::NotFound) => not_found(),
        Err(MailActionError::Unavailable(error)) => super::unavailable(error),
        Err(MailActionError::Invalid(_)) => not_found(),
    }
}

/// The settings form as typed (the password never comes back to it).
pub(super) struct SettingsValues {
    transport: String,
    from: String,
    from_name: String,
    reply_to: String,
    notice_to: String,
    header: String,
    footer: String,
    signature: String,
    smtp_host: String,
    smtp_port: String,
    smtp_tls: String,
    smtp_user: String,
    smtp_timeout: String,
}

impl SettingsValues {
    fn of(settings: &MailSettings) -> Self {
        SettingsValues {
            transport: settings.transport.as_str().to_owned(),
            from: settings.from.clone(),
            from_name: settings.from_name.clone(),
            reply_to: settings.reply_to.clone(),
            notice_to: settings.notice_to.join("\n"),
            header: settings.header.clone(),
            footer: settings.footer.clone(),
            signature: settings.signature.clone(),
            smtp_host: settings.smtp.host.clone(),
            smtp_port: settings.smtp.port.to_string(),
            smtp_tls: settings.smtp.tls.as_str().to_owned(),
            smtp_user: settings.smtp.user.clone(),
            smtp_timeout: settings.smtp.timeout_seconds.to_string(),
        }
    }

    fn read(form: &ConsoleForm) -> Self {
        SettingsValues {
            transport: form.get("transport"),
            from: form.get("from").trim().to_owned(),
            from_name: form.get("from_name").trim().to_owned(),
            reply_to: form.get("reply_to").trim().to_owned(),
            notice_to: form.get("notice_to"),
            header: form.get("header"),
            footer: form.get("footer"),
            signature: form.get("signature"),
            smtp_host: form.get("smtp_host").trim().to_owned(),
            smtp_port: form.get("smtp_port").trim().to_owned(),
            smtp_tls: form.get("smtp_tls"),
            smtp_user: form.get("smtp_user").trim().to_owned(),
            smtp_timeout: form.get("smtp_timeout").trim().to_owned(),
        }
    }

    /// The settings, or the problems of the fields that are not even of their type. The CA file is
    /// the config file's (`ca_file`), kept as it is.
    fn settings(
        &self,
        password: String,
        ca_file: Option<std::path::PathBuf>,
    ) -> Result<MailSettings, FormErrors> {
        let mut errors = FormErrors::default();
        let transport = match self.transport.as_str() {
            "capture" => Transport::Capture,
            "smtp" => Transport::Smtp,
            _ => {
                errors.add("transport", "送信方法を選んでください");
                Transport::Capture
            }
        };
        let port = self.smtp_port.parse::<u16>().unwrap_or_else(|_| {
            errors.add("smtp_port", "ポート番号は1〜65535で入力してください");
            0
        });
        let tls = Tls::parse(&self.smtp_tls).unwrap_or_else(|| {
            errors.add("smtp_tls", "暗号化の方式を選んでください");
            Tls::Starttls
        });
        let timeout = self.smtp_timeout.parse::<u64>().unwrap_or_else(|_| {
            errors.add("smtp_timeout", "タイムアウトは1〜600秒です");
            0
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        let text = |value: &str| value.replace("\r\n", "\n");
        Ok(MailSettings {
            transport,
            from: self.from.clone(),
            from_name: self.from_name.clone(),
            reply_to: self.reply_to.clone(),
            notice_to: self
                .notice_to
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            header: text(&self.header),
            footer: text(&self.footer),
            signature: text(&self.signature),
            smtp: SmtpSettings {
                host: self.smtp_host.clone(),
                port,
                tls,
                user: self.smtp_user.clone(),
                password,
                timeout_seconds: timeout,
                ca_file,
            },
        })
    }
}

/// The form's field of a setting's key.
fn field_of(key: &str) -> &str {
    match key {
        "smtp.host" => "smtp_host",
        "smtp.port" => "smtp_port",
        "smtp.tls" => "smtp_tls",
        "smtp.user" => "smtp_user",
        "smtp.timeout_seconds" => "smtp_timeout",
        other => other,
    }
}

#[derive(Template)]
#[template(path = "console/mail_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    values: SettingsValues,
    password_set: bool,
    test_to: String,
    notice: String,
    errors: FormErrors,
    /// Which form the errors belong to: `settings` or `test`.
    failed: &'static str,
}

async fn render_settings(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    values: Option<SettingsValues>,
    notice: String,
    errors: FormErrors,
    failed: &'static str,
) -> Response {
    let settings = match current(state).await {
        Ok(settings) => settings,
        Err(error) => return super::unavailable(error),
    };
    let page = SettingsPage {
        chrome: Chrome::new(signed, MENU),
        values: values.unwrap_or_else(|| SettingsValues::of(&settings)),
        password_set: !settings.smtp.password.is_empty(),
        test_to: settings.notice_to.first().cloned().unwrap_or_default(),
        notice,
        errors,
        failed,
    };
    html::render(status, &page)
}

/// `GET /admin/mail/settings`.
pub(super) async fn settings(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(done): Query<Done>,
) -> Response {
    let notice = match done.done.as_str() {
        "saved" => "メール設定を保存しました。".to_owned(),
        "test" => "送信テストのメールを送信待ちにしました。送信メールの画面で結果を確認できます。"
            .to_owned(),
        _ => String::new(),
    };
    render_settings(
        &state,
        &signed,
        StatusCode::OK,
        None,
        notice,
        FormErrors::default(),
        "",
    )
    .await
}

/// `POST /admin/mail/settings`: saves the whole form; an empty password keeps the stored one.
pub(super) async fn save_settings(State(state): State<AppState>, form: ConsoleForm) -> Response {
    let values = SettingsValues::read(&form);
    let invalid = |values, errors| {
        render_settings(
            &state,
            &form.signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(values),
            String::new(),
            errors,
            "settings",
        )
    };
    let ca_file = match current(&state).await {
        Ok(settings) => settings.smtp.ca_file,
        Err(error) => return super::unavailable(error),
    };
    let settings = match values.settings(form.get("smtp_password"), ca_file) {
        Ok(settings) => settings,
        Err(errors) => return invalid(values, errors).await,
    };
    match actions::save_settings(&state, settings).await {
        Ok(_) => {
            tracing::info!(by = %form.signed.operator.login, "console: mail settings saved");
            Redirect::to("/admin/mail/settings?done=saved").into_response()
        }
        Err(MailActionError::Invalid(problems)) => {
            let mut errors = FormErrors::default();
            for problem in problems {
                errors.add(field_of(problem.key), problem.message);
            }
            invalid(values, errors).await
        }
        Err(MailActionError::Unavailable(error)) => super::unavailable(error),
        Err(other) => invalid(values, FormErrors::general(other.to_string())).await,
    }
}

/// `POST /admin/mail/test`: queues a test mail to the address typed.
pub(super) async fn send_test(State(state): State<AppState>, form: ConsoleForm) -> Response {
    match actions::send_test(&state, &form.get("test_to")).await {
        Ok(id) => {
            tracing::info!(by = %form.signed.operator.login, mail = id, "console: test mail queued");
            Redirect::to("/admin/mail/settings?done=test").into_response()
        }
        Err(MailActionError::Invalid(problems)) => {
            let mut errors = FormErrors::default();
            for problem in problems {
                errors.add(problem.key, problem.message);
            }
            render_settings(
                &state,
                &form.signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                String::new(),
                errors,
                "test",
            )
            .await
        }
        Err(MailActionError::Unavailable(error)) => super::unavailable(error),
        Err(other) => html::error_page(StatusCode::CONFLICT, &other.to_string()),
    }
}
