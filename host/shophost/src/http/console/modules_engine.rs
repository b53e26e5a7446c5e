//! Every call the 決済モジュール screens make into the engine, in one place.
//!
//! The pages read modules only through [`modules_now`] / [`module_now`], save settings only through
//! [`save_settings`] and change the modules in use only through [`set_in_use`] — the same engine
//! functions the JSON admin API calls (`Engine::overview`, `Engine::set_in_use`).

use shophost_module_api::SettingsValues;

use crate::engine::{
    differing_keys, ModuleOverview, ModuleState, SelectionError, SelectionOutcome, SettingsChange,
    SettingsReport, UpdateError,
};
use crate::registry::RegisteredModule;
use crate::AppState;

/// A registered module as the engine sees it now.
pub(super) struct ModuleNow {
    /// The registered module: id, display name, origin.
    pub registered: RegisteredModule,
    /// In use or not, its place in the order, settings validity, settlement types and, out of use
    /// with something open, whether it still listens and why.
    pub overview: ModuleOverview,
    /// Its settings, settlement types and endpoints now; `None` when the module is not in use.
    pub state: Option<ModuleState>,
    /// Out of use but still listening: the state its notifications are read with (its endpoints
    /// resolve and must stay registered at the gateway).
    pub listening_state: Option<ModuleState>,
}

/// Every registered module, in the registry's order (by id), in use or not.
// ENGINE: `Engine::overview` (as `GET /admin/api/modules`), `states()` and `retired()` for the
// endpoints of modules in use and of retired ones still listening.
pub(super) fn modules_now(state: &AppState) -> Vec<ModuleNow> {
    let states = state.engine.states();
    let retired = state.engine.retired();
    state
        .engine
        .overview()
        .into_iter()
        .filter_map(|overview| {
            let registered = state.engine.registry().get(&overview.id)?.clone();
            Some(ModuleNow {
                state: states.get(&overview.id).cloned(),
                listening_state: retired
                    .get(&overview.id)
                    .filter(|r| r.listening())
                    .map(|r| r.state.clone()),
                registered,
                overview,
            })
        })
        .collect()
}

/// One registered module, `None` when no module has this id.
pub(super) fn module_now(state: &AppState, id: &str) -> Option<ModuleNow> {
    modules_now(state)
        .into_iter()
        .find(|module| module.registered.id == id)
}

/// What saving a module's whole settings form would do, saving nothing (the confirmation step).
///
/// `values` holds every key of the schema, secrets posted empty already given their stored value
/// ([`super::settings_form::values_from_form`]).
pub(super) async fn preview_settings(
    state: &AppState,
    id: &str,
    values: SettingsValues,
) -> Result<SettingsReport, UpdateError> {
    state
        .engine
        .preview_settings(id, &SettingsChange::Replace(values), state.store.as_ref())
        .await
}

/// Saves a module's whole settings form and reports what that did to its payment methods.
pub(super) async fn save_settings(
    state: &AppState,
    id: &str,
    values: SettingsValues,
) -> Result<SettingsReport, UpdateError> {
    state
        .engine
        .change_settings(id, SettingsChange::Replace(values), state.store.as_ref())
        .await
}

/// The config file's settings of a module, when the file has any and the database's settings (saved
/// from the console or the API) win over them now: the keys that differ (names only).
pub(super) async fn file_differences(
    state: &AppState,
    id: &str,
) -> Result<Option<Vec<String>>, crate::db::DbError> {
    let Some(file) = state.config.module_settings.get(id) else {
        return Ok(None);
    };
    let Some(stored) = state.store.module_settings(id).await? else {
        return Ok(None);
    };
    if stored.source != "admin" {
        return Ok(None);
    }
    let Some(registered) = state.engine.registry().get(id) else {
        return Ok(None);
    };
    let schema = registered.module.settings_schema();
    Ok(Some(differing_keys(&schema, file, &stored.values)))
}

/// Returns a module to the config file's settings (previewed first unless `confirmed`).
pub(super) async fn revert_to_file(
    state: &AppState,
    id: &str,
    confirmed: bool,
) -> Result<SettingsReport, UpdateError> {
    let file = state
        .config
        .module_settings
        .get(id)
        .cloned()
        .unwrap_or_default();
    let change = SettingsChange::RevertToFile(file);
    let store = state.store.as_ref();
    if confirmed {
        state.engine.change_settings(id, change, store).await
    } else {
        state.engine.preview_settings(id, &change, store).await
    }
}

/// Sets the modules in use and their order (`PUT /admin/api/modules/in-use`): unconfirmed, a change
/// that would stop methods in use (使用) changes nothing and names them.
// ENGINE: `Engine::set_in_use`.
pub(super) async fn set_in_use(
    state: &AppState,
    in_use: Vec<String>,
    confirm: bool,
) -> Result<SelectionOutcome, SelectionError> {
    state
        .engine
        .set_in_use(in_use, confirm, &state.config, state.store.as_ref())
        .await
}
