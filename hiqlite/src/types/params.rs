//! Statement parameters as the client methods take them: positional values (`params!`) or named
//! values (`named_params!`), both turned into SQLite's positional numbering before a statement
//! leaves the client. Log entries and messages therefore carry positional values only: named
//! parameters change no format.

use hiqlite_shared::params::numbering;

use super::command::TxnParam;
use super::value::{Params, Value};

/// Values for the named parameters of one statement (`:id`, `@id`, `$id` or `#id`), each under
/// its name as written in the SQL, prefix included. Build it with `hiqlite::named_params!`, or
/// with [`NamedParams::from`] a list of pairs when a [`Txn`](crate::Txn) statement needs an
/// earlier statement's output (`P` = [`TxnParam`]).
///
/// A statement given named values may use each name any number of times (they all take the same
/// value); it must not also use positional parameters (`?`, `?NNN`).
///
/// ```
/// let p = hiqlite::named_params! { ":id" => 1, ":name" => "bob" };
/// assert_eq!(p.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NamedParams<P = Value> {
    values: Vec<(String, P)>,
}

impl<P> NamedParams<P> {
    /// No values yet.
    pub fn new() -> Self {
        NamedParams { values: Vec::new() }
    }

    /// Adds the value of parameter `name` (prefix included, e.g. `":id"`).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<P>) -> Self {
        self.values.push((name.into(), value.into()));
        self
    }

    /// How many values were given.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values in SQLite's positional order for `sql`.
    ///
    /// Errors: [`ParamsError::Positional`] when `sql` also has `?` or `?NNN`;
    /// [`ParamsError::Duplicate`] when a name was given twice; [`ParamsError::Unknown`] when a
    /// name is not in `sql`; [`ParamsError::Missing`] when a name in `sql` has no value.
    pub fn resolve(self, sql: &str) -> Result<Vec<P>, ParamsError> {
        let numbering = numbering(sql);
        if let Some(p) = numbering.positional.first() {
            return Err(ParamsError::Positional {
                parameter: p.text.clone(),
                offset: p.offset,
            });
        }
        let mut slots: Vec<Option<P>> = (0..numbering.named.len()).map(|_| None).collect();
        for (name, value) in self.values {
            let Some(number) = numbering.number_of(&name) else {
                return Err(ParamsError::Unknown {
                    name,
                    in_sql: numbering.named.into_iter().map(|(n, _)| n).collect(),
                });
            };
            // Only names are numbered, so the numbers are 1..=len.
            let slot = &mut slots[number - 1];
            if slot.is_some() {
                return Err(ParamsError::Duplicate { name });
            }
            *slot = Some(value);
        }
        slots
            .into_iter()
            .zip(numbering.named)
            .map(|(value, (name, _))| value.ok_or(ParamsError::Missing { name }))
            .collect()
    }
}

impl<P> Default for NamedParams<P> {
    fn default() -> Self {
        Self::new()
    }
}

/// Named values from pairs of name and value.
///
/// ```
/// use hiqlite::{NamedParams, Txn};
/// use hiqlite::types::command::TxnParam;
/// let mut txn = Txn::new();
/// let order = txn.execute("INSERT INTO orders (item) VALUES (:item)", hiqlite::named_params! { ":item" => "book" });
/// let line: NamedParams<TxnParam> =
///     NamedParams::from(vec![(":order", order.last_insert_rowid()), (":qty", 1.into())]);
/// txn.execute("INSERT INTO order_lines (order_id, qty) VALUES (:order, :qty)", line);
/// ```
impl<N: Into<String>, P> From<Vec<(N, P)>> for NamedParams<P> {
    fn from(pairs: Vec<(N, P)>) -> Self {
        NamedParams {
            values: pairs.into_iter().map(|(n, v)| (n.into(), v)).collect(),
        }
    }
}

/// Why named values do not fit a statement. Nothing was sent: a write was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// The statement uses a name that was given no value.
    #[error("parameter `{name}` of the statement has no value: add `\"{name}\" => ...`")]
    Missing { name: String },
    /// A value was given under a name the statement does not use.
    #[error(
        "a value was given for `{name}`, which the statement does not use (its named parameters: \
         {}); names are written as in the SQL, prefix included (`:id`, `@id`, `$id`)",
        list(in_sql)
    )]
    Unknown { name: String, in_sql: Vec<String> },
    /// The same name was given two values.
    #[error("two values were given for `{name}`")]
    Duplicate { name: String },
    /// The statement has a positional parameter but the values are named.
    #[error(
        "the statement has the positional parameter `{parameter}` (at byte {offset}) but the \
         values are named: use names only (`:id`), or positional values (`params!`)"
    )]
    Positional { parameter: String, offset: usize },
    /// Statement `statement` (0-based) of a transaction had named values that do not fit it.
    #[error("transaction statement {statement}: {source}")]
    InTxn {
        statement: usize,
        source: Box<ParamsError>,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// What the client methods accept as a statement's parameters: positional values
/// ([`Params`], built with `hiqlite::params!`) or named values ([`NamedParams`], built with
/// `hiqlite::named_params!`).
pub trait IntoParams {
    /// The values in SQLite's positional order for `sql`. Positional values are taken as they
    /// are (SQLite checks their count when the statement runs); named values are resolved with
    /// [`NamedParams::resolve`].
    fn into_params(self, sql: &str) -> Result<Params, ParamsError>;
}

impl IntoParams for Params {
    fn into_params(self, _sql: &str) -> Result<Params, ParamsError> {
        Ok(self)
    }
}

impl IntoParams for NamedParams<Value> {
    fn into_params(self, sql: &str) -> Result<Params, ParamsError> {
        self.resolve(sql)
    }
}

/// What a [`Txn`](crate::Txn) statement accepts as parameters: positional values or outputs of
/// earlier statements (`Vec<P>`), or the same by name ([`NamedParams<P>`]).
pub trait IntoTxnParams {
    /// The parameters in SQLite's positional order for `sql` (see [`IntoParams::into_params`]).
    fn into_txn_params(self, sql: &str) -> Result<Vec<TxnParam>, ParamsError>;
}

impl<P: Into<TxnParam>> IntoTxnParams for Vec<P> {
    fn into_txn_params(self, _sql: &str) -> Result<Vec<TxnParam>, ParamsError> {
        Ok(self.into_iter().map(Into::into).collect())
    }
}

impl<P: Into<TxnParam>> IntoTxnParams for NamedParams<P> {
    fn into_txn_params(self, sql: &str) -> Result<Vec<TxnParam>, ParamsError> {
        Ok(self.resolve(sql)?.into_iter().map(Into::into).collect())
    }
}

/// Builds named parameters ([`NamedParams`]) from `"name" => value` pairs; the names are written
/// as in the SQL, prefix included, and the values are anything that converts into
/// [`Value`](crate::Value).
///
/// ```
/// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
/// client
///     .execute(
///         "INSERT INTO users (id, name) VALUES (:id, :name)",
///         hiqlite::named_params! { ":id" => 1, ":name" => "bob" },
///     )
///     .await?;
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! named_params {
    () => { $crate::types::params::NamedParams::<$crate::types::value::Value>::new() };
    ($($name:expr => $value:expr),+ $(,)?) => {
        $crate::types::params::NamedParams::<$crate::types::value::Value>::new()
            $(.with($name, $crate::types::value::Value::from($value)))+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(sql: &str, p: NamedParams) -> Result<Params, ParamsError> {
        p.into_params(sql)
    }

    #[test]
    fn named_values_take_sqlite_positions() {
        let p = crate::named_params! { ":name" => "bob", ":id" => 7 };
        let sql = "SELECT * FROM users WHERE id = :id AND (name = :name OR alias = :name)";
        assert_eq!(
            resolve(sql, p).unwrap(),
            vec![Value::Integer(7), Value::Text("bob".into())]
        );
        let mixed = crate::named_params! { "$c" => 3, "@b" => 2, ":a" => 1 };
        assert_eq!(
            resolve("SELECT :a, @b, $c", mixed).unwrap(),
            vec![Value::Integer(1), Value::Integer(2), Value::Integer(3)]
        );
        assert_eq!(
            resolve("SELECT 1", crate::named_params! {}).unwrap(),
            Vec::<Value>::new()
        );
    }

    #[test]
    fn names_in_literals_and_comments_need_no_value() {
        let sql = "SELECT ':a', \":a\" -- :a\n FROM t /* :a */ WHERE x = :b";
        assert_eq!(
            resolve(sql, crate::named_params! { ":b" => 1 }).unwrap(),
            vec![Value::Integer(1)]
        );
    }

    #[test]
    fn every_mismatch_is_a_clear_error() {
        let err = resolve("SELECT :a, :b", crate::named_params! { ":a" => 1 }).unwrap_err();
        assert_eq!(err, ParamsError::Missing { name: ":b".into() });
        assert!(err.to_string().contains("`:b`"), "{err}");

        let err = resolve("SELECT :a", crate::named_params! { ":a" => 1, "a" => 2 }).unwrap_err();
        assert_eq!(
            err,
            ParamsError::Unknown {
                name: "a".into(),
                in_sql: vec![":a".into()]
            }
        );
        assert!(err.to_string().contains("prefix included"), "{err}");

        let err = resolve("SELECT :a", crate::named_params! { ":a" => 1, ":a" => 2 }).unwrap_err();
        assert_eq!(err, ParamsError::Duplicate { name: ":a".into() });

        let err = resolve("SELECT :a, ?", crate::named_params! { ":a" => 1 }).unwrap_err();
        assert_eq!(
            err,
            ParamsError::Positional {
                parameter: "?".into(),
                offset: 11
            }
        );
        let err = resolve("SELECT ?1", crate::named_params! {}).unwrap_err();
        assert!(matches!(err, ParamsError::Positional { .. }), "{err}");
    }

    #[test]
    fn positional_values_pass_through() {
        let p: Params = crate::params!(1, 2);
        assert_eq!(p.clone().into_params("SELECT :a, :b").unwrap(), p);
    }

    #[test]
    fn txn_values_may_be_outputs() {
        let mut txn = crate::Txn::new();
        let first = txn.execute("INSERT INTO t VALUES (1)", crate::params!());
        let named: NamedParams<TxnParam> =
            NamedParams::from(vec![(":id", first.last_insert_rowid()), (":n", 5.into())]);
        let params = named.into_txn_params("SELECT :n, :id").unwrap();
        assert!(matches!(params[0], TxnParam::Value(Value::Integer(5))));
        assert!(matches!(params[1], TxnParam::Output { statement: 0, .. }));
    }
}
