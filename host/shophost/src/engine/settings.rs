//! Changing a module's settings: the whole form, a partial update, or a return to the config file's
//! settings, each previewed the same way before anything is saved.
//!
//! Every change goes through two steps the admin API and the console share:
//! [`Engine::settings_after`] works out the values the change leads to (a whole form must name every key
//! of the schema; a secret sent empty keeps the stored value, since secrets are write-only and never
//! shown back), and [`Engine::preview_settings`] / [`Engine::change_settings`] report what they do: each
//! field's error, the payment methods that stop (their settlement type is no longer provided) and those
//! that become allowed again. A preview saves nothing; a change saves, stops the methods it said it
//! would, and never restarts a stopped one (the operator sets it to 使用 again, as Welcart asks).
//!
//! Where the settings come from is stored with them: `admin` once changed through the admin API (the
//! database then wins over the config file at start-up), `file` after [`SettingsChange::RevertToFile`]
//! (the file wins again, start-up reads it afresh).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use shophost_module_api::{FieldKind, SettingsSchema, SettingsValues, REDACTED};

use super::{state_for, Engine, ModuleState};
use crate::db::{DbError, Store};
use crate::registry::RegisteredModule;

/// A change an operator asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsChange {
    /// The whole form: every key of the schema (a missing key is refused, never taken as blank). A
    /// secret sent empty (or as the redaction marker) keeps its stored value.
    Replace(SettingsValues),
    /// Some keys; every other key keeps its current value. A secret sent empty keeps its value too.
    Merge(SettingsValues),
    /// Exactly these values, as a program that holds all of them sets them (a key left out takes its
    /// default or is blank; a secret left out is blank): the conformance kit's and tests' update. An
    /// operator's form is a [`SettingsChange::Replace`], which refuses missing keys instead.
    Exactly(SettingsValues),
    /// Back to the config file's settings (these values, from the file): stored with source `file`,
    /// so the file wins again at every start. Callers ask the operator to confirm first.
    RevertToFile(SettingsValues),
}

impl SettingsChange {
    /// Where the settings come from once this change is saved: `admin` or `file`.
    pub fn source(&self) -> &'static str {
        match self {
            SettingsChange::Replace(_) | SettingsChange::Merge(_) | SettingsChange::Exactly(_) => {
                "admin"
            }
            SettingsChange::RevertToFile(_) => "file",
        }
    }
}

/// What a settings change does, or would do: the same report for a preview and a saved change.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SettingsReport {
    /// Whether the settings are valid.
    pub ok: bool,
    /// Whether they were saved (false for a preview).
    pub saved: bool,
    /// Where the settings come from once saved: `admin` or `file`.
    pub source: String,
    /// Every field error.
    pub errors: Vec<FieldReport>,
    /// The same errors by key (the admin API's `fields`), several for one key joined.
    pub fields: BTreeMap<String, String>,
    /// Keys whose value changes (names only: a secret's value never appears).
    pub changed_keys: Vec<String>,
    /// Settlement types the module provides with these settings.
    pub settlement_types: Vec<String>,
    /// Methods in use (使用) that stop (停止): stopped when saved, would stop when previewed.
    pub stopped_methods: Vec<String>,
    /// Stopped methods whose settlement type becomes provided: allowed to be set to 使用 again.
    pub allowed_methods: Vec<String>,
    /// Methods of this module's types that are stopped and wait for the operator.
    pub methods_waiting_for_use: Vec<String>,
    /// Messages for the operator, in Japanese.
    pub messages: Vec<String>,
}

/// One field error.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldReport {
    /// Key.
    pub key: String,
    /// Message.
    pub message: String,
}

/// Why a settings change was not made at all.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// No such module.
    #[error("unknown module `{0}`")]
    UnknownModule(String),
    /// Registered but not in use.
    #[error("module `{0}` is not in use")]
    NotInUse(String),
    /// A whole form without some of the schema's keys: nothing saved.
    #[error("設定項目が足りません: {}", .0.join(", "))]
    MissingKeys(Vec<String>),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What a preview found, kept for the save.
struct Planned {
    state: ModuleState,
    report: SettingsReport,
}

impl Engine {
    fn in_use_module(&self, module_id: &str) -> Result<ModuleState, UpdateError> {
        match self.states().get(module_id) {
            Some(state) => Ok(state.clone()),
            None if self.registry.get(module_id).is_some() => {
                Err(UpdateError::NotInUse(module_id.to_owned()))
            }
            None => Err(UpdateError::UnknownModule(module_id.to_owned())),
        }
    }

    /// The values a change leads to, from the module's current values; refuses a whole form that
    /// leaves out any of the schema's keys.
    pub fn settings_after(
        &self,
        module_id: &str,
        change: &SettingsChange,
    ) -> Result<SettingsValues, UpdateError> {
        let current = self.in_use_module(module_id)?;
        let schema = current.registered.module.settings_schema();
        values_after(&schema, &current.values, change)
    }

    /// What a change would do, saving nothing: each field's error, the methods that would stop and
    /// those that would become allowed.
    pub async fn preview_settings(
        &self,
        module_id: &str,
        change: &SettingsChange,
        store: &dyn Store,
    ) -> Result<SettingsReport, UpdateError> {
        Ok(self.plan(module_id, change, store).await?.report)
    }

    /// Makes a change: saves the values with the change's source, provides the settlement types they
    /// allow, and stops every method whose type is no longer provided. Reports as the preview does,
    /// with `saved`.
    pub async fn change_settings(
        &self,
        module_id: &str,
        change: SettingsChange,
        store: &dyn Store,
    ) -> Result<SettingsReport, UpdateError> {
        let Planned { state, mut report } = self.plan(module_id, &change, store).await?;
        store
            .save_module_settings(module_id, &state.values, change.source(), report.ok)
            .await?;
        {
            let mut guard = self.states.write().unwrap_or_else(|e| e.into_inner());
            let mut next = (**guard).clone();
            next.insert(module_id.to_owned(), state);
            *guard = Arc::new(next);
        }
        let stopped = store
            .stop_methods_not_provided(&self.provided_type_ids())
            .await?;
        let waiting = waiting_methods(store, &report.settlement_types).await?;
        report.saved = true;
        report.stopped_methods = stopped;
        report.methods_waiting_for_use = waiting;
        report.messages = messages(&report);
        Ok(report)
    }

    /// Sets a module's settings to exactly these values (see [`SettingsChange::Exactly`]; an operator's
    /// whole form goes through [`Engine::change_settings`] with [`SettingsChange::Replace`]).
    pub async fn update_settings(
        &self,
        module_id: &str,
        values: SettingsValues,
        store: &dyn Store,
    ) -> Result<SettingsReport, UpdateError> {
        self.change_settings(module_id, SettingsChange::Exactly(values), store)
            .await
    }

    async fn plan(
        &self,
        module_id: &str,
        change: &SettingsChange,
        store: &dyn Store,
    ) -> Result<Planned, UpdateError> {
        let current = self.in_use_module(module_id)?;
        let schema = current.registered.module.settings_schema();
        let values = values_after(&schema, &current.values, change)?;
        let state = state_for(&current.registered, values);
        let provided_now: BTreeSet<String> = self.provided_type_ids().into_iter().collect();
        let provided_after: BTreeSet<String> = self
            .states()
            .iter()
            .filter(|(id, _)| id.as_str() != module_id)
            .flat_map(|(_, s)| s.settlement_types.iter().map(|t| t.id.clone()))
            .chain(state.settlement_types.iter().map(|t| t.id.clone()))
            .collect();
        let methods = store.payment_methods().await?;
        let stopped_methods = methods
            .iter()
            .filter(|m| m.active && !provided_after.contains(&m.settlement_type))
            .map(|m| m.name.clone())
            .collect();
        let allowed_methods = methods
            .iter()
            .filter(|m| {
                !m.active
                    && !provided_now.contains(&m.settlement_type)
                    && provided_after.contains(&m.settlement_type)
            })
            .map(|m| m.name.clone())
            .collect();
        let own_types: Vec<String> = state
            .settlement_types
            .iter()
            .map(|t| t.id.clone())
            .collect();
        let methods_waiting_for_use = methods
            .iter()
            .filter(|m| !m.active && own_types.contains(&m.settlement_type))
            .map(|m| m.name.clone())
            .collect();
        let errors: Vec<FieldReport> = state
            .errors
            .iter()
            .map(|e| FieldReport {
                key: e.key.clone(),
                message: e.message.clone(),
            })
            .collect();
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for error in &errors {
            fields
                .entry(error.key.clone())
                .and_modify(|m| {
                    m.push('。');
                    m.push_str(&error.message);
                })
                .or_insert_with(|| error.message.clone());
        }
        let mut report = SettingsReport {
            ok: errors.is_empty(),
            saved: false,
            source: change.source().to_owned(),
            errors,
            fields,
            changed_keys: differing_keys(&schema, &current.values, &state.values),
            settlement_types: own_types,
            stopped_methods,
            allowed_methods,
            methods_waiting_for_use,
            messages: Vec::new(),
        };
        report.messages = messages(&report);
        Ok(Planned { state, report })
    }
}

/// The values a change leads to (see [`SettingsChange`]).
fn values_after(
    schema: &SettingsSchema,
    current: &SettingsValues,
    change: &SettingsChange,
) -> Result<SettingsValues, UpdateError> {
    let secret = |key: &str| matches!(schema.field(key).map(|f| &f.kind), Some(FieldKind::Secret));
    let kept = |value: &str| value.is_empty() || value == REDACTED;
    match change {
        SettingsChange::Replace(sent) => {
            let missing: Vec<String> = schema
                .fields
                .iter()
                .filter(|f| !sent.contains_key(&f.key))
                .map(|f| f.key.clone())
                .collect();
            if !missing.is_empty() {
                return Err(UpdateError::MissingKeys(missing));
            }
            let mut values = SettingsValues::new();
            for (key, value) in sent {
                if secret(key) && kept(value) {
                    if let Some(stored) = current.get(key) {
                        values.insert(key.clone(), stored.clone());
                    }
                } else {
                    values.insert(key.clone(), value.clone());
                }
            }
            Ok(values)
        }
        SettingsChange::Merge(sent) => {
            let mut values = current.clone();
            for (key, value) in sent {
                if !(secret(key) && kept(value)) {
                    values.insert(key.clone(), value.clone());
                }
            }
            Ok(values)
        }
        SettingsChange::Exactly(values) | SettingsChange::RevertToFile(values) => {
            Ok(values.clone())
        }
    }
}

/// Every key of the schema with its value: the defaults filled in and blank for the rest, as a whole
/// form shows them (and sends them back). Means the same settings as `values`.
pub fn whole_form(schema: &SettingsSchema, values: &SettingsValues) -> SettingsValues {
    let mut filled = schema.with_defaults(values);
    for field in &schema.fields {
        filled.entry(field.key.clone()).or_default();
    }
    filled
}

/// The keys whose values differ between two sets of settings, defaults filled in (a key absent from
/// one and blank in the other does not differ). Names only, so that it can be logged and shown.
pub fn differing_keys(
    schema: &SettingsSchema,
    a: &SettingsValues,
    b: &SettingsValues,
) -> Vec<String> {
    let (a, b) = (&schema.with_defaults(a), &schema.with_defaults(b));
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|key| {
            a.get(*key).map_or("", String::as_str) != b.get(*key).map_or("", String::as_str)
        })
        .cloned()
        .collect()
}

/// At start-up, when the database's settings (from the admin API) win over the config file's: says
/// which keys differ, by name only (a secret's value never reaches the logs), and how to return to
/// the file.
pub(super) fn log_file_differences(
    registered: &RegisteredModule,
    file: &SettingsValues,
    stored: &SettingsValues,
) {
    let keys = differing_keys(&registered.module.settings_schema(), file, stored);
    if keys.is_empty() {
        return;
    }
    tracing::warn!(
        module = %registered.id,
        keys = %keys.join(", "),
        "settings come from the admin API (saved earlier) and differ from the config file in these keys; \
         the file's are ignored until POST /admin/api/modules/{}/settings/revert",
        registered.id
    );
}

/// Stopped methods of these settlement types.
async fn waiting_methods(store: &dyn Store, own_types: &[String]) -> Result<Vec<String>, DbError> {
    Ok(store
        .payment_methods()
        .await?
        .into_iter()
        .filter(|m| !m.active && own_types.contains(&m.settlement_type))
        .map(|m| m.name)
        .collect())
}

/// What the operator is told, in Welcart's words where Welcart has them.
fn messages(report: &SettingsReport) -> Vec<String> {
    let mut messages = Vec::new();
    let saved = report.saved;
    if !report.ok {
        messages.push("データに不備があります。".to_owned());
    } else if saved {
        messages.push(if report.source == "file" {
            "設定ファイルの設定に戻しました。以後は設定ファイルの設定が使われます。".to_owned()
        } else {
            "オプションを更新しました。".to_owned()
        });
    } else {
        messages.push("まだ保存していません（確認のみ）。".to_owned());
    }
    for name in &report.stopped_methods {
        messages.push(if saved {
            format!("支払方法の{name}を「停止」しました。")
        } else {
            format!("保存すると支払方法の{name}が「停止」になります。")
        });
    }
    for name in &report.allowed_methods {
        if !saved {
            messages.push(format!(
                "保存すると支払方法の{name}を「使用」に戻せるようになります。"
            ));
        }
    }
    if !report.ok {
        messages.push("設定を完了して、支払方法を「使用」に更新してください。".to_owned());
    } else if saved && !report.methods_waiting_for_use.is_empty() {
        messages.push(format!(
            "利用する支払方法を「使用」に更新してください。（{}）",
            report.methods_waiting_for_use.join("、")
        ));
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use shophost_module_api::SettingField;

    fn schema() -> SettingsSchema {
        SettingsSchema::new(vec![
            SettingField::text("shop", "ショップID"),
            SettingField::digits("days", "支払期限"),
            SettingField::secret("key", "秘密鍵"),
        ])
    }

    fn values(pairs: &[(&str, &str)]) -> SettingsValues {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_whole_form_names_every_key_and_keeps_secrets_sent_empty() {
        let current = values(&[("shop", "A"), ("days", "14"), ("key", "s3cret")]);
        let missing = values_after(
            &schema(),
            &current,
            &SettingsChange::Replace(values(&[("days", "7")])),
        );
        assert!(
            matches!(&missing, Err(UpdateError::MissingKeys(keys)) if keys == &["shop", "key"]),
            "{missing:?}"
        );
        let whole = SettingsChange::Replace(values(&[("shop", "B"), ("days", "7"), ("key", "")]));
        assert_eq!(
            values_after(&schema(), &current, &whole).unwrap(),
            values(&[("shop", "B"), ("days", "7"), ("key", "s3cret")])
        );
        let new_key = SettingsChange::Replace(values(&[("shop", "B"), ("days", ""), ("key", "n")]));
        assert_eq!(
            values_after(&schema(), &current, &new_key).unwrap()["key"],
            "n"
        );
    }

    #[test]
    fn a_partial_update_keeps_the_rest() {
        let current = values(&[("shop", "A"), ("days", "14"), ("key", "s3cret")]);
        let merged = values_after(
            &schema(),
            &current,
            &SettingsChange::Merge(values(&[("days", "7"), ("key", REDACTED)])),
        )
        .unwrap();
        assert_eq!(
            merged,
            values(&[("shop", "A"), ("days", "7"), ("key", "s3cret")])
        );
    }

    #[test]
    fn differences_are_named_by_key_only() {
        let a = values(&[("shop", "A"), ("key", "one"), ("days", "")]);
        let b = values(&[("shop", "A"), ("key", "two")]);
        assert_eq!(differing_keys(&schema(), &a, &b), ["key"]);
    }
}
