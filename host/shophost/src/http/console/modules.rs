//! 決済モジュール (クレジット決済設定): every registered module with its origin, whether it is in use,
//! whether its settings are valid, the settlement types it provides and the notification URLs to
//! register at the gateway; and each module's settings form, generated from its schema
//! (`settings_form.rs`), saved as a whole through the engine, which reports the payment methods the
//! change stopped or left waiting to be set to 使用 again.
//!
//! A module out of use that still listens for notifications of what it started (open checkouts,
//! unpaid orders, running contracts) is shown as such, with why and until when, and its notification
//! URLs stay listed: they must stay registered at the gateway until then. Choosing the modules in use
//! is `modules_selection.rs`.
//!
//! What the pages know of modules comes through `modules_engine.rs`, the screens' one door to the
//! engine.

use askama::Template;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use shophost_module_api::{NotificationEndpoint, NotificationTrust};

use super::modules_engine::{module_now, modules_now, save_settings, ModuleNow};
use super::modules_selection::{current_rows, SelectionDone, SelectionRow};
use super::settings_form::{form_fields, general_errors, values_from_form, Control, FormField};
use super::{Chrome, ConsoleForm, Signed};
use crate::domain::japanese_date;
use crate::engine::{ListeningReport, SettingsReport, UpdateError};
use crate::http::forms::FormErrors;
use crate::http::html;
use crate::registry::Origin;
use crate::AppState;

/// The menu entry of the 決済モジュール screens.
pub(super) const MENU: &str = "/admin/modules";

/// A notification URL to register at the gateway, as the module declares it.
struct EndpointRow {
    /// The URL under the shop's public URL.
    url: String,
    /// What the gateway calls the setting, e.g. `結果通知URL`.
    setting_name: String,
    /// Where at the gateway it is registered, e.g. `加盟店バックヤード` (empty when not said).
    registered_at: String,
    /// What vouches for the notifications, for the operator.
    trust: String,
}

/// A settlement type provided now.
struct TypeRow {
    label: String,
    id: String,
}

/// What both screens show of a module.
struct ModuleSummary {
    id: String,
    display_name: String,
    /// `同梱`, or the shared library's path.
    origin: String,
    in_use: bool,
    /// Whether its settings are valid (meaningful only in use or when retired with something open).
    valid: bool,
    types: Vec<TypeRow>,
    /// Its notification URLs: in use, or out of use and still listening.
    endpoints: Vec<EndpointRow>,
    /// Out of use with something open: whether it still listens, why and until when.
    retired: Option<RetiredRow>,
}

/// A module out of use that still has something open a notification may come for.
struct RetiredRow {
    /// Whether its endpoints still resolve (false: its stored settings are invalid).
    listening: bool,
    /// Why, in Japanese (what is open, until when).
    reason: String,
    /// Until when it listens: a date, or `終了日は未定` when something open has no end by itself.
    until: String,
}

fn retired_row(report: &ListeningReport) -> RetiredRow {
    let until = if report.open_ended {
        "終了日は未定".to_owned()
    } else {
        report
            .until
            .as_deref()
            .and_then(shophost_module_api::LocalDate::parse_yyyymmdd)
            .map(|date| format!("{}まで", japanese_date(date)))
            .unwrap_or_else(|| "終了日は未定".to_owned())
    };
    RetiredRow {
        listening: report.listening,
        reason: report.reason.clone(),
        until,
    }
}

fn summary(module: &ModuleNow, public_url: &str) -> ModuleSummary {
    let current = module.state.as_ref();
    let listening = current.or(module.listening_state.as_ref());
    ModuleSummary {
        id: module.registered.id.clone(),
        display_name: module.registered.display_name.clone(),
        origin: match &module.registered.origin {
            Origin::CompiledIn => "同梱".to_owned(),
            Origin::File(path) => path.display().to_string(),
        },
        in_use: module.overview.in_use,
        valid: module.overview.settings_valid.unwrap_or(false),
        types: current
            .map(|s| {
                s.settlement_types
                    .iter()
                    .map(|t| TypeRow {
                        label: t.label.clone(),
                        id: t.id.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        endpoints: listening
            .map(|s| {
                s.endpoints
                    .iter()
                    .map(|e| endpoint_row(e, public_url))
                    .collect()
            })
            .unwrap_or_default(),
        retired: module.overview.retired.as_ref().map(retired_row),
    }
}

fn endpoint_row(endpoint: &NotificationEndpoint, public_url: &str) -> EndpointRow {
    EndpointRow {
        url: endpoint.url(public_url),
        setting_name: endpoint
            .setting_name
            .clone()
            .unwrap_or_else(|| "通知URL".to_owned()),
        registered_at: endpoint.registered_at.clone().unwrap_or_default(),
        trust: trust_text(&endpoint.trust),
    }
}

/// What vouches for an endpoint's notifications, in the operator's words.
fn trust_text(trust: &NotificationTrust) -> String {
    match trust {
        NotificationTrust::Signed => "通知は署名で確認します。".to_owned(),
        NotificationTrust::SourceAddress(ranges) if ranges.is_empty() => {
            "送信元のIPアドレスが設定されていないため、通知をすべて拒否します。".to_owned()
        }
        NotificationTrust::SourceAddress(ranges) => {
            let ranges: Vec<String> = ranges.iter().map(ToString::to_string).collect();
            format!(
                "次の送信元からの通知だけを受け付けます: {}",
                ranges.join("、")
            )
        }
        NotificationTrust::Unverified { reason } => {
            format!("通知を確認する手段がありません（{reason}）。")
        }
    }
}

#[derive(Template)]
#[template(path = "console/modules.html")]
struct ModulesPage {
    chrome: Chrome,
    modules: Vec<ModuleSummary>,
    /// The form 「利用中の決済モジュール」.
    selection: Vec<SelectionRow>,
    errors: FormErrors,
    /// What the form just changed.
    outcome: Option<SelectionDone>,
}

/// The list page, with the form 「利用中の決済モジュール」 as `selection` shows it.
pub(super) fn render_list(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    selection: Vec<SelectionRow>,
    errors: FormErrors,
    outcome: Option<SelectionDone>,
) -> Response {
    let modules = modules_now(state)
        .iter()
        .map(|module| summary(module, &state.config.public_url))
        .collect();
    let page = ModulesPage {
        chrome: Chrome::new(signed, MENU),
        modules,
        selection,
        errors,
        outcome,
    };
    html::render(status, &page)
}

pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
) -> Response {
    let selection = current_rows(&modules_now(&state));
    render_list(
        &state,
        &signed,
        StatusCode::OK,
        selection,
        FormErrors::default(),
        None,
    )
}

/// One line of the summary above the form: a message and the control it is about (empty: none).
struct Problem {
    target: String,
    message: String,
}

/// What a save did, as the page says it.
struct Outcome {
    ok: bool,
    stopped: Vec<String>,
    waiting: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/module_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    module: ModuleSummary,
    /// The form, empty when the module is not in use.
    fields: Vec<FormField>,
    problems: Vec<Problem>,
    outcome: Option<Outcome>,
}

fn settings_page(
    signed: &Signed,
    module: &ModuleNow,
    public_url: &str,
    report: Option<&SettingsReport>,
) -> SettingsPage {
    let (fields, problems) = match &module.state {
        Some(current) => {
            let schema = module.registered.module.settings_schema();
            let fields = form_fields(&schema, &current.values, &current.errors);
            let mut problems: Vec<Problem> = general_errors(&schema, &current.errors)
                .into_iter()
                .map(|message| Problem {
                    target: String::new(),
                    message,
                })
                .collect();
            for field in &fields {
                for message in &field.errors {
                    problems.push(Problem {
                        target: field.id.clone(),
                        message: message.clone(),
                    });
                }
            }
            (fields, problems)
        }
        None => (Vec::new(), Vec::new()),
    };
    SettingsPage {
        chrome: Chrome::new(signed, MENU),
        module: summary(module, public_url),
        fields,
        problems,
        outcome: report.map(|report| Outcome {
            ok: report.ok,
            stopped: report.stopped_methods.clone(),
            waiting: report.methods_waiting_for_use.clone(),
        }),
    }
}

fn no_such_module() -> Response {
    html::error_page(
        StatusCode::NOT_FOUND,
        "この決済モジュールは登録されていません。",
    )
}

pub(super) async fn settings(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    let Some(module) = module_now(&state, &id) else {
        return no_such_module();
    };
    let page = settings_page(&signed, &module, &state.config.public_url, None);
    html::render(StatusCode::OK, &page)
}

/// Saves the whole form. The engine saves even invalid settings (their module then provides nothing
/// and its methods stop, as in Welcart), so the answer is the page as it now stands: 200 when valid,
/// 422 with each error at its field when not, and in both cases the methods the save stopped or left
/// waiting.
pub(super) async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: ConsoleForm,
) -> Response {
    let Some(module) = module_now(&state, &id) else {
        return no_such_module();
    };
    let public_url = &state.config.public_url;
    let Some(current) = &module.state else {
        let page = settings_page(&form.signed, &module, public_url, None);
        return html::render(StatusCode::CONFLICT, &page);
    };
    let schema = module.registered.module.settings_schema();
    let values = values_from_form(&schema, &form.fields, &current.values);
    let report = match save_settings(&state, &id, values).await {
        Ok(report) => report,
        Err(UpdateError::Db(error)) => return super::unavailable(error),
        Err(other) => {
            tracing::warn!(module = %id, %other, "console: settings not saved");
            return no_such_module();
        }
    };
    tracing::info!(by = %form.signed.operator.login, module = %id, ok = report.ok, stopped = ?report.stopped_methods, "console: module settings saved");
    // The page shows the settings as the engine now holds them.
    let Some(saved) = module_now(&state, &id) else {
        return no_such_module();
    };
    let page = settings_page(&form.signed, &saved, public_url, Some(&report));
    let status = if report.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    html::render(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Operator;
    use shophost_module_api::{FieldError, SettingField, SettingsSchema, SettingsValues};

    fn signed() -> Signed {
        Signed {
            operator: Operator {
                id: 1,
                login: "tester".into(),
                disabled: false,
                created_at: 0,
                last_login_at: None,
            },
            csrf: "form-token".into(),
            token: "cookie-token".into(),
        }
    }

    #[test]
    fn a_secret_value_never_reaches_the_page() {
        let schema = SettingsSchema::new(vec![
            SettingField::text("merchant_id", "加盟店ID").help("管理画面の加盟店IDです。"),
            SettingField::secret("secret_key", "シークレットキー").required(),
        ]);
        let values: SettingsValues = [
            ("merchant_id".to_owned(), "M123".to_owned()),
            ("secret_key".to_owned(), "s3cr3t-never-shown".to_owned()),
        ]
        .into();
        let errors = [FieldError::new(
            "secret_key",
            "シークレットキーは16文字以上で入力してください".into(),
        )];
        let page = SettingsPage {
            chrome: Chrome::new(&signed(), MENU),
            module: ModuleSummary {
                id: "keyed".into(),
                display_name: "鍵つき".into(),
                origin: "同梱".into(),
                in_use: true,
                valid: false,
                types: Vec::new(),
                endpoints: Vec::new(),
                retired: None,
            },
            fields: form_fields(&schema, &values, &errors),
            problems: Vec::new(),
            outcome: None,
        };
        let html = page.render().expect("renders");
        assert!(!html.contains("s3cr3t-never-shown"), "{html}");
        assert!(html.contains("type=\"password\""), "{html}");
        assert!(html.contains("変更する場合のみ入力"), "{html}");
        assert!(html.contains("設定済み"), "{html}");
        // Every control has its label, and help and errors are tied to it.
        assert!(
            html.contains("<label for=\"setting-merchant_id\">加盟店ID</label>"),
            "{html}"
        );
        assert!(
            html.contains("aria-describedby=\"setting-merchant_id-help\""),
            "{html}"
        );
        assert!(
            html.contains("aria-describedby=\"setting-secret_key-error\""),
            "{html}"
        );
        assert!(html.contains("シークレットキーは16文字以上で入力してください"));
    }

    #[test]
    fn trust_is_said_in_the_operators_words() {
        let ranges = shophost_module_api::IpRange::parse_list("192.0.2.0/24").unwrap();
        assert_eq!(
            trust_text(&NotificationTrust::SourceAddress(ranges)),
            "次の送信元からの通知だけを受け付けます: 192.0.2.0/24"
        );
        assert_eq!(
            trust_text(&NotificationTrust::SourceAddress(Vec::new())),
            "送信元のIPアドレスが設定されていないため、通知をすべて拒否します。"
        );
        assert_eq!(
            trust_text(&NotificationTrust::Signed),
            "通知は署名で確認します。"
        );
    }
}
