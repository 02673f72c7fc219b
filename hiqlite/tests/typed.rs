//! The typed API on in-process nodes: derive(HiqliteRow) with every attribute, query!,
//! query_as!, query_scalar! and the query_file*! macros (SQL in `tests/queries/`), reads and
//! writes, transactions, and the runtime errors a user sees when data does not fit. The SQL is checked at build time against the workspace's example schema
//! (`migrations/`, the nearest one above this crate).

mod common;

use std::str::FromStr;

use common::{TestCluster, SECRET_API};
use hiqlite::typed::{Query, Read, Scalar, Write};
use hiqlite::{
    query, query_as, query_file, query_file_as, query_file_scalar, query_scalar, Client, Error,
    HiqliteRow, Txn, Value,
};

const SCHEMA: &str = include_str!("../../migrations/0001_init.sql");

#[derive(Debug, PartialEq, Clone, Copy)]
enum Kind {
    Login,
    Logout,
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "login" => Ok(Kind::Login),
            "logout" => Ok(Kind::Logout),
            other => Err(format!("unknown event kind {other:?}")),
        }
    }
}

#[derive(Debug, PartialEq)]
struct EventId(u32);

impl TryFrom<i64> for EventId {
    type Error = std::num::TryFromIntError;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        u32::try_from(v).map(EventId)
    }
}

fn payload_len(v: Value) -> Result<usize, String> {
    match v {
        Value::Text(t) => Ok(t.len()),
        other => Err(format!("expected text, got {other}")),
    }
}

#[derive(HiqliteRow, Debug, PartialEq)]
struct Stamp {
    created_at: i64,
}

#[derive(HiqliteRow, Debug, PartialEq)]
struct Event {
    #[row(try_from = "i64")]
    id: EventId,
    #[row(from_str)]
    kind: Kind,
    #[row(rename = "payload", with = "payload_len")]
    payload_bytes: usize,
    #[row(flatten)]
    stamp: Stamp,
    #[row(skip)]
    seen: bool,
}

#[derive(HiqliteRow, Debug, PartialEq)]
struct User {
    id: i64,
    name: String,
    #[row(rename = "email")]
    mail: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reads_writes_and_conversions_on_one_node() {
    let cluster = TestCluster::start(1).await;
    let client = &cluster.clients[0];
    client.batch(SCHEMA).await.unwrap();

    // A write with RETURNING goes through Raft and returns a typed record.
    let bob = query!(
        "INSERT INTO users (name, email) VALUES (?, ?) RETURNING id, name, email",
        "bob",
        "bob@example.com"
    )
    .fetch_one(client)
    .await
    .unwrap();
    let (id, name, email): (i64, String, Option<String>) = (bob.id, bob.name, bob.email);
    assert_eq!(
        (name.as_str(), email.as_deref()),
        ("bob", Some("bob@example.com"))
    );

    // Named parameters bind by name.
    let res = query!("INSERT INTO users (name) VALUES (:name)", name = "alice")
        .execute(client)
        .await
        .unwrap();
    assert_eq!(res.rows_affected, 1);

    let users: Vec<User> = query_as!(
        User,
        "SELECT id, name, email FROM users WHERE id >= ? ORDER BY id",
        id
    )
    .fetch_all(client)
    .await
    .unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].mail.as_deref(), Some("bob@example.com"));
    assert_eq!(users[1].mail, None);

    // Overrides: the record gets the overridden types; the aliases reach SQLite without them.
    let stats = query!(r#"SELECT count(*) AS n, max(id) AS "top: i64", min(email) AS "first_mail?: String" FROM users"#)
        .fetch_one_consistent(client)
        .await
        .unwrap();
    assert_eq!(
        (stats.n, stats.top, stats.first_mail.as_deref()),
        (2, res.last_insert_rowid, Some("bob@example.com"))
    );

    let none = query_as!(
        User,
        "SELECT id, name, email FROM users WHERE name = ?",
        "nobody"
    )
    .fetch_optional(client)
    .await
    .unwrap();
    assert!(none.is_none());
    assert!(matches!(
        query_as!(
            User,
            "SELECT id, name, email FROM users WHERE name = ?",
            "nobody"
        )
        .fetch_one(client)
        .await,
        Err(Error::NoRows)
    ));

    // Conversions, flatten and skip.
    query!("INSERT INTO events (kind, payload, created_at) VALUES ('login', 'abcd', 7)")
        .execute(client)
        .await
        .unwrap();
    let events: Vec<Event> = query_as!(Event, "SELECT id, kind, payload, created_at FROM events")
        .fetch_all_consistent(client)
        .await
        .unwrap();
    assert_eq!(
        events,
        vec![Event {
            id: EventId(1),
            kind: Kind::Login,
            payload_bytes: 4,
            stamp: Stamp { created_at: 7 },
            seen: false,
        }]
    );

    // A RETURNING write read into a derived struct.
    let deleted: Vec<Event> = query_as!(
        Event,
        "DELETE FROM events WHERE kind = ? RETURNING id, kind, payload, created_at",
        "login"
    )
    .fetch_all(client)
    .await
    .unwrap();
    assert_eq!(deleted.len(), 1);

    // A conversion that fails at runtime names the column and the field.
    query!("INSERT INTO events (kind, payload) VALUES ('party', 'x')")
        .execute(client)
        .await
        .unwrap();
    let err = query_as!(Event, "SELECT id, kind, payload, created_at FROM events")
        .fetch_all(client)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("field `Event.kind` (column \"kind\")"),
        "{err}"
    );
    assert!(err.contains("unknown event kind \"party\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_queries_in_a_transaction() {
    let cluster = TestCluster::start(1).await;
    let client = &cluster.clients[0];
    client.batch(SCHEMA).await.unwrap();

    let mut txn = Txn::new();
    let inserted = query!(
        "INSERT INTO users (name) VALUES (?) RETURNING id, name",
        "carol"
    )
    .add_to(&mut txn);
    query!(
        "UPDATE users SET email = ? WHERE name = ?",
        "c@example.com",
        "carol"
    )
    .add_to(&mut txn);
    let read = query_as!(
        User,
        "SELECT id, name, email FROM users WHERE name = ?",
        "carol"
    )
    .add_to(&mut txn);
    let outputs = client.txn(txn).await.unwrap();
    let row = &inserted.rows(&outputs).unwrap()[0];
    assert_eq!(row.name, "carol");
    let users = read.rows(&outputs).unwrap();
    assert_eq!(
        users,
        vec![User {
            id: row.id,
            name: "carol".into(),
            mail: Some("c@example.com".into())
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_row_of_a_transaction_statement() {
    let cluster = TestCluster::start(1).await;
    let client = &cluster.clients[0];
    client.batch(SCHEMA).await.unwrap();

    let mut txn = Txn::new();
    let inserted =
        query!("INSERT INTO users (name) VALUES (?) RETURNING id", "dave").add_to(&mut txn);
    let found = query!("SELECT name FROM users WHERE name = ?", "dave").add_to(&mut txn);
    let absent = query!("SELECT name FROM users WHERE name = ?", "nobody").add_to(&mut txn);
    let outputs = client.txn(txn).await.unwrap();

    assert!(inserted.one(&outputs).unwrap().id > 0);
    assert_eq!(found.one(&outputs).unwrap().name, "dave");
    assert_eq!(found.optional(&outputs).unwrap().unwrap().name, "dave");
    assert!(matches!(absent.one(&outputs), Err(Error::NoRows)));
    assert!(absent.optional(&outputs).unwrap().is_none());
    // Outputs of another transaction do not have this statement.
    assert!(matches!(absent.one(&[]), Err(Error::Conversion(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checked_read_guards_a_transaction() {
    let cluster = TestCluster::start(1).await;
    let client = &cluster.clients[0];
    client.batch(SCHEMA).await.unwrap();

    let insert_unless_taken = |name: &'static str| {
        let mut txn = Txn::new();
        query!(
            r#"SELECT NOT exists(SELECT 1 FROM users WHERE name = ?) AS "free: bool""#,
            name
        )
        .add_guard_to(&mut txn);
        query!("INSERT INTO users (name) VALUES (?)", name).add_to(&mut txn);
        txn
    };
    client.txn(insert_unless_taken("erin")).await.unwrap();
    let err = client.txn(insert_unless_taken("erin")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Sql(hiqlite::SqlError::GuardFailed { statement: 0 })
        ),
        "{err}"
    );
    let count = query!(r#"SELECT count(*) AS n FROM users WHERE name = 'erin'"#)
        .fetch_one(client)
        .await
        .unwrap()
        .n;
    assert_eq!(count, 1, "the second transaction rolled back");
}

/// The access marker is in the type: these annotations only compile because SQLite reported
/// the first statement read-only and the second not.
#[test]
fn access_is_part_of_the_type() {
    let read: Query<Read, _> = query!("SELECT id FROM users");
    let write: Query<Write, ()> = query!("DELETE FROM users WHERE id = ?", 1);
    assert_eq!(read.sql(), "SELECT id FROM users");
    assert_eq!(write.params(), &[Value::Integer(1)]);
}

/// query_scalar! and the query_file*! macros on a 3-node cluster: writes from a follower (through
/// Raft), local and consistent reads on every node, a remote client, and a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scalar_and_file_queries_on_three_nodes() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = &cluster.clients[(leader + 1) % 3];
    follower.batch(SCHEMA).await.unwrap();

    // RETURNING id: a write from a follower, its one column read as an i64.
    let ann: i64 = query_scalar!(
        "INSERT INTO users (name, email) VALUES (?, ?) RETURNING id",
        "ann",
        "ann@example.com"
    )
    .fetch_one(follower)
    .await
    .unwrap();
    let ben: i64 = query_scalar!(
        "INSERT INTO users (name) VALUES (:name) RETURNING id",
        name = "ben"
    )
    .fetch_one(follower)
    .await
    .unwrap();
    assert!(ben > ann, "{ann} then {ben}");

    // A count, linearizable on every node.
    for client in &cluster.clients {
        let n: i64 = query_scalar!("SELECT count(*) FROM users")
            .fetch_one_consistent(client)
            .await
            .unwrap();
        assert_eq!(n, 2);
    }

    // An Option column: Some and None; no row at all is None or NoRows.
    let emails: Vec<Option<String>> = query_scalar!("SELECT email FROM users ORDER BY id")
        .fetch_all(follower)
        .await
        .unwrap();
    assert_eq!(emails, vec![Some("ann@example.com".to_string()), None]);
    let missing = query_scalar!("SELECT email FROM users WHERE name = ?", "nobody");
    assert_eq!(missing.fetch_optional(follower).await.unwrap(), None);
    assert!(matches!(
        query_scalar!("SELECT email FROM users WHERE name = ?", "nobody")
            .fetch_one(follower)
            .await,
        Err(Error::NoRows)
    ));

    // Overrides as in query!: the type, and a failing conversion naming the column.
    let top: u32 = query_scalar!(r#"SELECT max(id) AS "top!: u32" FROM users"#)
        .fetch_one(follower)
        .await
        .unwrap();
    assert_eq!(i64::from(top), ben);
    let err = query_scalar!(r#"SELECT name AS "n: i64" FROM users WHERE id = ?"#, ann)
        .fetch_one(follower)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("column \"n\""), "{err}");
    assert!(err.contains("TEXT \"ann\""), "{err}");

    // In a transaction: a RETURNING write and a read, each read back as its scalar.
    let mut txn = Txn::new();
    let inserted =
        query_scalar!("INSERT INTO users (name) VALUES (?) RETURNING id", "cat").add_to(&mut txn);
    let count = query_scalar!("SELECT count(*) FROM users").add_to(&mut txn);
    let outputs = follower.txn(txn).await.unwrap();
    let cat: i64 = inserted.one(&outputs).unwrap();
    assert!(cat > ben);
    assert_eq!(count.rows(&outputs).unwrap(), vec![3]);

    // The SQL from files: query_file! (named parameter), query_file_as!, and
    // query_file_scalar! for a write with RETURNING, round trips through the cluster.
    let row = query_file!("tests/queries/user_by_name.sql", name = "ann")
        .fetch_one(follower)
        .await
        .unwrap();
    assert_eq!(
        (row.id, row.name.as_str(), row.email.as_deref()),
        (ann, "ann", Some("ann@example.com"))
    );
    let renamed: String =
        query_file_scalar!("tests/queries/rename_user.sql", new_name = "anna", id = ann)
            .fetch_one(&cluster.clients[leader])
            .await
            .unwrap();
    assert_eq!(renamed, "anna");
    let users: Vec<User> = query_file_as!(User, "tests/queries/users_from.sql", ann)
        .fetch_all_consistent(follower)
        .await
        .unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["anna", "ben", "cat"]);

    // A remote client reads the rows from the network (owned rows): same values.
    let remote = Client::remote(vec![cluster.api_addr(leader)], SECRET_API);
    remote
        .wait_until_healthy(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let n: i64 = query_scalar!("SELECT count(*) FROM users WHERE email IS NULL")
        .fetch_one_consistent(&remote)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let name: Option<String> =
        query_file_scalar!("tests/queries/rename_user.sql", new_name = "anne", id = ann)
            .fetch_optional(&remote)
            .await
            .unwrap();
    assert_eq!(name.as_deref(), Some("anne"));
    cluster.shutdown().await;
}

/// A scalar query's type names its column type.
#[test]
fn scalar_queries_have_nameable_types() {
    fn count_users() -> Query<Read, Scalar<i64>> {
        query_scalar!("SELECT count(*) FROM users")
    }
    let _: Query<Write, Scalar<i64>> =
        query_scalar!("DELETE FROM users WHERE id = ? RETURNING id", 1);
    assert_eq!(count_users().sql(), "SELECT count(*) FROM users");
    let file: Query<Read, _> = query_file!("tests/queries/user_by_name.sql", name = "x");
    assert!(file.sql().contains("WHERE name = :name"));
}
