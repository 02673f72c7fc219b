//! What SQL may do on each connection, enforced by SQLite's authorizer (at prepare time) and a
//! progress handler (while running). A denied or interrupted statement is an ordinary SQL error,
//! the same on every replica.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::Connection;

/// VM instructions one replicated entry may run before it is interrupted (roughly seconds of
/// work). Counting instructions, not time, keeps the cut-off identical on every replica.
pub const ENTRY_STEP_BUDGET: u64 = 2_000_000_000;
/// The progress handler runs every this many VM instructions.
const STEPS_PER_CALL: u64 = 10_000;

/// Hiqlite's own tables (`_hiqlite_meta`, `_hiqlite_requests`): users may read them, but a change
/// would break every replica at once (a dropped table, a garbled `last_applied`).
const INTERNAL_TABLE_PREFIX: &str = "_hiqlite_";

fn changes_internal_tables(ctx: &AuthContext<'_>) -> bool {
    let internal = |name: &str| name.to_ascii_lowercase().starts_with(INTERNAL_TABLE_PREFIX);
    match ctx.action {
        AuthAction::Insert { table_name }
        | AuthAction::Delete { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::CreateTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::AlterTable { table_name, .. }
        | AuthAction::CreateIndex { table_name, .. }
        | AuthAction::DropIndex { table_name, .. }
        | AuthAction::CreateTrigger { table_name, .. }
        | AuthAction::DropTrigger { table_name, .. } => internal(table_name),
        _ => false,
    }
}

/// `ALTER TABLE ... ADD COLUMN` on a STRICT table makes SQLite check the table with
/// `pragma_quick_check` (a nested statement the authorizer sees). That pragma only reads, so it
/// is let through; without it a migration could never add a column to a STRICT table.
fn is_read_only_check(ctx: &AuthContext<'_>) -> bool {
    matches!(
        ctx.action,
        AuthAction::Pragma { pragma_name, .. } if pragma_name.eq_ignore_ascii_case("quick_check")
    )
}

/// Statements that would escape the writer's transaction handling or leave state outside the
/// replicated database: transaction control, savepoints, ATTACH/DETACH, PRAGMA (except the
/// read-only check above), anything on the connection-local `temp` schema (not in snapshots,
/// lost on restart), and changes to Hiqlite's own tables.
fn escapes_replication(ctx: &AuthContext<'_>) -> bool {
    if changes_internal_tables(ctx) {
        return true;
    }
    if is_read_only_check(ctx) {
        return false;
    }
    matches!(
        ctx.action,
        AuthAction::Transaction { .. }
            | AuthAction::Savepoint { .. }
            | AuthAction::Attach { .. }
            | AuthAction::Detach { .. }
            | AuthAction::Pragma { .. }
            | AuthAction::CreateTempIndex { .. }
            | AuthAction::CreateTempTable { .. }
            | AuthAction::CreateTempTrigger { .. }
            | AuthAction::CreateTempView { .. }
            | AuthAction::DropTempIndex { .. }
            | AuthAction::DropTempTable { .. }
            | AuthAction::DropTempTrigger { .. }
            | AuthAction::DropTempView { .. }
    ) || ctx.database_name == Some("temp")
}

/// Guards the writer connection. The writer runs its own control statements (BEGIN, SAVEPOINT,
/// COMMIT) inside [`WriterGuard::internal`]; user statements get the restrictions above and the
/// step budget.
pub struct WriterGuard {
    internal: Arc<AtomicBool>,
    steps: Arc<AtomicU64>,
}

impl WriterGuard {
    /// Installs the guard with `step_budget` VM instructions per entry ([`ENTRY_STEP_BUDGET`]
    /// in production: it must be the same on every replica).
    pub fn install(conn: &mut Connection, step_budget: u64) -> WriterGuard {
        let internal = Arc::new(AtomicBool::new(false));
        let steps = Arc::new(AtomicU64::new(0));
        let flag = internal.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if escapes_replication(&ctx) && !flag.load(Ordering::Relaxed) {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }));
        let counter = steps.clone();
        conn.progress_handler(
            STEPS_PER_CALL as i32,
            Some(move || {
                let used = counter.fetch_add(STEPS_PER_CALL, Ordering::Relaxed) + STEPS_PER_CALL;
                used > step_budget
            }),
        );
        WriterGuard { internal, steps }
    }

    /// Runs `f` with the restrictions lifted (for the writer's own statements).
    pub fn internal<T>(&self, f: impl FnOnce() -> T) -> T {
        self.internal.store(true, Ordering::Relaxed);
        let result = f();
        self.internal.store(false, Ordering::Relaxed);
        result
    }

    /// Starts a new entry's step budget.
    pub fn reset_budget(&self) {
        self.steps.store(0, Ordering::Relaxed);
    }
}

/// Guards a read-pool connection: no transaction control (a `BEGIN` left open would pin an old
/// snapshot and make later "consistent" reads stale), no ATTACH, no PRAGMA that sets a value.
pub fn install_reader_guard(conn: &Connection) {
    conn.authorizer(Some(|ctx: AuthContext<'_>| match ctx.action {
        AuthAction::Transaction { .. }
        | AuthAction::Savepoint { .. }
        | AuthAction::Attach { .. }
        | AuthAction::Detach { .. }
        | AuthAction::Pragma {
            pragma_value: Some(_),
            ..
        } => Authorization::Deny,
        _ => Authorization::Allow,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded(budget: u64) -> (Connection, WriterGuard) {
        let mut conn = Connection::open_in_memory().unwrap();
        let guard = WriterGuard::install(&mut conn, budget);
        (conn, guard)
    }

    #[test]
    fn writer_refuses_statements_that_escape_replication() {
        let (conn, guard) = guarded(ENTRY_STEP_BUDGET);
        guard
            .internal(|| {
                conn.execute_batch(
                    "CREATE TABLE _hiqlite_meta (key, value); CREATE TABLE _hiqlite_requests (x)",
                )
            })
            .unwrap();
        for sql in [
            "BEGIN",
            "COMMIT",
            "SAVEPOINT x",
            "ATTACH ':memory:' AS other",
            "PRAGMA journal_mode = DELETE",
            "PRAGMA user_version",
            "CREATE TEMP TABLE t (x)",
            "CREATE TEMPORARY VIEW v AS SELECT 1",
            "DROP TABLE _hiqlite_requests",
            "DELETE FROM _hiqlite_meta",
            "UPDATE _HIQLITE_META SET value = x'ff'",
            "CREATE TABLE _hiqlite_mine (x)",
        ] {
            let err = conn.execute_batch(sql).unwrap_err();
            assert!(err.to_string().contains("not authorized"), "{sql}: {err}");
        }
        // The writer's own statements pass.
        guard
            .internal(|| conn.execute_batch("BEGIN; SAVEPOINT e; RELEASE e; COMMIT"))
            .unwrap();
        // Users may read Hiqlite's tables.
        conn.query_row("SELECT count(*) FROM _hiqlite_meta", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
            .unwrap();
    }

    #[test]
    fn writer_lets_alter_table_add_column_check_a_strict_table() {
        let (conn, _guard) = guarded(ENTRY_STEP_BUDGET);
        conn.execute_batch(
            "CREATE TABLE s (id INTEGER PRIMARY KEY, a TEXT NOT NULL) STRICT;
             INSERT INTO s (a) VALUES ('x');
             ALTER TABLE s ADD COLUMN b TEXT;
             ALTER TABLE s ADD COLUMN c INTEGER NOT NULL DEFAULT 0 CHECK (c >= 0);",
        )
        .unwrap();
        // The check still refuses what does not fit.
        let err = conn
            .execute_batch("ALTER TABLE s ADD COLUMN d TEXT DEFAULT 'd' CHECK (d <> 'd')")
            .unwrap_err();
        assert!(err.to_string().contains("CHECK constraint failed"), "{err}");
        // Other pragmas stay refused.
        let err = conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap_err();
        assert!(err.to_string().contains("not authorized"), "{err}");
    }

    #[test]
    fn endless_statement_is_interrupted_by_the_step_budget() {
        let (conn, guard) = guarded(1_000_000);
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
        let err = conn
            .query_row(endless, [], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::OperationInterrupted)
        );
        // A fresh budget lets ordinary statements run again.
        guard.reset_budget();
        let n: i64 = conn
            .query_row("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) SELECT count(*) FROM c", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 100);
    }

    #[test]
    fn readers_refuse_transactions_and_settings_but_read_pragmas() {
        let conn = Connection::open_in_memory().unwrap();
        install_reader_guard(&conn);
        for sql in [
            "BEGIN",
            "SAVEPOINT x",
            "ATTACH ':memory:' AS o",
            "PRAGMA query_only = OFF",
        ] {
            assert!(conn.execute_batch(sql).is_err(), "{sql} was allowed");
        }
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 0);
    }
}
