//! The migrations of each backend, embedded by `build.rs` from `migrations/<backend>/*.sql` as
//! `(version, description, SQL)`, and the sqlx `Migrator` that runs them.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

pub(crate) const SQLITE: &[(i64, &str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/migrations_sqlite.rs"));
#[cfg(any(feature = "postgres", test))]
pub(crate) const POSTGRES: &[(i64, &str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/migrations_postgres.rs"));

/// The migrator of `files`: what `sqlx::migrate!` would build from the same directory (the same
/// versions, descriptions and SHA-384 checksums, so databases migrated before keep matching).
pub(crate) fn migrator(files: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        for (files, dir) in [(SQLITE, "sqlite"), (POSTGRES, "postgres")] {
            let on_disk = std::fs::read_dir(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(dir),
            )
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "sql")
            })
            .count();
            assert_eq!(files.len(), on_disk, "{dir}");
            assert!(
                files.windows(2).all(|w| w[0].0 < w[1].0),
                "{dir}: versions rise"
            );
            assert_eq!((files[0].0, files[0].1), (1, "init"), "{dir}");
            let migrator = migrator(files);
            assert_eq!(migrator.migrations.len(), files.len());
            assert_eq!(migrator.migrations[0].checksum.len(), 48, "SHA-384");
        }
    }
}
