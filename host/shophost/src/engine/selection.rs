//! Which modules are in use and in what order, chosen at run time as Welcart's 利用中のクレジット決済代行会社.
//!
//! The operator's choice is stored in the database (`module_selection`) and wins over the config
//! file's `modules.in_use` from then on, as settings saved through the admin API win over the file's.
//! Taking a module out of use while its methods are 使用 needs a confirmation naming them; confirmed,
//! they are stopped (never deleted). Putting a module into use loads its settings (stored, else the
//! file's) and validates them: invalid, it provides nothing and its methods stay stopped. A module
//! taken out of use still finishes what it started (`listening.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::listening::{retired_modules, stored_or_file_values, ListeningReport};
use super::{state_for, Engine, FieldReport, ModuleState};
use crate::config::Config;
use crate::db::{DbError, Store};
use crate::domain::now_millis;
use crate::registry::{Origin, RegisteredModule, Registry};

/// What a change of the modules in use did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SelectionOutcome {
    /// Nothing changed: payment methods in use (使用) would stop, and the change was not confirmed.
    NeedsConfirmation {
        /// The methods that would stop.
        methods: Vec<String>,
        /// The modules taken out of use.
        removed: Vec<String>,
        /// Message for the operator, in Japanese.
        message: String,
    },
    /// The change was applied.
    Applied(SelectionReport),
}

/// What an applied change did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SelectionReport {
    /// The modules in use now, in order.
    pub in_use: Vec<String>,
    /// Modules put into use.
    pub added: Vec<AddedModule>,
    /// Modules taken out of use.
    pub removed: Vec<String>,
    /// Methods stopped by this change.
    pub stopped_methods: Vec<String>,
    /// Modules out of use that still listen for what they started.
    pub listening: Vec<ListeningReport>,
    /// Messages for the operator, in Japanese.
    pub messages: Vec<String>,
}

/// A module put into use, and whether its settings are valid.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AddedModule {
    /// The module.
    pub module: String,
    /// Whether its settings are valid.
    pub settings_valid: bool,
    /// Its settings errors.
    pub errors: Vec<FieldReport>,
    /// Settlement types it provides now.
    pub settlement_types: Vec<String>,
    /// Its methods that are stopped and wait for the operator.
    pub methods_waiting_for_use: Vec<String>,
}

/// Why the modules in use could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    /// An id is not registered.
    #[error("unknown module `{0}`")]
    UnknownModule(String),
    /// An id is given twice.
    #[error("module `{0}` is listed twice")]
    Duplicate(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// One registered module as the admin API, `shophost modules` and the console show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ModuleOverview {
    /// Id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// `bundled` or `shared_library`.
    pub origin: &'static str,
    /// The shared library's path, for a module loaded from one.
    pub path: Option<String>,
    /// Whether it is in use.
    pub in_use: bool,
    /// Its place among the modules in use (0 first).
    pub position: Option<usize>,
    /// Whether its settings are valid (in use, or out of use and listening); `None` when not loaded.
    pub settings_valid: Option<bool>,
    /// The settlement types it provides now (none when out of use).
    pub settlement_types: Vec<TypeOverview>,
    /// For a module out of use with something open: whether it listens and why.
    pub retired: Option<ListeningReport>,
}

/// A settlement type.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TypeOverview {
    /// Id.
    pub id: String,
    /// Label.
    pub label: String,
}

/// The modules in use at start-up: the operator's stored choice, else the config file's. Logs when
/// they differ; ids no longer registered are left out with a warning.
pub(super) fn chosen_at_start(
    registry: &Registry,
    config: &Config,
    stored: Option<Vec<String>>,
) -> Vec<String> {
    let Some(stored) = stored else {
        return config.in_use.clone();
    };
    if stored != config.in_use {
        tracing::warn!(
            stored = %stored.join(", "),
            file = %config.in_use.join(", "),
            "the modules in use come from the admin API (chosen earlier); the config file's modules.in_use is ignored"
        );
    }
    stored
        .into_iter()
        .filter(|id| {
            let known = registry.get(id).is_some();
            if !known {
                tracing::warn!(module = %id, "module chosen through the admin API is not registered any more; it is not in use");
            }
            known
        })
        .collect()
}

/// A module's state from its settings (the admin API's saved ones win, else the file's), saved back
/// with where they came from.
pub(super) async fn load_state(
    registered: &RegisteredModule,
    config: &Config,
    store: &dyn Store,
) -> Result<ModuleState, DbError> {
    let id = &registered.id;
    let file_values = config.module_settings.get(id).cloned().unwrap_or_default();
    let stored = store.module_settings(id).await?;
    let from_admin = stored.as_ref().is_some_and(|s| s.source == "admin");
    let values = match stored {
        Some(stored) if from_admin => {
            if config.module_settings.contains_key(id) {
                super::settings::log_file_differences(registered, &file_values, &stored.values);
            }
            stored.values
        }
        _ if config.module_settings.contains_key(id) => file_values,
        // Not in the file: what was stored when it was last in use.
        Some(stored) => stored.values,
        None => file_values,
    };
    let state = state_for(registered, values);
    let source = if from_admin { "admin" } else { "file" };
    store
        .save_module_settings(id, &state.values, source, state.errors.is_empty())
        .await?;
    for error in &state.errors {
        tracing::warn!(module = %id, key = %error.key, "invalid setting: {}", error.message);
    }
    Ok(state)
}

impl Engine {
    /// Sets the modules in use and their order. When active methods (使用) would stop and `confirm`
    /// is false, changes nothing and names them; otherwise stores the choice, loads and validates the
    /// settings of the modules put into use, stops the methods no longer provided, and works out which
    /// modules out of use still listen.
    pub async fn set_in_use(
        &self,
        in_use: Vec<String>,
        confirm: bool,
        config: &Config,
        store: &dyn Store,
    ) -> Result<SelectionOutcome, SelectionError> {
        for (index, id) in in_use.iter().enumerate() {
            if self.registry.get(id).is_none() {
                return Err(SelectionError::UnknownModule(id.clone()));
            }
            if in_use[..index].contains(id) {
                return Err(SelectionError::Duplicate(id.clone()));
            }
        }
        let _changing = self.changing.lock().await;
        let current = self.states();
        let current_in_use = self.in_use();
        let removed: Vec<String> = current_in_use
            .iter()
            .filter(|id| !in_use.contains(id))
            .cloned()
            .collect();
        // The next states: kept modules as they are, added ones from their settings (not saved yet).
        let mut next: BTreeMap<String, ModuleState> = BTreeMap::new();
        let mut added_ids = Vec::new();
        for id in &in_use {
            match current.get(id) {
                Some(state) => {
                    next.insert(id.clone(), state.clone());
                }
                None => {
                    let registered = self.registry.get(id).expect("checked above");
                    let values = stored_or_file_values(id, config, store).await?;
                    next.insert(id.clone(), state_for(registered, values));
                    added_ids.push(id.clone());
                }
            }
        }
        let provided: Vec<String> = next
            .values()
            .flat_map(|s| s.settlement_types.iter().map(|t| t.id.clone()))
            .collect();
        let methods = store.payment_methods().await?;
        let would_stop: Vec<String> = methods
            .iter()
            .filter(|m| m.active && !provided.contains(&m.settlement_type))
            .map(|m| m.name.clone())
            .collect();
        if !would_stop.is_empty() && !confirm {
            let message = format!(
                "利用中の支払方法（{}）が「停止」になります。よろしければ確認のうえ更新してください。",
                would_stop.join("、")
            );
            return Ok(SelectionOutcome::NeedsConfirmation {
                methods: would_stop,
                removed,
                message,
            });
        }
        // Settings of the modules put into use, loaded as at start-up and saved with their source.
        for id in &added_ids {
            let registered = self.registry.get(id).expect("checked above");
            next.insert(id.clone(), load_state(registered, config, store).await?);
        }
        store.save_module_selection(&in_use).await?;
        let retired = retired_modules(&self.registry, config, &in_use, store, now_millis()).await?;
        // A module leaving use is listening before it leaves the states; one entering is in the
        // states before it leaves the listening ones: no endpoint is unknown in between.
        {
            let mut both = (*self.retired()).clone();
            both.extend(retired.clone());
            *self.retired.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(both);
        }
        *self.states.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        *self.in_use.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(in_use.clone());
        self.replace_retired(retired);
        let stopped = store
            .stop_methods_not_provided(&self.provided_type_ids())
            .await?;
        for name in &stopped {
            tracing::warn!(method = %name, "支払方法の{name}を「停止」しました（モジュールを利用しないため）");
        }
        tracing::info!(in_use = %in_use.join(", "), "modules in use changed through the admin API");
        let methods = store.payment_methods().await?;
        let states = self.states();
        let added: Vec<AddedModule> = added_ids
            .iter()
            .filter_map(|id| states.get(id))
            .map(|state| {
                let types: Vec<String> = state
                    .settlement_types
                    .iter()
                    .map(|t| t.id.clone())
                    .collect();
                AddedModule {
                    module: state.registered.id.clone(),
                    settings_valid: state.errors.is_empty(),
                    errors: state
                        .errors
                        .iter()
                        .map(|e| FieldReport {
                            key: e.key.clone(),
                            message: e.message.clone(),
                        })
                        .collect(),
                    methods_waiting_for_use: methods
                        .iter()
                        .filter(|m| !m.active && types.contains(&m.settlement_type))
                        .map(|m| m.name.clone())
                        .collect(),
                    settlement_types: types,
                }
            })
            .collect();
        let mut messages = vec!["利用するモジュールを更新しました。".to_owned()];
        for name in &stopped {
            messages.push(format!("支払方法の{name}を「停止」しました。"));
        }
        for module in &added {
            if !module.settings_valid {
                messages.push(format!(
                    "{}の設定に不備があります。設定を完了して、支払方法を「使用」に更新してください。",
                    module.module
                ));
            } else if !module.methods_waiting_for_use.is_empty() {
                messages.push(format!(
                    "利用する支払方法を「使用」に更新してください。（{}）",
                    module.methods_waiting_for_use.join("、")
                ));
            }
        }
        let listening = self.listening();
        messages.extend(listening.iter().map(|l| l.reason.clone()));
        Ok(SelectionOutcome::Applied(SelectionReport {
            in_use,
            added,
            removed,
            stopped_methods: stopped,
            listening,
            messages,
        }))
    }

    /// Every registered module: origin, in use or not, settings, settlement types, and for a module
    /// out of use with something open whether it listens and why.
    pub fn overview(&self) -> Vec<ModuleOverview> {
        let states = self.states();
        let retired = self.retired();
        let in_use = self.in_use();
        self.registry
            .modules()
            .iter()
            .map(|m| {
                let state = states.get(&m.id);
                let retired = retired.get(&m.id);
                let (origin, path) = match &m.origin {
                    Origin::CompiledIn => ("bundled", None),
                    Origin::File(path) => ("shared_library", Some(path.display().to_string())),
                };
                ModuleOverview {
                    id: m.id.clone(),
                    display_name: m.display_name.clone(),
                    origin,
                    path,
                    in_use: state.is_some(),
                    position: in_use.iter().position(|id| *id == m.id),
                    settings_valid: state
                        .or(retired.map(|r| &r.state))
                        .map(|s| s.errors.is_empty()),
                    settlement_types: state
                        .map(|s| {
                            s.settlement_types
                                .iter()
                                .map(|t| TypeOverview {
                                    id: t.id.clone(),
                                    label: t.label.clone(),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    retired: retired.map(|r| r.report()),
                }
            })
            .collect()
    }
}
