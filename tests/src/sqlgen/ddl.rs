//! Schema changes: tables, indexes, every ALTER TABLE form, views, triggers, REINDEX, ANALYZE,
//! TEMP objects and batches.

use super::expr::{self, class_for, condition, literal, literal_of, LOOSE_TYPES, STRICT_TYPES};
use super::schema::{ident, Schema, Table};
use super::{Compare, Feature, Generator, Kind, Statement};

/// The table every generated trigger writes to.
pub const AUDIT_TABLE: &str = "audit";

impl Generator {
    pub(super) fn create_table(&mut self, schema: &Schema) -> Statement {
        let name = self.fresh_name("t", schema);
        let strict = self.rng.chance(25);
        let mut without_rowid = self.rng.chance(25);
        let types = if strict { STRICT_TYPES } else { LOOSE_TYPES };
        let n = 1 + self.rng.below(5);
        // Column names: c0.. with now and then an odd one.
        let mut names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        if self.rng.chance(20) {
            let odd = *self
                .rng
                .pick(&["select", "Mixed Case", "order", "x\"q", "\u{f1}"]);
            let at = self.rng.below(n);
            names[at] = odd.to_string();
        }
        enum Key {
            RowidAlias,
            Single,
            Composite,
            None,
        }
        let key = match self.rng.below(10) {
            0..=3 if !without_rowid => Key::RowidAlias,
            0..=5 => Key::Single,
            6..=7 if n >= 2 => Key::Composite,
            _ if without_rowid => Key::Single,
            _ => Key::None,
        };
        let mut defs = Vec::new();
        if matches!(key, Key::RowidAlias) {
            let auto = if self.rng.chance(20) {
                " AUTOINCREMENT"
            } else {
                ""
            };
            defs.push(format!("id INTEGER PRIMARY KEY{auto}"));
            without_rowid = false;
        }
        for (i, col) in names.iter().enumerate() {
            let mut decl = self.rng.pick(types).to_string();
            if matches!(key, Key::Single) && i == 0 && decl.is_empty() {
                decl = "TEXT".into();
            }
            let mut def = format!("{} {decl}", ident(col)).trim_end().to_string();
            if matches!(key, Key::Single) && i == 0 {
                def.push_str(" PRIMARY KEY");
                if without_rowid || self.rng.chance(50) {
                    def.push_str(" NOT NULL");
                }
            } else {
                if self.rng.chance(20) {
                    def.push_str(" NOT NULL");
                }
                if self.rng.chance(12) {
                    def.push_str(" UNIQUE");
                }
                if self.rng.chance(25) {
                    let class = class_for(&decl);
                    def.push_str(&format!(" DEFAULT {}", literal_of(&mut self.rng, class)));
                }
                if self.rng.chance(8) {
                    def.push_str(&format!(" CHECK ({} >= 0)", ident(col)));
                }
                if class_for(&decl) == expr::Class::Text && self.rng.chance(10) {
                    def.push_str(" COLLATE NOCASE");
                }
                if let Some(fk) = self.foreign_key(schema) {
                    def.push_str(&fk);
                }
            }
            defs.push(def);
        }
        if self.rng.chance(10) {
            let src = ident(&names[0]);
            let kind = if self.rng.chance(50) {
                "VIRTUAL"
            } else {
                "STORED"
            };
            let decl = if strict { " ANY" } else { "" };
            defs.push(format!("g{}{decl} AS ({src} || '!') {kind}", names.len()));
        }
        if matches!(key, Key::Composite) {
            defs.push(format!(
                "PRIMARY KEY ({}, {})",
                ident(&names[0]),
                ident(&names[1])
            ));
        }
        let mut options = Vec::new();
        if without_rowid {
            options.push("WITHOUT ROWID");
        }
        if strict {
            options.push("STRICT");
        }
        let if_not_exists = if self.rng.chance(10) {
            "IF NOT EXISTS "
        } else {
            ""
        };
        Statement::write(format!(
            "CREATE TABLE {if_not_exists}{} ({}){}{}",
            ident(&name),
            defs.join(", "),
            if options.is_empty() { "" } else { " " },
            options.join(", ")
        ))
    }

    /// ` REFERENCES parent (key) ...` for a column, sometimes.
    fn foreign_key(&mut self, schema: &Schema) -> Option<String> {
        if !self.rng.chance(10) {
            return None;
        }
        let parents: Vec<&Table> = schema.tables.iter().filter(|t| t.pk().len() == 1).collect();
        if parents.is_empty() {
            return None;
        }
        let parent = *self.rng.pick(&parents);
        let key = parent.pk()[0].name.clone();
        let action = *self.rng.pick(&[
            "",
            " ON DELETE CASCADE",
            " ON DELETE SET NULL",
            " ON UPDATE CASCADE",
        ]);
        let deferred = if self.features.has(Feature::DeferredForeignKeys) && self.rng.chance(30) {
            " DEFERRABLE INITIALLY DEFERRED"
        } else {
            ""
        };
        Some(format!(
            " REFERENCES {} ({}){action}{deferred}",
            ident(&parent.name),
            ident(&key)
        ))
    }

    pub(super) fn create_table_as(&mut self, schema: &Schema) -> Statement {
        let name = self.fresh_name("t", schema);
        let source = self.pick_table(schema).clone();
        let columns = column_names(&source);
        let n = 1 + self.rng.below(3);
        let select: Vec<String> = (0..n)
            .map(|i| {
                let e = expr::expr(&mut self.rng, &columns, None);
                // Repeated names on purpose: SQLite numbers them (a, a:1).
                let alias = if self.rng.chance(30) {
                    "a".to_string()
                } else {
                    format!("x{i}")
                };
                format!("{e} AS {}", ident(&alias))
            })
            .collect();
        Statement::write(format!(
            "CREATE TABLE {} AS SELECT {} FROM {} {}",
            ident(&name),
            select.join(", "),
            ident(&source.name),
            expr::order_all(n)
        ))
    }

    pub(super) fn create_index(&mut self, schema: &Schema) -> Statement {
        let name = self.fresh_name("i", schema);
        let table = self.pick_table(schema).clone();
        let columns = column_names(&table);
        let unique = if self.rng.chance(30) { "UNIQUE " } else { "" };
        let keys: Vec<String> = if self.rng.chance(10) {
            vec![format!("lower({})", ident(self.rng.pick(&columns)))]
        } else {
            self.rng
                .subset(&columns, 1)
                .into_iter()
                .take(3)
                .map(|c| {
                    let order = *self.rng.pick(&["", "", " DESC", " COLLATE NOCASE"]);
                    format!("{}{order}", ident(&c))
                })
                .collect()
        };
        let partial = if self.rng.chance(15) {
            format!(" WHERE {}", condition(&mut self.rng, &columns, None))
        } else {
            String::new()
        };
        let if_not_exists = if self.rng.chance(10) {
            "IF NOT EXISTS "
        } else {
            ""
        };
        Statement::write(format!(
            "CREATE {unique}INDEX {if_not_exists}{} ON {} ({}){partial}",
            ident(&name),
            ident(&table.name),
            keys.join(", ")
        ))
    }

    pub(super) fn drop_index(&mut self, schema: &Schema) -> Statement {
        let named: Vec<&str> = schema
            .indexes
            .iter()
            .filter(|i| !i.auto || self.rng.chance(5))
            .map(|i| i.name.as_str())
            .collect();
        if named.is_empty() || self.rng.chance(10) {
            return Statement::write("DROP INDEX IF EXISTS no_such_index");
        }
        let name = *self.rng.pick(&named);
        Statement::write(format!("DROP INDEX {}", ident(name)))
    }

    pub(super) fn add_column(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let name = self.fresh_name("c", schema);
        let types = if table.strict {
            STRICT_TYPES
        } else {
            LOOSE_TYPES
        };
        let decl = self.rng.pick(types).to_string();
        let class = class_for(&decl);
        let constraint = match self.rng.below(16) {
            0..=3 => "".to_string(),
            4..=7 => format!(" DEFAULT {}", literal_of(&mut self.rng, class)),
            8..=9 => format!(" NOT NULL DEFAULT {}", literal_of(&mut self.rng, class)),
            // The forms SQLite refuses: both sides must refuse them alike.
            10 => " NOT NULL".into(),
            11 => self
                .rng
                .pick(&[" UNIQUE", " PRIMARY KEY", " DEFAULT CURRENT_TIMESTAMP"])
                .to_string(),
            12 => format!(" CHECK ({} IS NULL OR {} <> 0)", ident(&name), ident(&name)),
            13 => format!(
                " DEFAULT ({} + 1)",
                literal_of(&mut self.rng, expr::Class::Integer)
            ),
            14 => match self.foreign_key(schema) {
                Some(fk) => format!("{fk} DEFAULT NULL"),
                None => String::new(),
            },
            _ => {
                let src = ident(&self.rng.pick(&table.columns).name);
                let kind = if self.rng.chance(80) {
                    "VIRTUAL"
                } else {
                    "STORED"
                };
                format!(" AS ({src} * 2) {kind}")
            }
        };
        let column = if self.rng.chance(50) { "COLUMN " } else { "" };
        let decl = if decl.is_empty() {
            decl
        } else {
            format!(" {decl}")
        };
        Statement::write(format!(
            "ALTER TABLE {} ADD {column}{}{decl}{constraint}",
            ident(&table.name),
            ident(&name)
        ))
    }

    pub(super) fn rename_table(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let target = if self.rng.chance(10) {
            self.rng.pick(&schema.tables).name.clone()
        } else {
            self.fresh_name("t", schema)
        };
        Statement::write(format!(
            "ALTER TABLE {} RENAME TO {}",
            ident(&table.name),
            ident(&target)
        ))
    }

    pub(super) fn rename_column(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let column = self.rng.pick(&table.columns).name.clone();
        let target = self.fresh_name("c", schema);
        let word = if self.rng.chance(50) { "COLUMN " } else { "" };
        Statement::write(format!(
            "ALTER TABLE {} RENAME {word}{} TO {}",
            ident(&table.name),
            ident(&column),
            ident(&target)
        ))
    }

    pub(super) fn drop_column(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let column = self.rng.pick(&table.columns).name.clone();
        let word = if self.rng.chance(50) { "COLUMN " } else { "" };
        Statement::write(format!(
            "ALTER TABLE {} DROP {word}{}",
            ident(&table.name),
            ident(&column)
        ))
    }

    pub(super) fn drop_table(&mut self, schema: &Schema) -> Statement {
        if self.rng.chance(10) {
            return Statement::write("DROP TABLE IF EXISTS no_such_table");
        }
        let table = self.pick_table(schema).clone();
        Statement::write(format!("DROP TABLE {}", ident(&table.name)))
    }

    pub(super) fn create_view(&mut self, schema: &Schema) -> Statement {
        let name = self.fresh_name("v", schema);
        let table = self.pick_table(schema).clone();
        let columns = column_names(&table);
        let body = match self.rng.below(4) {
            0 if self.features.has(Feature::SelectStar) => {
                format!("SELECT * FROM {}", ident(&table.name))
            }
            1 => {
                let g = ident(self.rng.pick(&columns));
                format!(
                    "SELECT {g} AS g, count(*) AS n, max({}) AS top FROM {} GROUP BY {g}",
                    ident(self.rng.pick(&columns)),
                    ident(&table.name)
                )
            }
            _ => {
                let n = 1 + self.rng.below(3);
                let exprs: Vec<String> = (0..n)
                    .map(|i| {
                        format!(
                            "{} AS {}",
                            expr::expr(&mut self.rng, &columns, None),
                            ident(format!("v{i}"))
                        )
                    })
                    .collect();
                let filter = if self.rng.chance(40) {
                    format!(" WHERE {}", condition(&mut self.rng, &columns, None))
                } else {
                    String::new()
                };
                format!(
                    "SELECT {} FROM {}{filter}",
                    exprs.join(", "),
                    ident(&table.name)
                )
            }
        };
        Statement::write(format!("CREATE VIEW {} AS {body}", ident(&name)))
    }

    pub(super) fn drop_view(&mut self, schema: &Schema) -> Statement {
        if schema.views.is_empty() || self.rng.chance(10) {
            return Statement::write("DROP VIEW IF EXISTS no_such_view");
        }
        // Views that no longer compile first: they block ALTER TABLE on every table.
        let broken: Vec<&str> = schema
            .views
            .iter()
            .filter(|v| v.columns.is_empty())
            .map(|v| v.name.as_str())
            .collect();
        let view = if broken.is_empty() || self.rng.chance(20) {
            self.rng.pick(&schema.views).name.as_str()
        } else {
            *self.rng.pick(&broken)
        };
        Statement::write(format!("DROP VIEW {}", ident(view)))
    }

    pub(super) fn create_trigger(&mut self, schema: &Schema) -> Statement {
        if schema.table(AUDIT_TABLE).is_none() {
            return Statement::write(format!(
                "CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (id INTEGER PRIMARY KEY, \
                 tbl TEXT NOT NULL, op TEXT NOT NULL, val)"
            ));
        }
        let name = self.fresh_name("tr", schema);
        // INSTEAD OF triggers make views writable.
        if !schema.views.is_empty() && self.rng.chance(15) {
            let view = self.rng.pick(&schema.views).clone();
            let val = view
                .columns
                .first()
                .map(|c| format!("NEW.{}", ident(c)))
                .unwrap_or_else(|| "NULL".into());
            return Statement::write(format!(
                "CREATE TRIGGER {} INSTEAD OF INSERT ON {} BEGIN \
                 INSERT INTO {AUDIT_TABLE} (tbl, op, val) VALUES ('{}', 'insert', {val}); END",
                ident(&name),
                ident(&view.name),
                view.name.replace('\'', "''"),
            ));
        }
        let candidates: Vec<&Table> = schema
            .tables
            .iter()
            .filter(|t| !t.name.eq_ignore_ascii_case(AUDIT_TABLE))
            .collect();
        if candidates.is_empty() {
            return self.create_table(schema);
        }
        let table = (*self.rng.pick(&candidates)).clone();
        let col = ident(&self.rng.pick(&table.columns).name);
        let tname = table.name.replace('\'', "''");
        let target = ident(&table.name);
        let body = match self.rng.below(8) {
            0..=1 => format!(
                "AFTER INSERT ON {target} BEGIN INSERT INTO {AUDIT_TABLE} (tbl, op, val) \
                 VALUES ('{tname}', 'insert', NEW.{col}); END"
            ),
            2..=3 => {
                let of = if self.rng.chance(40) {
                    format!(" OF {col}")
                } else {
                    String::new()
                };
                format!(
                    "AFTER UPDATE{of} ON {target} WHEN OLD.{col} IS NOT NEW.{col} BEGIN \
                     INSERT INTO {AUDIT_TABLE} (tbl, op, val) \
                     VALUES ('{tname}', 'update', quote(OLD.{col}) || '->' || quote(NEW.{col})); END"
                )
            }
            4 => format!(
                "AFTER DELETE ON {target} BEGIN INSERT INTO {AUDIT_TABLE} (tbl, op, val) \
                 VALUES ('{tname}', 'delete', OLD.{col}); END"
            ),
            5 => {
                let mut raises = vec!["ABORT, 'refused by trigger'", "IGNORE"];
                if self.features.has(Feature::OrFail) {
                    raises.push("FAIL, 'failed by trigger'");
                }
                if self.features.has(Feature::OrRollback) {
                    raises.push("ROLLBACK, 'rolled back by trigger'");
                }
                let raise = *self.rng.pick(&raises);
                let value = literal(&mut self.rng);
                format!(
                    "BEFORE INSERT ON {target} WHEN NEW.{col} = {value} BEGIN \
                     SELECT RAISE({raise}); END"
                )
            }
            6 => format!(
                "AFTER INSERT ON {target} BEGIN UPDATE {AUDIT_TABLE} SET val = coalesce(val, 0) || '+' \
                 WHERE tbl = '{tname}'; END"
            ),
            _ => format!(
                "BEFORE DELETE ON {target} BEGIN DELETE FROM {AUDIT_TABLE} \
                 WHERE tbl = '{tname}' AND val IS OLD.{col}; END"
            ),
        };
        Statement::write(format!("CREATE TRIGGER {} {body}", ident(&name)))
    }

    pub(super) fn drop_trigger(&mut self, schema: &Schema) -> Statement {
        if schema.triggers.is_empty() || self.rng.chance(10) {
            return Statement::write("DROP TRIGGER IF EXISTS no_such_trigger");
        }
        let name = self.rng.pick(&schema.triggers).0.clone();
        Statement::write(format!("DROP TRIGGER {}", ident(&name)))
    }

    pub(super) fn reindex(&mut self, schema: &Schema) -> Statement {
        let target = match self.rng.below(5) {
            0 => String::new(),
            1 => format!(" {}", ident(self.pick_table(schema).name.clone())),
            2 if !schema.indexes.is_empty() => {
                format!(" {}", ident(self.rng.pick(&schema.indexes).name.clone()))
            }
            3 => " NOCASE".into(),
            _ => " no_such_index".into(),
        };
        Statement::write(format!("REINDEX{target}"))
    }

    pub(super) fn analyze(&mut self, schema: &Schema) -> Statement {
        let target = match self.rng.below(3) {
            0 => String::new(),
            1 => format!(" {}", ident(self.pick_table(schema).name.clone())),
            _ if !schema.indexes.is_empty() => {
                format!(" {}", ident(self.rng.pick(&schema.indexes).name.clone()))
            }
            _ => String::new(),
        };
        Statement::write(format!("ANALYZE{target}"))
    }

    /// A TEMP object, which Hiqlite refuses by design (a replicated database has no
    /// per-connection state; docs/sql.md).
    pub(super) fn temp_object(&mut self, schema: &Schema) -> Statement {
        let name = self.fresh_name("tmp", schema);
        let sql = match self.rng.below(3) {
            0 => format!("CREATE TEMP VIEW {} AS SELECT 1 AS one", ident(&name)),
            1 => format!("CREATE TEMP TABLE {} (x)", ident(&name)),
            _ => {
                let table = self.pick_table(schema).name.clone();
                format!(
                    "CREATE TEMP TRIGGER {} AFTER DELETE ON {} BEGIN SELECT 1; END",
                    ident(&name),
                    ident(&table)
                )
            }
        };
        let mut stmt = Statement::write(sql);
        stmt.compare =
            Compare::Refused("TEMP tables, views, triggers and indexes are not supported");
        stmt
    }

    /// Two or three writes in one atomic batch.
    pub(super) fn batch(&mut self, schema: &Schema) -> Statement {
        let n = 2 + self.rng.below(2);
        let mut parts = Vec::new();
        let mut tries = 0;
        while parts.len() < n && tries < 50 {
            tries += 1;
            let stmt = self.pick(schema);
            if matches!(stmt.kind, Kind::Write | Kind::WriteReturning)
                && stmt.compare == super::Compare::Reference
            {
                parts.push(stmt.sql);
            }
        }
        if parts.is_empty() {
            return self.insert(schema);
        }
        Statement::batch(parts.join(";\n"))
    }
}

/// Every column name of `table` (generated ones included).
pub fn column_names(table: &Table) -> Vec<String> {
    table.columns.iter().map(|c| c.name.clone()).collect()
}
