//! What SQL may do on each connection, enforced by SQLite's authorizer (at prepare time) and a
//! progress handler (while running). A denied or interrupted statement is an ordinary SQL error,
//! the same on every replica.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, ErrorCode};

/// VM instructions one replicated entry may run before it is interrupted (roughly seconds of
/// work). Counting instructions, not time, keeps the cut-off identical on every replica.
pub const ENTRY_STEP_BUDGET: u64 = 2_000_000_000;
/// The progress handler runs every this many VM instructions.
const STEPS_PER_CALL: u64 = 10_000;

/// Hiqlite's own tables (`_hiqlite_meta`, `_hiqlite_requests`): users may read them, but a change
/// would break every replica at once (a dropped table, a garbled `last_applied`).
const INTERNAL_TABLE_PREFIX: &str = "_hiqlite_";

/// PRAGMAs that describe the schema and read nothing but it (their argument names a table or an
/// index). They answer the same on every replica, so they are allowed in writes too (SQLite
/// itself runs `pragma_quick_check` for `ALTER TABLE ... ADD COLUMN` on a STRICT table).
const SCHEMA_PRAGMAS: &[&str] = &[
    "foreign_key_check",
    "foreign_key_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "quick_check",
    "table_info",
    "table_list",
    "table_xinfo",
];

/// PRAGMAs that only report something (a setting, a count, the build) when given no value.
/// Allowed in reads; their values can differ between nodes (page counts, settings), so writes
/// may not use them.
const REPORTING_PRAGMAS: &[&str] = &[
    "application_id",
    "auto_vacuum",
    "automatic_index",
    "busy_timeout",
    "cache_size",
    "cache_spill",
    "cell_size_check",
    "collation_list",
    "compile_options",
    "data_version",
    "database_list",
    "defer_foreign_keys",
    "encoding",
    "foreign_keys",
    "freelist_count",
    "function_list",
    "integrity_check",
    "journal_mode",
    "journal_size_limit",
    "legacy_alter_table",
    "locking_mode",
    "max_page_count",
    "mmap_size",
    "module_list",
    "page_count",
    "page_size",
    "pragma_list",
    "query_only",
    "recursive_triggers",
    "reverse_unordered_selects",
    "schema_version",
    "secure_delete",
    "synchronous",
    "temp_store",
    "trusted_schema",
    "user_version",
    "wal_autocheckpoint",
];

/// Virtual tables whose rows describe the file's pages, which differ between replicas (a node that
/// installed a snapshot has another page layout): reading them in a write would diverge.
const FILE_LAYOUT_TABLES: &[&str] = &["dbstat", "sqlite_dbpage"];

fn is_one_of(name: &str, list: &[&str]) -> bool {
    list.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// Why the writer refuses an action, or `None` when it is allowed.
fn writer_refusal(ctx: &AuthContext<'_>) -> Option<String> {
    if creates_temp_object(ctx) {
        return Some(TEMP_REFUSAL.to_string());
    }
    let internal = |name: &str| name.to_ascii_lowercase().starts_with(INTERNAL_TABLE_PREFIX);
    let refusal = match ctx.action {
        AuthAction::Insert { table_name }
        | AuthAction::Delete { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::CreateTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::AlterTable { table_name, .. }
        | AuthAction::CreateIndex { table_name, .. }
        | AuthAction::DropIndex { table_name, .. }
        | AuthAction::CreateTrigger { table_name, .. }
        | AuthAction::DropTrigger { table_name, .. }
            if internal(table_name) =>
        {
            format!("{table_name} is one of Hiqlite's own tables: it can be read, not changed")
        }
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            "BEGIN, COMMIT, ROLLBACK, SAVEPOINT and RELEASE are not allowed: every replicated \
             write already runs in a transaction of its own; send statements that belong \
             together as one `txn` or batch"
                .to_string()
        }
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            "ATTACH and DETACH are not supported: every node holds one database file, and an \
             attached file would not be replicated"
                .to_string()
        }
        AuthAction::Pragma { pragma_name, .. } if is_one_of(pragma_name, SCHEMA_PRAGMAS) => {
            return None
        }
        AuthAction::Pragma { pragma_name, .. } => format!(
            "PRAGMA {pragma_name} is not allowed in writes: pragmas set or report this node's \
             connection and file, which are not replicated; in writes only the schema pragmas \
             ({}) are allowed, and reads may use the reporting ones",
            SCHEMA_PRAGMAS.join(", ")
        ),
        AuthAction::DropTempIndex { .. }
        | AuthAction::DropTempTable { .. }
        | AuthAction::DropTempTrigger { .. }
        | AuthAction::DropTempView { .. } => TEMP_REFUSAL.to_string(),
        AuthAction::Read { table_name, .. } if is_one_of(table_name, FILE_LAYOUT_TABLES) => {
            format!(
                "{table_name} is not allowed in writes: it describes this node's file pages, \
                 which differ between nodes; read it with a local query instead"
            )
        }
        _ => return None,
    };
    Some(refusal)
}

/// Whether the action creates something in the connection-local `temp` schema. SQLite reports
/// `CREATE TABLE temp.x` as an ordinary CREATE TABLE in database `temp`, and `CREATE TRIGGER
/// temp.tr ON main_table` only as an insert into `temp.sqlite_temp_master`; every TEMP object
/// is such an insert. Reading and updating the (always empty) temp schema stays allowed:
/// SQLite's own `ALTER TABLE ... RENAME` does both.
fn creates_temp_object(ctx: &AuthContext<'_>) -> bool {
    let temp_action = matches!(
        ctx.action,
        AuthAction::CreateTempIndex { .. }
            | AuthAction::CreateTempTable { .. }
            | AuthAction::CreateTempTrigger { .. }
            | AuthAction::CreateTempView { .. }
    );
    let in_temp = ctx.database_name == Some("temp")
        && matches!(
            ctx.action,
            AuthAction::Insert { .. }
                | AuthAction::CreateTable { .. }
                | AuthAction::CreateView { .. }
                | AuthAction::CreateIndex { .. }
                | AuthAction::CreateTrigger { .. }
                | AuthAction::CreateVtable { .. }
        );
    temp_action || in_temp
}

const TEMP_REFUSAL: &str = "TEMP tables, views, triggers and indexes are not supported: they \
     live in one SQLite connection, so other nodes (and this one after a restart) would not have \
     them; use a regular table or view and drop it when done";

/// Why a read connection refuses an action, or `None` when it is allowed.
fn reader_refusal(ctx: &AuthContext<'_>) -> Option<String> {
    if creates_temp_object(ctx) {
        return Some(TEMP_REFUSAL.to_string());
    }
    let refusal = match ctx.action {
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            "BEGIN, COMMIT, ROLLBACK, SAVEPOINT and RELEASE are not allowed: every replicated \
             write already runs in a transaction of its own (send statements that belong \
             together as one `txn` or batch), and a read transaction left open would pin an old \
             snapshot of the database"
                .to_string()
        }
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            "ATTACH and DETACH are not supported: every node holds one database file".to_string()
        }
        AuthAction::Pragma { pragma_name, .. } if is_one_of(pragma_name, SCHEMA_PRAGMAS) => {
            return None
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value: None,
        } if is_one_of(pragma_name, REPORTING_PRAGMAS) => return None,
        AuthAction::Pragma {
            pragma_name,
            pragma_value: Some(_),
        } if is_one_of(pragma_name, REPORTING_PRAGMAS) => format!(
            "PRAGMA {pragma_name} = ... is not allowed: it would change a setting of this node's \
             connection or file, which is not replicated; `PRAGMA {pragma_name}` without a value \
             reads it"
        ),
        AuthAction::Pragma { pragma_name, .. } => format!(
            "PRAGMA {pragma_name} is not allowed: only pragmas that read the schema ({}) or report \
             a setting ({}) can be used",
            SCHEMA_PRAGMAS.join(", "),
            REPORTING_PRAGMAS.join(", ")
        ),
        _ => return None,
    };
    Some(refusal)
}

/// Why the authorizer last refused a statement on one connection. SQLite only reports
/// "not authorized"; the guard keeps its reason so the error can say what was refused and why.
#[derive(Clone, Default)]
pub struct Refusals(Arc<Mutex<Option<String>>>);

impl Refusals {
    fn record(&self, reason: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }

    /// Forgets the last refusal (before a new statement runs).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// The reason of the last refusal since [`Refusals::clear`], if the guard refused anything.
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// `e` with the refusal's reason when it is SQLite's "not authorized" (or "access to ... is
    /// prohibited") error and the guard refused something since the last [`Refusals::clear`].
    pub fn explain(&self, e: rusqlite::Error) -> rusqlite::Error {
        match e {
            rusqlite::Error::SqliteFailure(f, message)
                if f.code == ErrorCode::AuthorizationForStatementDenied =>
            {
                match self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    Some(reason) => {
                        rusqlite::Error::SqliteFailure(f, Some(format!("not authorized: {reason}")))
                    }
                    None => rusqlite::Error::SqliteFailure(f, message),
                }
            }
            other => other,
        }
    }
}

/// Guards the writer connection. The writer runs its own control statements (BEGIN, SAVEPOINT,
/// COMMIT) inside [`WriterGuard::internal`]; user statements get the restrictions above and the
/// step budget.
pub struct WriterGuard {
    internal: Arc<AtomicBool>,
    steps: Arc<AtomicU64>,
    refusals: Refusals,
}

impl WriterGuard {
    /// Installs the guard with `step_budget` VM instructions per entry ([`ENTRY_STEP_BUDGET`]
    /// in production: it must be the same on every replica).
    pub fn install(conn: &mut Connection, step_budget: u64) -> WriterGuard {
        let internal = Arc::new(AtomicBool::new(false));
        let steps = Arc::new(AtomicU64::new(0));
        let refusals = Refusals::default();
        let flag = internal.clone();
        let record = refusals.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if flag.load(Ordering::Relaxed) {
                return Authorization::Allow;
            }
            match writer_refusal(&ctx) {
                Some(reason) => {
                    record.record(reason);
                    Authorization::Deny
                }
                None => Authorization::Allow,
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
        WriterGuard {
            internal,
            steps,
            refusals,
        }
    }

    /// Runs `f` with the restrictions lifted (for the writer's own statements).
    pub fn internal<T>(&self, f: impl FnOnce() -> T) -> T {
        self.internal.store(true, Ordering::Relaxed);
        let result = f();
        self.internal.store(false, Ordering::Relaxed);
        result
    }

    /// Starts a new entry's step budget and forgets earlier refusals.
    pub fn reset_budget(&self) {
        self.steps.store(0, Ordering::Relaxed);
        self.refusals.clear();
    }

    /// See [`Refusals::explain`].
    pub fn explain(&self, e: rusqlite::Error) -> rusqlite::Error {
        self.refusals.explain(e)
    }
}

/// Guards a read-pool connection: no transaction control (a `BEGIN` left open would pin an old
/// snapshot and make later "consistent" reads stale), no ATTACH, no PRAGMA that sets a value or
/// does more than read the schema or report a setting. Returns the connection's refusals.
pub fn install_reader_guard(conn: &Connection) -> Refusals {
    let refusals = Refusals::default();
    let record = refusals.clone();
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        match reader_refusal(&ctx) {
            Some(reason) => {
                record.record(reason);
                Authorization::Deny
            }
            None => Authorization::Allow,
        }
    }));
    refusals
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

    /// The guard's reason for refusing `sql` on `conn`, as the error a user sees.
    fn refusal(conn: &Connection, refusals: &Refusals, sql: &str) -> String {
        refusals.clear();
        let err = conn.execute_batch(sql).expect_err(sql);
        refusals.explain(err).to_string()
    }

    #[test]
    fn writer_runs_every_alter_table_form() {
        let (conn, guard) = guarded(ENTRY_STEP_BUDGET);
        conn.execute_batch(
            "CREATE TABLE r (a INTEGER PRIMARY KEY, b TEXT, c TEXT, d TEXT);
             CREATE INDEX r_b ON r (b);
             CREATE VIEW rv AS SELECT a, b FROM r;
             CREATE TABLE audit (a, b);
             CREATE TRIGGER r_audit AFTER INSERT ON r BEGIN INSERT INTO audit VALUES (new.a, new.b); END;
             CREATE TABLE s (id INTEGER PRIMARY KEY, x TEXT NOT NULL, y TEXT) STRICT;
             INSERT INTO r (b, c, d) VALUES ('one', 'c', 'd');
             ALTER TABLE r RENAME COLUMN b TO bb;
             ALTER TABLE r RENAME TO r2;
             ALTER TABLE r2 DROP COLUMN d;
             ALTER TABLE r2 ADD COLUMN e INTEGER DEFAULT 7;
             ALTER TABLE s DROP COLUMN y;
             ALTER TABLE s ADD COLUMN z INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE s RENAME COLUMN x TO xx;
             INSERT INTO r2 (bb, c) VALUES ('two', 'c');",
        )
        .unwrap_or_else(|e| panic!("{}", guard.explain(e)));
        let view: Vec<String> = conn
            .prepare("SELECT bb FROM rv ORDER BY a")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(view, ["one", "two"], "the view follows the renames");
        let audited: i64 = conn
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap();
        assert_eq!(audited, 2, "the trigger follows the renames");
    }

    #[test]
    fn refusals_say_what_was_refused_and_why() {
        let (conn, guard) = guarded(ENTRY_STEP_BUDGET);
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        let refusals = guard.refusals.clone();
        for (sql, expected) in [
            ("CREATE TEMP VIEW v AS SELECT 1", "TEMP tables, views"),
            ("CREATE TEMPORARY TABLE tt (x)", "TEMP tables, views"),
            (
                "CREATE TRIGGER temp.tr AFTER INSERT ON t BEGIN SELECT 1; END",
                "TEMP tables",
            ),
            ("CREATE TABLE temp.x (y)", "TEMP tables"),
            ("CREATE VIEW temp.v AS SELECT 1", "TEMP tables"),
            (
                "PRAGMA journal_mode = DELETE",
                "PRAGMA journal_mode is not allowed in writes",
            ),
            (
                "PRAGMA user_version",
                "PRAGMA user_version is not allowed in writes",
            ),
            (
                "BEGIN",
                "every replicated write already runs in a transaction",
            ),
            (
                "ATTACH ':memory:' AS o",
                "ATTACH and DETACH are not supported",
            ),
            (
                "INSERT INTO t SELECT pageno FROM dbstat",
                "dbstat is not allowed in writes",
            ),
        ] {
            let message = refusal(&conn, &refusals, sql);
            assert!(message.starts_with("not authorized: "), "{sql}: {message}");
            assert!(message.contains(expected), "{sql}: {message}");
        }
        // Schema pragmas read only the schema, the same on every node.
        let columns: i64 = conn
            .query_row("SELECT count(*) FROM pragma_table_info('t')", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(columns, 1);
        // Reading the (always empty) temp schema is harmless.
        conn.execute_batch("SELECT * FROM temp.sqlite_master")
            .unwrap();
    }

    #[test]
    fn readers_allow_pragmas_that_only_read() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT); CREATE INDEX u_name ON u (name);",
        )
        .unwrap();
        let refusals = install_reader_guard(&conn);
        for sql in [
            "PRAGMA table_info(u)",
            "PRAGMA table_xinfo('u')",
            "PRAGMA index_list(u)",
            "PRAGMA index_info(u_name)",
            "PRAGMA foreign_key_list(u)",
            "PRAGMA table_list",
            "SELECT name FROM pragma_table_info('u')",
            "PRAGMA page_count",
            "PRAGMA foreign_keys",
            "PRAGMA integrity_check",
            "PRAGMA compile_options",
        ] {
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {}", refusals.explain(e)));
        }
        for (sql, expected) in [
            (
                "PRAGMA foreign_keys = OFF",
                "PRAGMA foreign_keys = ... is not allowed",
            ),
            ("PRAGMA optimize", "PRAGMA optimize is not allowed"),
            (
                "PRAGMA wal_checkpoint",
                "PRAGMA wal_checkpoint is not allowed",
            ),
            ("CREATE TEMP TABLE t (x)", "TEMP tables"),
        ] {
            let message = refusal(&conn, &refusals, sql);
            assert!(message.contains(expected), "{sql}: {message}");
        }
    }
}
