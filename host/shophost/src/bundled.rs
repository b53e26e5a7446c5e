//! The gateways bundled with the host.
//!
//! `inventory` registers a module only if its crate is linked; referencing each bundled gateway here
//! makes sure the linker keeps it, so the registry never silently lacks Remise.

use crate::registry::{RegisteredModule, Registry, RegistryError};

/// Builds the registry from every compiled-in module plus already-loaded dynamic ones.
pub fn registry(loaded: Vec<RegisteredModule>) -> Result<Registry, RegistryError> {
    remise::force_link();
    Registry::build(shophost_module_api::compiled_in_modules(), loaded)
}
