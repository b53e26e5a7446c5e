//! Third-party modules loaded from shared libraries at run time (`[[modules.dynamic]]`).
//!
//! Loading is not implemented yet: a configured library is refused with a clear start-up error rather
//! than half-loaded. The module API already keeps foreign types out and is versioned
//! (`shophost_module_api::API_VERSION`) so that loading can be added without changing it.

use std::path::PathBuf;

use crate::registry::RegisteredModule;

/// Why a dynamic module could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    /// Loading from files is not available in this build.
    #[error(
        "{path}: loading gateway modules from shared libraries is not supported by this build yet"
    )]
    Unsupported {
        /// The library.
        path: String,
    },
}

/// Loads every configured library; refuses all of them for now.
pub fn load_configured(paths: &[PathBuf]) -> Result<Vec<RegisteredModule>, DynamicError> {
    match paths.first() {
        Some(path) => Err(DynamicError::Unsupported {
            path: path.display().to_string(),
        }),
        None => Ok(Vec::new()),
    }
}
