//! Reads the commands a document shows, and runs them exactly as written.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Child;

use crate::cli::shell;

/// The repository's `docs/` file `name`.
pub fn doc_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join(name)
}

/// The text of `docs/<name>`.
pub fn read_doc(name: &str) -> String {
    std::fs::read_to_string(doc_path(name))
        .unwrap_or_else(|e| panic!("cannot read docs/{name}: {e}"))
}

/// The section of `markdown` under the heading whose text is `heading` (any level), up to the
/// next heading of the same or a higher level.
pub fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let mut start = None;
    let mut level = 0;
    let mut offset = 0;
    let mut in_code = false;
    for line in markdown.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        // A `#` comment in a code block is not a heading.
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        let is_heading = !in_code && hashes > 0 && trimmed[hashes..].starts_with(' ');
        match start {
            None if is_heading && trimmed[hashes..].trim() == heading => {
                start = Some(offset + line.len());
                level = hashes;
            }
            Some(s) if is_heading && hashes <= level => return &markdown[s..offset],
            _ => {}
        }
        offset += line.len();
    }
    match start {
        Some(s) => &markdown[s..],
        None => panic!("no heading {heading:?} in the document"),
    }
}

/// Every command in the ```sh blocks of `markdown`: one per line, `\`-continued lines joined,
/// blank lines and `#` comments left out.
pub fn shell_commands(markdown: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_block = !in_block && trimmed == "```sh";
            continue;
        }
        if !in_block || (pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#'))) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                pending.push_str(part.trim_end());
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

/// Runs documented commands in a shell, as an operator would: with the variables the document
/// asks for, `hiqlite serve` in the background (like a service), everything else to completion.
pub struct Runbook {
    env: Vec<(String, String)>,
    dir: PathBuf,
    servers: Vec<Child>,
}

impl Runbook {
    /// Commands run in `dir` with `env` (and no other `HQL_*` variable).
    pub fn new(env: Vec<(String, String)>, dir: &Path) -> Runbook {
        Runbook {
            env,
            dir: dir.to_path_buf(),
            servers: Vec::new(),
        }
    }

    /// Runs `command` exactly as written. `hiqlite serve ...` starts in the background (its
    /// output goes to `serve-N.log` in the directory) and returns `""`; any other command must
    /// exit with 0 within 60 s, and its stdout is returned.
    pub async fn run(&mut self, command: &str) -> String {
        if command.starts_with("hiqlite serve") {
            let log = self
                .dir
                .join(format!("serve-{}.log", self.servers.len() + 1));
            let log = std::fs::File::create(&log).expect("serve log");
            // `exec`: the node is the shell's process, so it ends when the runbook is dropped.
            let mut cmd = shell(&format!("exec {command}"), &self.env, &self.dir);
            cmd.stdout(log.try_clone().expect("log handle")).stderr(log);
            self.servers.push(cmd.spawn().expect("start hiqlite serve"));
            return String::new();
        }
        let mut cmd = shell(command, &self.env, &self.dir);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("`{command}` did not finish within 60 s"))
            .expect("run a documented command");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "`{command}` failed ({}):\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// The output so far of the `n`-th `hiqlite serve` started (from 1).
    pub fn serve_log(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("serve-{n}.log"))).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_of_a_section() {
        let md = "# A\n## Run\ntext\n```sh\n# comment\nhiqlite a \\\n  --b c\n\nhiqlite d\n```\n```text\nnot this\n```\n## Next\n```sh\nnot this either\n```\n";
        let run = section(md, "Run");
        assert_eq!(shell_commands(run), ["hiqlite a --b c", "hiqlite d"]);
    }
}
