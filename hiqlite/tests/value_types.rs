//! The value types applications store, end to end on a 3-node cluster: chrono and time
//! timestamps (TEXT and unix seconds), UUIDs (BLOB and TEXT), JSON (`serde_json::Value` and
//! `Json<T>`), and `#[derive(HiqliteType)]` enums (TEXT and INTEGER) and newtypes. Each is written
//! through Raft (with `RETURNING`), read locally on another node, read linearizably, read by a
//! remote client, and read by `query!` with the type it infers from the declared column type.
//! The SQL is checked at build time against `tests/value_types_migrations`.

mod common;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use common::{TestCluster, SECRET_API};
use hiqlite::types::{Json, UnixTime};
use hiqlite::{query, query_as, Client, HiqliteRow, HiqliteType, Value};
use uuid::Uuid;

#[derive(HiqliteType, Debug, Clone, Copy, PartialEq)]
#[hiqlite(rename_all = "snake_case")]
enum Status {
    Active,
    OnHold,
}

#[derive(HiqliteType, Debug, Clone, Copy, PartialEq)]
#[hiqlite(storage = "integer")]
enum Level {
    Low = 1,
    High = 5,
}

#[derive(HiqliteType, Debug, Clone, Copy, PartialEq)]
struct UserId(i64);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Prefs {
    theme: String,
    size: u8,
}

#[derive(HiqliteRow, Debug, Clone, PartialEq)]
struct Happening {
    id: i64,
    uid: Uuid,
    uid_text: Uuid,
    at_text: DateTime<Utc>,
    at_unix: DateTime<Utc>,
    day: Option<NaiveDate>,
    clock: Option<NaiveTime>,
    doc: Option<serde_json::Value>,
    prefs: Option<Json<Prefs>>,
    status: Status,
    level: Level,
    owner: Option<UserId>,
}

fn sample() -> Happening {
    Happening {
        id: 0,
        uid: Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8),
        uid_text: Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0),
        // Milliseconds survive the TEXT form; unix seconds keep whole seconds.
        at_text: DateTime::from_timestamp(1_796_027_089, 123_000_000).unwrap(),
        at_unix: DateTime::from_timestamp(1_796_027_089, 0).unwrap(),
        day: NaiveDate::from_ymd_opt(2026, 11, 30),
        clock: NaiveTime::from_hms_milli_opt(8, 24, 49, 500),
        doc: Some(serde_json::json!({"tags": ["a", "b"], "n": 3})),
        prefs: Some(Json(Prefs {
            theme: "dark".into(),
            size: 12,
        })),
        status: Status::OnHold,
        level: Level::High,
        owner: Some(UserId(7)),
    }
}

async fn read_all(client: &Client, consistent: bool) -> Vec<Happening> {
    let q = query_as!(
        migrations = "tests/value_types_migrations",
        Happening,
        "SELECT id, uid, uid_text, at_text, at_unix, day, clock, doc, prefs, status, level, owner
         FROM happenings ORDER BY id"
    );
    if consistent {
        q.fetch_all_consistent(client).await.unwrap()
    } else {
        q.fetch_all(client).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn value_types_round_trip_through_a_cluster() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster.follower().await;
    let writer = &cluster.clients[follower];
    writer
        .migrate(hiqlite::migrate!("tests/value_types_migrations"))
        .await
        .unwrap();

    // Written through Raft from a follower, read back from RETURNING.
    let h = sample();
    let written = query_as!(
        migrations = "tests/value_types_migrations",
        Happening,
        "INSERT INTO happenings (uid, uid_text, uid_decl, at_text, at_unix, at_decl, day, clock,
                                 doc, prefs, status, level, owner)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING id, uid, uid_text, at_text, at_unix, day, clock, doc, prefs, status, level, owner",
        h.uid,
        h.uid_text.hyphenated(),
        h.uid,
        h.at_text,
        UnixTime(h.at_unix),
        h.at_text,
        h.day,
        h.clock,
        h.doc.clone(),
        h.prefs.clone(),
        h.status,
        h.level,
        h.owner,
    )
    .fetch_one(writer)
    .await
    .unwrap();
    let expected = Happening {
        id: written.id,
        ..sample()
    };
    assert_eq!(written, expected);

    // Stored forms: what another program reading the file sees.
    let raw: Vec<Value> = cluster.clients[leader]
        .query_consistent_map(
            "SELECT uid, uid_text, at_text, at_unix, day, clock, status, level, owner
             FROM happenings",
            vec![],
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        raw,
        vec![
            Value::Blob(h.uid.as_bytes().to_vec()),
            Value::Text("12345678-9abc-def0-1234-56789abcdef0".into()),
            Value::Text("2026-11-30 08:24:49.123+00:00".into()),
            Value::Integer(1_796_027_089),
            Value::Text("2026-11-30".into()),
            Value::Text("08:24:49.500".into()),
            Value::Text("on_hold".into()),
            Value::Integer(5),
            Value::Integer(7),
        ]
    );

    // Local reads on every node once replicated, a linearizable read, a remote client.
    assert_eq!(
        read_all(&cluster.clients[leader], true).await,
        vec![expected.clone()]
    );
    for client in &cluster.clients {
        assert_eq!(read_all(client, true).await, vec![expected.clone()]);
        assert_eq!(read_all(client, false).await, vec![expected.clone()]);
    }
    let remote = Client::remote(vec![cluster.api_addr(follower)], SECRET_API);
    assert_eq!(read_all(&remote, true).await, vec![expected.clone()]);

    // query! infers the feature types from the declared column types (both chrono and time
    // are on in this build: `time` wins, as in sqlx).
    let row = query!(
        migrations = "tests/value_types_migrations",
        "SELECT uid_decl, at_decl, day, clock, doc FROM happenings WHERE status = ? AND level = ?",
        Status::OnHold,
        Level::High
    )
    .fetch_one_consistent(&remote)
    .await
    .unwrap();
    let uid_decl: Option<Uuid> = row.uid_decl;
    assert_eq!(uid_decl, Some(h.uid));
    let at: Option<time::OffsetDateTime> = row.at_decl;
    assert_eq!(
        at.map(|t| t.unix_timestamp_nanos()),
        Some(1_796_027_089_123_000_000)
    );
    let day: Option<time::Date> = row.day;
    assert_eq!(day.map(|d| d.to_string()), Some("2026-11-30".into()));
    let clock: Option<time::Time> = row.clock;
    assert_eq!(clock.map(|t| t.millisecond()), Some(500));
    let doc: Option<serde_json::Value> = row.doc;
    assert_eq!(doc, h.doc);

    // The time crate writes what chrono reads, and unix seconds read as either.
    let t = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let id = query!(
        migrations = "tests/value_types_migrations",
        r#"UPDATE happenings SET at_text = ?, at_unix = ? WHERE owner = ? RETURNING id AS "id!""#,
        t,
        UnixTime(t),
        UserId(7)
    )
    .fetch_one(&remote)
    .await
    .unwrap()
    .id;
    let (text, unix, unix_as_time): (DateTime<Utc>, DateTime<Utc>, time::OffsetDateTime) = cluster
        .clients[follower]
        .query_consistent_one(
            "SELECT at_text, at_unix, at_unix FROM happenings WHERE id = ?",
            hiqlite::params!(id),
        )
        .await
        .unwrap();
    assert_eq!(text.timestamp(), 1_800_000_000);
    assert_eq!(unix.timestamp(), 1_800_000_000);
    assert_eq!(unix_as_time, t);

    // An unknown enum name is a runtime error that names the type and the column.
    writer
        .execute("UPDATE happenings SET status = 'gone'", vec![])
        .await
        .unwrap();
    let err = query_as!(
        migrations = "tests/value_types_migrations",
        Happening,
        "SELECT id, uid, uid_text, at_text, at_unix, day, clock, doc, prefs, status, level, owner
         FROM happenings"
    )
    .fetch_all_consistent(&cluster.clients[follower])
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("\"gone\" is not a `Status` (expected one of: \"active\", \"on_hold\")")
            && err.contains("Happening.status"),
        "{err}"
    );
    cluster.shutdown().await;
}
