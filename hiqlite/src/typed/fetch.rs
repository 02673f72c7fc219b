//! Streaming reads of checked queries: [`Query::fetch`] and [`Query::fetch_consistent`].

use std::sync::Arc;

use super::{Query, QueryRow, Read};
use crate::client::{Client, RowStream};

impl<T: QueryRow + 'static> Query<Read, T>
where
    T::Output: Send + 'static,
{
    /// Streaming local read: the rows one at a time as a [`RowStream`] (a `futures::Stream` of
    /// `Result<T, Error>`), holding a few batches in memory whatever the size of the result.
    /// Sees every write made through the same node; all rows come from one snapshot, taken when
    /// the first row is read. See [`Client::query_stream`] for the memory bound, what an open
    /// stream holds, and its errors.
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// use futures::TryStreamExt;
    /// let mut users = hiqlite::query!("SELECT id, name FROM users ORDER BY id").fetch(&client);
    /// while let Some(user) = users.try_next().await? {
    ///     println!("{} {}", user.id, user.name);
    /// }
    /// # Ok(()) }
    /// ```
    /// A `query_scalar!` streams its column's values.
    pub fn fetch(self, client: &Client) -> RowStream<T::Output> {
        client.stream_with(self.sql.into(), self.params, false, Arc::new(T::read))
    }

    /// [`fetch`](Self::fetch), linearizable: the rows include every write that completed
    /// before the call, whichever node took it (see [`Client::query_consistent_stream`]).
    pub fn fetch_consistent(self, client: &Client) -> RowStream<T::Output> {
        client.stream_with(self.sql.into(), self.params, true, Arc::new(T::read))
    }
}
