//! The dashboard (issue 15, item 3) in a real headless Chromium, driven through chromedriver,
//! against a running cluster of three `hiqlite serve` processes: log in (a wrong password is
//! refused on the page), see the members and the leader, run a SELECT in the SQL box and see
//! its rows, see an INSERT and a DROP refused, see a failed read among the recent errors, and
//! after the leader is killed see the new leader.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`scripts/install-deps`); without them
//! the test fails and says so. With `DASHBOARD_SCREENSHOT=PATH` it saves the page as a PNG
//! there (docs/dashboard.png is made this way).

use std::time::Duration;

use hiqlite::params;
use hiqlite_cluster_tests::webdriver::Browser;
use hiqlite_cluster_tests::{free_addrs, http, poll_until, ProcessCluster};
use serde_json::{json, Value};

const PASSWORD: &str = "dashboard-password-for-tests";
const WAIT: Duration = Duration::from_secs(20);

/// The members table as the page shows it: `(node id, role)` per row.
const MEMBER_ROWS: &str = "return Array.from(document.querySelectorAll('#members tbody tr'))\
    .map(tr => [Number(tr.dataset.nodeId), tr.dataset.role]);";
/// The SQL results table: the header cells and every row's cells.
const RESULT_TABLE: &str = "const t = document.getElementById('results');\
    return [Array.from(t.tHead.querySelectorAll('th')).map(c => c.textContent),\
    Array.from(t.tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.textContent))];";
const IS_VISIBLE: &str = "return !document.getElementById(arguments[0]).hidden;";

async fn wait_text(browser: &Browser, css: &str, wanted: &str) -> String {
    poll_until(&format!("{css} to show {wanted:?}"), WAIT, || async {
        let text = browser.text(css).await;
        text.contains(wanted).then_some(text)
    })
    .await
}

async fn wait_visible(browser: &Browser, id: &str) {
    poll_until(&format!("#{id} to be shown"), WAIT, || async {
        (browser.eval(IS_VISIBLE, json!([id])).await == true).then_some(())
    })
    .await
}

async fn member_rows(browser: &Browser) -> Vec<(u64, String)> {
    let rows = browser.eval(MEMBER_ROWS, json!([])).await;
    rows.as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r[0].as_u64().unwrap_or(0),
                        r[1].as_str().unwrap_or("").into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_in_headless_chromium_shows_the_cluster_and_runs_read_only_sql() {
    let browser = Browser::start()
        .await
        .unwrap_or_else(|e| panic!("headless Chromium is needed for this test: {e}"));

    let http_addrs = free_addrs(3);
    let mut node_env = Vec::new();
    for (i, addr) in http_addrs.iter().enumerate() {
        node_env.push((i, "HQL_HTTP_ADDR", addr.as_str()));
        node_env.push((i, "HQL_PASSWORD_DASHBOARD", PASSWORD));
    }
    let mut cluster = ProcessCluster::start_with_node_env(3, &node_env).await;
    let leader = cluster.leader().await;
    let client = cluster.client(leader);
    client
        .execute(
            "CREATE TABLE dash_fruit (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
            params!(),
        )
        .await
        .expect("create table");
    for name in ["apple", "banana", "cherry"] {
        client
            .execute("INSERT INTO dash_fruit (name) VALUES (?)", params!(name))
            .await
            .expect("insert");
    }
    // The dashboard of a follower, so that it survives the leader being killed.
    let shown = (leader + 1) % 3;
    let addr = http_addrs[shown].clone();
    cluster
        .wait_all_applied(cluster.status(leader).await.last_applied, WAIT)
        .await;

    // Without a session the JSON routes answer 401; a log-in sets an HttpOnly, SameSite=Strict
    // cookie.
    let r = http::request(&addr, "GET", "/dashboard/api/cluster", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    let r = http::request(
        &addr,
        "POST",
        "/dashboard/login",
        &[("Content-Type", "application/json")],
        json!({ "password": PASSWORD }).to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 204, "{r:?}");
    let cookie = r
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    // A wrong password: the page says so and stays on the log-in form.
    browser.goto(&format!("http://{addr}/dashboard")).await;
    wait_visible(&browser, "login").await;
    browser.type_into("#password", "not the password").await;
    browser.click("#login-button").await;
    let message = wait_text(&browser, "#login-error", "wrong password").await;
    println!("wrong password, the page says: {message}");
    assert_eq!(browser.eval(IS_VISIBLE, json!(["dashboard"])).await, false);

    // The right one: three members, one of them the leader, named above the table.
    browser.type_into("#password", PASSWORD).await;
    browser.click("#login-button").await;
    wait_visible(&browser, "dashboard").await;
    let leader_id = cluster.node_id(leader);
    wait_text(&browser, "#leader", &format!("node {leader_id}")).await;
    let rows = poll_until("three members with one leader", WAIT, || async {
        let rows = member_rows(&browser).await;
        (rows.len() == 3
            && rows
                .iter()
                .all(|(_, role)| role == "leader" || role == "follower"))
        .then_some(rows)
    })
    .await;
    println!("members on the page: {rows:?}");
    assert_eq!(
        rows.iter()
            .filter(|(_, r)| r == "leader")
            .collect::<Vec<_>>(),
        [&(leader_id, "leader".to_string())]
    );
    assert_eq!(browser.eval("return document.cookie;", json!([])).await, "");

    // A SELECT: its rows in the results table.
    browser
        .type_into("#sql", "SELECT id, name FROM dash_fruit ORDER BY id")
        .await;
    browser.click("#run").await;
    let table = poll_until("the SELECT's rows", WAIT, || async {
        let t = browser.eval(RESULT_TABLE, json!([])).await;
        (t[1].as_array().map_or(0, Vec::len) == 3).then_some(t)
    })
    .await;
    assert_eq!(table[0], json!(["id", "name"]));
    assert_eq!(
        table[1],
        json!([["1", "apple"], ["2", "banana"], ["3", "cherry"]])
    );
    assert_eq!(browser.text("#sql-note").await, "3 rows");

    // A failed read on this node shows up among its recent errors (the page refreshes itself).
    let failed = cluster
        .client(shown)
        .query_rows("SELECT * FROM no_such_table", params!())
        .await;
    assert!(failed.is_err());
    wait_text(&browser, "#errors", "no such table: no_such_table").await;

    if let Ok(path) = std::env::var("DASHBOARD_SCREENSHOT") {
        std::fs::write(&path, browser.screenshot().await).expect("write the screenshot");
        println!("screenshot saved to {path}");
    }

    // Writes are refused with a message, and nothing changed.
    for sql in [
        "INSERT INTO dash_fruit (name) VALUES ('durian')",
        "DROP TABLE dash_fruit",
    ] {
        browser.type_into("#sql", sql).await;
        browser.click("#run").await;
        let message = wait_text(&browser, "#sql-error", "only reads").await;
        println!("{sql}: {message}");
    }
    let count = client
        .query_rows("SELECT count(*) FROM dash_fruit", params!())
        .await
        .expect("count");
    assert_eq!(count.rows, vec![vec![hiqlite::Value::Integer(3)]]);

    // Kill the leader: after a refresh the page names the new one, and the old one unreachable.
    cluster.kill9(leader).await;
    let new_leader = cluster.leader_within(Duration::from_secs(30)).await;
    let new_leader_id = cluster.node_id(new_leader);
    assert_ne!(new_leader_id, leader_id);
    browser.click("#refresh").await;
    wait_text(&browser, "#leader", &format!("node {new_leader_id}")).await;
    let rows = poll_until("the old leader shown as unreachable", WAIT, || async {
        let rows = member_rows(&browser).await;
        rows.contains(&(leader_id, "unreachable".to_string()))
            .then_some(rows)
    })
    .await;
    println!("after killing node {leader_id}: {rows:?}");
    assert!(
        rows.contains(&(new_leader_id, "leader".to_string())),
        "{rows:?}"
    );

    // Logging out returns to the log-in form, and the old cookie is refused.
    browser.click("#logout").await;
    wait_visible(&browser, "login").await;
    let token = cookie.split(';').next().unwrap_or_default();
    let r = http::request(
        &addr,
        "POST",
        "/dashboard/logout",
        &[("Cookie", token)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 204);
    let r = http::request(
        &addr,
        "GET",
        "/dashboard/api/cluster",
        &[("Cookie", token)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401, "a logged-out session must be refused");

    browser.quit().await;
}

/// The JSON routes without a browser: a SQL box error is a 400 with the message; rows are capped.
#[tokio::test(flavor = "multi_thread")]
async fn dashboard_query_route_caps_rows_and_reports_errors() {
    let http_addr = free_addrs(1).remove(0);
    let cluster =
        ProcessCluster::start_with_node_env(1, &[(0, "HQL_HTTP_ADDR", http_addr.as_str())]).await;
    // Without password_dashboard, secret_api logs in.
    let login = |password: &'static str| {
        let addr = http_addr.clone();
        async move {
            http::request(
                &addr,
                "POST",
                "/dashboard/login",
                &[("Content-Type", "application/json")],
                json!({ "password": password }).to_string().as_bytes(),
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(login("wrong").await.status, 401);
    let r = login(hiqlite_cluster_tests::SECRET_API).await;
    assert_eq!(r.status, 204);
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let query = |sql: &'static str| {
        let (addr, cookie) = (http_addr.clone(), cookie.clone());
        async move {
            let r = http::request(
                &addr,
                "POST",
                "/dashboard/api/query",
                &[("Content-Type", "application/json"), ("Cookie", &cookie)],
                json!({ "sql": sql }).to_string().as_bytes(),
            )
            .await
            .unwrap();
            (r.status, r.json().unwrap())
        }
    };
    let (status, body) = query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) \
         SELECT i FROM n",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["rows"].as_array().unwrap().len(), 1000);
    assert_eq!(body["truncated"], true);
    assert_eq!(body["max_rows"], 1000);
    assert_eq!(body["rows"][999], json!([1000]));

    let (status, body) = query("SELECT x'00ff', 1.5, NULL, 'text'").await;
    assert_eq!(status, 200);
    assert_eq!(body["rows"], json!([["x'00FF'", 1.5, Value::Null, "text"]]));
    assert_eq!(body["truncated"], false);

    for (sql, wanted) in [
        ("CREATE TABLE t (x)", "only reads"),
        // The reader guard refuses it while preparing, with its own reason.
        ("PRAGMA user_version = 5", "is not allowed"),
        ("SELEC 1", "syntax error"),
        ("SELECT 1; SELECT 2", "ultiple statements"),
    ] {
        let (status, body) = query(sql).await;
        assert_eq!(status, 400, "{sql}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(wanted), "{sql}: {message}");
        println!("{sql}: {message}");
    }
    drop(cluster);
}
