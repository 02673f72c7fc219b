//! What the generator knows about the database: read from the reference SQLite (plain rusqlite)
//! after every statement, so it is always exactly what SQLite has, whatever succeeded or failed.

use rusqlite::Connection;

/// The user's objects in the main schema. Hiqlite's own tables (`_hiqlite_*`), SQLite's
/// (`sqlite_*`) and the harness's nondeterminism probe are left out.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub tables: Vec<Table>,
    pub views: Vec<View>,
    pub indexes: Vec<Index>,
    /// (trigger, table)
    pub triggers: Vec<(String, String)>,
    /// Whether `sqlite_sequence` / `sqlite_stat1` exist.
    pub has_sequence: bool,
    pub has_stat1: bool,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub without_rowid: bool,
    pub strict: bool,
    /// Number of rows right now.
    pub rows: i64,
    /// Whether a row holds the largest rowid (new rowids would then be random).
    pub rowid_at_limit: bool,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// Declared type as written (`INTEGER`, `VARCHAR(10)`, `` for none).
    pub decl: String,
    pub notnull: bool,
    pub default: Option<String>,
    /// 1-based position in the primary key, 0 when not part of it.
    pub pk: u32,
    /// A generated column (cannot be written).
    pub generated: bool,
}

#[derive(Debug, Clone)]
pub struct View {
    pub name: String,
    /// Empty when the view no longer compiles (its table was dropped or changed).
    pub columns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    pub table: String,
    pub unique: bool,
    /// Column names; empty for an expression index.
    pub columns: Vec<String>,
    /// Created by a constraint (`sqlite_autoindex_*`): cannot be dropped by name.
    pub auto: bool,
}

/// Names the generator must not touch: SQLite's and Hiqlite's own tables and the probe table.
pub fn is_internal(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("sqlite_") || lower.starts_with("_hiqlite") || lower == PROBE_TABLE
}

/// The table that holds values from `random()` and the clock: compared across nodes only.
pub const PROBE_TABLE: &str = "nd_probe";

impl Table {
    /// Columns that an INSERT or UPDATE may name.
    pub fn writable(&self) -> Vec<&Column> {
        self.columns.iter().filter(|c| !c.generated).collect()
    }

    /// The primary key columns in key order (empty for a rowid table without one).
    pub fn pk(&self) -> Vec<&Column> {
        let mut pk: Vec<&Column> = self.columns.iter().filter(|c| c.pk > 0).collect();
        pk.sort_by_key(|c| c.pk);
        pk
    }

    /// Whether the table has a rowid (it is not WITHOUT ROWID).
    pub fn has_rowid(&self) -> bool {
        !self.without_rowid
    }

    /// Whether `column` is the table's rowid (`x INTEGER PRIMARY KEY` in a rowid table).
    pub fn is_rowid_alias(&self, column: &Column) -> bool {
        self.has_rowid()
            && column.pk == 1
            && column.decl.eq_ignore_ascii_case("INTEGER")
            && self.columns.iter().filter(|c| c.pk > 0).count() == 1
    }
}

impl Schema {
    /// Reads the schema of `conn`'s main database.
    pub fn read(conn: &Connection) -> rusqlite::Result<Schema> {
        let mut schema = Schema::default();
        let objects: Vec<(String, String, bool, bool)> = {
            let mut stmt = conn.prepare(
                "SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main' \
                 ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (name, kind, without_rowid, strict) in objects {
            if name.eq_ignore_ascii_case("sqlite_sequence") {
                schema.has_sequence = true;
            }
            if name.eq_ignore_ascii_case("sqlite_stat1") {
                schema.has_stat1 = true;
            }
            if is_internal(&name) {
                continue;
            }
            match kind.as_str() {
                "table" => {
                    let columns = columns(conn, &name)?;
                    let rows = conn.query_row(
                        &format!("SELECT count(*) FROM {}", ident(&name)),
                        [],
                        |r| r.get(0),
                    )?;
                    let rowid_at_limit = !without_rowid
                        && conn.query_row(
                            &format!(
                                "SELECT count(*) > 0 FROM {} WHERE rowid = 9223372036854775807",
                                ident(&name)
                            ),
                            [],
                            |r| r.get(0),
                        )?;
                    schema.tables.push(Table {
                        name: name.clone(),
                        columns,
                        without_rowid,
                        strict,
                        rows,
                        rowid_at_limit,
                    });
                }
                "view" => {
                    // A view whose table is gone no longer compiles: no columns.
                    let columns = columns(conn, &name)
                        .map(|cs| cs.into_iter().map(|c| c.name).collect())
                        .unwrap_or_default();
                    schema.views.push(View { name, columns });
                }
                _ => {}
            }
        }
        for table in &schema.tables {
            let mut stmt = conn.prepare(
                "SELECT name, \"unique\", origin FROM pragma_index_list(?1) ORDER BY name",
            )?;
            let list: Vec<(String, bool, String)> = stmt
                .query_map([&table.name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            for (name, unique, origin) in list {
                let mut stmt =
                    conn.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
                let cols: Vec<Option<String>> = stmt
                    .query_map([&name], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let columns = if cols.iter().any(Option::is_none) {
                    Vec::new()
                } else {
                    cols.into_iter().flatten().collect()
                };
                schema.indexes.push(Index {
                    name,
                    table: table.name.clone(),
                    unique,
                    columns,
                    auto: origin != "c",
                });
            }
        }
        let mut stmt = conn.prepare(
            "SELECT name, tbl_name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name",
        )?;
        schema.triggers = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(schema)
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Every name in use (tables, views, indexes, triggers), lower-cased.
    pub fn names(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|t| &t.name)
            .chain(self.views.iter().map(|v| &v.name))
            .chain(self.indexes.iter().map(|i| &i.name))
            .chain(self.triggers.iter().map(|t| &t.0))
            .map(|n| n.to_ascii_lowercase())
            .collect()
    }
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<Column>> {
    let mut stmt = conn.prepare(
        "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1) \
         ORDER BY cid",
    )?;
    let columns = stmt
        .query_map([table], |r| {
            let hidden: i64 = r.get(5)?;
            Ok(Column {
                name: r.get(0)?,
                decl: r.get(1)?,
                notnull: r.get(2)?,
                default: r.get(3)?,
                pk: r.get(4)?,
                generated: hidden == 2 || hidden == 3,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if columns.is_empty() {
        // pragma_table_xinfo answers nothing (instead of an error) for a broken view.
        return Err(rusqlite::Error::QueryReturnedNoRows);
    }
    Ok(columns)
}

/// `name` as an SQL identifier: bare when it is a plain lower-case word that is no keyword,
/// else double-quoted.
pub fn ident(name: impl AsRef<str>) -> String {
    let name = name.as_ref();
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !KEYWORDS.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Words the generator's odd names use that SQLite reserves (quoted by [`ident`]).
const KEYWORDS: &[&str] = &[
    "select", "order", "group", "table", "index", "values", "default", "check", "key", "from",
    "where", "limit", "rowid", "drop", "view", "trigger", "end", "case", "when",
];
