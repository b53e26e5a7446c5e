//! Every call the 決済モジュール screens make into the engine, in one place.
//!
//! The engine is changing under these screens: run-time selection of the modules in use (with retired
//! modules that keep listening) and settings changes previewed before they are saved. The pages read
//! modules only through [`modules_now`] / [`module_now`] and save only through [`save_settings`], so
//! switching to the engine's new functions touches this file and nothing else.

use shophost_module_api::SettingsValues;

use crate::engine::{differing_keys, ModuleState, SettingsChange, SettingsReport, UpdateError};
use crate::registry::RegisteredModule;
use crate::AppState;

/// A registered module and, when it is in use, its current state.
pub(super) struct ModuleNow {
    /// The registered module: id, display name, origin.
    pub registered: RegisteredModule,
    /// Its settings, settlement types and endpoints now; `None` when the module is not in use.
    pub state: Option<ModuleState>,
}

/// Every registered module, in the registry's order (by id), in use or not.
// ENGINE: `registry().modules()` and `states()`; run-time selection will say which are in use.
pub(super) fn modules_now(state: &AppState) -> Vec<ModuleNow> {
    let states = state.engine.states();
    state
        .engine
        .registry()
        .modules()
        .iter()
        .map(|registered| ModuleNow {
            registered: registered.clone(),
            state: states.get(&registered.id).cloned(),
        })
        .collect()
}

/// One registered module, `None` when no module has this id.
// ENGINE: `registry().get()` and `states()`.
pub(super) fn module_now(state: &AppState, id: &str) -> Option<ModuleNow> {
    let registered = state.engine.registry().get(id)?.clone();
    let current = state.engine.states().get(id).cloned();
    Some(ModuleNow {
        registered,
        state: current,
    })
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
