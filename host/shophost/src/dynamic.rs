//! Third-party modules loaded from shared libraries at run time (`[[modules.dynamic]]`).
//!
//! # Foreign code behind one door
//!
//! This is the only place in the host with `unsafe` code for loading libraries, and it exists only with
//! the cargo feature `dynamic-modules` (on by default). For each configured path, in this order:
//!
//! 1. the file must exist ([`DynamicError::MissingFile`]);
//! 2. it must load as a shared library ([`DynamicError::NotALibrary`]);
//! 3. it must export the `SHOPHOST_MODULE_ABI` descriptor ([`DynamicError::NoDescriptor`]) whose first
//!    eight bytes are `SHOPHOST` ([`DynamicError::BadMagic`]);
//! 4. the descriptor's module-API version must be ours ([`DynamicError::ApiVersion`], naming both), and
//!    so must its compiler/ABI fingerprint ([`DynamicError::Fingerprint`], naming the parts that
//!    differ: compiler, target, panic strategy, module-API crate or sources);
//! 5. only then is `shophost_module_create` looked up and called, once.
//!
//! Steps 3 and 4 read plain C data; nothing the library defines is *called* before they pass. What no
//! loader can prevent is step 2 itself running the library's initialisers (ELF `.init_array`, e.g.
//! `inventory`'s registrations, which go into the library's own copy of the module API and never reach
//! the host's registry). A library the operator lists is code the operator chose to run, like the host
//! binary; these checks catch mistakes (a module built for another API version or with another
//! compiler, a wrong path), not malice.
//!
//! Loaded libraries are never unloaded: the modules' code and vtables live in them, so each `Library`
//! is kept in a private static for the life of the process.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

use shophost_module_api::abi::FingerprintDifference;

use crate::registry::RegisteredModule;

/// The parts two fingerprints differ in, for a message: "the compiler (module `…`, host `…`) and …".
fn describe(differences: &[FingerprintDifference]) -> String {
    let parts: Vec<String> = differences
        .iter()
        .map(|difference| {
            format!(
                "the {} (module `{}`, host `{}`)",
                difference.part, difference.module, difference.host
            )
        })
        .collect();
    match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "nothing".to_owned(),
    }
}

/// Why a dynamic module could not be loaded. Every message starts with the library's path.
#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    /// The configured file does not exist.
    #[error("{}: no such file", path.display())]
    MissingFile {
        /// The library.
        path: PathBuf,
    },
    /// The file exists but the dynamic loader refused it (not a shared library, wrong architecture,
    /// missing dependencies).
    #[error("{}: cannot be loaded as a shared library: {reason}", path.display())]
    NotALibrary {
        /// The library.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The library loaded but is not a shophost module: it exports no `SHOPHOST_MODULE_ABI`.
    #[error(
        "{}: not a shophost module: it exports no `SHOPHOST_MODULE_ABI` descriptor (build it with shophost_module_api::export_module!)",
        path.display()
    )]
    NoDescriptor {
        /// The library.
        path: PathBuf,
    },
    /// The library exports a `SHOPHOST_MODULE_ABI` symbol that does not start with the magic bytes.
    #[error(
        "{}: not a shophost module: its `SHOPHOST_MODULE_ABI` symbol does not start with the bytes `SHOPHOST`",
        path.display()
    )]
    BadMagic {
        /// The library.
        path: PathBuf,
    },
    /// The module was built against another module-API version.
    #[error(
        "{}: built for module API version {found} (fingerprint {found_fingerprint}), this host speaks version {expected} (fingerprint {expected_fingerprint}); rebuild the module against this host's shophost-module-api",
        path.display()
    )]
    ApiVersion {
        /// The library.
        path: PathBuf,
        /// The library's API version.
        found: u32,
        /// Its fingerprint.
        found_fingerprint: String,
        /// The host's API version.
        expected: u32,
        /// The host's fingerprint.
        expected_fingerprint: String,
    },
    /// Same API version, but built by another compiler, for another target, or from another source of
    /// the module API: Rust types would not line up. The message names the parts that differ.
    #[error(
        "{}: built for module API version {version}, but its fingerprint differs from this host's in {}; rebuild the module with this host's compiler and shophost-module-api",
        path.display(),
        describe(differences)
    )]
    Fingerprint {
        /// The library.
        path: PathBuf,
        /// The API version (the same on both sides).
        version: u32,
        /// The library's fingerprint.
        found: String,
        /// The host's fingerprint.
        expected: String,
        /// The parts that differ (compiler, target, panic strategy, module-API crate or sources).
        differences: Vec<FingerprintDifference>,
    },
    /// The descriptor matched but the constructor is missing.
    #[error(
        "{}: exports `SHOPHOST_MODULE_ABI` but no `shophost_module_create` function",
        path.display()
    )]
    NoConstructor {
        /// The library.
        path: PathBuf,
    },
    /// The module's constructor panicked.
    #[error("{}: the module panicked while being created: {message}", path.display())]
    Panicked {
        /// The library.
        path: PathBuf,
        /// The panic message.
        message: String,
    },
    /// This build of the host cannot load libraries (cargo feature `dynamic-modules` off).
    #[error(
        "{}: loading gateway modules from shared libraries is not supported by this build (built without the `dynamic-modules` feature)",
        path.display()
    )]
    Unsupported {
        /// The library.
        path: PathBuf,
    },
}

/// Loads every configured library, in order, stopping at the first that cannot be loaded. The modules
/// come back as registry entries with [`crate::registry::Origin::File`]; [`crate::registry::Registry::build`]
/// then refuses ids that clash with another module.
pub fn load_configured(paths: &[PathBuf]) -> Result<Vec<RegisteredModule>, DynamicError> {
    paths.iter().map(|path| load(path)).collect()
}

/// Loads one library.
pub fn load(path: &Path) -> Result<RegisteredModule, DynamicError> {
    if !path.exists() {
        return Err(DynamicError::MissingFile {
            path: path.to_owned(),
        });
    }
    loader::load(path)
}

#[cfg(not(feature = "dynamic-modules"))]
mod loader {
    use std::path::Path;

    use super::DynamicError;
    use crate::registry::RegisteredModule;

    pub(super) fn load(path: &Path) -> Result<RegisteredModule, DynamicError> {
        Err(DynamicError::Unsupported {
            path: path.to_owned(),
        })
    }
}

#[cfg(feature = "dynamic-modules")]
mod loader {
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use libloading::Library;
    use shophost_module_api::abi::{
        fingerprint_differences, AbiDescriptor, CreateModule, ABI_FINGERPRINT, ABI_MAGIC,
        CREATE_SYMBOL, DESCRIPTOR_SYMBOL,
    };
    use shophost_module_api::{PaymentModule, API_VERSION};

    use super::DynamicError;
    use crate::registry::{Origin, RegisteredModule};

    /// Every library loaded so far. A static is never dropped, so these are never unloaded, and the
    /// modules' code, vtables and string constants they hand out stay valid for the whole process.
    /// Private on purpose: dropping one of these while its module is in use would be undefined behaviour.
    static LOADED: Mutex<Vec<Library>> = Mutex::new(Vec::new());

    /// A fingerprint longer than this is not one `export_module!` wrote; do not read it.
    const FINGERPRINT_MAX: usize = 4096;

    pub(super) fn load(path: &Path) -> Result<RegisteredModule, DynamicError> {
        // `dlopen` searches system directories for a bare file name; the operator meant this file.
        let file = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        // SAFETY: loading a library runs its initialisers, which no check can precede; that is the
        // operator's choice of library (see the module docs). Nothing else of the library runs here.
        let library =
            unsafe { Library::new(&file) }.map_err(|error| DynamicError::NotALibrary {
                path: path.to_owned(),
                reason: error.to_string(),
            })?;

        // SAFETY: asking for a `*const AbiDescriptor` only takes the symbol's address; it claims nothing
        // about what is there until it is read below.
        let descriptor: *const AbiDescriptor =
            match unsafe { library.get::<*const AbiDescriptor>(DESCRIPTOR_SYMBOL.as_bytes()) } {
                Ok(symbol) => *symbol,
                Err(_) => {
                    return Err(DynamicError::NoDescriptor {
                        path: path.to_owned(),
                    })
                }
            };
        if descriptor.is_null() {
            return Err(DynamicError::NoDescriptor {
                path: path.to_owned(),
            });
        }

        // SAFETY: the symbol exists and is data in the loaded, never-unloaded image. Only the magic
        // bytes, the first eight, are read before anything else: they are what tells a shophost
        // descriptor from an unrelated symbol of the same name, and every descriptor layout starts
        // with them. `read_unaligned` makes no assumption about the symbol's alignment.
        let magic: [u8; 8] = unsafe { std::ptr::addr_of!((*descriptor).magic).read_unaligned() };
        if magic != ABI_MAGIC {
            return Err(DynamicError::BadMagic {
                path: path.to_owned(),
            });
        }

        // SAFETY: with the magic bytes in place the library claims the frozen descriptor layout
        // (`abi::AbiDescriptor`, `#[repr(C)]`, the same in every version of the module API), so the
        // version, pointer and length fields are there to read.
        let (api_version, fingerprint_ptr, fingerprint_len) = unsafe {
            (
                std::ptr::addr_of!((*descriptor).api_version).read_unaligned(),
                std::ptr::addr_of!((*descriptor).fingerprint).read_unaligned(),
                std::ptr::addr_of!((*descriptor).fingerprint_len).read_unaligned(),
            )
        };
        let fingerprint = if fingerprint_ptr.is_null() || fingerprint_len > FINGERPRINT_MAX {
            "(unreadable)".to_owned()
        } else {
            // SAFETY: the descriptor says `fingerprint_len` bytes at `fingerprint_ptr` are its
            // fingerprint; `export_module!` points them at a `&'static str` in the library's image,
            // which stays mapped because the library is never unloaded. They are copied at once and
            // need not be UTF-8.
            let bytes = unsafe { std::slice::from_raw_parts(fingerprint_ptr, fingerprint_len) };
            String::from_utf8_lossy(bytes).into_owned()
        };
        if api_version != API_VERSION {
            return Err(DynamicError::ApiVersion {
                path: path.to_owned(),
                found: api_version,
                found_fingerprint: fingerprint,
                expected: API_VERSION,
                expected_fingerprint: ABI_FINGERPRINT.to_owned(),
            });
        }
        if fingerprint != ABI_FINGERPRINT {
            return Err(DynamicError::Fingerprint {
                path: path.to_owned(),
                version: api_version,
                differences: fingerprint_differences(&fingerprint, ABI_FINGERPRINT),
                found: fingerprint,
                expected: ABI_FINGERPRINT.to_owned(),
            });
        }

        // SAFETY: the descriptor matched, so the library was built by this compiler, for this target,
        // with this panic strategy, from this source of the module API (see its `build.rs`). Under that
        // assumption `fn() -> Box<dyn PaymentModule>` means the same on both sides: the same calling
        // convention, the same vtable layout for `PaymentModule`, the same layout of every type that
        // crosses, and the same default global allocator (`abi` forbids modules a custom one).
        let create: CreateModule =
            match unsafe { library.get::<CreateModule>(CREATE_SYMBOL.as_bytes()) } {
                Ok(symbol) => *symbol,
                Err(_) => {
                    return Err(DynamicError::NoConstructor {
                        path: path.to_owned(),
                    })
                }
            };
        // Keep the library before calling into it: from here on its code may be referenced.
        LOADED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(library);
        // Caught at the host's one door for panics, which turns a module's bug into a start-up error.
        // That works only for a panic the host's standard library raised: one raised inside the
        // library unwinds through its own copy of std and aborts the process (see `guard`).
        let module: Box<dyn PaymentModule> =
            crate::guard::catch(create).map_err(|panicked| DynamicError::Panicked {
                path: path.to_owned(),
                message: panicked.0,
            })?;
        let module: Arc<dyn PaymentModule> = Arc::from(module);
        Ok(RegisteredModule {
            id: module.id().to_owned(),
            display_name: module.display_name().to_owned(),
            origin: Origin::File(path.to_owned()),
            module,
        })
    }
}
