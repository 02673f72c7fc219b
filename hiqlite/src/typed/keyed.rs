//! Checked writes under a [`WriteKey`]: `query!(...).with_key(key)`, the typed form of
//! [`Client::with_key`].

use std::marker::PhantomData;

use super::{Query, Write};
use crate::client::{Client, ExecuteResult, FromRow};
use crate::engine::error::Error;
use crate::types::value::Params;
use crate::types::write_key::WriteKey;

impl<T> Query<Write, T> {
    /// The write under `key`: the first run applies it, every later run with the same key
    /// returns the first run's result and applies nothing (what a key promises:
    /// [`KeyedWrite`](crate::KeyedWrite)). Its methods take `&self`, so one value can be run
    /// again after an [`Error::OutcomeUnknown`].
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// let key = hiqlite::WriteKey::new();
    /// let insert = hiqlite::query!("INSERT INTO users (name) VALUES (?) RETURNING id", "bob")
    ///     .with_key(key);
    /// let id = match insert.fetch_one(&client).await {
    ///     // Applied or not: the same key makes the repeat safe, and it returns the same id.
    ///     Err(hiqlite::Error::OutcomeUnknown(_)) => insert.fetch_one(&client).await?.id,
    ///     other => other?.id,
    /// };
    /// # Ok(()) }
    /// ```
    pub fn with_key(self, key: WriteKey) -> KeyedQuery<T> {
        KeyedQuery {
            sql: self.sql,
            params: self.params,
            key,
            _marker: PhantomData,
        }
    }
}

/// A checked write under a [`WriteKey`], from [`Query::with_key`]. Its methods are those of
/// [`Query<Write, T>`], run through [`Client::with_key`]. Run a keyed write again with the same
/// method: `execute` after `fetch_one` (or the other way round) fails with
/// [`Error::WriteKeyReused`].
#[must_use = "a query does nothing until it is run with a client"]
pub struct KeyedQuery<T> {
    sql: &'static str,
    params: Params,
    key: WriteKey,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Clone for KeyedQuery<T> {
    fn clone(&self) -> Self {
        KeyedQuery {
            sql: self.sql,
            params: self.params.clone(),
            key: self.key,
            _marker: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for KeyedQuery<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedQuery")
            .field("sql", &self.sql)
            .field("params", &self.params)
            .field("key", &self.key)
            .finish()
    }
}

impl<T> KeyedQuery<T> {
    /// The key the write is made with.
    pub fn key(&self) -> WriteKey {
        self.key
    }

    /// [`Query::execute`] under the key: rows affected and last inserted rowid of the first run.
    pub async fn execute(&self, client: &Client) -> Result<ExecuteResult, Error> {
        client
            .with_key(self.key)
            .execute(self.sql, self.params.clone())
            .await
    }
}

impl<T: FromRow> KeyedQuery<T> {
    /// `Query<Write, T>::fetch_all` under the key: the rows of the first run's `RETURNING`
    /// clause.
    pub async fn fetch_all(&self, client: &Client) -> Result<Vec<T>, Error> {
        client
            .with_key(self.key)
            .execute_returning(self.sql, self.params.clone())
            .await
    }

    /// [`fetch_all`](Self::fetch_all) expecting one row: [`Error::NoRows`] when the statement
    /// returned none (it was still applied). Further rows are ignored.
    pub async fn fetch_one(&self, client: &Client) -> Result<T, Error> {
        self.fetch_all(client)
            .await?
            .into_iter()
            .next()
            .ok_or(Error::NoRows)
    }

    /// [`fetch_all`](Self::fetch_all) expecting at most one row. Further rows are ignored.
    pub async fn fetch_optional(&self, client: &Client) -> Result<Option<T>, Error> {
        Ok(self.fetch_all(client).await?.into_iter().next())
    }
}
