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
use shophost_module_api::{
    FieldError, FieldKind, NotificationEndpoint, NotificationTrust, SettingsValues,
};

use super::modules_engine::{
    file_differences, module_now, modules_now, preview_settings, revert_to_file, save_settings,
    ModuleNow,
};
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
    /// The settings came back from the config file.
    reverted: bool,
}

/// A change that would stop payment methods, not saved until the operator confirms it.
struct Pending {
    /// The methods it would stop.
    stop: Vec<String>,
    /// Whether the settings are valid.
    valid: bool,
    /// A secret was typed: it is not shown again and must be typed again.
    secret_typed: bool,
    /// It is a return to the config file's settings (confirmed by its own form).
    revert: bool,
}

/// The posted values and their errors, shown instead of the stored ones while a change waits for
/// confirmation.
struct Draft {
    values: SettingsValues,
    errors: Vec<FieldError>,
    pending: Pending,
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
    pending: Option<Pending>,
    /// The keys where the database's settings differ from the config file's, when the file has
    /// settings for the module and the database's win now.
    file_differences: Option<Vec<String>>,
}

fn settings_page(
    signed: &Signed,
    module: &ModuleNow,
    public_url: &str,
    report: Option<&SettingsReport>,
    draft: Option<Draft>,
) -> SettingsPage {
    let (draft_values, pending) = match draft {
        Some(draft) => (Some((draft.values, draft.errors)), Some(draft.pending)),
        None => (None, None),
    };
    let (fields, problems) = match &module.state {
        Some(current) => {
            let schema = module.registered.module.settings_schema();
            let (values, errors) = match &draft_values {
                Some((values, errors)) => (values, errors),
                None => (&current.values, &current.errors),
            };
            let fields = form_fields(&schema, values, errors);
            let mut problems: Vec<Problem> = general_errors(&schema, errors)
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
            reverted: report.source == "file",
        }),
        pending,
        file_differences: None,
    }
}

/// The settings page as it stands, with the keys that differ from the config file.
async fn render_settings(
    state: &AppState,
    signed: &Signed,
    module: &ModuleNow,
    report: Option<&SettingsReport>,
    draft: Option<Draft>,
    status: StatusCode,
) -> Response {
    let mut page = settings_page(signed, module, &state.config.public_url, report, draft);
    page.file_differences = match file_differences(state, &module.registered.id).await {
        Ok(differences) => differences,
        Err(error) => return super::unavailable(error),
    };
    html::render(status, &page)
}

/// The errors of a preview, as the module gave them.
fn report_errors(report: &SettingsReport) -> Vec<FieldError> {
    report
        .errors
        .iter()
        .map(|e| FieldError::new(&e.key, e.message.clone()))
        .collect()
}

/// The status of a page showing a report: 422 while the settings are invalid.
fn status_of(report: &SettingsReport) -> StatusCode {
    if report.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
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
    render_settings(&state, &signed, &module, None, None, StatusCode::OK).await
}

/// Saves the whole form. A change that would stop payment methods is not saved at once: the page
/// shows the form as posted, each error at its field, and the methods it would stop, with a button
/// that posts it again confirmed (`confirm=1`). Saved (invalid settings too, as in Welcart: the
/// module then provides nothing and its methods stop), the page shows the methods the save stopped
/// or left waiting to be set 使用; 422 while the settings are invalid.
pub(super) async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: ConsoleForm,
) -> Response {
    let Some(module) = module_now(&state, &id) else {
        return no_such_module();
    };
    let Some(current) = &module.state else {
        let page = settings_page(&form.signed, &module, &state.config.public_url, None, None);
        return html::render(StatusCode::CONFLICT, &page);
    };
    let schema = module.registered.module.settings_schema();
    let values = values_from_form(&schema, &form.fields, &current.values);
    if form.get("confirm") != "1" {
        let preview = match preview_settings(&state, &id, values.clone()).await {
            Ok(preview) => preview,
            Err(error) => return update_failed(&id, error),
        };
        if !preview.stopped_methods.is_empty() {
            let secret_typed = schema
                .fields
                .iter()
                .any(|f| f.kind == FieldKind::Secret && !form.get(&f.key).is_empty());
            let draft = Draft {
                values,
                errors: report_errors(&preview),
                pending: Pending {
                    stop: preview.stopped_methods.clone(),
                    valid: preview.ok,
                    secret_typed,
                    revert: false,
                },
            };
            let status = status_of(&preview);
            return render_settings(&state, &form.signed, &module, None, Some(draft), status).await;
        }
    }
    let report = match save_settings(&state, &id, values).await {
        Ok(report) => report,
        Err(error) => return update_failed(&id, error),
    };
    tracing::info!(by = %form.signed.operator.login, module = %id, ok = report.ok, stopped = ?report.stopped_methods, "console: module settings saved");
    // The page shows the settings as the engine now holds them.
    let Some(saved) = module_now(&state, &id) else {
        return no_such_module();
    };
    let status = status_of(&report);
    render_settings(&state, &form.signed, &saved, Some(&report), None, status).await
}

/// Back to the config file's settings: the first post shows what it would change and stop, the
/// confirmed one (`confirm=1`) makes the change.
pub(super) async fn revert(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: ConsoleForm,
) -> Response {
    let Some(module) = module_now(&state, &id) else {
        return no_such_module();
    };
    if module.state.is_none() || !state.config.module_settings.contains_key(&id) {
        let page = settings_page(&form.signed, &module, &state.config.public_url, None, None);
        return html::render(StatusCode::CONFLICT, &page);
    }
    let confirmed = form.get("confirm") == "1";
    let report = match revert_to_file(&state, &id, confirmed).await {
        Ok(report) => report,
        Err(error) => return update_failed(&id, error),
    };
    if !confirmed {
        let file = state
            .config
            .module_settings
            .get(&id)
            .cloned()
            .unwrap_or_default();
        let draft = Draft {
            values: file,
            errors: report_errors(&report),
            pending: Pending {
                stop: report.stopped_methods.clone(),
                valid: report.ok,
                secret_typed: false,
                revert: true,
            },
        };
        return render_settings(
            &state,
            &form.signed,
            &module,
            None,
            Some(draft),
            StatusCode::OK,
        )
        .await;
    }
    tracing::info!(by = %form.signed.operator.login, module = %id, ok = report.ok, "console: module settings returned to the config file's");
    let Some(saved) = module_now(&state, &id) else {
        return no_such_module();
    };
    let status = status_of(&report);
    render_settings(&state, &form.signed, &saved, Some(&report), None, status).await
}

fn update_failed(id: &str, error: UpdateError) -> Response {
    match error {
        UpdateError::Db(error) => super::unavailable(error),
        other => {
            tracing::warn!(module = %id, %other, "console: settings not saved");
            html::error_page(StatusCode::CONFLICT, &other.to_string())
        }
    }
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
            pending: None,
            file_differences: None,
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
