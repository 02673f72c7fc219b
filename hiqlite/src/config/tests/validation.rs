//! Members and the checks of a whole configuration.

use super::*;

#[test]
fn member_parsing() {
    let m = parse_member("  7\t10.0.0.7:8100   node7.example.com:8200 ").unwrap();
    assert_eq!(m.id, 7);
    assert_eq!(m.raft_addr, "10.0.0.7:8100");
    assert_eq!(m.api_addr, "node7.example.com:8200");
    let m = parse_member("1 [::1]:8100 [fe80::1]:8200").unwrap();
    assert_eq!(m.raft_addr, "[::1]:8100");
    assert!(parse_member("1 my_host-1:1 h:65535").is_ok());

    for (bad, expect) in [
        ("", "expected \"ID RAFT_ADDR API_ADDR\""),
        ("1 127.0.0.1:8100", "expected \"ID RAFT_ADDR API_ADDR\""),
        ("1 a:1 b:2 c:3", "expected \"ID RAFT_ADDR API_ADDR\""),
        (
            "x 127.0.0.1:8100 127.0.0.1:8200",
            "node id \"x\" is not an unsigned integer",
        ),
        ("-1 127.0.0.1:8100 127.0.0.1:8200", "node id \"-1\""),
        (
            "1 127.0.0.1 127.0.0.1:8200",
            "raft address \"127.0.0.1\": missing port",
        ),
        (
            "1 127.0.0.1:http 127.0.0.1:8200",
            "port \"http\" is not a number",
        ),
        ("1 127.0.0.1:70000 127.0.0.1:8200", "port \"70000\""),
        ("1 127.0.0.1:0 127.0.0.1:8200", "port 0"),
        ("1 :8100 127.0.0.1:8200", "missing host"),
        ("1 ::1:8100 127.0.0.1:8200", "must be in brackets"),
        ("1 [zz]:8100 127.0.0.1:8200", "invalid IPv6 host"),
        (
            "1 127.0.0.1:8100 ho/st:8200",
            "api address \"ho/st:8200\": invalid character '/'",
        ),
        ("1 a..b:1 c:2", "invalid host name"),
    ] {
        let e = detail(parse_member(bad).unwrap_err());
        assert!(e.contains(expect), "{bad:?}: {e}");
    }

    let ms = parse_members("1 a:1 a:2\r\n; \n2 b:1 b:2").unwrap();
    assert_eq!(ms.iter().map(|m| m.id).collect::<Vec<_>>(), vec![1, 2]);
    assert!(parse_members("").unwrap().is_empty());
}

fn check(b: NodeConfigBuilder, expect: &str) {
    let e = err_of(b.build());
    assert!(e.contains(expect), "expected {expect:?} in: {e}");
    assert!(!e.contains(RAFT) && !e.contains(API), "secret leaked: {e}");
}

#[test]
fn validation_errors() {
    let (_d, b) = valid();
    check(b.node_id(4), "node_id 4 is not in nodes (1, 2, 3)");
    let (_d, b) = valid();
    check(b.nodes(vec![]), "nodes is empty");
    let (_d, b) = valid();
    check(
        b.node(2, "127.0.0.1:9000", "127.0.0.1:9001"),
        "duplicate node id 2 in nodes",
    );
    let (_d, b) = valid();
    check(
        b.node(4, "127.0.0.1:8101", "127.0.0.1:9001"),
        "address \"127.0.0.1:8101\" is used twice (node 2 raft_addr and node 4 raft_addr)",
    );
    let (_d, b) = valid();
    check(
        b.node(4, "127.0.0.1:9000", "127.0.0.1:8200"),
        "address \"127.0.0.1:8200\" is used twice (node 1 api_addr and node 4 api_addr)",
    );
    let (_d, b) = valid();
    check(
        b.node(4, "127.0.0.1:9000", "127.0.0.1:9000"),
        "used twice (node 4 raft_addr and node 4 api_addr)",
    );
    let (_d, b) = valid();
    check(
        b.node(4, "127.0.0.1:9000", "127.0.0.1"),
        "node 4 api_addr \"127.0.0.1\": missing port",
    );
    let (_d, b) = valid();
    check(
        b.node(4, "localhost:x", "h:1"),
        "node 4 raft_addr \"localhost:x\": port \"x\"",
    );

    let (_d, b) = valid();
    check(
        b.secret_raft("short-secret"),
        "secret_raft is too short (12 characters; at least 16 are required)",
    );
    let (_d, b) = valid();
    let e = err_of(b.secret_api("tiny-api-secret").build());
    assert!(e.contains("secret_api is too short"), "{e}");
    assert!(!e.contains("tiny-api-secret"), "{e}");
    // 16 multi-byte characters are enough
    let (_d, b) = valid();
    assert!(b.secret_api("ääääääääääääääää").build().is_ok());

    let (_d, b) = valid();
    check(
        b.heartbeat_interval(Duration::from_millis(150))
            .election_timeout_min(Duration::from_millis(300)),
        "election_timeout_min (300ms) must be more than twice heartbeat_interval (150ms)",
    );
    let (_d, b) = valid();
    check(
        b.election_timeout_min(Duration::from_millis(400)),
        "election_timeout_min (400ms) must be less than election_timeout_max (400ms)",
    );
    let (_d, b) = valid();
    check(
        b.election_timeout_max(Duration::from_millis(150)),
        "must be less than election_timeout_max (150ms)",
    );
    let (_d, b) = valid();
    check(
        b.heartbeat_interval(Duration::ZERO),
        "heartbeat_interval must be greater than 0",
    );
    let (_d, b) = valid();
    check(
        b.request_timeout(Duration::ZERO),
        "request_timeout must be greater than 0",
    );
    let (_d, b) = valid();
    check(b.read_pool_size(0), "read_pool_size must be at least 1");
    let (_d, b) = valid();
    check(
        b.max_frame_bytes(100),
        "max_frame_bytes 100 is out of range",
    );
    let (_d, b) = valid();
    check(
        b.filename_db("db/x.db"),
        "filename_db \"db/x.db\": must be a file name",
    );
    let (_d, b) = valid();
    check(b.filename_db(""), "filename_db \"\": must not be empty");
}

#[test]
fn validation_reports_all_problems() {
    let (_d, b) = valid();
    let e = err_of(b.node_id(9).read_pool_size(0).secret_raft("x").build());
    assert!(e.starts_with("invalid configuration: 3 problems: "), "{e}");
    assert!(e.contains("node_id 9") && e.contains("read_pool_size") && e.contains("secret_raft"));
}

#[test]
fn data_dir_not_creatable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let target = file.join("sub");
    let e = err_of(three_nodes().data_dir(&target).build());
    assert!(
        e.contains(&format!(
            "data_dir \"{}\" cannot be created",
            target.display()
        )),
        "{e}"
    );
    assert!(e.contains("os error"), "OS error included: {e}");
    // a file where the directory should be
    let e = err_of(three_nodes().data_dir(&file).build());
    assert!(
        e.contains(&format!("data_dir \"{}\"", file.display())),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn data_dir_not_writable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // root ignores permissions: only assert when the probe really fails
    if std::fs::write(ro.join("t"), "t").is_ok() {
        return;
    }
    let e = err_of(three_nodes().data_dir(&ro).build());
    assert!(
        e.contains("is not writable") && e.contains("os error"),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn a_new_data_dir_is_for_this_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("new").join("data");
    three_nodes().data_dir(&data).build().unwrap();
    for created in [&data, &dir.path().join("new")] {
        let mode = std::fs::metadata(created).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", created.display());
    }
}
