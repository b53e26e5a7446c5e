//! Every call the 決済モジュール screens make into the engine, in one place.
//!
//! The engine is changing under these screens: run-time selection of the modules in use (with retired
//! modules that keep listening) and settings changes previewed before they are saved. The pages read
//! modules only through [`modules_now`] / [`module_now`] and save only through [`save_settings`], so
//! switching to the engine's new functions touches this file and nothing else.

use crate::engine::{ModuleState, SettingsReport, UpdateError};
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

/// Saves a module's whole settings form and reports what that did to its payment methods.
///
/// `values` holds every key of the schema, secrets posted empty already given their stored value
/// ([`super::settings_form::values_from_form`]).
// ENGINE: `Engine::update_settings`; becomes `change_settings(SettingsChange::Replace(values))`.
pub(super) async fn save_settings(
    state: &AppState,
    id: &str,
    values: shophost_module_api::SettingsValues,
) -> Result<SettingsReport, UpdateError> {
    state
        .engine
        .update_settings(id, values, state.store.as_ref())
        .await
}
