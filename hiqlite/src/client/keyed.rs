//! Keyed writes: [`Client::with_key`] runs a write under a [`WriteKey`] the caller keeps, so a
//! write whose outcome is unknown ([`Error::OutcomeUnknown`], a crash of the caller) can be
//! repeated safely: the cluster applies it at most once and answers every repeat with the first
//! result.
//!
//! The key is the write's request id; the state machine's table of remembered results
//! (`_hiqlite_requests`) does the rest, exactly as for the client's own internal retries.

use super::write::WriteId;
use super::{row, Client, ExecuteResult, FromRow, Txn};
use crate::engine::error::Error;
use crate::types::command::{Rows, StatementOutput};
use crate::types::params::IntoParams;
use crate::types::write_key::WriteKey;

impl Client {
    /// Writes made with `key`: the first one is applied, every later one with the same key
    /// returns the first one's result and applies nothing. See [`KeyedWrite`].
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// use hiqlite::{params, Error, WriteKey};
    /// let key = WriteKey::new(); // keep it until the write is confirmed
    /// let insert = client.with_key(key);
    /// let mut attempts = 0;
    /// let result = loop {
    ///     attempts += 1;
    ///     match insert.execute("INSERT INTO users (name) VALUES (?)", params!("alice")).await {
    ///         // Applied or not? Repeating with the same key is safe either way.
    ///         Err(Error::OutcomeUnknown(_) | Error::NoLeader(_)) if attempts < 5 => continue,
    ///         other => break other?,
    ///     }
    /// };
    /// println!("alice has id {}", result.last_insert_rowid);
    /// # Ok(()) }
    /// ```
    pub fn with_key(&self, key: WriteKey) -> KeyedWrite<'_> {
        KeyedWrite { client: self, key }
    }
}

/// Writes under one [`WriteKey`], from [`Client::with_key`]. The methods are those of
/// [`Client`], with the same arguments and results.
///
/// What a key promises:
/// - The first write made with the key is applied (or fails with its SQL error) as any write.
/// - Every later write with the same key, through any node, from an embedded or a remote client,
///   in this process or another, returns the first write's result (its SQL error included, even
///   if the statement would now succeed) and applies nothing. Even a different statement under
///   the same key returns the first result: a key names one write, not a statement.
/// - A later write of another kind (`execute` first, `execute_returning` now) cannot return the
///   first result: it fails with [`Error::WriteKeyReused`] and applies nothing.
/// - The cluster remembers the result for at least
///   [`WRITE_KEY_RETENTION`](crate::WRITE_KEY_RETENTION) (10 minutes) after the first write was
///   applied, by the leader's clock; a repeat after that may apply the write again.
///
/// Every call can fail as the same call without a key does; none of those failures applies the
/// write twice, so after any of them the write may be repeated with the key.
#[must_use = "a keyed write does nothing until one of its methods runs"]
#[derive(Clone, Copy)]
pub struct KeyedWrite<'a> {
    client: &'a Client,
    key: WriteKey,
}

impl std::fmt::Debug for KeyedWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedWrite")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl KeyedWrite<'_> {
    /// The key these writes are made with.
    pub fn key(&self) -> WriteKey {
        self.key
    }

    fn id(&self) -> WriteId {
        WriteId::Key(self.key)
    }

    /// [`Client::execute`] under the key.
    pub async fn execute(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<ExecuteResult, Error> {
        self.client.execute_under(self.id(), sql, params).await
    }

    /// [`Client::execute_returning`] under the key.
    pub async fn execute_returning<T: FromRow>(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Vec<T>, Error> {
        let rows = self.execute_returning_rows(sql, params).await?;
        row::map_rows(&rows, T::from_row)
    }

    /// [`Client::execute_returning_rows`] under the key.
    pub async fn execute_returning_rows(
        &self,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Rows, Error> {
        self.client
            .execute_returning_rows_under(self.id(), sql, params)
            .await
    }

    /// [`Client::txn`] under the key: the whole transaction is applied at most once.
    pub async fn txn(&self, txn: Txn) -> Result<Vec<StatementOutput>, Error> {
        self.client.txn_under(self.id(), txn).await
    }

    /// [`Client::batch`] under the key: the whole batch is applied at most once.
    pub async fn batch(&self, sql: impl Into<String>) -> Result<usize, Error> {
        self.client.batch_under(self.id(), sql).await
    }
}
