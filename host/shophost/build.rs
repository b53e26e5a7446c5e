//! Embeds the SQL migrations: writes `$OUT_DIR/migrations_{sqlite,postgres}.rs`, each a list of
//! `(version, description, SQL)` from the files `migrations/<backend>/NNNN_description.sql`, which
//! `db::migrations` turns into sqlx's `Migrator`. (sqlx's `migrate!` macro would do the same, but its
//! `macros` feature compiles sqlx and the bundled SQLite a second time, for the proc macro, in every
//! build of the host, a gateway module's conformance tests included.)

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    for backend in ["sqlite", "postgres"] {
        let dir = Path::new(&manifest).join("migrations").join(backend);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("read migrations").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        files.sort();
        let mut list = String::from("&[\n");
        for path in &files {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("UTF-8 name");
            let (version, description) = stem
                .split_once('_')
                .unwrap_or_else(|| panic!("{}: not NNNN_description.sql", path.display()));
            let version: i64 = version
                .parse()
                .unwrap_or_else(|_| panic!("{}: not NNNN_description.sql", path.display()));
            writeln!(
                list,
                "    ({version}, {:?}, include_str!({:?})),",
                description.replace('_', " "),
                path.display().to_string()
            )
            .expect("write to a String");
        }
        list.push(']');
        std::fs::write(
            Path::new(&out).join(format!("migrations_{backend}.rs")),
            list,
        )
        .expect("write the migration list");
    }
}
