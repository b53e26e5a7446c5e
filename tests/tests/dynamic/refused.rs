//! Every way a library is refused: another module-API version, another compiler or other module-API
//! sources, a missing file, a file that is not a library, a library that is not a module, a clashing
//! id.

use super::*;

#[test]
fn a_library_for_another_module_api_version_is_refused_before_it_runs() {
    let old = old_api_library();
    let error = shophost::dynamic::load_configured(std::slice::from_ref(old)).unwrap_err();
    assert!(
        matches!(error, DynamicError::ApiVersion { found: 0, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}: built for module API version 0 (fingerprint rustc 1.70.0 (90c541806 2023-05-31); shophost-module-api 0.0.1), \
             this host speaks version {API_VERSION} (fingerprint {ABI_FINGERPRINT}); rebuild the module against this host's shophost-module-api",
            old.display()
        )
    );
    // Through the real binary too: the config file, the key and the library in one line, exit 1.
    let dir = scratch("old-api");
    let file = dir.join("shophost.toml");
    std::fs::write(
        &file,
        format!("[[modules.dynamic]]\npath = \"{}\"\n", old.display()),
    )
    .unwrap();
    let output = Command::new(&built().shophost)
        .args(["modules", "--config"])
        .arg(&file)
        .output()
        .expect("run shophost modules");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "error: {}: modules.dynamic: {}: built for module API version 0",
        file.display(),
        old.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn a_library_for_the_previous_module_api_version_is_refused_naming_both() {
    let v2 = v2_library();
    let error = shophost::dynamic::load_configured(std::slice::from_ref(v2)).unwrap_err();
    assert!(
        matches!(
            error,
            DynamicError::ApiVersion {
                found: 2,
                expected: API_VERSION,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "{}: built for module API version 2 (fingerprint ",
            v2.display()
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "this host speaks version {API_VERSION} (fingerprint"
        )),
        "{message}"
    );
    assert!(
        message.ends_with("rebuild the module against this host's shophost-module-api"),
        "{message}"
    );
}

#[test]
fn a_library_built_by_another_compiler_is_refused_naming_the_compiler() {
    let foreign = foreign_compiler_library();
    let error = shophost::dynamic::load_configured(std::slice::from_ref(foreign)).unwrap_err();
    assert!(
        matches!(error, DynamicError::Fingerprint { .. }),
        "{error:?}"
    );
    let host_compiler = ABI_FINGERPRINT
        .split("; ")
        .find_map(|part| part.strip_prefix("compiler="))
        .expect("the host's fingerprint names its compiler");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: built for module API version {API_VERSION}, but its fingerprint differs from this host's in \
             the compiler (module `rustc 1.70.0 (90c541806 2023-05-31)`, host `{host_compiler}`); \
             rebuild the module with this host's compiler and shophost-module-api",
            foreign.display()
        )
    );
}

#[test]
fn a_library_built_from_other_module_api_sources_is_refused_naming_them() {
    let other = other_sources_library();
    let error = shophost::dynamic::load_configured(std::slice::from_ref(other)).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(
            "differs from this host's in the module-API sources (module `0123456789abcdef`, host `"
        ),
        "{message}"
    );
    assert!(!message.contains("the compiler"), "{message}");
}

#[test]
fn missing_files_non_libraries_and_non_modules_are_refused() {
    let dir = scratch("refused");
    let missing = dir.join("libmissing.so");
    assert_eq!(
        shophost::dynamic::load_configured(std::slice::from_ref(&missing))
            .unwrap_err()
            .to_string(),
        format!("{}: no such file", missing.display())
    );

    let text = dir.join("libtext.so");
    std::fs::write(&text, "not a library").unwrap();
    let error = shophost::dynamic::load_configured(std::slice::from_ref(&text)).unwrap_err();
    assert!(
        matches!(error, DynamicError::NotALibrary { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "{}: cannot be loaded as a shared library: ",
            text.display()
        )),
        "{error}"
    );

    // The C library this process already uses: a real shared library, but no shophost module.
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let libc = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.contains("/libc.so") || path.contains("/libc-"))
        .map(PathBuf::from)
        .expect("the C library is mapped");
    let error = shophost::dynamic::load_configured(std::slice::from_ref(&libc)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: not a shophost module: it exports no `SHOPHOST_MODULE_ABI` descriptor (build it with shophost_module_api::export_module!)",
            libc.display()
        )
    );
}

#[test]
fn a_loaded_module_whose_id_clashes_is_a_start_up_error() {
    let dir = scratch("clash");
    let acme = built().acme.display().to_string();
    let text = format!(
        "[database]\nurl = \"sqlite:{}\"\n[[modules.dynamic]]\npath = \"{acme}\"\n[[modules.dynamic]]\npath = \"{acme}\"\n",
        dir.join("shop.db").display()
    );
    assert_eq!(
        start_up(&text).unwrap_err(),
        format!("module id `acme` is registered twice ({acme} and {acme})")
    );
}
