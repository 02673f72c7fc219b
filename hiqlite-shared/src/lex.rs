//! A small SQL tokenizer: enough to find keywords, quoted identifiers, parameters and clause
//! boundaries outside of string literals and comments. It never decides whether SQL is valid
//! (SQLite does that); it only answers questions the prepared statement cannot: where the
//! `RETURNING` clause starts, which table an `INSERT` targets, which tables sit on the nullable
//! side of an outer join, what expression a result column came from, where an alias is written,
//! and (for the runtime, before any statement is prepared) which parameters a statement has.

use std::ops::Range;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A bare word: keyword or identifier.
    Word,
    /// `"..."`, `` `...` `` or `[...]`; the unquoted text is in `Token::text`.
    Quoted,
    /// `'...'` or `x'...'`.
    String,
    Number,
    /// `?`, `?NNN`, `:name`, `@name`, `$name`, `#name` (the text as written, prefix included).
    Param,
    /// Any other single character (`(`, `)`, `,`, `.`, `*`, `;`, operators).
    Punct,
}

/// One token with its byte range in the SQL and its text (unquoted for identifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub range: Range<usize>,
    pub text: String,
}

impl Token {
    /// Case-insensitive keyword test (bare words only).
    pub fn is(&self, keyword: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(keyword)
    }

    pub fn is_punct(&self, c: char) -> bool {
        self.kind == Kind::Punct && self.text.len() == c.len_utf8() && self.text.starts_with(c)
    }

    /// A word or quoted identifier: something that can name a table or column.
    pub fn is_name(&self) -> bool {
        matches!(self.kind, Kind::Word | Kind::Quoted)
    }
}

/// Splits `sql` into tokens, skipping whitespace and comments. An unterminated quote or comment
/// runs to the end (SQLite reports the error; this only has to not panic).
pub fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let n = bytes.len();
    while i < n {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < n && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < n && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(n);
            continue;
        }
        let (kind, end, text) = match c {
            b'\'' => {
                let end = quoted_end(bytes, i, b'\'');
                (Kind::String, end, sql[start..end].to_string())
            }
            b'x' | b'X' if bytes.get(i + 1) == Some(&b'\'') => {
                let end = quoted_end(bytes, i + 1, b'\'');
                (Kind::String, end, sql[start..end].to_string())
            }
            b'"' | b'`' => {
                let end = quoted_end(bytes, i, c);
                let inner_end = if end > start + 1 && bytes[end - 1] == c {
                    end - 1
                } else {
                    end
                };
                let doubled = if c == b'"' { "\"\"" } else { "``" };
                let single = if c == b'"' { "\"" } else { "`" };
                let text = sql[start + 1..inner_end].replace(doubled, single);
                (Kind::Quoted, end, text)
            }
            b'[' => {
                let end = sql[i..].find(']').map(|p| i + p + 1).unwrap_or(n);
                let inner_end = if bytes[end - 1] == b']' { end - 1 } else { end };
                (Kind::Quoted, end, sql[start + 1..inner_end].to_string())
            }
            b'?' => {
                let mut end = i + 1;
                while end < n && bytes[end].is_ascii_digit() {
                    end += 1;
                }
                (Kind::Param, end, sql[start..end].to_string())
            }
            b':' | b'@' | b'$' | b'#' => match named_param_end(bytes, i) {
                Some(end) => (Kind::Param, end, sql[start..end].to_string()),
                None => (Kind::Punct, i + 1, sql[start..i + 1].to_string()),
            },
            b'0'..=b'9' => {
                let mut end = i + 1;
                while end < n && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'.') {
                    end += 1;
                }
                (Kind::Number, end, sql[start..end].to_string())
            }
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let mut end = i + 1;
                while end < n && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'.') {
                    end += 1;
                }
                (Kind::Number, end, sql[start..end].to_string())
            }
            _ if is_word_byte(c) => {
                let mut end = i + 1;
                while end < n && (is_word_byte(bytes[end]) || bytes[end] == b'$') {
                    end += 1;
                }
                (Kind::Word, end, sql[start..end].to_string())
            }
            _ => {
                let len = sql[i..].chars().next().map(char::len_utf8).unwrap_or(1);
                (Kind::Punct, i + len, sql[start..i + len].to_string())
            }
        };
        tokens.push(Token {
            kind,
            range: start..end,
            text,
        });
        i = end;
    }
    tokens
}

/// End (exclusive) of the named parameter starting at `start` (`:`, `@`, `$` or `#`), by SQLite's
/// own rules (`tokenize.c`): identifier characters (`$` included), `::` inside the name, and a
/// Tcl-style suffix `(...)` without whitespace. `None` when no name follows: then the prefix is
/// no parameter (SQLite reports a syntax error).
fn named_param_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut name_chars = 0;
    let mut i = start + 1;
    while i < bytes.len() {
        let c = bytes[i];
        if is_word_byte(c) || c == b'$' {
            name_chars += 1;
        } else if c == b'(' && name_chars > 0 {
            i += 1;
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b')' {
                i += 1;
            }
            if bytes.get(i) == Some(&b')') {
                i += 1;
            }
            break;
        } else if c == b':' && bytes.get(i + 1) == Some(&b':') {
            i += 1;
        } else {
            break;
        }
        i += 1;
    }
    (name_chars > 0).then_some(i)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// End (exclusive) of a quoted run starting at `start` with `quote`; a doubled quote escapes.
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Parenthesis depth before each token (a `(` has the outer depth, its contents one more).
pub fn depths(tokens: &[Token]) -> Vec<usize> {
    let mut depth = 0usize;
    tokens
        .iter()
        .map(|t| {
            if t.is_punct('(') {
                depth += 1;
                depth - 1
            } else if t.is_punct(')') {
                depth = depth.saturating_sub(1);
                depth
            } else {
                depth
            }
        })
        .collect()
}

/// The index of the first token of the statement proper, after a leading `WITH [RECURSIVE]
/// name [(cols)] AS [NOT] [MATERIALIZED] (...), ...` clause.
pub fn after_with(tokens: &[Token], depths: &[usize]) -> usize {
    if !tokens.first().is_some_and(|t| t.is("WITH")) {
        return 0;
    }
    // The statement starts at the first depth-0 SELECT/INSERT/... after WITH.
    tokens
        .iter()
        .zip(depths)
        .position(|(t, d)| {
            *d == 0
                && ["SELECT", "INSERT", "REPLACE", "UPDATE", "DELETE", "VALUES"]
                    .iter()
                    .any(|k| t.is(k))
        })
        .unwrap_or(tokens.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(Kind, String)> {
        tokenize(sql)
            .into_iter()
            .map(|t| (t.kind, t.text))
            .collect()
    }

    #[test]
    fn skips_comments_and_keeps_literals_whole() {
        let t = kinds("SELECT 'a -- b', \"x\"\"y\" -- trailing\n/* c */ FROM [t 1] WHERE id = ?2 AND n = :name");
        assert_eq!(
            t,
            vec![
                (Kind::Word, "SELECT".into()),
                (Kind::String, "'a -- b'".into()),
                (Kind::Punct, ",".into()),
                (Kind::Quoted, "x\"y".into()),
                (Kind::Word, "FROM".into()),
                (Kind::Quoted, "t 1".into()),
                (Kind::Word, "WHERE".into()),
                (Kind::Word, "id".into()),
                (Kind::Punct, "=".into()),
                (Kind::Param, "?2".into()),
                (Kind::Word, "AND".into()),
                (Kind::Word, "n".into()),
                (Kind::Punct, "=".into()),
                (Kind::Param, ":name".into()),
            ]
        );
    }

    #[test]
    fn unterminated_input_does_not_panic() {
        for sql in ["'abc", "\"abc", "[abc", "/* abc", "`a", "x'", "é", "?", ":"] {
            let _ = tokenize(sql);
        }
    }

    #[test]
    fn finds_the_statement_after_a_cte() {
        let sql = "WITH a(x) AS (SELECT 1), b AS (SELECT 2) INSERT INTO t SELECT x FROM a";
        let tokens = tokenize(sql);
        let d = depths(&tokens);
        let i = after_with(&tokens, &d);
        assert!(tokens[i].is("INSERT"));
    }
}
