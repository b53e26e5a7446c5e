//! Every call the 決済モジュール screens make into the engine, in one place.
//!
//! The pages read modules only through [`modules_now`] / [`module_now`], save settings only through
//! [`save_settings`] and change the modules in use only through [`set_in_use`] — the same engine
//! functions the JSON admin API calls (`Engine::overview`, `Engine::set_in_use`).

use crate::engine::{
    ModuleOverview, ModuleState, SelectionError, SelectionOutcome, SettingsReport, UpdateError,
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
