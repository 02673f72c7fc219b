//! Cron jobs, listen/notify and table change notifications on [`Client`].

use std::future::Future;

use super::{Backend, Client};
use crate::config::CronSchedule;
use crate::cron::{CronJob, CronTick};
use crate::engine::error::Error;
use crate::store::events::{Notification, Subscription, TableEvent};
use crate::types::command::WriteOp;

impl Client {
    /// Registers `job`, an async closure, to run at the ticks of the cron expression `schedule`
    /// (UTC; 5, 6 or 7 fields, the 6- and 7-field forms start with seconds). It runs only on the
    /// node that leads, at most once per tick across the whole cluster: the tick is claimed
    /// through Raft before the job runs, under the name `cron:<name>`. Register the same job, with
    /// the same name, on every node, so that whichever node leads runs it. A tick missed during a
    /// fail-over runs once, late, on the new leader (`CronTick::late`); when the job fails or its
    /// leader dies while it runs, that tick is not run again (docs/cron-notify.md).
    ///
    /// The job stops when the node stops, or with [`CronJob::stop`].
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// let c = client.clone();
    /// let _job = client.cron("purge", "0 */5 * * * *", move |_tick| {
    ///     let c = c.clone();
    ///     async move {
    ///         let _ = c.execute("DELETE FROM sessions WHERE expires < unixepoch()", hiqlite::params!()).await;
    ///     }
    /// })?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when `schedule` does not parse, [`Error::EmbeddedOnly`] on a remote
    /// client, [`Error::ShuttingDown`] when the node stopped.
    pub fn cron<F, Fut>(&self, name: &str, schedule: &str, job: F) -> Result<CronJob, Error>
    where
        F: Fn(CronTick) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let schedule = CronSchedule::parse(schedule).map_err(Error::Config)?;
        match &self.inner.backend {
            Backend::Local(engine, handle) => {
                let shutdown = handle.shutdown_signal().ok_or(Error::ShuttingDown)?;
                Ok(crate::cron::job::spawn(
                    engine.clone(),
                    name,
                    schedule,
                    shutdown,
                    job,
                ))
            }
            Backend::Remote(_) => Err(Error::EmbeddedOnly { what: "a cron job" }),
        }
    }

    /// Publishes `payload` on `channel` to the subscribers ([`listen`](Self::listen)) of every
    /// node: through the Raft log, so every node delivers the same notifications in the same
    /// order, once the entry is committed and applied. Works from every client. A notification
    /// is not stored: a subscriber receives only what is published after it subscribed.
    ///
    /// # Errors
    /// As any write ([`Error::NoLeader`], [`Error::OutcomeUnknown`], ...), and
    /// [`Error::FormatTooOld`] while some node runs a release before cluster format 5.
    pub async fn notify(
        &self,
        channel: impl Into<String>,
        payload: impl Into<String>,
    ) -> Result<(), Error> {
        self.write(WriteOp::Notify {
            channel: channel.into(),
            payload: payload.into(),
        })
        .await
        .map(|_| ())
    }

    /// Subscribes to `channel` on this node. The subscription keeps at most
    /// [`EVENT_BUFFER`](crate::store::events::EVENT_BUFFER) unread notifications; a subscriber
    /// that falls further behind is told how many it lost
    /// ([`ListenError::Lagged`](crate::store::events::ListenError::Lagged)).
    ///
    /// # Errors
    /// [`Error::EmbeddedOnly`] on a remote client (remote subscriptions are not offered yet).
    pub fn listen(&self, channel: &str) -> Result<Subscription<Notification>, Error> {
        match &self.inner.backend {
            Backend::Local(engine, _) => Ok(engine.events.listen(channel)),
            Backend::Remote(_) => Err(Error::EmbeddedOnly {
                what: "listening to a channel",
            }),
        }
    }

    /// Subscribes to the row changes of `tables` on this node: one [`TableEvent`] per row that a
    /// committed entry inserted, updated or deleted, in commit order; nothing for a statement
    /// or transaction that failed or rolled back. Bounded like [`listen`](Self::listen); changes
    /// to other tables count towards the bound.
    ///
    /// # Errors
    /// [`Error::EmbeddedOnly`] on a remote client.
    pub fn listen_tables(&self, tables: &[&str]) -> Result<Subscription<TableEvent>, Error> {
        match &self.inner.backend {
            Backend::Local(engine, _) => Ok(engine.events.listen_tables(tables)),
            Backend::Remote(_) => Err(Error::EmbeddedOnly {
                what: "listening to table changes",
            }),
        }
    }
}
