//! The typed API: rows read into structs, and SQL checked at build time.
//!
//! - `#[derive(HiqliteRow)]` implements [`FromRow`] by column name.
//! - `query!`, `query_as!` and `query_scalar!` (and `query_file!`, `query_file_as!`,
//!   `query_file_scalar!` for SQL kept in `.sql` files) check a statement against the
//!   crate's migrations when the crate compiles, and return a [`Query`]: a [`Query<Read, T>`]
//!   for a statement SQLite reports as read-only, a [`Query<Write, T>`] for anything that
//!   writes. The access is part of the type, so a write can never be run as a local read: a
//!   `Query<Write, _>` has no local-read methods and always goes through Raft.
//!
//! ```no_run
//! use hiqlite::{query, query_as, HiqliteRow};
//!
//! #[derive(HiqliteRow, Debug)]
//! struct User {
//!     id: i64,
//!     name: String,
//!     #[row(rename = "email")]
//!     mail: Option<String>,
//! }
//!
//! # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
//! // A read: runs on the contacted node's own database.
//! let users: Vec<User> = query_as!(User, "SELECT id, name, email FROM users WHERE id > ?", 10)
//!     .fetch_all(&client)
//!     .await?;
//! // A write with RETURNING: goes through Raft and returns the typed row.
//! let id: i64 = query!("INSERT INTO users (name) VALUES (?) RETURNING id", "bob")
//!     .fetch_one(&client)
//!     .await?
//!     .id;
//! # Ok(()) }
//! ```
//!
//! See docs/typed-api.md for the type rules, overrides and what is and is not checked.

mod args;
mod column;
mod fetch;
mod keyed;
mod shape;

use std::marker::PhantomData;

pub use self::keyed::KeyedQuery;
use crate::client::{row, Client, ExecuteResult, FromRow, Row, StatementRef, Txn};
use crate::engine::error::Error;
use crate::types::command::{Rows, StatementOutput};
use crate::types::decode::Decode;
pub use crate::types::sql_type::{kind, ColumnFit};
use crate::types::value::{Params, Value};

/// Access marker of a [`Query`] that only reads (SQLite's `sqlite3_stmt_readonly`).
#[derive(Debug, Clone, Copy)]
pub enum Read {}

/// Access marker of a [`Query`] that writes: it always goes through Raft.
#[derive(Debug, Clone, Copy)]
pub enum Write {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Read {}
    impl Sealed for super::Write {}
}

/// [`Read`] or [`Write`]; sealed: only the macros decide which a statement is.
pub trait Access: sealed::Sealed {}
impl Access for Read {}
impl Access for Write {}

/// A statement checked at build time with its arguments bound, built by
/// `query!`, `query_as!` or `query_scalar!` (or their `query_file*!` forms). `A` says whether
/// it reads or writes, `T` is the row type (`()` for a write without `RETURNING`): the fetch
/// methods return `T`'s [`QueryRow::Output`] per row, which is `T` itself for a [`FromRow`]
/// type and the column's value `V` for a [`Scalar<V>`].
#[must_use = "a query does nothing until it is run with a client"]
pub struct Query<A: Access, T> {
    sql: &'static str,
    params: Params,
    returns_rows: bool,
    _marker: PhantomData<fn() -> (A, T)>,
}

impl<A: Access, T> std::fmt::Debug for Query<A, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("sql", &self.sql)
            .field("params", &self.params)
            .finish()
    }
}

impl<A: Access, T> Query<A, T> {
    /// Used by the macros only: the access marker must come from SQLite's verdict.
    #[doc(hidden)]
    pub fn __new(sql: &'static str, params: Params, returns_rows: bool) -> Self {
        Query {
            sql,
            params,
            returns_rows,
            _marker: PhantomData,
        }
    }

    /// The SQL sent to the database (type overrides removed from the aliases).
    pub fn sql(&self) -> &'static str {
        self.sql
    }

    /// The bound arguments, in parameter order.
    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// Adds the statement to a transaction, which runs through Raft as a whole. A statement
    /// that returns rows keeps them; read them with [`TxnRows::rows`] from the transaction's
    /// outputs.
    pub fn add_to(self, txn: &mut Txn) -> TxnRows<T> {
        let statement = if self.returns_rows {
            txn.query(self.sql, self.params)
        } else {
            txn.execute(self.sql, self.params)
        };
        TxnRows {
            statement,
            _marker: PhantomData,
        }
    }
}

impl<T> Query<Read, T> {
    /// Adds the query to a transaction as a guard: the first column of its first row must be
    /// truthy (non-zero, non-NULL) when the transaction reaches it, or the whole transaction
    /// rolls back and [`Client::txn`] returns
    /// [`SqlError::GuardFailed`](crate::types::command::SqlError::GuardFailed). The checked form of
    /// [`Txn::guard`]; only a read can be a guard.
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// let mut txn = hiqlite::Txn::new();
    /// // Rust never reads the column, but `query!` needs a type for an expression.
    /// hiqlite::query!(r#"SELECT count(*) < 100 AS "ok: bool" FROM users"#).add_guard_to(&mut txn);
    /// hiqlite::query!("INSERT INTO users (name) VALUES (?)", "bob").add_to(&mut txn);
    /// client.txn(txn).await?;
    /// # Ok(()) }
    /// ```
    pub fn add_guard_to(self, txn: &mut Txn) -> StatementRef {
        txn.guard(self.sql, self.params)
    }
}

impl<T: QueryRow + 'static> Query<Read, T>
where
    T::Output: Send + 'static,
{
    /// Local read: runs on the contacted node's own database (no network for an embedded node).
    /// Sees every write made through the same node; another node's newest writes may not have
    /// arrived yet. Use [`fetch_all_consistent`](Self::fetch_all_consistent) when they must.
    pub async fn fetch_all(self, client: &Client) -> Result<Vec<T::Output>, Error> {
        client
            .query_with(self.sql.into(), self.params, false, T::read)
            .await
    }

    /// Local read of exactly one row: [`Error::NoRows`] when there is none; further rows are
    /// ignored.
    pub async fn fetch_one(self, client: &Client) -> Result<T::Output, Error> {
        first(self.fetch_all(client).await?)
    }

    /// Local read of at most one row: `None` when there is none; further rows are ignored.
    pub async fn fetch_optional(self, client: &Client) -> Result<Option<T::Output>, Error> {
        Ok(self.fetch_all(client).await?.into_iter().next())
    }

    /// Linearizable read from any node: sees every write that completed before the call,
    /// whichever node took it (a round trip to the leader, then a local read).
    pub async fn fetch_all_consistent(self, client: &Client) -> Result<Vec<T::Output>, Error> {
        client
            .query_with(self.sql.into(), self.params, true, T::read)
            .await
    }

    /// [`fetch_all_consistent`](Self::fetch_all_consistent) of exactly one row
    /// ([`Error::NoRows`] when there is none).
    pub async fn fetch_one_consistent(self, client: &Client) -> Result<T::Output, Error> {
        first(self.fetch_all_consistent(client).await?)
    }

    /// [`fetch_all_consistent`](Self::fetch_all_consistent) of at most one row.
    pub async fn fetch_optional_consistent(
        self,
        client: &Client,
    ) -> Result<Option<T::Output>, Error> {
        Ok(self.fetch_all_consistent(client).await?.into_iter().next())
    }
}

fn first<T>(rows: Vec<T>) -> Result<T, Error> {
    rows.into_iter().next().ok_or(Error::NoRows)
}

impl<T> Query<Write, T> {
    /// Runs the statement through Raft: returns once it is durable on a majority and applied,
    /// with the rows it changed and the last inserted rowid. A retried write applies once.
    /// Rows of a `RETURNING` clause are discarded; use [`fetch_all`](Self::fetch_all) for them.
    pub async fn execute(self, client: &Client) -> Result<ExecuteResult, Error> {
        client.execute(self.sql, self.params).await
    }
}

impl<T: QueryRow> Query<Write, T> {
    /// Runs the statement through Raft (as [`execute`](Self::execute)) and returns the rows of
    /// its `RETURNING` clause.
    pub async fn fetch_all(self, client: &Client) -> Result<Vec<T::Output>, Error> {
        let rows = client.execute_returning_rows(self.sql, self.params).await?;
        row::map_rows(&rows, T::read)
    }

    /// [`fetch_all`](Self::fetch_all) expecting one row: [`Error::NoRows`] when the statement
    /// returned none (it was still applied). Further rows are ignored.
    pub async fn fetch_one(self, client: &Client) -> Result<T::Output, Error> {
        first(self.fetch_all(client).await?)
    }

    /// [`fetch_all`](Self::fetch_all) expecting at most one row. Further rows are ignored.
    pub async fn fetch_optional(self, client: &Client) -> Result<Option<T::Output>, Error> {
        Ok(self.fetch_all(client).await?.into_iter().next())
    }
}

/// How each row of a [`Query`] is read: a [`FromRow`] type as itself (`Output = Self`), a
/// [`Scalar<V>`] as the value of the row's only column (`Output = V`). Sealed: it is
/// implemented for every `FromRow` type and every `Scalar<V>`, and for nothing else.
pub trait QueryRow: sealed_row::Sealed {
    /// What one row becomes.
    type Output;
    /// Reads one row; a conversion failure is an [`Error::Conversion`] naming the column.
    fn read(row: &Row<'_>) -> Result<Self::Output, Error>;
}

impl<T: FromRow> QueryRow for T {
    type Output = T;
    fn read(row: &Row<'_>) -> Result<T, Error> {
        T::from_row(row)
    }
}

/// The row type of `query_scalar!` and `query_file_scalar!`: a row of exactly one column, read
/// as that column's value, a `V`. Only a type: no value of it is ever built.
///
/// ```no_run
/// use hiqlite::typed::{Query, Read, Scalar};
///
/// fn count_users() -> Query<Read, Scalar<i64>> {
///     hiqlite::query_scalar!("SELECT count(*) FROM users")
/// }
/// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
/// let n: i64 = count_users().fetch_one(&client).await?;
/// # Ok(()) }
/// ```
pub struct Scalar<V> {
    _never: PhantomData<fn() -> V>,
    _uninhabited: std::convert::Infallible,
}

impl<V: Decode> QueryRow for Scalar<V> {
    type Output = V;
    fn read(row: &Row<'_>) -> Result<V, Error> {
        column::read_scalar::<V>(row)
    }
}

mod sealed_row {
    pub trait Sealed {}
    impl<T: crate::client::FromRow> Sealed for T {}
    impl<V> Sealed for super::Scalar<V> {}
}

/// A typed statement inside a [`Txn`], returned by [`Query::add_to`].
#[derive(Debug)]
pub struct TxnRows<T> {
    statement: StatementRef,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Clone for TxnRows<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for TxnRows<T> {}

impl<T> TxnRows<T> {
    /// The statement, to use its output as a later statement's parameter.
    pub fn statement(&self) -> StatementRef {
        self.statement
    }
}

impl<T: QueryRow> TxnRows<T> {
    /// This statement's rows, from the outputs [`Client::txn`] returned.
    pub fn rows(&self, outputs: &[StatementOutput]) -> Result<Vec<T::Output>, Error> {
        row::map_rows(self.output(outputs)?, T::read)
    }

    /// This statement's first row: [`Error::NoRows`] when it returned none. Further rows are
    /// ignored, as in [`Query::fetch_one`].
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// let mut txn = hiqlite::Txn::new();
    /// let user = hiqlite::query!("INSERT INTO users (name) VALUES (?) RETURNING id", "bob")
    ///     .add_to(&mut txn);
    /// let outputs = client.txn(txn).await?;
    /// let id: i64 = user.one(&outputs)?.id;
    /// # Ok(()) }
    /// ```
    pub fn one(&self, outputs: &[StatementOutput]) -> Result<T::Output, Error> {
        self.optional(outputs)?.ok_or(Error::NoRows)
    }

    /// This statement's first row, or `None` when it returned none. Further rows are ignored.
    pub fn optional(&self, outputs: &[StatementOutput]) -> Result<Option<T::Output>, Error> {
        let rows = self.output(outputs)?;
        rows.rows
            .first()
            .map(|values| T::read(&row::Row::owned(&rows.columns, values)))
            .transpose()
    }

    fn output<'o>(&self, outputs: &'o [StatementOutput]) -> Result<&'o Rows, Error> {
        match outputs.get(self.statement.index()) {
            Some(StatementOutput::Rows(rows)) => Ok(rows),
            Some(StatementOutput::Executed { .. }) => Err(Error::Conversion(format!(
                "transaction statement {} returned no rows",
                self.statement.index()
            ))),
            None => Err(Error::Conversion(format!(
                "the transaction has no output for statement {}",
                self.statement.index()
            ))),
        }
    }
}

/// Used by the generated code; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use super::args::{ArgProbe, ArgStorage, ArgStorageUnknown, Stored};
    pub use super::column::{
        read, read_column, read_from_str, read_from_str_opt, read_try_from, read_try_from_opt,
        read_with, Field,
    };
    pub use super::shape::{
        check_query_as, FieldShape, Probe, ProbeFallback, ResultColumn, RowShape, Shape, Verdict,
    };
    pub use crate::types::decode::Decode;
    pub use crate::types::sql_type::kind;
}
