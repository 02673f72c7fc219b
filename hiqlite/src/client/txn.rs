//! Building an atomic multi-statement transaction ([`Txn`]) for [`Client::txn`](crate::Client::txn).
//!
//! A transaction is sent as one Raft entry, so it cannot be interactive; instead a statement can
//! use an earlier statement's output as a parameter, and a guard can make the whole transaction
//! roll back when a condition does not hold (read-check-write without a round trip).

use crate::types::command::{OutputRef, TxnParam, TxnStatement, TxnStatementKind};
use crate::types::params::{IntoTxnParams, ParamsError};
use crate::types::value::Value;

/// A transaction under construction.
///
/// ```
/// use hiqlite::client::Txn;
/// use hiqlite::params;
/// let mut txn = Txn::new();
/// // Abort unless alice can pay.
/// txn.guard("SELECT balance >= ? FROM accounts WHERE name = ?", params!(10, "alice"));
/// txn.execute("UPDATE accounts SET balance = balance - ? WHERE name = ?", params!(10, "alice"));
/// txn.execute("UPDATE accounts SET balance = balance + ? WHERE name = ?", params!(10, "bob"));
/// let order = txn.execute("INSERT INTO orders (item) VALUES (?)", params!("book"));
/// txn.execute("INSERT INTO order_lines (order_id, qty) VALUES (?, ?)", vec![order.last_insert_rowid(), 1.into()]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Txn {
    pub(crate) statements: Vec<TxnStatement>,
    /// The first statement whose named parameters did not fit its SQL: [`Client::txn`]
    /// (crate::Client::txn) returns it and sends nothing.
    pub(crate) params_error: Option<ParamsError>,
}

/// Refers to a statement of a [`Txn`], to use its output as a later statement's parameter.
#[derive(Debug, Clone, Copy)]
pub struct StatementRef(usize);

impl StatementRef {
    /// The rowid inserted by this (execute) statement.
    pub fn last_insert_rowid(self) -> TxnParam {
        self.output(OutputRef::LastInsertRowid)
    }
    /// The number of rows this (execute) statement changed.
    pub fn rows_affected(self) -> TxnParam {
        self.output(OutputRef::RowsAffected)
    }
    /// Column `name` of the first row this (query or returning) statement produced.
    pub fn column(self, name: &str) -> TxnParam {
        self.output(OutputRef::Column(name.to_string()))
    }
    /// Position of the statement in the transaction (0-based); also its index in the results.
    pub fn index(self) -> usize {
        self.0
    }
    fn output(self, output: OutputRef) -> TxnParam {
        TxnParam::Output {
            statement: self.0,
            output,
        }
    }
}

impl Txn {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a statement; its output is rows affected and the last inserted rowid. `params`:
    /// positional (`params!`, or a `Vec` of values and earlier outputs) or named
    /// ([`NamedParams`](crate::NamedParams)); named values that do not fit the SQL make
    /// [`Client::txn`](crate::Client::txn) fail with [`Error::Params`](crate::Error::Params)
    /// before anything is sent.
    pub fn execute(&mut self, sql: impl Into<String>, params: impl IntoTxnParams) -> StatementRef {
        self.push(sql, params, TxnStatementKind::Execute)
    }

    /// Adds one statement run once per parameter row, prepared once: the fast way to insert or
    /// update many rows atomically. Its output is the total rows affected and the last rowid.
    ///
    /// ```
    /// let mut txn = hiqlite::Txn::new();
    /// let rows = (0..1000).map(|i| hiqlite::params!(i, format!("user-{i}"))).collect();
    /// txn.execute_many("INSERT INTO users (id, name) VALUES (?, ?)", rows);
    /// ```
    pub fn execute_many(&mut self, sql: impl Into<String>, rows: Vec<Vec<Value>>) -> StatementRef {
        self.push(
            sql,
            Vec::<TxnParam>::new(),
            TxnStatementKind::ExecuteMany { rows },
        )
    }

    /// Adds a statement whose rows are kept (a `SELECT` or `... RETURNING`). `params` as for
    /// [`execute`](Self::execute).
    pub fn query(&mut self, sql: impl Into<String>, params: impl IntoTxnParams) -> StatementRef {
        self.push(sql, params, TxnStatementKind::Query)
    }

    /// Adds a guard: the first column of its first row must be truthy (non-zero, non-NULL), or
    /// the whole transaction rolls back and [`Client::txn`](crate::Client::txn) returns
    /// [`SqlError::GuardFailed`](crate::types::command::SqlError::GuardFailed). `params` as for
    /// [`execute`](Self::execute).
    pub fn guard(&mut self, sql: impl Into<String>, params: impl IntoTxnParams) -> StatementRef {
        self.push(sql, params, TxnStatementKind::Guard)
    }

    /// Adds a fence: the transaction rolls back with
    /// [`SqlError::GuardFailed`](crate::types::command::SqlError::GuardFailed) unless grant
    /// `token` of lock `name` ([`LockGuard::token`](crate::LockGuard::token)) still holds the lock
    /// when the transaction is applied (its lease not run out by the entry's time). A holder that
    /// lost the lock, however long it paused, cannot write through it.
    pub fn fence(&mut self, name: &str, token: u64) -> StatementRef {
        self.guard(
            crate::types::cache::FENCE_SQL,
            vec![
                TxnParam::Value(Value::Text(name.to_owned())),
                TxnParam::Value(Value::Integer(i64::try_from(token).unwrap_or(-1))),
            ],
        )
    }

    pub fn len(&self) -> usize {
        self.statements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    fn push(
        &mut self,
        sql: impl Into<String>,
        params: impl IntoTxnParams,
        kind: TxnStatementKind,
    ) -> StatementRef {
        let sql = sql.into();
        let params = params.into_txn_params(&sql).unwrap_or_else(|e| {
            let statement = self.statements.len();
            self.params_error.get_or_insert(ParamsError::InTxn {
                statement,
                source: Box::new(e),
            });
            Vec::new()
        });
        self.statements.push(TxnStatement { sql, params, kind });
        StatementRef(self.statements.len() - 1)
    }
}

impl From<Value> for TxnParam {
    fn from(v: Value) -> Self {
        TxnParam::Value(v)
    }
}

macro_rules! txn_param_from {
    ($($t:ty),*) => {$(
        impl From<$t> for TxnParam {
            fn from(v: $t) -> Self { TxnParam::Value(Value::from(v)) }
        }
    )*};
}
txn_param_from!(
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    isize,
    bool,
    f32,
    f64,
    String,
    &str,
    &String,
    Vec<u8>,
    &[u8]
);
