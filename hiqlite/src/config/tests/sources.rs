//! The TOML file and the `HQL_*` variables: values, layering and messages.

use super::*;

#[test]
fn toml_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let c = NodeConfig::from_toml_str(&toml_for(dir.path())).unwrap();
    assert_eq!(c.node_id, 2);
    assert_eq!(
        c.nodes[2],
        Member {
            id: 3,
            raft_addr: "127.0.0.1:8102".into(),
            api_addr: "127.0.0.1:8202".into()
        }
    );
    assert_eq!(c.data_dir, dir.path());
    assert_eq!(c.secret_raft, Secret::new(RAFT));
    assert_eq!(c.secret_api, Secret::new(API));
    assert_eq!(c.read_pool_size, 7);
    assert!(!c.log_sync);
    assert_eq!(c.heartbeat_interval, Duration::from_millis(100));
    assert_eq!(c.election_timeout_min, Duration::from_millis(500));
    assert_eq!(c.election_timeout_max, Duration::from_millis(1000));
    assert_eq!(c.max_frame_bytes, 1 << 20);
    assert_eq!(c.request_timeout, Duration::from_millis(3000));
    assert_eq!(c.filename_db, "app.db");
}

#[test]
fn toml_minimal_uses_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "node_id = 1\nnodes = [\"1 localhost:8100 localhost:8200\"]\ndata_dir = {:?}\n\
         secret_raft = \"{RAFT}\"\nsecret_api = \"{API}\"\n",
        dir.path().display().to_string()
    );
    let c = NodeConfig::from_toml_str(&text).unwrap();
    assert_eq!(c.read_pool_size, DEFAULT_READ_POOL_SIZE);
    assert_eq!(c.request_timeout, DEFAULT_REQUEST_TIMEOUT);
}

#[test]
fn toml_file_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hiqlite.toml");
    std::fs::write(&path, toml_for(dir.path())).unwrap();
    let b = NodeConfig::builder().toml_file(&path).unwrap();
    assert_eq!(b.config.node_id, 2);

    let e = detail(
        NodeConfig::builder()
            .toml_file(dir.path().join("nope.toml"))
            .unwrap_err(),
    );
    assert!(
        e.contains("cannot read config file") && e.contains("nope.toml"),
        "{e}"
    );

    // unknown key: named, with its line
    let e = err_of(NodeConfig::from_toml_str("node_id = 1\nnode_idd = 2\n"));
    assert!(e.contains("unknown field `node_idd`"), "{e}");
    assert!(e.contains("line 2"), "{e}");

    // wrong type
    let e = err_of(NodeConfig::from_toml_str("read_pool_size = \"four\"\n"));
    assert!(
        e.contains("line 1, column 18, key `read_pool_size`: invalid type"),
        "{e}"
    );
    let e = err_of(NodeConfig::from_toml_str(
        "node_id = 1\nnodes = [\n  \"1 a:1 a:2\",\n  2,\n]\n",
    ));
    assert!(e.contains("line 4, column 3, key `nodes`"), "{e}");

    // bad member: line of the entry
    let e = err_of(NodeConfig::from_toml_str(
        "nodes = [\n  \"1 127.0.0.1:8100 127.0.0.1:8200\",\n  \"2 127.0.0.1:8101\",\n]\n",
    ));
    assert!(
        e.contains("line 3") && e.contains("\"2 127.0.0.1:8101\""),
        "{e}"
    );

    // syntax error
    let e = err_of(NodeConfig::from_toml_str("node_id = \n"));
    assert!(e.contains("TOML config, line 1"), "{e}");
}

#[test]
fn toml_errors_never_show_secrets() {
    // a non-string secret
    let e = err_of(NodeConfig::from_toml_str(
        "secret_raft = 98765432109876543\n",
    ));
    assert!(!e.contains("98765432109876543"), "{e}");
    assert!(e.contains("secret"), "{e}");
    // a syntax error on the secret's line
    let e = err_of(NodeConfig::from_toml_str(
        "secret_api = \"topsecretvalue-xyz\nnode_id = 1\n",
    ));
    assert!(!e.contains("topsecretvalue"), "{e}");
}

#[test]
fn env_overrides_file() {
    let dir = tempfile::tempdir().unwrap();
    let env_dir = dir.path().join("from-env");
    let env_dir_s = env_dir.display().to_string();
    let lookup = env(&[
        ("HQL_NODE_ID", "3"),
        ("HQL_DATA_DIR", &env_dir_s),
        ("HQL_SECRET_RAFT", "env-raft-secret-0123456"),
        ("HQL_READ_POOL_SIZE", " 9 "),
        ("HQL_LOG_SYNC", "yes"),
        ("HQL_ELECTION_TIMEOUT_MAX_MS", "2000"),
        ("HQL_FILENAME_DB", ""), // empty: ignored, the file's value stays
        (
            "HQL_NODES",
            "1 127.0.0.1:9100 127.0.0.1:9200\n\n  3 127.0.0.1:9102 127.0.0.1:9202  \n",
        ),
    ]);
    let c = NodeConfig::builder()
        .toml_str(&toml_for(dir.path()))
        .unwrap()
        .env_with(lookup)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.node_id, 3);
    assert_eq!(c.data_dir, env_dir);
    assert_eq!(c.secret_raft, Secret::new("env-raft-secret-0123456"));
    assert_eq!(c.secret_api, Secret::new(API), "not in env: file value");
    assert_eq!(c.read_pool_size, 9);
    assert!(c.log_sync);
    assert_eq!(c.election_timeout_max, Duration::from_millis(2000));
    assert_eq!(
        c.election_timeout_min,
        Duration::from_millis(500),
        "file value"
    );
    assert_eq!(c.filename_db, "app.db");
    assert_eq!(c.nodes.len(), 2);
    assert_eq!(c.nodes[1].id, 3);
    assert_eq!(c.nodes[1].api_addr, "127.0.0.1:9202");

    // and an explicit setter (a CLI flag) overrides the env
    let c = NodeConfig::builder()
        .toml_str(&toml_for(dir.path()))
        .unwrap()
        .env_with(env(&[("HQL_NODE_ID", "3")]))
        .unwrap()
        .node_id(1)
        .build()
        .unwrap();
    assert_eq!(c.node_id, 1);
}

#[test]
fn env_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let c = NodeConfig::builder()
        .env_with(env(&[
            ("HQL_NODE_ID", "1"),
            ("HQL_NODES", "1 n1:8100 n1:8200;2 n2:8100 n2:8200"),
            ("HQL_DATA_DIR", &d),
            ("HQL_SECRET_RAFT", RAFT),
            ("HQL_SECRET_API", API),
            ("HQL_HEARTBEAT_INTERVAL_MS", "100"),
            ("HQL_ELECTION_TIMEOUT_MIN_MS", "300"),
            ("HQL_MAX_FRAME_BYTES", "65536"),
            ("HQL_REQUEST_TIMEOUT_MS", "2500"),
            ("HQL_LOG_SYNC", "OFF"),
        ]))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(c.nodes.len(), 2);
    assert_eq!(c.nodes[1].raft_addr, "n2:8100");
    assert_eq!(c.heartbeat_interval, Duration::from_millis(100));
    assert_eq!(c.election_timeout_min, Duration::from_millis(300));
    assert_eq!(c.max_frame_bytes, 65536);
    assert_eq!(c.request_timeout, Duration::from_millis(2500));
    assert!(!c.log_sync);
}

#[test]
fn env_errors() {
    let e = detail(
        NodeConfig::builder()
            .env_with(env(&[
                ("HQL_NODE_ID", "one"),
                ("HQL_READ_POOL_SIZE", "-1"),
                ("HQL_LOG_SYNC", "maybe"),
                ("HQL_REQUEST_TIMEOUT_MS", "10s"),
                (
                    "HQL_NODES",
                    "1 127.0.0.1:8100 127.0.0.1:8200\n2 127.0.0.1:8101",
                ),
            ]))
            .unwrap_err(),
    );
    assert!(e.starts_with("5 problems"), "{e}");
    assert!(
        e.contains("HQL_NODE_ID=\"one\" is not an unsigned integer"),
        "{e}"
    );
    assert!(e.contains("HQL_READ_POOL_SIZE=\"-1\""), "{e}");
    assert!(e.contains("HQL_LOG_SYNC=\"maybe\" is not a boolean"), "{e}");
    assert!(
        e.contains("HQL_REQUEST_TIMEOUT_MS=\"10s\" is not a number of milliseconds"),
        "{e}"
    );
    assert!(
        e.contains("HQL_NODES: invalid member \"2 127.0.0.1:8101\""),
        "{e}"
    );
}

#[test]
fn env_secrets_are_taken_verbatim() {
    // A secret that looks like a number, or has spaces around it, stays exactly as given.
    let b = NodeConfig::builder()
        .env_with(env(&[
            ("HQL_SECRET_RAFT", "12345678901234567890"),
            ("HQL_SECRET_API", "  spaced secret value!  "),
        ]))
        .unwrap();
    assert_eq!(b.config.secret_raft, Secret::new("12345678901234567890"));
    assert_eq!(b.config.secret_api, Secret::new("  spaced secret value!  "));
    assert!(!b.missing.contains(&"secret_raft") && !b.missing.contains(&"secret_api"));
}
