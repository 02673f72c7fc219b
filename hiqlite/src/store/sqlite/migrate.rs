//! Applying one migration ([`WriteOp::Migrate`](crate::types::command::WriteOp::Migrate)) on the
//! writer, inside the entry's savepoint: check it against `_hiqlite_migrations`, run its SQL
//! under the usual guard, record it. Every step reads only the database and the entry, so every
//! replica decides the same; a failing migration rolls back alone (the writer's savepoint).

use rusqlite::OptionalExtension;

use super::ops::{is_environmental, run_batch, statement_error, OpError};
use super::writer::WriterThread;
use crate::types::command::{MigrateOp, SqlError, WriteOutput};

/// Created by the first migration entry (not at open: a database restored from a snapshot of an
/// older version gets it the same way). `applied_at` is the leader's clock of the entry, in UTC.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS _hiqlite_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    file TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

impl WriterThread {
    /// Applies `m` unless the same version with the same checksum is recorded already (then it
    /// answers `applied: false`: another node submitted it first). Refuses a recorded version
    /// with another checksum, and a version older than the newest recorded one.
    pub(super) fn apply_migration(
        &self,
        m: &MigrateOp,
        leader_time_ms: i64,
    ) -> Result<WriteOutput, OpError> {
        let Ok(version) = i64::try_from(m.version) else {
            return Err(OpError::Sql(SqlError::Sqlite {
                message: format!(
                    "migration {} ({}): the version is larger than 9223372036854775807",
                    m.version, m.file
                ),
            }));
        };
        self.with_internal(CREATE_TABLE, |s| s.execute([]))?;
        let recorded: Option<(String, String)> = self.with_internal(
            "SELECT file, checksum FROM _hiqlite_migrations WHERE version = ?",
            |s| {
                s.query_row([version], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            },
        )?;
        if let Some((applied_file, applied_checksum)) = recorded {
            if applied_checksum == m.checksum {
                return Ok(WriteOutput::Migrated {
                    applied: false,
                    statements: 0,
                });
            }
            return Err(OpError::Sql(SqlError::MigrationChanged {
                version: m.version,
                applied_file,
                applied_checksum,
                checksum: m.checksum.clone(),
            }));
        }
        let newest: Option<(i64, String)> = self.with_internal(
            "SELECT version, file FROM _hiqlite_migrations ORDER BY version DESC LIMIT 1",
            |s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional(),
        )?;
        if let Some((newest, newest_file)) = newest.filter(|(newest, _)| *newest > version) {
            return Err(OpError::Sql(SqlError::MigrationOutOfOrder {
                version: m.version,
                newest: newest as u64,
                newest_file,
            }));
        }
        // User SQL: the guard applies (no `_hiqlite_*` writes, no PRAGMA, no BEGIN/COMMIT).
        let statements = run_batch(&self.conn, &m.sql).map_err(|(n, e)| {
            let e = self.explain_refusal(e);
            if is_environmental(&e)
                || e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted)
            {
                OpError::Sqlite(e)
            } else {
                OpError::Sql(statement_error(&e, format!("statement {n}: {e}")))
            }
        })?;
        self.with_internal(
            "INSERT INTO _hiqlite_migrations (version, name, file, checksum, applied_at)
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', ?5 / 1000.0, 'unixepoch'))",
            |s| {
                s.execute(rusqlite::params![
                    version,
                    m.name,
                    m.file,
                    m.checksum,
                    leader_time_ms
                ])
            },
        )?;
        Ok(WriteOutput::Migrated {
            applied: true,
            statements,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::store::sqlite::test_db::Db;
    use crate::types::command::{CommandResult, MigrateOp, SqlError, WriteOp, WriteOutput};

    fn migrate(version: u64, sql: &str) -> WriteOp {
        WriteOp::Migrate(MigrateOp {
            version,
            name: format!("m{version}"),
            file: format!("{version:04}_m{version}.sql"),
            checksum: hiqlite_shared::migrations::checksum(sql),
            sql: sql.to_string(),
        })
    }

    const APPLIED: CommandResult = Ok(WriteOutput::Migrated {
        applied: true,
        statements: 2,
    });
    const ALREADY: CommandResult = Ok(WriteOutput::Migrated {
        applied: false,
        statements: 0,
    });

    #[tokio::test]
    async fn a_migration_is_applied_once_and_recorded() {
        let mut db = Db::open();
        let one = "CREATE TABLE a (x);\nINSERT INTO a VALUES (1);";
        // Two nodes submitting the same migration: the first applies it, the second is told.
        let results = db.apply(vec![migrate(1, one), migrate(1, one)]).await;
        assert_eq!(results, vec![APPLIED, ALREADY]);
        let results = db.apply(vec![migrate(1, one)]).await;
        assert_eq!(results, vec![ALREADY]);
        assert_eq!(db.rows("SELECT x FROM a").len(), 1, "the SQL ran once");
        assert_eq!(db.recorded(), vec![(1, "0001_m1.sql".to_string())]);
        // Recorded with the leader's clock of the entry, not this machine's.
        let at = db.rows("SELECT applied_at FROM _hiqlite_migrations");
        assert_eq!(
            at[0][0],
            rusqlite::types::Value::Text("2023-11-14T22:13:20.123Z".into())
        );
    }

    #[tokio::test]
    async fn a_changed_checksum_is_refused_and_nothing_runs() {
        let mut db = Db::open();
        db.apply(vec![migrate(1, "CREATE TABLE a (x); CREATE TABLE b (x);")])
            .await;
        let changed = "CREATE TABLE a (x); CREATE TABLE c (x);";
        let results = db.apply(vec![migrate(1, changed)]).await;
        match &results[0] {
            Err(SqlError::MigrationChanged {
                version: 1,
                applied_file,
                checksum,
                ..
            }) => {
                assert_eq!(applied_file, "0001_m1.sql");
                assert_eq!(checksum, &hiqlite_shared::migrations::checksum(changed));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!db.has_table("c"));
    }

    #[tokio::test]
    async fn an_older_version_after_a_newer_one_is_refused() {
        let mut db = Db::open();
        let results = db
            .apply(vec![
                migrate(2, "CREATE TABLE b (x);"),
                migrate(1, "CREATE TABLE a (x);"),
            ])
            .await;
        assert!(results[0].is_ok());
        assert_eq!(
            results[1],
            Err(SqlError::MigrationOutOfOrder {
                version: 1,
                newest: 2,
                newest_file: "0002_m2.sql".into()
            })
        );
        assert!(!db.has_table("a"));
        assert_eq!(db.recorded(), vec![(2, "0002_m2.sql".to_string())]);
    }

    #[tokio::test]
    async fn a_failing_migration_rolls_back_alone() {
        let mut db = Db::open();
        let results = db
            .apply(vec![
                migrate(1, "CREATE TABLE a (x); INSERT INTO a VALUES (1);"),
                migrate(2, "CREATE TABLE b (x);\nINSERT INTO nowhere VALUES (1);"),
                WriteOp::Execute {
                    sql: "INSERT INTO a VALUES (2)".into(),
                    params: vec![],
                },
            ])
            .await;
        assert_eq!(results[0], APPLIED);
        match &results[1] {
            Err(SqlError::Sqlite { message }) => {
                assert!(message.starts_with("statement 2:"), "{message}");
                assert!(message.contains("no such table: nowhere"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(results[2].is_ok(), "{:?}", results[2]);
        assert!(!db.has_table("b"), "the failed migration's first statement");
        assert_eq!(db.recorded(), vec![(1, "0001_m1.sql".to_string())]);
        assert_eq!(db.rows("SELECT x FROM a").len(), 2);
        // Fixed, the same version applies later.
        let fixed = db.apply(vec![migrate(2, "CREATE TABLE b (x);")]).await;
        assert!(fixed[0].is_ok(), "{fixed:?}");
    }

    #[tokio::test]
    async fn migration_sql_gets_the_usual_guard() {
        let mut db = Db::open();
        db.apply(vec![migrate(1, "CREATE TABLE a (x);")]).await;
        for sql in [
            "DELETE FROM _hiqlite_migrations;",
            "PRAGMA foreign_keys = OFF;",
            "COMMIT; CREATE TABLE z (x);",
        ] {
            let results = db.apply(vec![migrate(2, sql)]).await;
            match &results[0] {
                Err(SqlError::Sqlite { message }) => {
                    assert!(message.contains("not authorized"), "{sql}: {message}")
                }
                other => panic!("{sql}: unexpected {other:?}"),
            }
        }
        assert_eq!(db.recorded().len(), 1);
        assert!(!db.has_table("z"));
    }

    #[tokio::test]
    async fn every_replica_computes_the_same_outcome() {
        let ops = || {
            vec![
                migrate(
                    1,
                    "CREATE TABLE a (x, at DEFAULT CURRENT_TIMESTAMP, r);\nINSERT INTO a (x, r) VALUES (1, random());",
                ),
                migrate(3, "CREATE TABLE c (x);"),
                migrate(2, "CREATE TABLE b (x);"),
                migrate(1, "CREATE TABLE a (y);"),
                migrate(4, "SELECT * FROM nowhere;"),
            ]
        };
        let (mut first, mut second) = (Db::open(), Db::open());
        let a = first.apply(ops()).await;
        let b = second.apply(ops()).await;
        assert_eq!(a, b);
        let dump = |db: &Db| {
            (
                db.rows("SELECT * FROM _hiqlite_migrations ORDER BY version"),
                db.rows("SELECT * FROM a"),
                db.rows("SELECT name, sql FROM sqlite_master ORDER BY name"),
            )
        };
        assert_eq!(dump(&first), dump(&second));
    }
}
