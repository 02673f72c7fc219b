//! The `hiqlite sql` shell: interactive on a terminal (rustyline: line editing, history in
//! `$HQL_HISTORY` or `~/.hiqlite_history`), or a script read from stdin or `--file`.

use std::path::PathBuf;

use hiqlite::{Client, Error};
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::render::print_output;
use crate::render::Format;
use crate::statements::{DotCommand, Input, Splitter, HELP};

/// What the shell talks to and how it prints.
pub struct Session<'a> {
    pub client: &'a Client,
    pub consistent: bool,
    pub format: Format,
}

/// What running one [`Input`] asks of the shell next.
enum Next {
    Continue,
    Quit,
}

impl Session<'_> {
    /// Runs a script: every statement and dot command of `text` in order. Stops at the first
    /// error and returns it (the binary prints it and exits with 1; statements before it ran).
    /// An unfinished last statement (no `;`) is run as it is.
    pub async fn run_script(&mut self, text: &str) -> Result<(), Error> {
        let mut splitter = Splitter::default();
        for line in text.lines() {
            for input in splitter.push_line(line) {
                if let Next::Quit = self.run(input).await? {
                    return Ok(());
                }
            }
        }
        if let Some(rest) = splitter.finish() {
            self.run(Input::Sql(rest)).await?;
        }
        Ok(())
    }

    /// The interactive shell: errors are printed and the shell goes on; Ctrl-D or `.quit`
    /// leaves, Ctrl-C drops the statement being typed. History is loaded from and saved to
    /// [`history_path`] (a missing or unwritable file only costs the history).
    pub async fn interactive(&mut self) -> Result<(), Error> {
        let status = self.client.status().await?;
        eprintln!(
            "connected to node {} ({}); statements end with ';', .help lists commands, Ctrl-D quits",
            status.node_id, status.role
        );
        let mut editor = DefaultEditor::new()
            .map_err(|e| Error::Io(std::io::Error::other(format!("line editor: {e}"))))?;
        let history = history_path();
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        let mut splitter = Splitter::default();
        // The lines of the statement being typed: the history keeps a statement as one entry,
        // so that the up arrow brings back all of it.
        let mut typed: Vec<String> = Vec::new();
        loop {
            let prompt = if splitter.is_pending() {
                "   ...> "
            } else {
                "hiqlite> "
            };
            let line = match editor.readline(prompt) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => {
                    splitter = Splitter::default();
                    typed.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    eprintln!("error: cannot read a line: {e}");
                    break;
                }
            };
            if !line.trim().is_empty() || !typed.is_empty() {
                typed.push(line.clone());
            }
            let inputs = splitter.push_line(&line);
            if !splitter.is_pending() && !typed.is_empty() {
                let _ = editor.add_history_entry(typed.join("\n"));
                typed.clear();
            }
            let mut quit = false;
            for input in inputs {
                if let Input::Dot(Err(message)) = &input {
                    eprintln!("error: {message}");
                    continue;
                }
                match self.run(input).await {
                    Ok(Next::Continue) => {}
                    Ok(Next::Quit) => quit = true,
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            if quit {
                break;
            }
        }
        if let Some(path) = &history {
            if let Err(e) = editor.save_history(path) {
                eprintln!("note: cannot save the history to {}: {e}", path.display());
            }
        }
        Ok(())
    }

    async fn run(&mut self, input: Input) -> Result<Next, Error> {
        match input {
            Input::Sql(sql) => {
                let output = self.client.sql(sql, self.consistent).await?;
                print_output(&output, self.format);
            }
            Input::Dot(Err(message)) => {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    message,
                )))
            }
            Input::Dot(Ok(command)) => match command {
                DotCommand::Quit => return Ok(Next::Quit),
                DotCommand::Help => println!("{HELP}"),
                DotCommand::Mode(format) => self.format = format,
                DotCommand::Tables => {
                    let sql = "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
                               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                               AND name NOT LIKE '\\_hiqlite\\_%' ESCAPE '\\' ORDER BY name";
                    for name in self.column(sql).await? {
                        println!("{name}");
                    }
                }
                DotCommand::Schema(table) => {
                    let filter = match table {
                        Some(t) => format!("AND tbl_name = '{}' ", t.replace('\'', "''")),
                        None => "AND name NOT LIKE '\\_hiqlite\\_%' ESCAPE '\\' ".to_string(),
                    };
                    let sql = format!(
                        "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL {filter}\
                         ORDER BY tbl_name, type DESC, name"
                    );
                    for create in self.column(&sql).await? {
                        println!("{create};");
                    }
                }
            },
        }
        Ok(Next::Continue)
    }

    /// The first column of every row of `sql`, as text.
    async fn column(&self, sql: &str) -> Result<Vec<String>, Error> {
        match self.client.sql(sql, self.consistent).await? {
            hiqlite::client::SqlOutput::Rows(rows) => Ok(rows
                .rows
                .iter()
                .filter_map(|row| match row.first() {
                    Some(hiqlite::Value::Text(t)) => Some(t.clone()),
                    _ => None,
                })
                .collect()),
            _ => Ok(Vec::new()),
        }
    }
}

/// `$HQL_HISTORY`, else `~/.hiqlite_history`; `None` without either (no history kept).
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HQL_HISTORY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".hiqlite_history"))
}
