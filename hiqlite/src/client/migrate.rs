//! Applying migrations through a client: [`Client::migrate`] and
//! [`Client::applied_migrations`] (the migrations themselves and their checks are
//! `crate::migrate`).

use super::{Client, FromRow, Row};
use crate::engine::error::Error;
use crate::migrate::{AppliedMigration, MigrateReport, Migration, MigrationError, Migrations};
use crate::params;
use crate::types::command::{SqlError, WriteOp, WriteOutput};

impl Client {
    /// Applies the migrations the database has not recorded yet, in version order, each as one
    /// Raft entry in its own transaction, and returns what it did. Safe to call on every start
    /// of every node: an applied migration is never applied again, also when several nodes call
    /// this at the same time.
    ///
    /// Refuses, before applying anything, a changed or missing applied migration and a pending
    /// migration older than the newest applied one (see [`MigrationError`]). A migration whose
    /// SQL fails is rolled back alone and stops the run ([`MigrationError::Failed`]).
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// client.migrate(hiqlite::migrate!()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self, migrations: Migrations) -> Result<MigrateReport, Error> {
        let applied = self.applied_migrations().await?;
        let pending = migrations.check(&applied)?;
        let mut report = MigrateReport {
            applied: Vec::new(),
            already_applied: migrations
                .iter()
                .filter(|m| applied.iter().any(|a| a.version == m.version()))
                .map(Migration::id)
                .collect(),
        };
        for m in pending {
            let refused = |e: MigrationError| Err(Error::Migration(e));
            match self.write(WriteOp::Migrate(m.to_op())).await {
                Ok(WriteOutput::Migrated { applied: true, .. }) => report.applied.push(m.id()),
                Ok(WriteOutput::Migrated { applied: false, .. }) => {
                    report.already_applied.push(m.id())
                }
                Ok(other) => return Err(Error::Raft(format!("unexpected write output {other:?}"))),
                Err(Error::Sql(SqlError::MigrationChanged {
                    applied_file,
                    applied_checksum,
                    checksum,
                    ..
                })) => {
                    return refused(MigrationError::Changed {
                        path: m.path().to_string(),
                        version: m.version(),
                        applied_file,
                        applied_checksum,
                        checksum,
                    })
                }
                Err(Error::Sql(SqlError::MigrationOutOfOrder {
                    newest,
                    newest_file,
                    ..
                })) => {
                    return refused(MigrationError::OutOfOrder {
                        path: m.path().to_string(),
                        version: m.version(),
                        newest,
                        newest_file,
                    })
                }
                Err(Error::Sql(source)) => {
                    return refused(MigrationError::Failed {
                        path: m.path().to_string(),
                        version: m.version(),
                        source,
                    })
                }
                Err(Error::TooLarge { size, max }) => {
                    return refused(MigrationError::TooLarge {
                        path: m.path().to_string(),
                        version: m.version(),
                        size,
                        max,
                    })
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// The migrations the database recorded, in version order (a linearizable read: it sees
    /// every migration applied before the call, through any node).
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, Error> {
        let (tables,): (i64,) = self
            .query_consistent_one(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_hiqlite_migrations'",
                params!(),
            )
            .await?;
        if tables == 0 {
            return Ok(Vec::new());
        }
        self.query_consistent_map(
            "SELECT version, name, file, checksum, applied_at FROM _hiqlite_migrations ORDER BY version",
            params!(),
        )
        .await
    }
}

impl FromRow for AppliedMigration {
    fn from_row(row: &Row<'_>) -> Result<Self, Error> {
        let version: i64 = row.get("version")?;
        Ok(AppliedMigration {
            version: u64::try_from(version)
                .map_err(|_| Error::Conversion(format!("negative migration version {version}")))?,
            name: row.get("name")?,
            file: row.get("file")?,
            checksum: row.get("checksum")?,
            applied_at: row.get("applied_at")?,
        })
    }
}
