//! Schema migrations: `migrations/<version>_<name>.sql`, applied once, in version order, through
//! Raft, each in its own transaction, and recorded in `_hiqlite_migrations`.
//!
//! [`Migrations`] come from [`migrate!()`](crate::migrate!) (embedded at build time) or from
//! [`Migrations::from_dir`] (read at runtime); both use the one resolver of
//! `hiqlite_shared::migrations`, so names, order and checksums never disagree.
//! [`Client::migrate`](crate::Client::migrate) compares them with what the database recorded, refuses a changed, missing
//! or out-of-order migration with an error that names the file, then submits the pending ones one
//! Raft entry each. The state machine makes the same checks again when it applies an entry, so
//! two nodes migrating at once apply every migration exactly once.
//!
//! ```no_run
//! # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
//! let report = client.migrate(hiqlite::migrate!()).await?;
//! for m in &report.applied {
//!     println!("applied {m}");
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use hiqlite_shared::migrations::ResolveError;
use hiqlite_shared::migrations::{self as resolver, MigrationFile};

use crate::types::command::{MigrateOp, SqlError};

/// One migration: a version, a name, its SQL with normalized line endings, and its checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    version: u64,
    name: String,
    path: String,
    sql: String,
    checksum: String,
}

impl Migration {
    /// The number at the start of the file name (`0001_init.sql` → 1).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The file name after the first `_`, without `.sql` (`0001_init.sql` → `init`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file, as reports and errors name it: its directory's name and file name
    /// (`migrations/0001_init.sql`) for [`migrate!()`](crate::migrate!), however the directory
    /// was found; the path as given for [`Migrations::from_dir`].
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The file name alone (`0001_init.sql`), as `_hiqlite_migrations` records it.
    pub fn file_name(&self) -> &str {
        self.path.rsplit(['/', '\\']).next().unwrap_or(&self.path)
    }

    /// The SQL, line endings normalized to `\n`.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// SHA-256 of [`sql`](Self::sql), as 64 lowercase hex digits.
    pub fn checksum(&self) -> &str {
        &self.checksum
    }

    pub(crate) fn id(&self) -> MigrationId {
        MigrationId {
            version: self.version,
            path: self.path.clone(),
        }
    }

    pub(crate) fn to_op(&self) -> MigrateOp {
        MigrateOp {
            version: self.version,
            name: self.name.clone(),
            file: self.file_name().to_string(),
            checksum: self.checksum.clone(),
            sql: self.sql.clone(),
        }
    }
}

impl From<MigrationFile> for Migration {
    fn from(f: MigrationFile) -> Self {
        Migration {
            version: f.version,
            name: f.name,
            path: f.path.display().to_string(),
            sql: f.sql,
            checksum: f.checksum,
        }
    }
}

/// One migration as `migrate!()` embeds it. Not for use in code: call `migrate!()`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedMigration {
    pub version: u64,
    pub name: &'static str,
    pub path: &'static str,
    pub sql: &'static str,
    pub checksum: &'static str,
}

/// The migrations of one directory, in version order. Build it with
/// [`migrate!()`](crate::migrate!) or [`Migrations::from_dir`], apply it with
/// [`Client::migrate`](crate::Client::migrate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migrations {
    list: Vec<Migration>,
    ignore_missing: bool,
}

impl Migrations {
    /// Reads the `*.sql` files of `dir` (exactly that directory) at runtime. A file that cannot
    /// be read, a bad file name or a version used twice is an error that names the file.
    ///
    /// ```no_run
    /// # fn f() -> Result<(), hiqlite::Error> {
    /// let migrations = hiqlite::Migrations::from_dir("migrations")?;
    /// # Ok(()) }
    /// ```
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Migrations, MigrationError> {
        let files = resolver::resolve_dir(dir.as_ref()).map_err(MigrationError::Resolve)?;
        Ok(Migrations {
            list: files.into_iter().map(Migration::from).collect(),
            ignore_missing: false,
        })
    }

    /// Like [`from_dir`](Self::from_dir) on the `migrations` directory of `start` or of its
    /// nearest ancestor that has one (the rule `migrate!()` follows from the crate directory).
    pub fn find(start: impl AsRef<Path>) -> Result<Migrations, MigrationError> {
        let dir = resolver::find_dir(start.as_ref()).map_err(MigrationError::Resolve)?;
        Self::from_dir(dir)
    }

    /// What `migrate!()` expands to.
    #[doc(hidden)]
    pub fn __embedded(list: &[EmbeddedMigration]) -> Migrations {
        Migrations {
            list: list
                .iter()
                .map(|m| Migration {
                    version: m.version,
                    name: m.name.to_string(),
                    path: m.path.to_string(),
                    sql: m.sql.to_string(),
                    checksum: m.checksum.to_string(),
                })
                .collect(),
            ignore_missing: false,
        }
    }

    /// Accepts a database that recorded migrations these do not have, instead of refusing it
    /// with [`MigrationError::Missing`]. Meant for a rolling upgrade, where a node still running
    /// the older program restarts after a newer one migrated the database.
    pub fn ignore_missing(mut self, ignore: bool) -> Migrations {
        self.ignore_missing = ignore;
        self
    }

    /// The migrations, in version order.
    pub fn iter(&self) -> std::slice::Iter<'_, Migration> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Compares these migrations with those a database recorded (`applied`, from
    /// [`Client::applied_migrations`](crate::Client::applied_migrations)) and returns the ones still to apply, in order. Refuses a
    /// recorded migration whose file changed ([`MigrationError::Changed`]) or is gone
    /// ([`MigrationError::Missing`], unless [`ignore_missing`](Self::ignore_missing)), and a
    /// pending migration older than the newest recorded one ([`MigrationError::OutOfOrder`]).
    pub fn check(&self, applied: &[AppliedMigration]) -> Result<Vec<&Migration>, MigrationError> {
        let mut previous: Option<&Migration> = None;
        for m in &self.list {
            if resolver::checksum(&m.sql) != m.checksum {
                return Err(MigrationError::Corrupt {
                    path: m.path.clone(),
                });
            }
            match previous {
                Some(p) if p.version >= m.version => {
                    return Err(MigrationError::Resolve(ResolveError::DuplicateVersion {
                        version: m.version,
                        first: p.path.clone().into(),
                        second: m.path.clone().into(),
                    }))
                }
                _ => previous = Some(m),
            }
        }
        let by_version: BTreeMap<u64, &Migration> =
            self.list.iter().map(|m| (m.version, m)).collect();
        let mut newest: Option<&AppliedMigration> = None;
        for a in applied {
            match by_version.get(&a.version) {
                Some(m) if m.checksum != a.checksum => {
                    return Err(MigrationError::Changed {
                        path: m.path.clone(),
                        version: m.version,
                        applied_file: a.file.clone(),
                        applied_checksum: a.checksum.clone(),
                        checksum: m.checksum.clone(),
                    })
                }
                Some(_) => {}
                None if self.ignore_missing => {}
                None => {
                    return Err(MigrationError::Missing {
                        version: a.version,
                        applied_file: a.file.clone(),
                        applied_at: a.applied_at.clone(),
                    })
                }
            }
            if newest.is_none_or(|n| a.version > n.version) {
                newest = Some(a);
            }
        }
        let done: std::collections::BTreeSet<u64> = applied.iter().map(|a| a.version).collect();
        let pending: Vec<&Migration> = self
            .list
            .iter()
            .filter(|m| !done.contains(&m.version))
            .collect();
        if let (Some(first), Some(newest)) = (pending.first(), newest) {
            if first.version < newest.version {
                return Err(MigrationError::OutOfOrder {
                    path: first.path.clone(),
                    version: first.version,
                    newest: newest.version,
                    newest_file: newest.file.clone(),
                });
            }
        }
        Ok(pending)
    }
}

impl<'a> IntoIterator for &'a Migrations {
    type Item = &'a Migration;
    type IntoIter = std::slice::Iter<'a, Migration>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// A migration as `_hiqlite_migrations` recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: u64,
    pub name: String,
    /// The file name it was applied from (`0001_init.sql`).
    pub file: String,
    pub checksum: String,
    /// When it was applied, by the leader's clock, as `YYYY-MM-DDTHH:MM:SS.SSSZ` (UTC).
    pub applied_at: String,
}

/// A migration named by its version and its [`Migration::path`]; shown as the path
/// (`migrations/0001_init.sql` for an embedded one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationId {
    pub version: u64,
    pub path: String,
}

impl fmt::Display for MigrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

/// What [`Client::migrate`](crate::Client::migrate) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Migrations this call applied, in version order.
    pub applied: Vec<MigrationId>,
    /// Migrations that were applied already: before this call, or meanwhile by another client
    /// (another node starting at the same time).
    pub already_applied: Vec<MigrationId>,
}

/// Why migrations were refused or failed. Every message names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The migrations directory or one of its files could not be read or is badly named.
    #[error("{0}")]
    Resolve(#[from] ResolveError),
    /// An embedded migration's checksum does not match its SQL (mismatched crate versions).
    #[error(
        "migration {path}: the embedded checksum does not match its SQL; rebuild with the same \
         version of hiqlite and hiqlite-macros"
    )]
    Corrupt { path: String },
    /// An applied migration's file changed since.
    #[error(
        "migration {path} (version {version}) changed after it was applied: the database \
         recorded checksum {applied_checksum} for {applied_file}, the file now has {checksum}; \
         restore the file as it was applied and put the change in a new migration with a \
         higher version"
    )]
    Changed {
        path: String,
        version: u64,
        applied_file: String,
        applied_checksum: String,
        checksum: String,
    },
    /// The database recorded a migration that is not among the files.
    #[error(
        "migration {applied_file} (version {version}) was applied to the database at \
         {applied_at}, but there is no migration with version {version} among the files; \
         restore the file (a newer program's database? see Migrations::ignore_missing)"
    )]
    Missing {
        version: u64,
        applied_file: String,
        applied_at: String,
    },
    /// A migration that was never applied is older than the newest applied one.
    #[error(
        "migration {path} (version {version}) is not applied, but the newer migration \
         {newest_file} (version {newest}) is: migrations apply in version order only; give it a \
         version above {newest} (rename the file)"
    )]
    OutOfOrder {
        path: String,
        version: u64,
        newest: u64,
        newest_file: String,
    },
    /// The migration does not fit in one Raft entry.
    #[error(
        "migration {path} (version {version}) is {size} bytes, more than the {max} bytes one \
         write may have (half of max_frame_bytes); split it into several migrations"
    )]
    TooLarge {
        path: String,
        version: u64,
        size: usize,
        max: usize,
    },
    /// The migration's SQL failed; its transaction was rolled back, earlier migrations stay.
    #[error("migration {path} (version {version}) failed and was rolled back: {source}")]
    Failed {
        path: String,
        version: u64,
        source: SqlError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(version: u64, sql: &str) -> Migration {
        Migration {
            version,
            name: format!("m{version}"),
            path: format!("migrations/{version:04}_m{version}.sql"),
            sql: sql.to_string(),
            checksum: resolver::checksum(sql),
        }
    }

    fn migrations(list: Vec<Migration>) -> Migrations {
        Migrations {
            list,
            ignore_missing: false,
        }
    }

    fn applied(m: &Migration) -> AppliedMigration {
        AppliedMigration {
            version: m.version,
            name: m.name.clone(),
            file: m.file_name().to_string(),
            checksum: m.checksum.clone(),
            applied_at: "2024-01-01T00:00:00.000Z".into(),
        }
    }

    fn versions(pending: Vec<&Migration>) -> Vec<u64> {
        pending.into_iter().map(|m| m.version).collect()
    }

    #[test]
    fn pending_migrations_come_in_version_order() {
        let all = migrations(vec![
            migration(1, "a"),
            migration(2, "b"),
            migration(5, "c"),
        ]);
        assert_eq!(versions(all.check(&[]).unwrap()), vec![1, 2, 5]);
        let done = [applied(&all.list[0])];
        assert_eq!(versions(all.check(&done).unwrap()), vec![2, 5]);
        let done: Vec<_> = all.list.iter().map(applied).collect();
        assert!(all.check(&done).unwrap().is_empty());
    }

    #[test]
    fn a_changed_applied_migration_is_refused_naming_the_file() {
        let before = migration(1, "CREATE TABLE a (x);");
        let after = migrations(vec![migration(1, "CREATE TABLE a (x, y);")]);
        let err = after.check(&[applied(&before)]).unwrap_err();
        assert!(matches!(err, MigrationError::Changed { version: 1, .. }));
        let msg = err.to_string();
        assert!(msg.contains("migrations/0001_m1.sql"), "{msg}");
        assert!(msg.contains(&before.checksum), "{msg}");
    }

    #[test]
    fn line_endings_do_not_change_a_migration() {
        let lf = migration(1, "CREATE TABLE a (x);\n");
        let crlf = resolver::normalize("CREATE TABLE a (x);\r\n");
        let files = migrations(vec![migration(1, &crlf)]);
        assert!(files.check(&[applied(&lf)]).unwrap().is_empty());
    }

    #[test]
    fn a_missing_file_is_refused_unless_ignored() {
        let one = migration(1, "a");
        let two = migration(2, "b");
        let files = migrations(vec![one.clone()]);
        let err = files.check(&[applied(&one), applied(&two)]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, MigrationError::Missing { version: 2, .. }));
        assert!(msg.contains("0002_m2.sql"), "{msg}");
        let files = files.ignore_missing(true);
        assert!(files
            .check(&[applied(&one), applied(&two)])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_pending_migration_older_than_the_newest_applied_is_refused() {
        let files = migrations(vec![
            migration(1, "a"),
            migration(2, "b"),
            migration(3, "c"),
        ]);
        let done = [applied(&files.list[0]), applied(&files.list[2])];
        let err = files.check(&done).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                MigrationError::OutOfOrder {
                    version: 2,
                    newest: 3,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(msg.contains("migrations/0002_m2.sql"), "{msg}");
        assert!(msg.contains("0003_m3.sql"), "{msg}");
    }

    #[test]
    fn corrupt_or_unordered_lists_are_refused() {
        let mut bad = migration(1, "a");
        bad.checksum = resolver::checksum("b");
        let err = migrations(vec![bad]).check(&[]).unwrap_err();
        assert!(matches!(err, MigrationError::Corrupt { .. }), "{err}");
        let err = migrations(vec![migration(2, "a"), migration(2, "b")])
            .check(&[])
            .unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    #[test]
    fn from_dir_uses_the_shared_resolver() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0002_b.sql"), "SELECT 2;\r\n").unwrap();
        std::fs::write(dir.path().join("0001_a.sql"), "SELECT 1;\n").unwrap();
        let found = Migrations::from_dir(dir.path()).unwrap();
        let list: Vec<_> = found.iter().map(|m| (m.version(), m.file_name())).collect();
        assert_eq!(list, vec![(1, "0001_a.sql"), (2, "0002_b.sql")]);
        assert_eq!(found.list[1].sql(), "SELECT 2;\n");
        assert_eq!(found.list[1].checksum(), resolver::checksum("SELECT 2;\n"));

        std::fs::write(dir.path().join("two_b.sql"), "").unwrap();
        let err = Migrations::from_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("two_b.sql"), "{err}");
    }
}
