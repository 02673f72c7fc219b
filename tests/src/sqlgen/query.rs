//! Queries: every row set in a total order (`ORDER BY` every output column), so two results
//! compare exactly. Plain selects, `SELECT *`, aggregates, joins, views, CTEs, window functions,
//! compound selects, subqueries, the schema itself, literals, pragmas, and statements that must
//! fail.

use super::ddl::column_names;
use super::expr::{self, condition, literal, order_all};
use super::schema::{ident, Schema, PROBE_TABLE};
use super::{Compare, Generator, Statement};

impl Generator {
    /// 1..=4 expressions over `columns`, some with (possibly repeated) aliases.
    fn select_list(&mut self, columns: &[String], prefix: Option<&str>) -> Vec<String> {
        let n = 1 + self.rng.below(4);
        (0..n)
            .map(|_| {
                let e = expr::expr(&mut self.rng, columns, prefix);
                if self.rng.chance(20) {
                    format!("{e} AS {}", self.rng.pick(&["a", "b", "\"A\""]))
                } else {
                    e
                }
            })
            .collect()
    }

    fn maybe_where(&mut self, columns: &[String], prefix: Option<&str>) -> String {
        if self.rng.chance(50) {
            format!(" WHERE {}", condition(&mut self.rng, columns, prefix))
        } else {
            String::new()
        }
    }

    fn maybe_limit(&mut self) -> String {
        match self.rng.below(10) {
            0 => format!(" LIMIT {}", self.rng.below(5)),
            1 => format!(
                " LIMIT {} OFFSET {}",
                1 + self.rng.below(5),
                self.rng.below(3)
            ),
            _ => String::new(),
        }
    }

    pub(super) fn select(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let columns = column_names(&table);
        let list = self.select_list(&columns, None);
        let distinct = if self.rng.chance(10) { "DISTINCT " } else { "" };
        let filter = self.maybe_where(&columns, None);
        let limit = self.maybe_limit();
        Statement::query(format!(
            "SELECT {distinct}{} FROM {}{filter} {}{limit}",
            list.join(", "),
            ident(&table.name),
            order_all(list.len())
        ))
    }

    pub(super) fn select_star(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let name = ident(&table.name);
        // A total order that does not change when columns come and go, so the same text runs
        // again after ALTER TABLE (and finds its cached statement).
        let order = if table.has_rowid() {
            "ORDER BY rowid".to_string()
        } else {
            let pk: Vec<String> = table.pk().iter().map(|c| ident(&c.name)).collect();
            format!("ORDER BY {}", pk.join(", "))
        };
        if self.rng.chance(25) {
            return Statement::query(format!("SELECT {name}.*, 1 AS one FROM {name} {order}"));
        }
        let filter = if self.rng.chance(20) {
            self.maybe_where(&column_names(&table), None)
        } else {
            String::new()
        };
        Statement::query(format!("SELECT * FROM {name}{filter} {order}"))
    }

    pub(super) fn aggregate(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let columns = column_names(&table);
        let c = ident(self.rng.pick(&columns));
        let aggregates = [
            "count(*)".to_string(),
            format!("count({c})"),
            format!("sum({c})"),
            format!("total({c})"),
            format!("min({c})"),
            format!("max({c})"),
            format!("avg({c})"),
            format!("group_concat({c}, ',' ORDER BY {c})"),
            format!("count(DISTINCT {c})"),
        ];
        let picked = self.rng.subset(&aggregates, 1);
        let filter = self.maybe_where(&columns, None);
        if self.rng.chance(30) {
            return Statement::query(format!(
                "SELECT {} FROM {}{filter}",
                picked.join(", "),
                ident(&table.name)
            ));
        }
        let g = ident(self.rng.pick(&columns));
        let having = if self.rng.chance(25) {
            " HAVING count(*) > 1"
        } else {
            ""
        };
        Statement::query(format!(
            "SELECT {g}, {} FROM {}{filter} GROUP BY {g}{having} {}",
            picked.join(", "),
            ident(&table.name),
            order_all(picked.len() + 1)
        ))
    }

    pub(super) fn join(&mut self, schema: &Schema) -> Statement {
        let left = self.pick_table(schema).clone();
        let right = self.pick_table(schema).clone();
        let lc = column_names(&left);
        let rc = column_names(&right);
        let mut list = self.select_list(&lc, Some("l"));
        list.extend(self.select_list(&rc, Some("r")));
        let kind = *self
            .rng
            .pick(&["JOIN", "LEFT JOIN", "INNER JOIN", "RIGHT JOIN", "FULL JOIN"]);
        let on = format!(
            "l.{} = r.{}",
            ident(self.rng.pick(&lc)),
            ident(self.rng.pick(&rc))
        );
        let filter = self.maybe_where(&lc, Some("l"));
        Statement::query(format!(
            "SELECT {} FROM {} AS l {kind} {} AS r ON {on}{filter} {} LIMIT 60",
            list.join(", "),
            ident(&left.name),
            ident(&right.name),
            order_all(list.len())
        ))
    }

    pub(super) fn select_view(&mut self, schema: &Schema) -> Statement {
        let view = self.rng.pick(&schema.views).clone();
        let name = ident(&view.name);
        if view.columns.is_empty() {
            // A view that no longer compiles: both sides must say why.
            return Statement::query(format!("SELECT count(*) FROM {name}"));
        }
        if self.features.has(super::Feature::SelectStar) && self.rng.chance(30) {
            return Statement::query(format!(
                "SELECT * FROM {name} {}",
                order_all(view.columns.len())
            ));
        }
        let list = self.select_list(&view.columns, None);
        let filter = self.maybe_where(&view.columns, None);
        Statement::query(format!(
            "SELECT {} FROM {name}{filter} {}",
            list.join(", "),
            order_all(list.len())
        ))
    }

    pub(super) fn cte(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let columns = column_names(&table);
        if self.rng.chance(40) {
            let c = ident(self.rng.pick(&columns));
            return Statement::query(format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {}) \
                 SELECT i, (SELECT count(*) FROM {} WHERE {c} >= i) FROM n ORDER BY 1, 2",
                1 + self.rng.below(6),
                ident(&table.name)
            ));
        }
        let e = expr::expr(&mut self.rng, &columns, None);
        let filter = self.maybe_where(&columns, None);
        Statement::query(format!(
            "WITH x(k) AS (SELECT {e} FROM {}{filter}) \
             SELECT k, count(*) FROM x GROUP BY k ORDER BY 1, 2",
            ident(&table.name)
        ))
    }

    pub(super) fn window(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let columns = column_names(&table);
        let all: Vec<String> = columns.iter().map(ident).collect();
        let order = all.join(", ");
        let c = ident(self.rng.pick(&columns));
        let g = ident(self.rng.pick(&columns));
        let function = self
            .rng
            .pick(&[
                format!("row_number() OVER (ORDER BY {order})"),
                format!("rank() OVER (PARTITION BY {g} ORDER BY {c})"),
                format!("dense_rank() OVER (ORDER BY {c})"),
                format!("sum({c}) OVER (PARTITION BY {g} ORDER BY {order} ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"),
                format!("lag({c}) OVER (ORDER BY {order})"),
                format!("count(*) OVER (PARTITION BY {g})"),
                format!("first_value({c}) OVER (PARTITION BY {g} ORDER BY {order})"),
            ])
            .clone();
        Statement::query(format!(
            "SELECT {order}, {function} AS w FROM {} {}",
            ident(&table.name),
            order_all(columns.len() + 1)
        ))
    }

    pub(super) fn compound(&mut self, schema: &Schema) -> Statement {
        let a = self.pick_table(schema).clone();
        let b = self.pick_table(schema).clone();
        let ea = expr::expr(&mut self.rng, &column_names(&a), None);
        let eb = expr::expr(&mut self.rng, &column_names(&b), None);
        let op = *self
            .rng
            .pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
        Statement::query(format!(
            "SELECT {ea} AS k FROM {} {op} SELECT {eb} FROM {} ORDER BY 1",
            ident(&a.name),
            ident(&b.name)
        ))
    }

    pub(super) fn subquery(&mut self, schema: &Schema) -> Statement {
        let outer = self.pick_table(schema).clone();
        let inner = self.pick_table(schema).clone();
        let oc = ident(self.rng.pick(&column_names(&outer)));
        let ic = ident(self.rng.pick(&column_names(&inner)));
        let (o, i) = (ident(&outer.name), ident(&inner.name));
        let sql = match self.rng.below(3) {
            0 => format!(
                "SELECT {oc}, (SELECT count(*) FROM {i} AS s WHERE s.{ic} = m.{oc}) FROM {o} AS m \
                 ORDER BY 1, 2"
            ),
            1 => format!("SELECT {oc} FROM {o} WHERE {oc} IN (SELECT {ic} FROM {i}) ORDER BY 1"),
            _ => format!(
                "SELECT {oc} FROM {o} AS m WHERE NOT EXISTS (SELECT 1 FROM {i} AS s \
                 WHERE s.{ic} = m.{oc}) ORDER BY 1"
            ),
        };
        Statement::query(sql)
    }

    /// The schema as SQLite stores it (SQL text after renames included), the AUTOINCREMENT
    /// counters and the ANALYZE statistics.
    pub(super) fn schema_listing(&mut self, schema: &Schema) -> Statement {
        match self.rng.below(4) {
            0 if schema.has_sequence => {
                Statement::query("SELECT name, seq FROM sqlite_sequence ORDER BY 1, 2")
            }
            1 if schema.has_stat1 => Statement::query(
                "SELECT tbl, idx, stat FROM sqlite_stat1 \
                 WHERE tbl NOT LIKE '\\_hiqlite%' ESCAPE '\\' ORDER BY 1, 2, 3",
            ),
            _ => Statement::query(SCHEMA_LISTING),
        }
    }

    pub(super) fn literals(&mut self) -> Statement {
        let n = 1 + self.rng.below(5);
        let values = [
            "1",
            "1.0",
            "9e999",
            "-9e999",
            "'NULL'",
            "NULL",
            "x'00ff'",
            "9223372036854775807",
            "-0.0",
            "0.1 + 0.2",
            "1e-320",
            "'\u{e9}'",
            "2.5e15",
            "1/3.0",
        ];
        let list: Vec<String> = (0..n)
            .map(|_| {
                let v = self.rng.pick(&values);
                if self.rng.chance(40) {
                    format!("{v} AS a")
                } else {
                    v.to_string()
                }
            })
            .collect();
        Statement::query(format!("SELECT {}", list.join(", ")))
    }

    pub(super) fn probe_read(&mut self) -> Statement {
        let mut stmt = Statement::query(format!(
            "SELECT id, r, b, ts, d FROM {PROBE_TABLE} ORDER BY id"
        ));
        stmt.compare = Compare::AcrossNodes;
        stmt
    }

    pub(super) fn pragma(&mut self, schema: &Schema) -> Statement {
        let name = self.pick_table(schema).name.clone();
        let table = ident(&name);
        let quoted = name.replace('\'', "''");
        let sql = match self.rng.below(5) {
            0 => format!("PRAGMA table_info({table})"),
            1 => format!("PRAGMA index_list({table})"),
            2 => format!("PRAGMA foreign_key_list({table})"),
            3 => format!(
                "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{quoted}') \
                 ORDER BY cid"
            ),
            _ => format!("SELECT cid, name FROM pragma_table_xinfo('{quoted}') ORDER BY cid"),
        };
        Statement::query(sql)
    }

    /// A statement that must fail: unknown names, a syntax error, a broken constraint.
    pub(super) fn mistake(&mut self, schema: &Schema) -> Statement {
        let table = self.pick_table(schema).clone();
        let t = ident(&table.name);
        match self.rng.below(7) {
            0 => Statement::query(format!("SELECT no_such_column FROM {t}")),
            1 => Statement::query("SELECT * FROM no_such_table"),
            2 => Statement::write(format!("INSERT INTO {t} (no_such_column) VALUES (1)")),
            3 => Statement::write(format!("UPDATE {t} SET no_such_column = 1")),
            4 => Statement::query("SELEC 1"),
            5 => Statement::write(format!(
                "CREATE TABLE {t} (x)" // already exists
            )),
            _ => {
                // NOT NULL / UNIQUE / CHECK / type: whatever the table has.
                let values: Vec<String> = table
                    .writable()
                    .iter()
                    .map(|c| {
                        if table.is_rowid_alias(c) {
                            super::expr::value_for(&mut self.rng, c, &table)
                        } else {
                            literal(&mut self.rng)
                        }
                    })
                    .collect();
                if values.is_empty() {
                    return Statement::write(format!("INSERT INTO {t} DEFAULT VALUES"));
                }
                let cols: Vec<String> = table.writable().iter().map(|c| ident(&c.name)).collect();
                Statement::write(format!(
                    "INSERT INTO {t} ({}) VALUES ({}), ({})",
                    cols.join(", "),
                    values.join(", "),
                    values.join(", ")
                ))
            }
        }
    }
}

/// Every user object as SQLite stores it, in a total order.
pub const SCHEMA_LISTING: &str = "SELECT type, name, tbl_name, sql FROM sqlite_schema \
     WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND tbl_name NOT LIKE '\\_hiqlite%' ESCAPE '\\' \
     ORDER BY 1, 2, 3, 4";
