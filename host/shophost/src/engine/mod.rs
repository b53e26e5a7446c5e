//! The modules in use at run time: each one's current settings, validated config, settlement types and
//! notification endpoints, and the rules that tie them to payment methods.
//!
//! Settings errors withdraw a module's settlement types, and every payment method whose type is no
//! longer provided is stopped (停止), never deleted. A successful update does not restart stopped
//! methods: the operator sets them to 使用 again, as Welcart asks. Changing settings (whole, partial,
//! back to the file, each previewed first) is `settings.rs`.
//!
//! Which modules are in use is chosen at run time (`selection.rs`); a module out of use still
//! finishes what it started (`listening.rs`).

mod listening;
mod selection;
mod settings;

pub use listening::{retired_modules, ListeningReport, Retired};
pub use selection::{
    AddedModule, ModuleOverview, SelectionError, SelectionOutcome, SelectionReport, TypeOverview,
};

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use shophost_module_api::{
    FieldError, LinkKeySpec, ModuleConfig, NotificationEndpoint, PaymentModule, SettingsValues,
    SettlementKind, SettlementType, WireCharset,
};

use crate::config::Config;
use crate::db::{DbError, Store};
use crate::registry::{RegisteredModule, Registry};

pub use settings::{
    differing_keys, whole_form, FieldReport, SettingsChange, SettingsReport, UpdateError,
};

/// One in-use module's current state.
#[derive(Clone)]
pub struct ModuleState {
    /// The registered module.
    pub registered: RegisteredModule,
    /// Its settings as stored.
    pub values: SettingsValues,
    /// Its config, when the settings are valid.
    pub config: Option<ModuleConfig>,
    /// The settings errors, when not.
    pub errors: Vec<FieldError>,
    /// Settlement types provided now.
    pub settlement_types: Vec<SettlementType>,
    /// Notification endpoints now.
    pub endpoints: Vec<NotificationEndpoint>,
    /// The module's wire charset, asked once with its settings (not on every request).
    pub wire_charset: WireCharset,
    /// The module's link-key format, asked once with its settings.
    pub link_key_spec: LinkKeySpec,
}

/// A settlement type and the module providing it.
#[derive(Clone)]
pub struct ProvidedType {
    /// The module.
    pub module: Arc<dyn PaymentModule>,
    /// Its config.
    pub config: ModuleConfig,
    /// The type.
    pub settlement_type: SettlementType,
    /// The module's link-key format.
    pub link_key_spec: LinkKeySpec,
}

/// A notification endpoint and its module.
#[derive(Clone)]
pub struct EndpointTarget {
    /// The module.
    pub module: Arc<dyn PaymentModule>,
    /// Its config.
    pub config: ModuleConfig,
    /// The endpoint.
    pub endpoint: NotificationEndpoint,
    /// Labels of the module's settlement types.
    pub labels: BTreeMap<String, String>,
    /// Kinds of the module's settlement types.
    pub kinds: BTreeMap<String, SettlementKind>,
    /// The module's wire charset.
    pub wire_charset: WireCharset,
}

/// The in-use modules.
pub struct Engine {
    registry: Registry,
    in_use: RwLock<Arc<Vec<String>>>,
    states: RwLock<Arc<BTreeMap<String, ModuleState>>>,
    /// Modules out of use with something open (`listening.rs`).
    retired: RwLock<Arc<BTreeMap<String, listening::Retired>>>,
    /// Held while the modules in use or the retired ones change, one change at a time.
    changing: tokio::sync::Mutex<()>,
}

/// The state for a module given its settings. Everything the engine asks the module here is asked in
/// one call through the host's door for panics (`guard`): a module that panics on its settings has a
/// settings error, so it provides nothing and its methods stop, as with any invalid setting.
fn state_for(registered: &RegisteredModule, values: SettingsValues) -> ModuleState {
    let module = &registered.module;
    let asked = crate::guard::module_call(&registered.id, "validate", || {
        let wire = (module.wire_charset(), module.link_key_spec());
        let with_defaults = module.settings_schema().with_defaults(&values);
        let validated = module.validate(&with_defaults).map(|config| {
            let types = module.settlement_types(&config);
            let endpoints = module.notification_endpoints(&config);
            (config, types, endpoints)
        });
        (wire, validated)
    });
    let ((wire_charset, link_key_spec), validated) = match asked {
        Ok(asked) => asked,
        Err(panic) => (
            (WireCharset::Utf8, default_link_key_spec()),
            Err(vec![FieldError::new(
                "",
                format!("モジュールの内部エラーのため設定を確認できません（{panic}）"),
            )]),
        ),
    };
    match validated {
        Ok((config, settlement_types, endpoints)) => ModuleState {
            settlement_types,
            endpoints,
            registered: registered.clone(),
            values,
            config: Some(config),
            errors: Vec::new(),
            wire_charset,
            link_key_spec,
        },
        Err(errors) => ModuleState {
            registered: registered.clone(),
            values,
            config: None,
            errors,
            settlement_types: Vec::new(),
            endpoints: Vec::new(),
            wire_charset,
            link_key_spec,
        },
    }
}

/// The target of endpoint `name` of a module, when it has one and valid settings.
fn endpoint_target(state: &ModuleState, name: &str) -> Option<EndpointTarget> {
    let endpoint = state.endpoints.iter().find(|e| e.name == name)?;
    Some(EndpointTarget {
        module: state.registered.module.clone(),
        config: state.config.clone()?,
        endpoint: endpoint.clone(),
        labels: state
            .settlement_types
            .iter()
            .map(|t| (t.id.clone(), t.label.clone()))
            .collect(),
        kinds: state
            .settlement_types
            .iter()
            .map(|t| (t.id.clone(), t.kind))
            .collect(),
        wire_charset: state.wire_charset,
    })
}

/// The module API's default link-key format, for a module that could not be asked for its own.
fn default_link_key_spec() -> LinkKeySpec {
    LinkKeySpec {
        digits: 17,
        card_update_prefix: None,
    }
}

impl Engine {
    /// Loads the in-use modules' settings: from the database when the operator set them through the
    /// admin API, otherwise from the config file (which is then stored). Stops methods whose types are
    /// not provided, and refuses to start when a method in use belongs to a module taken out of use.
    pub async fn start(
        registry: Registry,
        config: &Config,
        store: &dyn Store,
    ) -> Result<Engine, StartError> {
        let in_use = selection::chosen_at_start(&registry, config, store.module_selection().await?);
        let mut states = BTreeMap::new();
        for id in &in_use {
            let registered = registry
                .get(id)
                .ok_or_else(|| StartError::UnknownModule(id.clone()))?;
            let state = selection::load_state(registered, config, store).await?;
            states.insert(id.clone(), state);
        }
        let engine = Engine {
            registry,
            in_use: RwLock::new(Arc::new(in_use.clone())),
            states: RwLock::new(Arc::new(states)),
            retired: RwLock::new(Arc::new(BTreeMap::new())),
            changing: tokio::sync::Mutex::new(()),
        };
        // A method of a module taken out of use must have been stopped first.
        let provided_by_in_use = engine.provided_type_ids();
        for method in store.payment_methods().await? {
            if method.active && !provided_by_in_use.contains(&method.settlement_type) {
                let owner = engine.registry.modules().iter().find(|m| {
                    !in_use.contains(&m.id)
                        && method
                            .settlement_type
                            .starts_with(&format!("acting_{}_", m.id))
                });
                if let Some(owner) = owner {
                    return Err(StartError::MethodInUse {
                        module: owner.id.clone(),
                        method: method.name.clone(),
                    });
                }
            }
        }
        let stopped = store.stop_methods_not_provided(&provided_by_in_use).await?;
        for name in stopped {
            tracing::warn!(method = %name, "支払方法の{name}を「停止」しました（決済種別が提供されていません）");
        }
        // A module out of use still finishes what it started.
        engine
            .refresh_listening(config, store, crate::domain::now_millis())
            .await?;
        Ok(engine)
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Module ids in use, in order.
    pub fn in_use(&self) -> Arc<Vec<String>> {
        self.in_use
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A snapshot of the in-use modules' states.
    pub fn states(&self) -> Arc<BTreeMap<String, ModuleState>> {
        self.states
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Ids of all settlement types provided now.
    pub fn provided_type_ids(&self) -> Vec<String> {
        self.states()
            .values()
            .flat_map(|s| s.settlement_types.iter().map(|t| t.id.clone()))
            .collect()
    }

    /// The provider of a settlement type, when provided now.
    pub fn provided(&self, settlement_type: &str) -> Option<ProvidedType> {
        let states = self.states();
        states.values().find_map(|state| {
            let found = state
                .settlement_types
                .iter()
                .find(|t| t.id == settlement_type)?;
            Some(ProvidedType {
                module: state.registered.module.clone(),
                config: state.config.clone()?,
                settlement_type: found.clone(),
                link_key_spec: state.link_key_spec,
            })
        })
    }

    /// The module that owns a settlement type by its `acting_<module>_` prefix, even when not provided
    /// now (for browser returns that arrive after a settings change, or after the module was taken out
    /// of use while it still listens).
    pub fn owner_of(&self, settlement_type: &str) -> Option<ModuleState> {
        self.states()
            .values()
            .find(|s| settlement_type.starts_with(&format!("acting_{}_", s.registered.id)))
            .cloned()
            .or_else(|| self.retired_owner_of(settlement_type))
    }

    /// The target of a notification endpoint name: of a module in use, or of one out of use that
    /// still listens for what it started.
    pub fn endpoint(&self, name: &str) -> Option<EndpointTarget> {
        let states = self.states();
        states
            .values()
            .find_map(|state| endpoint_target(state, name))
            .or_else(|| self.retired_endpoint(name))
    }

    /// All settlement-type labels of in-use modules.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.states()
            .values()
            .flat_map(|s| {
                s.settlement_types
                    .iter()
                    .map(|t| (t.id.clone(), t.label.clone()))
            })
            .collect()
    }

    /// The kind of a provided settlement type.
    pub fn kind_of(&self, settlement_type: &str) -> Option<SettlementKind> {
        self.provided(settlement_type)
            .map(|p| p.settlement_type.kind)
    }
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An in-use id is not registered.
    #[error("module `{0}` is in use but not registered")]
    UnknownModule(String),
    /// A module was taken out of use while one of its methods is in use.
    #[error("module `{module}` cannot be taken out of use: payment method `{method}` is in use (使用). Set it to 停止 first")]
    MethodInUse {
        /// The module.
        module: String,
        /// The method.
        method: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}
