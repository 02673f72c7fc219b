//! A seeded SQL generator for the differential test (`tests/tests/sql_differential.rs`).
//!
//! [`Generator::next`] looks at the current [`Schema`] (read from the reference SQLite after
//! every statement) and produces one [`Statement`]: DDL of every kind (tables plain, WITHOUT
//! ROWID and STRICT, indexes, every ALTER TABLE form, views, triggers writing an audit table,
//! REINDEX, ANALYZE), DML with and without RETURNING, and queries whose rows always come in a
//! total order. Some statements fail on purpose (constraints, unknown names); both sides must
//! fail alike. The same seed and the same outcomes always give the same statements.
//!
//! Kinds of SQL that Hiqlite is known to get wrong can be switched off ([`Feature`]), so the
//! test finds new divergences while known ones are being fixed.

mod ddl;
mod dml;
pub mod expr;
mod query;
pub mod rng;
pub mod schema;

pub use rng::Rng;
pub use schema::{ident, Schema, PROBE_TABLE};

/// Whether `sql` starts with `ALTER`, `CREATE` or `DROP`.
pub fn is_ddl(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or_default();
    ["ALTER", "CREATE", "DROP"]
        .iter()
        .any(|k| first.eq_ignore_ascii_case(k))
}

/// The query that lists every user object as SQLite stores it, in a total order.
pub fn query_schema_listing() -> &'static str {
    query::SCHEMA_LISTING
}

/// How the statement is run on the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A read: `query_rows` / `query_consistent_rows` (or `Client::sql`).
    Query,
    /// A write without result rows: `execute` (or `Client::sql`).
    Write,
    /// `INSERT/UPDATE/DELETE ... RETURNING`: `execute_returning_rows` (or `Client::sql`).
    WriteReturning,
    /// Several `;`-separated statements, atomic: `batch` (or `Client::sql`).
    Batch,
}

/// Which client call carries the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The typed call for the statement's kind (`execute`, `query_rows`, ...).
    Api,
    /// `Client::sql`, which decides itself whether the SQL reads or writes (as `hiqlite sql`).
    Sql,
}

/// What a result is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Plain SQLite's result, exactly.
    Reference,
    /// Values from `random()`, the clock or the connection's history (`total_changes()`):
    /// every node must agree; plain SQLite is asked only for the column names and the number of
    /// rows.
    AcrossNodes,
    /// Refused by Hiqlite by design (TEMP objects): the error must contain this text; plain
    /// SQLite does not run it.
    Refused(&'static str),
}

/// A kind of SQL that can be switched off while Hiqlite is known to get it wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// `SELECT *`, `t.*` and `RETURNING *`, whose column list follows the schema.
    SelectStar,
    /// Not a kind of SQL but a rule of the comparison: column names must match exactly even
    /// when a statement's SQL text was prepared before under another schema (`"x"` was a string
    /// literal before column `x` existed, a column's case changed). Off: results whose values
    /// match are accepted with other column names.
    ColumnNamesAfterSchemaChange,
    /// `ALTER TABLE ... RENAME COLUMN`.
    RenameColumn,
    /// `ALTER TABLE ... RENAME TO`.
    RenameTable,
    /// `ALTER TABLE ... DROP COLUMN`.
    DropColumn,
    /// `CREATE TEMP TABLE/VIEW/TRIGGER`.
    TempObjects,
    /// `VACUUM`.
    Vacuum,
    /// Read-only pragmas: `PRAGMA table_info(t)`, `SELECT ... FROM pragma_index_list('t')`.
    ReadPragmas,
    /// `total_changes()`, `changes()`, `last_insert_rowid()` written into a table.
    HistoryFunctions,
    /// Writes through `Client::sql`, which classifies them on a read connection.
    WritesViaSql,
    /// Not a kind of SQL but how the harness reads: a consistent read through `Client::sql`
    /// runs right after a write through another node. Off: the reading node catches up first.
    SqlConsistentReadSeesNewSchema,
    /// `INSERT/UPDATE OR FAIL`: plain SQLite keeps the rows changed before the failing one.
    OrFail,
    /// `OR ROLLBACK` and `RAISE(ROLLBACK, ...)`: plain SQLite ends the transaction.
    OrRollback,
    /// Foreign keys declared `DEFERRABLE INITIALLY DEFERRED`.
    DeferredForeignKeys,
    /// An explicit insert of the largest rowid; the next insert into an AUTOINCREMENT table
    /// fails with SQLITE_FULL.
    RowidLimit,
}

impl Feature {
    /// Every feature, for "enable all".
    pub const ALL: &'static [Feature] = &[
        Feature::SelectStar,
        Feature::ColumnNamesAfterSchemaChange,
        Feature::RenameColumn,
        Feature::RenameTable,
        Feature::DropColumn,
        Feature::TempObjects,
        Feature::Vacuum,
        Feature::ReadPragmas,
        Feature::HistoryFunctions,
        Feature::WritesViaSql,
        Feature::SqlConsistentReadSeesNewSchema,
        Feature::OrFail,
        Feature::OrRollback,
        Feature::DeferredForeignKeys,
        Feature::RowidLimit,
    ];
}

/// The set of enabled [`Feature`]s.
#[derive(Debug, Clone)]
pub struct Features(Vec<Feature>);

impl Features {
    /// Everything enabled.
    pub fn all() -> Features {
        Features(Feature::ALL.to_vec())
    }

    /// Everything except `off`.
    pub fn all_except(off: &[Feature]) -> Features {
        Features(
            Feature::ALL
                .iter()
                .copied()
                .filter(|f| !off.contains(f))
                .collect(),
        )
    }

    pub fn has(&self, feature: Feature) -> bool {
        self.0.contains(&feature)
    }
}

/// One generated statement and how to run and compare it.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: String,
    pub kind: Kind,
    pub route: Route,
    pub compare: Compare,
    /// Whether `last_insert_rowid` of this write describes it (a plain INSERT into a rowid
    /// table that inserted something). Otherwise it reports an earlier statement, which Hiqlite
    /// resets per entry on purpose (determinism), so it is not compared.
    pub rowid_meaningful: bool,
}

impl Statement {
    fn new(sql: impl Into<String>, kind: Kind) -> Statement {
        Statement {
            sql: sql.into(),
            kind,
            route: Route::Api,
            compare: Compare::Reference,
            rowid_meaningful: false,
        }
    }

    pub(crate) fn query(sql: impl Into<String>) -> Statement {
        Statement::new(sql, Kind::Query)
    }

    pub(crate) fn write(sql: impl Into<String>) -> Statement {
        Statement::new(sql, Kind::Write)
    }

    pub(crate) fn returning(sql: impl Into<String>) -> Statement {
        Statement::new(sql, Kind::WriteReturning)
    }

    pub(crate) fn batch(sql: impl Into<String>) -> Statement {
        Statement::new(sql, Kind::Batch)
    }
}

impl std::fmt::Display for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Query => "query",
            Kind::Write => "execute",
            Kind::WriteReturning => "execute_returning",
            Kind::Batch => "batch",
        };
        let via = match self.route {
            Route::Api => kind,
            Route::Sql => "sql",
        };
        write!(f, "[{via}] {}", self.sql)
    }
}

/// What the generator picks from at each step.
#[derive(Debug, Clone, Copy)]
enum Action {
    CreateTable,
    CreateTableAs,
    CreateIndex,
    DropIndex,
    AddColumn,
    RenameTable,
    RenameColumn,
    DropColumn,
    DropTable,
    CreateView,
    DropView,
    CreateTrigger,
    DropTrigger,
    Reindex,
    Analyze,
    Vacuum,
    Temp,
    Batch,
    Insert,
    InsertSelect,
    Upsert,
    Update,
    Delete,
    HistoryWrite,
    RowidLimit,
    ProbeWrite,
    Select,
    SelectStar,
    Aggregate,
    Join,
    SelectView,
    Cte,
    Window,
    Compound,
    Subquery,
    SchemaListing,
    Literals,
    ProbeRead,
    Pragma,
    Mistake,
    Repeat,
}

/// Produces statements from a seed; see the module documentation.
pub struct Generator {
    rng: Rng,
    features: Features,
    /// Counter for fresh object names.
    next_name: u32,
    probe_created: bool,
    /// The last statements, to run again now and then: applications repeat their SQL, and a
    /// repeated text finds the statement prepared for it before (under an older schema).
    recent: Vec<Statement>,
}

/// How many recent statements [`Generator`] may repeat.
const RECENT: usize = 64;

impl Generator {
    /// A generator for `seed` that only produces the enabled `features`.
    pub fn new(seed: u64, features: Features) -> Generator {
        Generator {
            rng: Rng::new(seed),
            features,
            next_name: 0,
            probe_created: false,
            recent: Vec::new(),
        }
    }

    /// The next statement for a database whose schema is `schema`.
    pub fn next(&mut self, schema: &Schema) -> Statement {
        let mut stmt = self.pick(schema);
        let via_sql_ok = stmt.kind == Kind::Query || self.on(Feature::WritesViaSql);
        if self.rng.chance(25) && via_sql_ok {
            stmt.route = Route::Sql;
        }
        if stmt.kind != Kind::Batch {
            if self.recent.len() == RECENT {
                self.recent.remove(0);
            }
            self.recent.push(stmt.clone());
        }
        stmt
    }

    fn on(&self, feature: Feature) -> bool {
        self.features.has(feature)
    }

    fn pick(&mut self, schema: &Schema) -> Statement {
        if !self.probe_created {
            self.probe_created = true;
            return Statement::write(format!(
                "CREATE TABLE {PROBE_TABLE} (id INTEGER PRIMARY KEY, r INTEGER, b BLOB, \
                 ts TEXT DEFAULT CURRENT_TIMESTAMP, d REAL DEFAULT (julianday('now')))"
            ));
        }
        if schema.tables.is_empty() {
            return self.create_table(schema);
        }
        // SQLite picks the next rowid at random once the largest one is taken: take it back.
        if let Some(t) = schema.tables.iter().find(|t| t.rowid_at_limit) {
            return Statement::write(format!(
                "DELETE FROM {} WHERE rowid = 9223372036854775807",
                ident(&t.name)
            ));
        }
        let tables = schema.tables.len() as u32;
        let star = u32::from(self.on(Feature::SelectStar));
        let rows: i64 = schema.tables.iter().map(|t| t.rows).sum();
        let crowded = u32::from(rows > 400);
        let action = self.rng.weighted(&[
            (if tables < 8 { 5 } else { 0 }, Action::CreateTable),
            (1, Action::CreateTableAs),
            (4, Action::CreateIndex),
            (1, Action::DropIndex),
            (4, Action::AddColumn),
            (
                2 * u32::from(self.on(Feature::RenameTable)),
                Action::RenameTable,
            ),
            (
                2 * u32::from(self.on(Feature::RenameColumn)),
                Action::RenameColumn,
            ),
            (
                3 * u32::from(self.on(Feature::DropColumn)),
                Action::DropColumn,
            ),
            (if tables > 3 { 2 } else { 0 }, Action::DropTable),
            (3, Action::CreateView),
            (
                if schema.views.iter().any(|v| v.columns.is_empty()) {
                    6
                } else {
                    1
                },
                Action::DropView,
            ),
            (3, Action::CreateTrigger),
            (1, Action::DropTrigger),
            (2, Action::Reindex),
            (2, Action::Analyze),
            (u32::from(self.on(Feature::Vacuum)), Action::Vacuum),
            (u32::from(self.on(Feature::TempObjects)), Action::Temp),
            (3, Action::Batch),
            (if crowded == 1 { 4 } else { 16 }, Action::Insert),
            (3, Action::InsertSelect),
            (6, Action::Upsert),
            (9, Action::Update),
            (4 + 12 * crowded, Action::Delete),
            (
                2 * u32::from(self.on(Feature::HistoryFunctions)),
                Action::HistoryWrite,
            ),
            (u32::from(self.on(Feature::RowidLimit)), Action::RowidLimit),
            (1, Action::ProbeWrite),
            (12, Action::Select),
            (6 * star, Action::SelectStar),
            (6, Action::Aggregate),
            (5, Action::Join),
            (
                if schema.views.is_empty() { 0 } else { 5 },
                Action::SelectView,
            ),
            (2, Action::Cte),
            (2, Action::Window),
            (2, Action::Compound),
            (2, Action::Subquery),
            (2, Action::SchemaListing),
            (1, Action::Literals),
            (1, Action::ProbeRead),
            (2 * u32::from(self.on(Feature::ReadPragmas)), Action::Pragma),
            (2, Action::Mistake),
            (if self.recent.is_empty() { 0 } else { 8 }, Action::Repeat),
        ]);
        match action {
            Action::CreateTable => self.create_table(schema),
            Action::CreateTableAs => self.create_table_as(schema),
            Action::CreateIndex => self.create_index(schema),
            Action::DropIndex => self.drop_index(schema),
            Action::AddColumn => self.add_column(schema),
            Action::RenameTable => self.rename_table(schema),
            Action::RenameColumn => self.rename_column(schema),
            Action::DropColumn => self.drop_column(schema),
            Action::DropTable => self.drop_table(schema),
            Action::CreateView => self.create_view(schema),
            Action::DropView => self.drop_view(schema),
            Action::CreateTrigger => self.create_trigger(schema),
            Action::DropTrigger => self.drop_trigger(schema),
            Action::Reindex => self.reindex(schema),
            Action::Analyze => self.analyze(schema),
            Action::Vacuum => Statement::write("VACUUM"),
            Action::Temp => self.temp_object(schema),
            Action::Batch => self.batch(schema),
            Action::Insert => self.insert(schema),
            Action::InsertSelect => self.insert_select(schema),
            Action::Upsert => self.upsert(schema),
            Action::Update => self.update(schema),
            Action::Delete => self.delete(schema),
            Action::HistoryWrite => self.history_write(),
            Action::RowidLimit => self.rowid_limit(schema),
            Action::ProbeWrite => self.probe_write(),
            Action::Select => self.select(schema),
            Action::SelectStar => self.select_star(schema),
            Action::Aggregate => self.aggregate(schema),
            Action::Join => self.join(schema),
            Action::SelectView => self.select_view(schema),
            Action::Cte => self.cte(schema),
            Action::Window => self.window(schema),
            Action::Compound => self.compound(schema),
            Action::Subquery => self.subquery(schema),
            Action::SchemaListing => self.schema_listing(schema),
            Action::Literals => self.literals(),
            Action::ProbeRead => self.probe_read(),
            Action::Pragma => self.pragma(schema),
            Action::Mistake => self.mistake(schema),
            Action::Repeat => {
                let mut again = self.rng.pick(&self.recent).clone();
                again.route = Route::Api;
                again
            }
        }
    }

    /// A name no object has yet: `<prefix><n>`, now and then an odd one that needs quoting.
    fn fresh_name(&mut self, prefix: &str, schema: &Schema) -> String {
        let taken = schema.names();
        loop {
            self.next_name += 1;
            let n = self.next_name;
            let name = match self.rng.below(12) {
                0 => format!("{prefix} {n}"),
                1 => format!("{}{n}", prefix.to_ascii_uppercase()),
                2 => format!("\u{e9}{prefix}{n}"),
                _ => format!("{prefix}{n}"),
            };
            if !taken.contains(&name.to_ascii_lowercase()) {
                return name;
            }
        }
    }

    fn pick_table<'s>(&mut self, schema: &'s Schema) -> &'s schema::Table {
        self.rng.pick(&schema.tables)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the generator against a plain SQLite for `n` statements; returns the SQL and how
    /// many failed.
    fn run(seed: u64, n: usize) -> (Vec<String>, usize) {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        let mut generator = Generator::new(seed, Features::all());
        let mut sql = Vec::new();
        let mut failed = 0;
        for _ in 0..n {
            let schema = Schema::read(&conn).unwrap();
            let stmt = generator.next(&schema);
            if conn.execute_batch(&stmt.sql).is_err() {
                failed += 1;
                // An OR ROLLBACK / RAISE(ROLLBACK) inside execute_batch may leave nothing open;
                // a failed statement never leaves a transaction open in autocommit mode.
            }
            sql.push(stmt.sql);
        }
        (sql, failed)
    }

    #[test]
    fn same_seed_same_statements() {
        assert_eq!(run(42, 200).0, run(42, 200).0);
        assert_ne!(run(42, 50).0, run(43, 50).0);
    }

    #[test]
    fn most_statements_succeed_and_every_kind_appears() {
        let (sql, failed) = run(7, 2000);
        assert!(failed * 4 < sql.len(), "{failed} of {} failed", sql.len());
        let all = sql.join("\n");
        for needle in [
            "CREATE TABLE",
            "WITHOUT ROWID",
            "STRICT",
            "CREATE UNIQUE INDEX",
            "ADD COLUMN",
            "RENAME TO",
            "RENAME COLUMN",
            "DROP COLUMN",
            "CREATE VIEW",
            "CREATE TRIGGER",
            "REINDEX",
            "ANALYZE",
            "RETURNING",
            "ON CONFLICT",
            "JOIN",
            "GROUP BY",
            "OVER (",
            "UNION",
            "WITH ",
        ] {
            assert!(all.contains(needle), "no {needle} in 2000 statements");
        }
    }
}
