//! The typed API against a real 3-node cluster of `hiqlite serve` processes, through remote
//! clients: query!/query_as! reads on a follower, RETURNING writes forwarded by a follower
//! through Raft, and a derived struct with every attribute mapping rows that crossed the
//! network. The SQL is checked at build time against the workspace's `migrations/`.

use std::str::FromStr;

use hiqlite::{query, query_as, HiqliteRow, Value};
use hiqlite_cluster_tests::ProcessCluster;

/// The schema the macros checked the SQL against; applied here by hand (the migrations runtime
/// is separate).
const SCHEMA: &str = include_str!("../../migrations/0001_init.sql");

#[derive(HiqliteRow, Debug, PartialEq)]
struct User {
    id: i64,
    name: String,
    #[row(rename = "email")]
    mail: Option<String>,
}

#[derive(Debug, PartialEq)]
enum EventKind {
    Signup,
    Login,
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "signup" => Ok(EventKind::Signup),
            "login" => Ok(EventKind::Login),
            other => Err(format!("unknown event kind {other:?}")),
        }
    }
}

#[derive(Debug, PartialEq)]
struct EventId(u16);

impl TryFrom<i64> for EventId {
    type Error = std::num::TryFromIntError;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        u16::try_from(v).map(EventId)
    }
}

fn word_count(v: Value) -> Result<usize, String> {
    match v {
        Value::Text(t) => Ok(t.split_whitespace().count()),
        other => Err(format!("expected text, found {other}")),
    }
}

#[derive(HiqliteRow, Debug, PartialEq)]
struct When {
    created_at: i64,
}

#[derive(HiqliteRow, Debug, PartialEq)]
struct Event {
    #[row(try_from = "i64")]
    id: EventId,
    #[row(rename = "kind", from_str)]
    what: EventKind,
    #[row(rename = "payload", with = "word_count")]
    words: usize,
    #[row(flatten)]
    when: When,
    #[row(skip)]
    note: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn typed_api_on_a_three_process_cluster() {
    let cluster = ProcessCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (0..cluster.len())
        .find(|i| *i != leader)
        .expect("a follower");
    let on_leader = cluster.client(leader);
    let on_follower = cluster.client(follower);
    on_leader.batch(SCHEMA).await.unwrap();

    // A RETURNING write sent to a follower is forwarded to the leader, goes through Raft and
    // comes back as typed records.
    let inserted = query!(
        "INSERT INTO users (name, email) VALUES (?, ?), (?, NULL) RETURNING id, name",
        "ada",
        "ada@example.com",
        "alan"
    )
    .fetch_all(&on_follower)
    .await
    .unwrap();
    let names: Vec<(i64, &str)> = inserted.iter().map(|r| (r.id, r.name.as_str())).collect();
    assert_eq!(names.len(), 2);
    assert_eq!((names[0].1, names[1].1), ("ada", "alan"));
    assert!(names[0].0 < names[1].0);

    // A write on the leader, then a consistent read on the follower sees it; after that the
    // follower has applied it, so a local read there sees it too.
    let grace = query!(
        "INSERT INTO users (name, email) VALUES (?, ?)",
        "grace",
        "grace@example.com"
    )
    .execute(&on_leader)
    .await
    .unwrap();
    let consistent: Vec<User> = query_as!(
        User,
        "SELECT id, name, email FROM users WHERE name = ?",
        "grace"
    )
    .fetch_all_consistent(&on_follower)
    .await
    .unwrap();
    let expected = User {
        id: grace.last_insert_rowid,
        name: "grace".into(),
        mail: Some("grace@example.com".into()),
    };
    assert_eq!(consistent, vec![expected]);
    let local = query_as!(
        migrations = "../migrations",
        User,
        "SELECT id, name, email FROM users WHERE id = :id",
        id = grace.last_insert_rowid
    )
    .fetch_one(&on_follower)
    .await
    .unwrap();
    assert_eq!(local.name, "grace");
    let everyone = query!(r#"SELECT count(*) AS n, max(id) AS "last: i64" FROM users"#)
        .fetch_one(&on_follower)
        .await
        .unwrap();
    assert_eq!((everyone.n, everyone.last), (3, grace.last_insert_rowid));

    // A derived struct with rename, skip, flatten and all three conversions maps rows read
    // through a remote client, and rows returned by a write.
    query!(
        "INSERT INTO events (kind, payload, created_at) VALUES ('signup', 'hello big world', 100), ('login', 'hi', 200)"
    )
    .execute(&on_follower)
    .await
    .unwrap();
    let events: Vec<Event> = query_as!(
        Event,
        "SELECT id, kind, payload, created_at FROM events ORDER BY id"
    )
    .fetch_all_consistent(&on_follower)
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![
            Event {
                id: EventId(1),
                what: EventKind::Signup,
                words: 3,
                when: When { created_at: 100 },
                note: None,
            },
            Event {
                id: EventId(2),
                what: EventKind::Login,
                words: 1,
                when: When { created_at: 200 },
                note: None,
            },
        ]
    );
    let removed = query_as!(
        Event,
        "DELETE FROM events WHERE kind = ? RETURNING id, kind, payload, created_at",
        "login"
    )
    .fetch_optional(&on_follower)
    .await
    .unwrap();
    assert_eq!(removed.map(|e| e.id), Some(EventId(2)));

    // A row that does not convert fails with the column and the field named.
    query!("INSERT INTO events (kind, payload) VALUES ('logout', 'bye')")
        .execute(&on_leader)
        .await
        .unwrap();
    let err = query_as!(Event, "SELECT id, kind, payload, created_at FROM events")
        .fetch_all_consistent(&on_follower)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("field `Event.what` (column \"kind\")"),
        "{err}"
    );
}
