//! Data changes: INSERT (every conflict clause, DEFAULT VALUES, INSERT ... SELECT), UPSERT,
//! UPDATE, DELETE, with and without RETURNING; writes of connection-history functions and of
//! nondeterministic values into the probe table.

use super::ddl::column_names;
use super::expr::{self, condition, literal, value_for};
use super::schema::{ident, Column, Schema, Table, PROBE_TABLE};
use super::{Compare, Feature, Generator, Statement};

impl Generator {
    /// `RETURNING ...` (or nothing) for a write on `columns`.
    fn returning_clause(&mut self, columns: &[String]) -> Option<String> {
        if !self.rng.chance(35) {
            return None;
        }
        if self.features.has(Feature::SelectStar) && self.rng.chance(30) {
            return Some(" RETURNING *".into());
        }
        let n = 1 + self.rng.below(3);
        let exprs: Vec<String> = (0..n)
            .map(|i| {
                let e = expr::expr(&mut self.rng, columns, None);
                if self.rng.chance(30) {
                    format!("{e} AS {}", ident(format!("r{}", i % 2)))
                } else {
                    e
                }
            })
            .collect();
        Some(format!(" RETURNING {}", exprs.join(", ")))
    }

    /// The statement with its RETURNING clause, of the right kind.
    fn with_returning(&mut self, sql: String, columns: &[String]) -> Statement {
        match self.returning_clause(columns) {
            Some(r) => Statement::returning(format!("{sql}{r}")),
            None => Statement::write(sql),
        }
    }

    /// Columns for an INSERT: the ones that need a value almost always, others by chance.
    fn insert_columns<'t>(&mut self, table: &'t Table) -> Vec<&'t Column> {
        let writable = table.writable();
        loop {
            let chosen: Vec<&Column> = writable
                .iter()
                .filter(|c| {
                    let needed = c.notnull && c.default.is_none();
                    self.rng.chance(if needed { 95 } else { 60 })
                })
                .copied()
                .collect();
            if !chosen.is_empty() || writable.is_empty() {
                return chosen;
            }
        }
    }

    fn values_rows(&mut self, columns: &[&Column], table: &Table) -> String {
        let n = 1 + self.rng.below(3);
        let rows: Vec<String> = (0..n)
            .map(|_| {
                let values: Vec<String> = columns
                    .iter()
                    .map(|c| value_for(&mut self.rng, c, table))
                    .collect();
                format!("({})", values.join(", "))
            })
            .collect();
        rows.join(", ")
    }

    fn conflict_clause(&mut self) -> &'static str {
        let mut clauses = vec!["", "", "", "", " OR IGNORE", " OR REPLACE", " OR ABORT"];
        if self.features.has(Feature::OrFail) {
            clauses.push(" OR FAIL");
        }
        if self.features.has(Feature::OrRollback) {
            clauses.push(" OR ROLLBACK");
        }
        clauses[self.rng.below(clauses.len())]
    }

    pub(super) fn insert(&mut self, schema: &Schema) -> Statement {
        // Now and then into a view: refused unless an INSTEAD OF trigger takes it.
        if !schema.views.is_empty() && self.rng.chance(5) {
            let view = self.rng.pick(&schema.views).clone();
            let v = view
                .columns
                .first()
                .map(ident)
                .unwrap_or_else(|| "x".into());
            return Statement::write(format!(
                "INSERT INTO {} ({v}) VALUES ({})",
                ident(&view.name),
                literal(&mut self.rng)
            ));
        }
        let table = self.pick_table(schema).clone();
        let names = column_names(&table);
        if self.rng.chance(5) {
            let mut stmt = self.with_returning(
                format!("INSERT INTO {} DEFAULT VALUES", ident(&table.name)),
                &names,
            );
            stmt.rowid_meaningful = table.has_rowid();
            return stmt;
        }
        let columns = self.insert_columns(&table);
        let list: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
        let values = self.values_rows(&columns, &table);
        let verb = if self.rng.chance(5) {
            "REPLACE".to_string()
        } else {
            format!("INSERT{}", self.conflict_clause())
        };
        let mut stmt = self.with_returning(
            format!(
                "{verb} INTO {} ({}) VALUES {values}",
                ident(&table.name),
                list.join(", ")
            ),
            &names,
        );
        stmt.rowid_meaningful = table.has_rowid();
        stmt
    }

    pub(super) fn insert_select(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let source = self.pick_table(schema).clone();
        // The rowid comes from SQLite: a computed one could be the largest (see value_for).
        let columns: Vec<&Column> = self
            .insert_columns(&table)
            .into_iter()
            .filter(|c| !table.is_rowid_alias(c))
            .collect();
        if columns.is_empty() {
            return self.insert(schema);
        }
        let source_columns = column_names(&source);
        let exprs: Vec<String> = columns
            .iter()
            .map(|_| expr::expr(&mut self.rng, &source_columns, None))
            .collect();
        let list: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
        let filter = if self.rng.chance(50) {
            format!(" WHERE {}", condition(&mut self.rng, &source_columns, None))
        } else {
            String::new()
        };
        let mut stmt = Statement::write(format!(
            "INSERT{} INTO {} ({}) SELECT {} FROM {}{filter} {} LIMIT {}",
            self.conflict_clause(),
            ident(&table.name),
            list.join(", "),
            exprs.join(", "),
            ident(&source.name),
            expr::order_all(exprs.len()),
            1 + self.rng.below(5)
        ));
        stmt.rowid_meaningful = table.has_rowid();
        stmt
    }

    pub(super) fn upsert(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let names = column_names(&table);
        // The conflict target: the primary key or a unique index's columns.
        let mut targets: Vec<Vec<String>> = Vec::new();
        let pk: Vec<String> = table.pk().iter().map(|c| c.name.clone()).collect();
        if !pk.is_empty() {
            targets.push(pk);
        }
        for index in schema.indexes.iter().filter(|i| {
            i.unique && i.table.eq_ignore_ascii_case(&table.name) && !i.columns.is_empty()
        }) {
            targets.push(index.columns.clone());
        }
        let mut columns: Vec<&Column> = self.insert_columns(&table);
        let target = if targets.is_empty() || self.rng.chance(15) {
            None
        } else {
            let target = self.rng.pick(&targets).clone();
            for name in &target {
                if !columns.iter().any(|c| &c.name == name) {
                    if let Some(c) = table.columns.iter().find(|c| &c.name == name) {
                        columns.push(c);
                    }
                }
            }
            Some(target)
        };
        let list: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
        let values = self.values_rows(&columns, &table);
        let action = match &target {
            Some(_) if self.rng.chance(75) => {
                let set: Vec<String> = columns
                    .iter()
                    .take(2)
                    .map(|c| {
                        let n = ident(&c.name);
                        match self.rng.below(3) {
                            _ if table.is_rowid_alias(c) => {
                                format!("{n} = {}", value_for(&mut self.rng, c, &table))
                            }
                            0 => format!("{n} = excluded.{n}"),
                            1 => format!("{n} = {n} || excluded.{n}"),
                            _ => format!("{n} = {}", literal(&mut self.rng)),
                        }
                    })
                    .collect();
                let filter = if self.rng.chance(25) {
                    format!(" WHERE {}", condition(&mut self.rng, &names, None))
                } else {
                    String::new()
                };
                format!("DO UPDATE SET {}{filter}", set.join(", "))
            }
            _ => "DO NOTHING".to_string(),
        };
        let target = target
            .map(|t| {
                let cols: Vec<String> = t.iter().map(ident).collect();
                format!(" ({})", cols.join(", "))
            })
            .unwrap_or_default();
        self.with_returning(
            format!(
                "INSERT INTO {} ({}) VALUES {values} ON CONFLICT{target} {action}",
                ident(&table.name),
                list.join(", ")
            ),
            &names,
        )
    }

    pub(super) fn update(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let names = column_names(&table);
        let writable: Vec<Column> = table.writable().into_iter().cloned().collect();
        if writable.is_empty() {
            return self.delete(schema);
        }
        let targets = self.rng.subset(&writable, 1);
        let set: Vec<String> = targets
            .iter()
            .take(2)
            .map(|c| {
                let value = if table.is_rowid_alias(c) || self.rng.chance(50) {
                    value_for(&mut self.rng, c, &table)
                } else {
                    expr::expr(&mut self.rng, &names, None)
                };
                format!("{} = {value}", ident(&c.name))
            })
            .collect();
        let mut clauses = vec!["", "", "", " OR IGNORE", " OR REPLACE"];
        if self.features.has(Feature::OrFail) {
            clauses.push(" OR FAIL");
        }
        if self.features.has(Feature::OrRollback) {
            clauses.push(" OR ROLLBACK");
        }
        let clause = *self.rng.pick(&clauses);
        // UPDATE ... FROM another table, now and then.
        if self.rng.chance(10) {
            let other = self.pick_table(schema).clone();
            let a = ident(self.rng.pick(&names));
            let b = ident(&self.rng.pick(&other.columns).name);
            return Statement::write(format!(
                "UPDATE{clause} {t} SET {} FROM {} AS o WHERE {t}.{a} = o.{b}",
                set.join(", "),
                ident(&other.name),
                t = ident(&table.name)
            ));
        }
        let filter = if self.rng.chance(80) {
            format!(" WHERE {}", condition(&mut self.rng, &names, None))
        } else {
            String::new()
        };
        self.with_returning(
            format!(
                "UPDATE{clause} {} SET {}{filter}",
                ident(&table.name),
                set.join(", ")
            ),
            &names,
        )
    }

    pub(super) fn delete(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let names = column_names(&table);
        let filter = if self.rng.chance(90) {
            format!(" WHERE {}", condition(&mut self.rng, &names, None))
        } else {
            String::new()
        };
        self.with_returning(
            format!("DELETE FROM {}{filter}", ident(&table.name)),
            &names,
        )
    }

    /// The largest rowid, taken explicitly: the next insert into an AUTOINCREMENT table fails
    /// with SQLITE_FULL ("database or disk is full"), deterministically.
    pub(super) fn rowid_limit(&mut self, schema: &Schema) -> Statement {
        let with_alias: Vec<&Table> = schema
            .tables
            .iter()
            .filter(|t| t.columns.iter().any(|c| t.is_rowid_alias(c)))
            .collect();
        let Some(table) = (!with_alias.is_empty()).then(|| *self.rng.pick(&with_alias)) else {
            return self.insert(schema);
        };
        let Some(alias) = table.columns.iter().find(|c| table.is_rowid_alias(c)) else {
            return self.insert(schema);
        };
        Statement::write(format!(
            "INSERT OR REPLACE INTO {} ({}) VALUES (9223372036854775807)",
            ident(&table.name),
            ident(&alias.name)
        ))
    }

    /// A write of `total_changes()`, `changes()` or `last_insert_rowid()` (issue 9, item 6).
    /// A write of a value that depends on the connection's history. Hiqlite counts it per entry
    /// (docs/sql.md), plain SQLite per connection, so it goes into the probe table, whose values
    /// every node must agree on.
    pub(super) fn history_write(&mut self) -> Statement {
        let function = *self
            .rng
            .pick(&["total_changes()", "changes()", "last_insert_rowid()"]);
        let sql = match self.rng.below(2) {
            0 => format!("INSERT INTO {PROBE_TABLE} (r) VALUES ({function})"),
            _ => format!("UPDATE {PROBE_TABLE} SET r = {function} WHERE id % 2 = 0"),
        };
        let mut stmt = Statement::write(sql);
        stmt.compare = Compare::AcrossNodes;
        stmt
    }

    /// Values from `random()`, `randomblob()` and the clock into the probe table: every node
    /// must store the same ones.
    pub(super) fn probe_write(&mut self) -> Statement {
        let sql = match self.rng.below(3) {
            0 => format!("INSERT INTO {PROBE_TABLE} (r, b) VALUES (random(), randomblob(4))"),
            1 => format!(
                "INSERT INTO {PROBE_TABLE} (r, b, ts) VALUES (abs(random()) % 1000, randomblob(2), \
                 datetime('now', '+1 day'))"
            ),
            _ => format!("UPDATE {PROBE_TABLE} SET r = random() WHERE id % 3 = 0"),
        };
        let mut stmt = Statement::write(sql);
        stmt.rowid_meaningful = stmt.sql.starts_with("INSERT");
        stmt.compare = Compare::Reference;
        stmt
    }
}
