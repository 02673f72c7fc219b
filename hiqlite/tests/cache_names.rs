//! Typed cache names (`#[derive(hiqlite::CacheName)]`) on a 1-node cluster: a variant and the
//! string it derives name the same key space, and `CacheNames::NAMES` lists every cache.

mod common;

use std::borrow::Cow;
use std::time::Duration;

use common::TestCluster;
use hiqlite::{params, CacheName, CacheNames};

#[derive(hiqlite::CacheName)]
enum Caches {
    Sessions,
    #[cache(rename = "page-views")]
    PageViews,
}

#[derive(hiqlite::CacheName)]
#[cache(rename_all = "SCREAMING_SNAKE_CASE")]
enum Loud {
    RateLimits,
}

#[test]
fn derived_names_and_their_list() {
    assert_eq!(Caches::NAMES, ["sessions", "page-views"]);
    assert_eq!(Caches::Sessions.cache_name(), "sessions");
    assert!(matches!(
        Caches::PageViews.cache_name(),
        Cow::Borrowed("page-views")
    ));
    // A reference names what it points to (the blanket `impl CacheName for &T`).
    fn name_of(name: impl CacheName) -> Cow<'static, str> {
        name.cache_name()
    }
    let views = Caches::PageViews;
    assert_eq!(name_of(&views), "page-views");
    assert_eq!(name_of(views), "page-views");
    assert_eq!(Loud::NAMES, ["RATE_LIMITS"]);
    assert_eq!(Loud::RateLimits.cache_name(), "RATE_LIMITS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variant_and_its_string_share_one_key_space() {
    let cluster = TestCluster::start(1).await;
    let client = &cluster.clients[0];

    let typed = client.cache(Caches::Sessions);
    assert_eq!(typed.name(), "sessions");
    typed
        .put("s-42", "alice", Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    // The same key through the plain string, and through a `String` and a `&String`.
    let name = String::from("sessions");
    for cache in [
        client.cache("sessions"),
        client.cache(&name),
        client.cache(name.clone()),
    ] {
        assert_eq!(
            cache.get("s-42").await.unwrap().as_deref(),
            Some(&b"alice"[..])
        );
    }
    // A renamed variant writes under its renamed name, a key space of its own.
    assert_eq!(
        client
            .cache(Caches::PageViews)
            .add("/", 3, None)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        client.cache("page-views").counter("/").await.unwrap(),
        Some(3)
    );
    assert_eq!(client.cache(Caches::Sessions).get("/").await.unwrap(), None);

    let rows = client
        .query_rows(
            "SELECT cache, CAST(key AS TEXT) FROM _hiqlite_cache ORDER BY cache, key",
            params!(),
        )
        .await
        .unwrap();
    let got: Vec<Vec<hiqlite::Value>> = rows.rows;
    assert_eq!(
        got,
        vec![
            vec!["page-views".into(), "/".into()],
            vec!["sessions".into(), "s-42".into()],
        ]
    );
    cluster.shutdown().await;
}
