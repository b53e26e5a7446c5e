//! Build script of the module API: computes `abi::ABI_FINGERPRINT`, the string a dynamically loaded module
//! and the host compare before the host calls any of the module's code.
//!
//! A module crosses into the host as a Rust trait object (`Box<dyn PaymentModule>`) and exchanges Rust
//! types (`String`, `Vec`, `BTreeMap`, boxed futures) with it. Rust promises no stable layout for any of
//! them, so the only safe assumption is a narrow one: **the same compiler, for the same target, with the
//! same panic strategy, compiling the same source of this crate, lays these types and the trait's vtable
//! out the same way.** The fingerprint names exactly those inputs:
//!
//! - the compiler: the first line of `$RUSTC --version` (version, commit, date);
//! - the target triple and the panic strategy;
//! - this crate's version and the async-trait line it expands with (`0.1`, whose expansion, a
//!   `Pin<Box<dyn Future + Send>>` per method, is fixed across the 0.1 releases);
//! - a digest of the source files that define the types crossing the boundary, so that an edit made
//!   without bumping `API_VERSION` still refuses modules built before it.
//!
//! Each part is labelled (`compiler=…; target=…; panic=…; api=…; sources=…`) so that a host refusing a
//! module can say which part differs (`abi::fingerprint_differences`).

use std::process::Command;

/// The files whose types cross between host and module (`testing.rs` does not: it only runs in tests).
const BOUNDARY_SOURCES: &[&str] = &[
    "src/lib.rs",
    "src/module.rs",
    "src/payment.rs",
    "src/settings.rs",
    "src/wire.rs",
    "src/abi.rs",
];

/// FNV-1a, 64 bits: enough to tell two sources apart by accident, which is all this is for.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let compiler = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.lines().next().map(str::trim).map(str::to_owned))
        // Without a version there is nothing to compare, so make sure nothing compares equal.
        .unwrap_or_else(|| format!("unknown compiler `{rustc}`"));
    let target = std::env::var("TARGET").unwrap_or_default();
    let panic = std::env::var("CARGO_CFG_PANIC").unwrap_or_default();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let mut digest = 0xcbf2_9ce4_8422_2325_u64;
    for file in BOUNDARY_SOURCES {
        println!("cargo:rerun-if-changed={file}");
        let bytes = std::fs::read(std::path::Path::new(&manifest_dir).join(file))
            .unwrap_or_else(|error| panic!("cannot read {file}: {error}"));
        digest = fnv1a(digest, file.as_bytes());
        digest = fnv1a(digest, &bytes);
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!(
        "cargo:rustc-env=SHOPHOST_ABI_FINGERPRINT=compiler={compiler}; target={target}; \
         panic={panic}; api=shophost-module-api {version} (async-trait 0.1); sources={digest:016x}"
    );
}
