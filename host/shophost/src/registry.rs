//! The module registry: every payment module the host knows, compiled in or loaded from a file.
//!
//! Built once at start-up, sorted by id. `inventory` gives no order and silently registers nothing for a
//! crate that was not linked, so the registry sorts, rejects duplicates with an error naming both
//! origins, and the bundled gateways are referenced explicitly in [`crate::bundled`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use shophost_module_api::{ModuleDescriptor, PaymentModule, API_VERSION};

/// Where a module came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Linked into the binary.
    CompiledIn,
    /// Loaded from a shared library.
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CompiledIn => f.write_str("compiled-in"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One registered module.
#[derive(Clone)]
pub struct RegisteredModule {
    /// Id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Origin.
    pub origin: Origin,
    /// The module.
    pub module: Arc<dyn PaymentModule>,
}

impl fmt::Debug for RegisteredModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredModule")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Why the registry could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two modules share an id.
    #[error("module id `{id}` is registered twice ({first} and {second})")]
    Duplicate {
        /// The id.
        id: String,
        /// Where the first came from.
        first: String,
        /// Where the second came from.
        second: String,
    },
    /// A module was built against another module-API version.
    #[error("module `{id}` ({origin}) was built for module API version {found}, this host speaks version {expected}")]
    ApiVersion {
        /// The id.
        id: String,
        /// Origin.
        origin: String,
        /// Its version.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// A descriptor's id differs from its module's.
    #[error("module descriptor `{descriptor}` builds a module whose id is `{module}`")]
    IdMismatch {
        /// The descriptor's id.
        descriptor: String,
        /// The module's id.
        module: String,
    },
}

/// The registry, sorted by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    modules: Vec<RegisteredModule>,
}

impl Registry {
    /// Builds a registry from descriptors (compiled-in) and already-loaded modules (dynamic).
    pub fn build<'a>(
        descriptors: impl IntoIterator<Item = &'a ModuleDescriptor>,
        loaded: Vec<RegisteredModule>,
    ) -> Result<Registry, RegistryError> {
        let mut modules = Vec::new();
        for descriptor in descriptors {
            if descriptor.api_version != API_VERSION {
                return Err(RegistryError::ApiVersion {
                    id: descriptor.id.to_owned(),
                    origin: Origin::CompiledIn.to_string(),
                    found: descriptor.api_version,
                    expected: API_VERSION,
                });
            }
            let module: Arc<dyn PaymentModule> = Arc::from((descriptor.build)());
            if module.id() != descriptor.id {
                return Err(RegistryError::IdMismatch {
                    descriptor: descriptor.id.to_owned(),
                    module: module.id().to_owned(),
                });
            }
            modules.push(RegisteredModule {
                id: descriptor.id.to_owned(),
                display_name: descriptor.display_name.to_owned(),
                origin: Origin::CompiledIn,
                module,
            });
        }
        modules.extend(loaded);
        modules.sort_by(|a, b| a.id.cmp(&b.id));
        for pair in modules.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(RegistryError::Duplicate {
                    id: pair[0].id.clone(),
                    first: pair[0].origin.to_string(),
                    second: pair[1].origin.to_string(),
                });
            }
        }
        Ok(Registry { modules })
    }

    /// The module with this id.
    pub fn get(&self, id: &str) -> Option<&RegisteredModule> {
        self.modules.iter().find(|m| m.id == id)
    }

    /// All ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.modules.iter().map(|m| m.id.clone()).collect()
    }

    /// All modules, sorted by id.
    pub fn modules(&self) -> &[RegisteredModule] {
        &self.modules
    }
}
