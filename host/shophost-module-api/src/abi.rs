//! The ABI descriptor a module loaded from a shared library exports, and [`export_module!`](crate::export_module), which
//! exports it.
//!
//! # The contract
//!
//! A dynamic module exports two symbols:
//!
//! - `SHOPHOST_MODULE_ABI`, a static [`AbiDescriptor`]: plain C layout (magic bytes, [`API_VERSION`],
//!   and the [`ABI_FINGERPRINT`] the module was built with, as a pointer and a length). The host reads
//!   it, and only it, first. Its layout is frozen: it must read the same for a module built against any
//!   version of this crate, so that an old module can be told apart and refused instead of misread.
//! - `shophost_module_create`, a Rust-ABI `fn() -> Box<dyn PaymentModule>`. Rust has no stable ABI, so
//!   the host calls it only after the descriptor says the module was built by the same compiler from the
//!   same source of this crate (see `build.rs` for what the fingerprint covers and why that is the
//!   assumption that makes the call sound).
//!
//! [`export_module!`](crate::export_module) writes both; a module never writes them by hand.
//!
//! # What a module must not do
//!
//! Host and module free each other's allocations (the boxed module, every `String` and boxed future that
//! crosses), so both must use Rust's default global allocator: a dynamic module must not set a
//! `#[global_allocator]`. The host sets none either.

use crate::{PaymentModule, API_VERSION};

/// The first eight bytes of every descriptor.
pub const ABI_MAGIC: [u8; 8] = *b"SHOPHOST";

/// The compiler, target, panic strategy and module-API source this crate was built with (computed by
/// `build.rs`). Host and module must agree on it exactly.
pub const ABI_FINGERPRINT: &str = env!("SHOPHOST_ABI_FINGERPRINT");

/// The name of the exported descriptor static.
pub const DESCRIPTOR_SYMBOL: &str = "SHOPHOST_MODULE_ABI";

/// The name of the exported constructor.
pub const CREATE_SYMBOL: &str = "shophost_module_create";

/// The type of the exported constructor: called once, after the descriptor matched.
pub type CreateModule = fn() -> Box<dyn PaymentModule>;

/// What a dynamic module says about how it was built. C layout, frozen: never add, remove or reorder a
/// field (a new layout needs new magic bytes).
#[repr(C)]
#[derive(Debug)]
pub struct AbiDescriptor {
    /// [`ABI_MAGIC`].
    pub magic: [u8; 8],
    /// The [`API_VERSION`] the module was built against.
    pub api_version: u32,
    /// The first byte of the module's [`ABI_FINGERPRINT`] (UTF-8, not NUL-terminated).
    pub fingerprint: *const u8,
    /// The fingerprint's length in bytes.
    pub fingerprint_len: usize,
}

// SAFETY: a raw pointer is `!Sync` only as a precaution; sharing one does nothing by itself, and every
// descriptor built here points at a `&'static str`, which is immutable and shared by nature. The static
// that `export_module!` declares needs `Sync`.
#[allow(unsafe_code)]
unsafe impl Sync for AbiDescriptor {}

impl AbiDescriptor {
    /// The descriptor of a module built against this crate.
    pub const fn current() -> AbiDescriptor {
        AbiDescriptor {
            magic: ABI_MAGIC,
            api_version: API_VERSION,
            fingerprint: ABI_FINGERPRINT.as_ptr(),
            fingerprint_len: ABI_FINGERPRINT.len(),
        }
    }
}

/// The labelled parts of a fingerprint, in order: the label in the fingerprint and what an operator
/// calls it.
pub const FINGERPRINT_PARTS: [(&str, &str); 5] = [
    ("compiler", "compiler"),
    ("target", "target"),
    ("panic", "panic strategy"),
    ("api", "module-API crate"),
    ("sources", "module-API sources"),
];

/// One part in which two fingerprints differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintDifference {
    /// What differs, e.g. `compiler` or `module-API sources` (see [`FINGERPRINT_PARTS`]).
    pub part: &'static str,
    /// The module's value (`(not stated)` when its fingerprint lacks the part).
    pub module: String,
    /// The host's value.
    pub host: String,
}

fn fingerprint_part<'a>(fingerprint: &'a str, label: &str) -> Option<&'a str> {
    fingerprint
        .split("; ")
        .filter_map(|part| part.split_once('='))
        .find(|(name, _)| *name == label)
        .map(|(_, value)| value)
}

/// The parts in which a module's fingerprint differs from the host's, so that a refusal can say what to
/// rebuild with. A fingerprint in an older, unlabelled format differs in every part it does not state;
/// two fingerprints that differ in no labelled part still differ as a whole (`fingerprint`).
pub fn fingerprint_differences(module: &str, host: &str) -> Vec<FingerprintDifference> {
    if module == host {
        return Vec::new();
    }
    let mut differences: Vec<FingerprintDifference> = FINGERPRINT_PARTS
        .iter()
        .filter_map(|(label, part)| {
            let ours = fingerprint_part(host, label);
            let theirs = fingerprint_part(module, label);
            (ours != theirs).then(|| FingerprintDifference {
                part,
                module: theirs.unwrap_or("(not stated)").to_owned(),
                host: ours.unwrap_or("(not stated)").to_owned(),
            })
        })
        .collect();
    if differences.is_empty() {
        differences.push(FingerprintDifference {
            part: "fingerprint",
            module: module.to_owned(),
            host: host.to_owned(),
        });
    }
    differences
}

/// Exports a module from a `cdylib` so the host can load it at run time: the `SHOPHOST_MODULE_ABI`
/// descriptor and the `shophost_module_create` constructor. Takes an expression that builds the module.
///
/// Use it once, at the root of the library crate (`crate-type = ["cdylib", "rlib"]`), e.g.
/// `shophost_module_api::export_module!(MyModule);` for a unit struct or
/// `shophost_module_api::export_module!(MyModule::new());`. The module must be a
/// [`TypedModule`](crate::TypedModule) (or another [`PaymentModule`]). The crate docs show it in a
/// complete module.
///
/// A crate that uses it can be linked into a program only once (the two symbols are unmangled), which is
/// why a module's own tests link it as an `rlib` and the host loads it as a `cdylib`, never both.
#[macro_export]
macro_rules! export_module {
    ($module:expr) => {
        /// How this module was built; the host checks it before calling anything else.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub static SHOPHOST_MODULE_ABI: $crate::abi::AbiDescriptor =
            $crate::abi::AbiDescriptor::current();

        /// Builds the module; the host calls it once, after `SHOPHOST_MODULE_ABI` matched.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "Rust" fn shophost_module_create() -> ::std::boxed::Box<dyn $crate::PaymentModule>
        {
            ::std::boxed::Box::new($module)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_descriptor_describes_this_build() {
        let descriptor = AbiDescriptor::current();
        assert_eq!(&descriptor.magic, b"SHOPHOST");
        assert_eq!(descriptor.api_version, API_VERSION);
        assert_eq!(descriptor.fingerprint_len, ABI_FINGERPRINT.len());
        assert!(
            ABI_FINGERPRINT.starts_with("compiler=rustc "),
            "{ABI_FINGERPRINT}"
        );
        assert!(
            ABI_FINGERPRINT.contains("; api=shophost-module-api "),
            "{ABI_FINGERPRINT}"
        );
        for (label, _) in FINGERPRINT_PARTS {
            assert!(
                fingerprint_part(ABI_FINGERPRINT, label).is_some(),
                "{label} in {ABI_FINGERPRINT}"
            );
        }
        // The layout the host reads: 8 magic bytes, a u32, then a pointer and a length.
        assert_eq!(
            std::mem::offset_of!(AbiDescriptor, fingerprint),
            12_usize.next_multiple_of(std::mem::align_of::<*const u8>())
        );
    }

    #[test]
    fn differences_name_the_part() {
        let host = "compiler=rustc 1.95.0; target=x86_64-unknown-linux-gnu; panic=unwind; api=shophost-module-api 0.1.0 (async-trait 0.1); sources=00000000000000aa";
        assert_eq!(fingerprint_differences(host, host), []);
        let other_compiler = host.replace("rustc 1.95.0", "rustc 1.90.0");
        assert_eq!(
            fingerprint_differences(&other_compiler, host),
            [FingerprintDifference {
                part: "compiler",
                module: "rustc 1.90.0".into(),
                host: "rustc 1.95.0".into()
            }]
        );
        let other_sources = host
            .replace("sources=00000000000000aa", "sources=00000000000000bb")
            .replace("x86_64", "aarch64");
        let parts: Vec<&str> = fingerprint_differences(&other_sources, host)
            .iter()
            .map(|d| d.part)
            .collect();
        assert_eq!(parts, ["target", "module-API sources"]);
        let old = "rustc 1.70.0 (90c541806 2023-05-31); shophost-module-api 0.0.1";
        let old = fingerprint_differences(old, host);
        assert_eq!(old.len(), 5);
        assert_eq!(old[0].module, "(not stated)");
        let reordered = fingerprint_differences(&format!("{host}; extra=1"), host);
        assert_eq!(reordered[0].part, "fingerprint");
    }
}
