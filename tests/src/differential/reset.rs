//! Emptying the cluster's and the reference's schema between sessions and before every replay.

use super::cluster::ClusterSide;
use super::outcome::Outcome;
use super::reference::Reference;
use crate::sqlgen::ident;

/// User objects (tables and views) of a database, from a `type, name` listing.
fn objects(listing: &Outcome) -> Result<Vec<(String, String)>, String> {
    match listing {
        Outcome::Rows { rows, .. } => Ok(rows
            .iter()
            .filter_map(|r| match (&r[0], &r[1]) {
                (hiqlite::Value::Text(t), hiqlite::Value::Text(n)) => Some((t.clone(), n.clone())),
                _ => None,
            })
            .collect()),
        other => Err(format!("cannot list the objects: {other}")),
    }
}

const LIST_OBJECTS: &str = "SELECT type, name FROM sqlite_schema \
     WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
     AND name NOT LIKE '\\_hiqlite%' ESCAPE '\\' ORDER BY type DESC, name";

/// Drops every user table and view on the cluster and the reference (views first; a table
/// another table's foreign key still needs goes in a later round), and the ANALYZE statistics.
/// Afterwards both have the same (empty) schema, `sqlite_sequence` included.
pub async fn reset(side: &ClusterSide<'_>, reference: &Reference) -> Result<(), String> {
    let writer = side.roles(0).writer;
    for _round in 0..20 {
        let listed = objects(&side.read_on(writer, LIST_OBJECTS, true).await)?;
        if listed.is_empty() {
            break;
        }
        for (kind, name) in listed {
            let verb = if kind == "view" { "VIEW" } else { "TABLE" };
            side.execute(&format!("DROP {verb} IF EXISTS {}", ident(&name)))
                .await;
        }
    }
    for _round in 0..20 {
        let mut listed = objects(&reference.rows(LIST_OBJECTS))?;
        let temp = reference.rows(&LIST_OBJECTS.replace("sqlite_schema", "temp.sqlite_schema"));
        listed.extend(
            objects(&temp)?
                .into_iter()
                .map(|(k, n)| (k, format!("temp.{}", ident(&n)))),
        );
        if listed.is_empty() {
            break;
        }
        for (kind, name) in listed {
            let verb = if kind == "view" { "VIEW" } else { "TABLE" };
            let name = if name.starts_with("temp.") {
                name
            } else {
                ident(&name)
            };
            reference.execute(&format!("DROP {verb} IF EXISTS {name}"));
        }
    }
    side.execute("DROP TABLE IF EXISTS sqlite_stat1").await;
    reference.execute("DROP TABLE IF EXISTS sqlite_stat1");
    // sqlite_sequence cannot be dropped: make sure both sides have it, or neither.
    let has_sequence = "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'";
    let make_sequence = "CREATE TABLE reset_sequence (id INTEGER PRIMARY KEY AUTOINCREMENT)";
    let on_cluster = side.read_on(writer, has_sequence, true).await;
    let on_reference = reference.rows(has_sequence);
    if !on_cluster.identical(&on_reference) {
        let one = Outcome::Rows {
            columns: vec!["count(*)".into()],
            rows: vec![vec![hiqlite::Value::Integer(1)]],
        };
        if on_cluster.identical(&one) {
            reference.execute(make_sequence);
            reference.execute("DROP TABLE reset_sequence");
        } else {
            side.execute(make_sequence).await;
            side.execute("DROP TABLE reset_sequence").await;
        }
    }
    let listing = crate::sqlgen::query_schema_listing();
    let left = side.read_on(writer, listing, true).await;
    let right = reference.rows(listing);
    if !left.identical(&right) {
        return Err(format!(
            "schemas still differ after the reset:\ncluster: {left}\nreference: {right}"
        ));
    }
    Ok(())
}
