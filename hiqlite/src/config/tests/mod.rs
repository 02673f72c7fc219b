//! Tests of the config room: builder and defaults here, the sources in `sources.rs`, members
//! and validation in `validation.rs`, and that the docs mention every key.

mod sources;
mod validation;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::keys::KEYS;
use super::*;
use crate::types::members::Member;

const RAFT: &str = "raft-secret-0123456789";
const API: &str = "api-secret-0123456789";

fn three_nodes() -> NodeConfigBuilder {
    NodeConfig::builder()
        .node_id(1)
        .node(1, "127.0.0.1:8100", "127.0.0.1:8200")
        .node(2, "127.0.0.1:8101", "127.0.0.1:8201")
        .node(3, "127.0.0.1:8102", "127.0.0.1:8202")
        .secret_raft(RAFT)
        .secret_api(API)
}

/// A valid config in a fresh temp dir (the dir guard must outlive the test).
fn valid() -> (tempfile::TempDir, NodeConfigBuilder) {
    let dir = tempfile::tempdir().unwrap();
    let b = three_nodes().data_dir(dir.path().join("data"));
    (dir, b)
}

fn err_of(r: Result<NodeConfig, ConfigError>) -> String {
    match r {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn toml_for(dir: &Path) -> String {
    format!(
        r#"
node_id = 2
nodes = [
"1 127.0.0.1:8100 127.0.0.1:8200",
"2 127.0.0.1:8101 127.0.0.1:8201",
"3 127.0.0.1:8102 127.0.0.1:8202",
]
data_dir = "{}"
secret_raft = "{RAFT}"
secret_api = "{API}"
read_pool_size = 7
log_sync = false
heartbeat_interval_ms = 100
election_timeout_min_ms = 500
election_timeout_max_ms = 1000
max_frame_bytes = 1048576
request_timeout_ms = 3000
filename_db = "app.db"
"#,
        dir.display()
    )
}

fn detail(e: ConfigError) -> String {
    e.detail()
}

#[test]
fn builder_defaults() {
    let (dir, b) = valid();
    let c = b.build().unwrap();
    assert_eq!(c.filename_db, "hiqlite.db");
    assert_eq!(c.read_pool_size, 4);
    assert!(c.log_sync);
    assert_eq!(c.heartbeat_interval, Duration::from_millis(50));
    assert_eq!(c.election_timeout_min, Duration::from_millis(200));
    assert_eq!(c.election_timeout_max, Duration::from_millis(400));
    assert_eq!(c.max_frame_bytes, 64 * 1024 * 1024);
    assert_eq!(c.request_timeout, Duration::from_secs(10));
    assert_eq!(c.nodes.len(), 3);
    assert_eq!(c.own_member().unwrap().raft_addr, "127.0.0.1:8100");
    assert!(dir.path().join("data").is_dir(), "data_dir is created");
    // the probe file is gone
    assert_eq!(
        std::fs::read_dir(dir.path().join("data")).unwrap().count(),
        0
    );
    assert_eq!(
        NodeConfigBuilder::default().config.data_dir,
        PathBuf::from("./hiqlite-data")
    );
}

#[test]
fn builder_setters() {
    let (_dir, b) = valid();
    let c = b
        .filename_db("x.db")
        .read_pool_size(2)
        .log_sync(false)
        .heartbeat_interval(Duration::from_millis(60))
        .election_timeout_min(Duration::from_millis(250))
        .election_timeout_max(Duration::from_millis(500))
        .max_frame_bytes(1 << 20)
        .request_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(c.filename_db, "x.db");
    assert_eq!(c.read_pool_size, 2);
    assert!(!c.log_sync);
    assert_eq!(c.heartbeat_interval, Duration::from_millis(60));
    assert_eq!(c.election_timeout_min, Duration::from_millis(250));
    assert_eq!(c.election_timeout_max, Duration::from_millis(500));
    assert_eq!(c.max_frame_bytes, 1 << 20);
    assert_eq!(c.request_timeout, Duration::from_secs(1));
    // round trip through the builder
    let again = NodeConfigBuilder::from(c.clone())
        .node_id(2)
        .build()
        .unwrap();
    assert_eq!(again.node_id, 2);
    assert_eq!(again.nodes, c.nodes);
    // nodes() replaces
    let (_dir, b) = valid();
    let c = b
        .nodes(vec![parse_member("1 a:1 a:2").unwrap()])
        .build()
        .unwrap();
    assert_eq!(c.nodes.len(), 1);
}

#[test]
fn missing_required_values() {
    let e = err_of(NodeConfig::builder().build());
    assert!(e.contains("node_id is not set"), "{e}");
    assert!(e.contains("HQL_NODE_ID"), "{e}");
    assert!(e.contains("secret_raft is not set"), "{e}");
    assert!(e.contains("secret_api is not set"), "{e}");
    assert!(e.contains("nodes is empty"), "{e}");
}

#[test]
fn missing_values_are_reported_with_every_other_problem() {
    // Only HQL_SECRET_API set: the missing values and the empty `nodes`, in one error.
    let e = err_of(
        NodeConfig::builder()
            .env_with(env(&[("HQL_SECRET_API", "api-secret-0123456789")]))
            .unwrap()
            .build(),
    );
    assert!(e.contains(": 3 problems:"), "{e}");
    for expected in [
        "node_id is not set",
        "secret_raft is not set",
        "nodes is empty",
        "HQL_NODES",
    ] {
        assert!(e.contains(expected), "{expected}: {e}");
    }
    assert!(!e.contains("too short"), "{e}");
    // A bad `--node` is named as the flag, next to the other problems.
    let e = err_of(
        NodeConfig::builder()
            .parse_nodes(
                "--node",
                &[
                    "1 127.0.0.1:8100 127.0.0.1:8200".into(),
                    "2 nonsense".into(),
                ],
            )
            .secret_raft("short")
            .build(),
    );
    assert!(e.contains("--node \"2 nonsense\""), "{e}");
    assert!(!e.contains("HQL_NODES:"), "{e}");
    assert!(e.contains("node_id is not set"), "{e}");
    assert!(e.contains("secret_raft is too short"), "{e}");
}

#[test]
fn debug_hides_secrets() {
    let (_d, b) = valid();
    assert!(!format!("{b:?}").contains(RAFT));
    let c = b.build().unwrap();
    let dbg = format!("{c:?}");
    let pretty = format!("{c:#?}");
    for s in [&dbg, &pretty] {
        assert!(!s.contains(RAFT) && !s.contains(API), "{s}");
        assert!(s.contains("Secret(***)"));
    }
}

#[test]
fn example_config_parses() {
    let text = include_str!("../../../../docs/hiqlite.example.toml");
    let dir = tempfile::tempdir().unwrap();
    let b = NodeConfig::builder().toml_str(text).unwrap();
    assert_eq!(b.config.nodes.len(), 3);
    let c = b.data_dir(dir.path()).build().unwrap();
    assert_eq!(c.node_id, 1);
}

#[test]
fn docs_mention_every_key() {
    let reference = include_str!("../../../../docs/configuration.md");
    let example = include_str!("../../../../docs/hiqlite.example.toml");
    for key in KEYS {
        let (name, var) = (key.name, key.env_var());
        assert!(reference.contains(name), "configuration.md lacks {name}");
        assert!(reference.contains(&var), "configuration.md lacks {var}");
        if let Some(flag) = key.flag {
            assert!(reference.contains(flag), "configuration.md lacks {flag}");
        }
        assert!(example.contains(name), "hiqlite.example.toml lacks {name}");
    }
}

#[test]
fn file_keys_match_the_key_list() {
    // The TOML shape (a serde struct) and the key list must name the same keys; the unknown-key
    // message lists the struct's.
    let e = NodeConfig::builder().toml_str("zzz = 1\n").unwrap_err();
    let text = e.to_string();
    let (_, expected) = text.split_once("expected one of ").unwrap();
    let mut file_keys: Vec<&str> = expected.split(", ").map(|k| k.trim_matches('`')).collect();
    let mut keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    file_keys.sort_unstable();
    keys.sort_unstable();
    assert_eq!(file_keys, keys);
}

#[test]
fn errors_are_typed() {
    let e = NodeConfig::from_toml_str("read_pool_size = \"four\"\n").unwrap_err();
    match &e {
        ConfigError::Toml {
            origin,
            line,
            column,
            key,
            ..
        } => {
            assert_eq!(origin, "TOML config");
            assert_eq!((*line, *column), (Some(1), Some(18)));
            assert_eq!(key.as_deref(), Some("read_pool_size"));
        }
        other => panic!("{other:?}"),
    }
    let e = NodeConfig::from_toml("/nonexistent/hiqlite.toml").unwrap_err();
    assert!(
        matches!(&e, ConfigError::ReadFile { error, .. } if error.kind() == std::io::ErrorKind::NotFound),
        "{e:?}"
    );
    assert!(matches!(
        parse_member("1 a:1").unwrap_err(),
        ConfigError::Member { .. }
    ));
    let e = NodeConfig::builder().build().unwrap_err();
    let ConfigError::Invalid { problems } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(problems.len(), 4, "{problems:?}");

    assert_eq!(
        e.to_string(),
        format!("invalid configuration: {}", e.detail())
    );
}

#[test]
fn backup_settings_from_env_and_toml() {
    const K: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let (_dir, b) = valid();
    let c = b
        .clone()
        .env_with(env(&[
            ("HQL_BACKUP_DIR", "/tmp/hq-backups"),
            ("ENC_KEYS", &format!("old/{K}\nnew/{K}")),
            ("ENC_KEY_ACTIVE", "new"),
        ]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.backup_dir, Some(PathBuf::from("/tmp/hq-backups")));
    assert_eq!(c.enc_keys.ids(), vec!["old", "new"]);
    assert_eq!(c.enc_keys.active_key().unwrap().id(), "new");
    assert!(!format!("{c:?}").contains(K), "keys never printed");

    let t = b
        .clone()
        .toml_str(&format!(
            "backup_dir = \"b\"\nenc_keys = [\"k1/{K}\"]\nenc_key_active = \"k1\"\n"
        ))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(t.enc_keys.ids(), vec!["k1"]);

    // A directory without keys, a bad key, an active id that is no key: all reported at once.
    let e = err_of(b.clone().backup_dir("b").build());
    assert!(
        e.contains("backup_dir \"b\" is set but enc_keys is empty"),
        "{e}"
    );
    let e = err_of(b.enc_keys(["k1/short", "x/y"]).enc_key_active("k9").build());
    assert!(e.contains("key \"k1\": 5 bytes") || e.contains("k1"), "{e}");
    assert!(e.contains("2 to 20"), "{e}");
    assert!(!e.contains("short"), "{e}");
}

#[test]
fn backup_log_interval_from_env_and_toml() {
    let (_dir, b) = valid();
    assert_eq!(
        b.clone().build().unwrap().backup_log_interval,
        Duration::from_secs(10),
        "default"
    );
    let c = b
        .clone()
        .env_with(env(&[("HQL_BACKUP_LOG_INTERVAL", "3")]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.backup_log_interval, Duration::from_secs(3));
    let c = b
        .clone()
        .toml_str("backup_log_interval = 0\n")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        c.backup_log_interval,
        Duration::ZERO,
        "0 turns shipping off"
    );
    let e = b
        .clone()
        .env_with(env(&[("HQL_BACKUP_LOG_INTERVAL", "1.5")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("HQL_BACKUP_LOG_INTERVAL=\"1.5\" is not a whole number of seconds"),
        "{e}"
    );
    let e = err_of(b.backup_log_interval(Duration::from_secs(86_401)).build());
    assert!(
        e.contains("backup_log_interval is 86401 s, more than a day"),
        "{e}"
    );
}

#[test]
fn backup_schedule_settings_from_env_and_toml() {
    const K: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let (_dir, b) = valid();
    let c = b.clone().build().unwrap();
    assert_eq!(c.backup_cron, None, "no schedule unless set");
    assert_eq!(c.backup_keep_days, DEFAULT_BACKUP_KEEP_DAYS);
    assert_eq!(c.backup_keep_days_local, DEFAULT_BACKUP_KEEP_DAYS_LOCAL);

    let with_keys = b
        .clone()
        .backup_dir("b")
        .enc_keys([format!("k1/{K}")])
        .enc_key_active("k1");
    let c = with_keys
        .clone()
        .env_with(env(&[
            ("HQL_BACKUP_CRON", " 0 30 2 * * * * "),
            ("HQL_BACKUP_KEEP_DAYS", "7"),
            ("HQL_BACKUP_KEEP_DAYS_LOCAL", "0"),
        ]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.backup_cron.as_deref(), Some("0 30 2 * * * *"));
    assert_eq!((c.backup_keep_days, c.backup_keep_days_local), (7, 0));

    let t = with_keys
        .clone()
        .toml_str(
            "backup_cron = \"*/10 * * * * *\"\nbackup_keep_days = 1\nbackup_keep_days_local = 2\n",
        )
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(t.backup_cron.as_deref(), Some("*/10 * * * * *"));
    assert_eq!((t.backup_keep_days, t.backup_keep_days_local), (1, 2));

    // A bad expression names itself and the problem; a number that is not one names the variable.
    let e = err_of(with_keys.clone().backup_cron("61 * * * *").build());
    assert!(
        e.contains("backup_cron \"61 * * * *\" is not a cron expression"),
        "{e}"
    );
    assert!(e.contains("out of bounds"), "{e}");
    let Err(e) = with_keys
        .clone()
        .env_with(env(&[("HQL_BACKUP_KEEP_DAYS", "-1")]))
    else {
        panic!("a negative day count was taken")
    };
    assert!(
        e.to_string()
            .contains("HQL_BACKUP_KEEP_DAYS=\"-1\" is not an unsigned integer"),
        "{e}"
    );
    // A schedule with nowhere to write the backups.
    let e = err_of(b.backup_cron("0 30 2 * * *").build());
    assert!(
        e.contains("backup_cron \"0 30 2 * * *\" is set but backups are not: set backup_dir"),
        "{e}"
    );
}

#[test]
fn s3_settings_from_env_and_toml() {
    const K: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const SECRET: &str = "s3-secret-never-printed";
    let (_dir, b) = valid();
    let b = b.enc_keys([format!("k1/{K}")]).enc_key_active("k1");
    let c = b
        .clone()
        .env_with(env(&[
            ("HQL_S3_URL", "http://127.0.0.1:9000"),
            ("HQL_S3_BUCKET", "bk"),
            ("HQL_S3_REGION", "eu-1"),
            ("HQL_S3_PATH_STYLE", "false"),
            ("HQL_S3_KEY", "id"),
            ("HQL_S3_SECRET", SECRET),
        ]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.s3.url.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(c.s3.bucket.as_deref(), Some("bk"));
    assert_eq!(c.s3.region(), "eu-1");
    assert!(!c.s3.path_style);
    assert_eq!(c.s3.key.as_deref(), Some("id"));
    assert_eq!(c.s3.secret, Some(Secret::new(SECRET)));
    assert!(!format!("{c:?}").contains(SECRET), "secret never printed");

    let t = b
        .clone()
        .toml_str(&format!(
            "s3_url = \"https://s3.example.com\"\ns3_bucket = \"b\"\ns3_key = \"k\"\n\
             s3_secret = \"{SECRET}\"\n"
        ))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(t.s3.region(), DEFAULT_S3_REGION);
    assert!(t.s3.path_style, "path style by default");

    // Part of the settings, a bad URL, and no keys: all reported at once, secret not echoed.
    let (_dir2, bare) = valid();
    let e = err_of(bare.s3_url("s3.example.com").s3_secret(SECRET).build());
    assert!(e.contains("s3_bucket is not set"), "{e}");
    assert!(e.contains("s3_key is not set"), "{e}");
    assert!(
        e.contains("s3_url \"s3.example.com\" is not an http"),
        "{e}"
    );
    assert!(e.contains("s3_* is set but enc_keys is empty"), "{e}");
    assert!(!e.contains(SECRET), "{e}");
}

#[test]
fn password_dashboard_from_env_and_toml_never_printed_and_not_too_short() {
    const P: &str = "a dashboard password";
    let (_dir, b) = valid();
    assert_eq!(b.clone().build().unwrap().password_dashboard, None);
    let c = b
        .clone()
        .env_with(env(&[("HQL_PASSWORD_DASHBOARD", P)]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.password_dashboard, Some(Secret::new(P)));
    assert!(
        !format!("{c:?}").contains(P),
        "the password is never printed"
    );
    let c = b
        .clone()
        .toml_str(&format!("password_dashboard = \"{P}\"\n"))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.password_dashboard, Some(Secret::new(P)));
    let e = err_of(b.password_dashboard("short").build());
    assert!(
        e.contains("password_dashboard is too short (5 characters"),
        "{e}"
    );
    assert!(!e.contains("short\""), "{e}");
}
