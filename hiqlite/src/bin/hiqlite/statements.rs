//! What the `hiqlite sql` shell makes of its input lines: complete SQL statements (a statement
//! ends at a `;` outside quotes, brackets and comments; a `CREATE TRIGGER` ends at `END;`) and
//! dot commands (`.tables`, ...). Pure: lines in, [`Input`]s out; the shell runs them.

use crate::render::Format;

/// One thing for the shell to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A complete SQL statement, trimmed, with its final `;`.
    Sql(String),
    /// A dot command, or the message saying why the line is not one.
    Dot(Result<DotCommand, String>),
}

/// The shell's dot commands (`.help` lists them).
#[derive(Debug, PartialEq, Eq)]
pub enum DotCommand {
    /// `.tables`: the names of the tables and views (hiqlite's own `_hiqlite_*` left out).
    Tables,
    /// `.schema [TABLE]`: the `CREATE` statements of everything, or of one table and its indexes
    /// and triggers.
    Schema(Option<String>),
    /// `.mode table|json`: the output format from now on.
    Mode(Format),
    /// `.help`: list the dot commands.
    Help,
    /// `.quit` (or `.exit`): leave the shell.
    Quit,
}

/// The text `.help` prints.
pub const HELP: &str = "\
.tables              list tables and views
.schema [TABLE]      show CREATE statements (of everything, or of TABLE)
.mode table|json     print results as a table or as a JSON array of row objects
.help                show this text
.quit                leave the shell (also .exit or Ctrl-D)
SQL statements end with ';' and may span lines.";

/// Collects input lines until they form complete statements.
#[derive(Debug, Default)]
pub struct Splitter {
    buffer: String,
}

impl Splitter {
    /// Whether a statement is waiting for more lines (the shell shows its continuation prompt).
    pub fn is_pending(&self) -> bool {
        !self.buffer.trim().is_empty()
    }

    /// Takes one line (without its line end) and returns what became complete: a dot command
    /// (only when no statement is pending and the line starts with `.`), or every statement the
    /// line completed, in order. Empty statements (a lone `;`) are dropped.
    pub fn push_line(&mut self, line: &str) -> Vec<Input> {
        if !self.is_pending() && line.trim_start().starts_with('.') {
            self.buffer.clear();
            return vec![Input::Dot(parse_dot(line.trim()))];
        }
        self.buffer.push_str(line);
        self.buffer.push('\n');
        let mut out = Vec::new();
        while let Some(end) = statement_end(&self.buffer) {
            let statement: String = self.buffer.drain(..end).collect();
            let statement = statement.trim();
            if statement != ";" {
                out.push(Input::Sql(statement.to_string()));
            }
        }
        out
    }

    /// At the end of the input: the unfinished statement left over, if any (trimmed).
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buffer);
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_string())
    }
}

/// Parses a dot command line (starting with `.`); `Err` says what is wrong with it.
pub fn parse_dot(line: &str) -> Result<DotCommand, String> {
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or(".");
    let args: Vec<&str> = words.collect();
    let no_args = |cmd: DotCommand| {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(format!("{name} takes no arguments"))
        }
    };
    match name {
        ".tables" => no_args(DotCommand::Tables),
        ".help" => no_args(DotCommand::Help),
        ".quit" | ".exit" => no_args(DotCommand::Quit),
        ".schema" => match args[..] {
            [] => Ok(DotCommand::Schema(None)),
            [table] => Ok(DotCommand::Schema(Some(table.to_string()))),
            _ => Err(".schema takes at most one table name".into()),
        },
        ".mode" => match args[..] {
            ["table"] => Ok(DotCommand::Mode(Format::Table)),
            ["json"] => Ok(DotCommand::Mode(Format::Json)),
            _ => Err(".mode takes `table` or `json`".into()),
        },
        other => Err(format!("unknown command {other} (.help lists them)")),
    }
}

/// Byte index just after the `;` that ends the first complete statement in `text`, if any.
fn statement_end(text: &str) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Quoted(char),
        LineComment,
        BlockComment,
    }
    let mut state = State::Code;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        state = match state {
            State::Code => match c {
                '\'' | '"' | '`' => State::Quoted(c),
                '[' => State::Quoted(']'),
                '-' if next == Some('-') => State::LineComment,
                '/' if next == Some('*') => {
                    chars.next();
                    State::BlockComment
                }
                ';' if !inside_trigger(&text[..i]) => return Some(i + 1),
                _ => State::Code,
            },
            // A doubled quote inside a quoted string is the quote itself: leaving and entering
            // again at once gives the same result.
            State::Quoted(close) if c == close => State::Code,
            State::LineComment if c == '\n' => State::Code,
            State::BlockComment if c == '*' && next == Some('/') => {
                chars.next();
                State::Code
            }
            unchanged => unchanged,
        };
    }
    None
}

/// Whether `before` (a statement up to a `;`) is a `CREATE [TEMP] TRIGGER` whose body has not
/// reached its `END` yet: its `;`s separate the body's statements.
fn inside_trigger(before: &str) -> bool {
    let upper = before.to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().take(3).collect();
    let is_trigger = matches!(
        words[..],
        ["CREATE", "TRIGGER", ..] | ["CREATE", "TEMP" | "TEMPORARY", "TRIGGER"]
    );
    is_trigger && upper.split_whitespace().last() != Some("END")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(lines: &[&str]) -> (Vec<Input>, Option<String>) {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        for line in lines {
            out.extend(s.push_line(line));
        }
        (out, s.finish())
    }

    fn sql(s: &str) -> Input {
        Input::Sql(s.to_string())
    }

    #[test]
    fn a_statement_may_span_lines_and_ends_at_its_semicolon() {
        let (out, rest) = feed(&["CREATE TABLE t (", "  a INTEGER", ");", "SELECT 1"]);
        assert_eq!(out, vec![sql("CREATE TABLE t (\n  a INTEGER\n);")]);
        assert_eq!(rest.as_deref(), Some("SELECT 1"));
    }

    #[test]
    fn several_statements_on_one_line_come_out_one_by_one() {
        let (out, rest) = feed(&["SELECT 1; SELECT 2;;"]);
        assert_eq!(out, vec![sql("SELECT 1;"), sql("SELECT 2;")]);
        assert_eq!(rest, None);
    }

    #[test]
    fn semicolons_in_quotes_brackets_and_comments_do_not_end_a_statement() {
        let (out, _) = feed(&[
            "SELECT 'a;''b', \"c;\", `d;`, [e;] -- f;",
            "/* g; */ FROM t;",
        ]);
        assert_eq!(
            out,
            vec![sql(
                "SELECT 'a;''b', \"c;\", `d;`, [e;] -- f;\n/* g; */ FROM t;"
            )]
        );
    }

    #[test]
    fn a_trigger_ends_at_end() {
        let (out, _) = feed(&[
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN",
            "  INSERT INTO u VALUES (1);",
            "END;",
        ]);
        assert_eq!(
            out,
            vec![sql(
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  INSERT INTO u VALUES (1);\nEND;"
            )]
        );
    }

    #[test]
    fn dot_commands_are_recognised_only_between_statements() {
        let (out, _) = feed(&[".tables", "SELECT", ".5;", " .schema t"]);
        assert_eq!(
            out,
            vec![
                Input::Dot(Ok(DotCommand::Tables)),
                sql("SELECT\n.5;"),
                Input::Dot(Ok(DotCommand::Schema(Some("t".into())))),
            ]
        );
    }

    #[test]
    fn dot_commands_parse_their_arguments() {
        assert_eq!(parse_dot(".schema"), Ok(DotCommand::Schema(None)));
        assert_eq!(parse_dot(".mode json"), Ok(DotCommand::Mode(Format::Json)));
        assert_eq!(
            parse_dot(".mode table"),
            Ok(DotCommand::Mode(Format::Table))
        );
        assert_eq!(parse_dot(".quit"), Ok(DotCommand::Quit));
        assert_eq!(parse_dot(".exit"), Ok(DotCommand::Quit));
        assert_eq!(parse_dot(".help"), Ok(DotCommand::Help));
        assert!(parse_dot(".mode csv").is_err());
        assert!(parse_dot(".tables x").is_err());
        assert!(parse_dot(".schema a b").is_err());
        assert_eq!(
            parse_dot(".frobnicate"),
            Err("unknown command .frobnicate (.help lists them)".into())
        );
    }
}
