//! SQLite's numbering of a statement's parameters, computed from the SQL text alone (no
//! connection, no prepared statement), so a client can turn named values into positional ones
//! before the statement travels to a node.
//!
//! The rules are SQLite's own (`sqlite3ExprAssignVarNumber`): parameters are numbered from 1 in
//! the order they appear; `?` takes the next number after the largest so far; `?NNN` takes
//! number NNN (and later numbers continue after it); a name (`:id`, `@id`, `$id`, `#id`) takes
//! the next number the first time it appears, and the same number every time after. Parameters
//! inside string literals, quoted identifiers and comments are no parameters.
//!
//! ```
//! use hiqlite_shared::params::numbering;
//! let n = numbering("SELECT * FROM t WHERE a = :a OR b = @b OR c = :a -- :nope");
//! assert_eq!(n.named, vec![(":a".to_string(), 1), ("@b".to_string(), 2)]);
//! assert_eq!(n.count, 2);
//! assert!(n.positional.is_empty());
//! ```

use crate::lex::{self, Kind};

/// How SQLite numbers the parameters of one statement (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Numbering {
    /// Every distinct name as written (prefix included, case as written: SQLite compares names
    /// exactly), with its 1-based number, in order of first appearance.
    pub named: Vec<(String, usize)>,
    /// Every `?` and `?NNN`, in order of appearance.
    pub positional: Vec<Positional>,
    /// The largest number used: how many values SQLite expects (`sqlite3_bind_parameter_count`).
    pub count: usize,
}

/// One `?` or `?NNN` of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positional {
    /// As written: `?` or `?NNN`.
    pub text: String,
    /// Byte offset in the SQL.
    pub offset: usize,
    /// Its 1-based number (for `?NNN` the NNN as written, saturating; SQLite refuses 0 and numbers
    /// over its limit when it prepares the statement).
    pub number: usize,
}

impl Numbering {
    /// The number of the parameter named `name` (prefix included), if the statement has it.
    pub fn number_of(&self, name: &str) -> Option<usize> {
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, number)| *number)
    }
}

/// The numbering of the parameters of `sql` (see the module docs). Never fails: text that is no
/// valid SQL is numbered as far as it tokenizes, and SQLite reports the error when the statement
/// is prepared.
pub fn numbering(sql: &str) -> Numbering {
    let mut out = Numbering::default();
    for token in lex::tokenize(sql) {
        if token.kind != Kind::Param {
            continue;
        }
        if let Some(digits) = token.text.strip_prefix('?') {
            // Saturating: after a `?NNN` too large for usize, SQLite refuses the statement when
            // it is prepared; numbering it must not overflow first.
            let number = if digits.is_empty() {
                out.count.saturating_add(1)
            } else {
                digits.parse::<usize>().unwrap_or(usize::MAX)
            };
            out.count = out.count.max(number);
            out.positional.push(Positional {
                text: token.text,
                offset: token.range.start,
                number,
            });
        } else if out.number_of(&token.text).is_none() {
            out.count = out.count.saturating_add(1);
            out.named.push((token.text, out.count));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(sql: &str) -> Vec<(String, usize)> {
        numbering(sql).named
    }

    #[test]
    fn names_are_numbered_in_order_of_first_appearance() {
        assert_eq!(
            named("SELECT :b, :a, :b, @a, $a"),
            [
                (":b".into(), 1),
                (":a".into(), 2),
                ("@a".into(), 3),
                ("$a".into(), 4)
            ]
        );
    }

    #[test]
    fn literals_identifiers_and_comments_hide_parameters() {
        let sql = "SELECT ':x', \":y\", `:z`, [:w], x':00' -- :c\n /* :d */ FROM t WHERE a = :real";
        let n = numbering(sql);
        assert_eq!(n.named, [(":real".into(), 1)]);
        assert_eq!(n.count, 1);
        // A doubled quote stays inside the literal.
        assert_eq!(named("SELECT 'it''s :not' || :yes"), [(":yes".into(), 1)]);
        assert_eq!(named("SELECT \"a\"\":no\" FROM t"), []);
    }

    #[test]
    fn positional_parameters_follow_sqlite() {
        let n = numbering("SELECT ?, ?5, ?, :a, ?2");
        let numbers: Vec<usize> = n.positional.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [1, 5, 6, 2]);
        assert_eq!(n.named, [(":a".into(), 7)]);
        assert_eq!(n.count, 7);
        assert_eq!(n.positional[1].text, "?5");
        assert_eq!(n.positional[1].offset, 10);
    }

    #[test]
    fn sqlite_name_rules() {
        // `$` continues a name, `::` may sit inside one, a Tcl-style `(...)` suffix belongs to it.
        assert_eq!(
            named("SELECT :a$b, $x::y, $arr(1), @n_2"),
            [
                (":a$b".into(), 1),
                ("$x::y".into(), 2),
                ("$arr(1)".into(), 3),
                ("@n_2".into(), 4)
            ]
        );
        // Names are compared exactly: case matters, as in SQLite.
        assert_eq!(
            named("SELECT :Id, :id"),
            [(":Id".into(), 1), (":id".into(), 2)]
        );
        // A prefix without a name is no parameter; `::` is not a name either.
        assert_eq!(numbering("SELECT 1 : 2, @ x").count, 0);
        // Non-ASCII letters are name characters.
        assert_eq!(named("SELECT :ünï"), [(":ünï".into(), 1)]);
    }

    #[test]
    fn unterminated_and_odd_input_does_not_panic() {
        for sql in [
            "'abc :a",
            "\"abc",
            "/* :a",
            "?",
            ":",
            "$a(",
            "?99999999999999999999999",
        ] {
            let _ = numbering(sql);
        }
        assert_eq!(numbering("?99999999999999999999999").count, usize::MAX);
        // Found by fuzzing (fuzz/regressions/sql_lexer/): a `?` or a name after the largest
        // number overflowed the count.
        for sql in [
            "?99999999999999999999999, ?",
            "?99999999999999999999999, :a",
        ] {
            assert_eq!(numbering(sql).count, usize::MAX, "{sql}");
        }
    }
}
