//! `hiqlite sql` reading a script (issue 15, item 4): from stdin (not a terminal) and with
//! `--file`, a statement spanning lines, `.tables`, `.schema t`, `.mode json`; the first error
//! stops the script with exit code 1 and its message, after the statements before it ran.

use hiqlite_cluster_tests::cli::shell;
use hiqlite_cluster_tests::{ProcessCluster, SECRET_API};

const SCRIPT: &str = "\
CREATE TABLE t (
  id INTEGER PRIMARY KEY,
  name TEXT -- a comment; not the end
);
INSERT INTO t (name) VALUES ('a;b');
.tables
.schema t
.mode json
SELECT id, name FROM t;
";

const EXPECTED: &str = "\
t
CREATE TABLE t (
  id INTEGER PRIMARY KEY,
  name TEXT -- a comment; not the end
);
[{\"id\":1,\"name\":\"a;b\"}]
";

#[tokio::test(flavor = "multi_thread")]
async fn sql_runs_a_script_from_stdin_or_a_file() {
    let cluster = ProcessCluster::start(1).await;
    let dir = cluster.root().to_path_buf();
    std::fs::write(dir.join("script.sql"), SCRIPT).unwrap();
    let env = vec![
        ("HQL_API".to_string(), cluster.api_addr(0).to_string()),
        ("HQL_SECRET_API".to_string(), SECRET_API.to_string()),
    ];

    let out = shell("hiqlite sql < script.sql", &env, &dir)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdin script failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED);

    // The same script through --file, against the table that now exists: the CREATE fails, so
    // nothing after it runs and the exit code is 1.
    let out = shell("hiqlite sql --file script.sql", &env, &dir)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("table t already exists"),
        "stderr: {stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");

    // A fresh file whose second statement fails: the first one ran.
    std::fs::write(
        dir.join("bad.sql"),
        "INSERT INTO t (name) VALUES ('c');\nSELECT nope FROM t;\nINSERT INTO t (name) VALUES ('d');\n",
    )
    .unwrap();
    let out = shell("hiqlite sql --file bad.sql", &env, &dir)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such column: nope"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An unknown dot command stops a script too.
    let out = shell(
        "printf '.frobnicate\\nSELECT 1;\\n' | hiqlite sql",
        &env,
        &dir,
    )
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("unknown command .frobnicate"),
        "stderr: {stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");

    let out = shell(
        "hiqlite sql --json --consistent 'SELECT name FROM t ORDER BY id'",
        &env,
        &dir,
    )
    .output()
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        r#"[{"name":"a;b"},{"name":"c"}]"#
    );
}

/// On a terminal, `hiqlite sql` is a line editor with history: a statement typed in one session
/// is in the history file afterwards, and the next session recalls it with the up arrow and runs
/// it again. The terminal is a real pty (util-linux `script`), fed keys as a user types them: the
/// test waits for each answer on the screen before typing on.
#[tokio::test(flavor = "multi_thread")]
async fn the_interactive_shell_keeps_and_recalls_history() {
    let cluster = ProcessCluster::start(1).await;
    let dir = cluster.root().to_path_buf();
    let history = dir.join("history");
    let env = vec![
        ("HQL_API".to_string(), cluster.api_addr(0).to_string()),
        ("HQL_SECRET_API".to_string(), SECRET_API.to_string()),
        ("HQL_HISTORY".to_string(), history.display().to_string()),
        ("TERM".to_string(), "xterm".to_string()),
    ];

    let mut first = Terminal::open(&env, &dir);
    first.wait_for("hiqlite> ").await;
    // Between lines the line editor leaves raw mode, and the terminal drops what was typed
    // meanwhile: wait for each prompt, as a user does.
    first.type_keys("SELECT 40 +\r").await;
    first.wait_for("...> ").await;
    first.type_keys(" 2 AS answer;\r").await;
    first.wait_for("42").await;
    first.wait_for("hiqlite> ").await;
    first.type_keys(".quit\r").await;
    first.exit().await;
    let saved = std::fs::read_to_string(&history).expect("a history file");
    assert!(saved.contains("SELECT 40 +"), "history file: {saved:?}");

    // Up arrow (ESC [ A) twice skips `.quit` and brings back the SELECT; Enter runs it.
    let mut second = Terminal::open(&env, &dir);
    second.wait_for("hiqlite> ").await;
    second.type_keys("\x1b[A\x1b[A").await;
    second.wait_for("answer;").await;
    second.type_keys("\r").await;
    second.wait_for("42").await;
    second.wait_for("hiqlite> ").await;
    second.type_keys(".quit\r").await;
    second.exit().await;
}

/// `hiqlite sql` on a pty: `script -qfec CMD /dev/null` runs CMD on a new terminal and copies our
/// stdin to it and its screen to our stdout.
struct Terminal {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
    screen: String,
    /// Where the last text waited for ended in `screen`.
    seen: usize,
}

impl Terminal {
    fn open(env: &[(String, String)], dir: &std::path::Path) -> Terminal {
        let mut child = shell("script -qfec 'hiqlite sql' /dev/null", env, dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("util-linux script runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        Terminal {
            child,
            stdin,
            stdout,
            screen: String::new(),
            seen: 0,
        }
    }

    async fn type_keys(&mut self, keys: &str) {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(keys.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Reads the screen until `text` appears after the last text waited for, for at most 20 s.
    async fn wait_for(&mut self, text: &str) {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(at) = self.screen[self.seen..].find(text) {
                self.seen += at + text.len();
                return;
            }
            let mut buf = [0u8; 4096];
            let read = tokio::time::timeout_at(deadline, self.stdout.read(&mut buf)).await;
            match read {
                Ok(Ok(n)) if n > 0 => self.screen.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => panic!("{text:?} did not appear; the screen:\n{}", self.screen),
            }
        }
    }

    async fn exit(mut self) {
        let status = tokio::time::timeout(std::time::Duration::from_secs(20), self.child.wait())
            .await
            .expect("the shell exits after .quit")
            .unwrap();
        assert!(
            status.success(),
            "the shell failed; the screen:\n{}",
            self.screen
        );
    }
}
