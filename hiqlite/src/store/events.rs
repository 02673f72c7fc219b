//! Events the state machine publishes after a commit: notifications (`WriteOp::Notify`) and
//! table changes (rows inserted, updated or deleted by committed entries). The SQLite writer
//! collects them while it applies a segment and hands them to [`Events::publish`] only once the
//! segment's transaction committed; what a rolled-back savepoint or transaction produced is
//! dropped. Every node applies the same entries in the same order, so every node publishes the
//! same events in the same order, each to the subscribers on that node.
//!
//! Memory is bounded: each channel, and the one stream of table changes, is a tokio `broadcast`
//! channel of [`Events::capacity`] messages. A subscriber that falls further behind than that
//! loses the oldest messages and is told how many ([`ListenError::Lagged`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

/// The messages each channel, and the table-change stream, keep for slow subscribers.
pub const EVENT_BUFFER: usize = 1024;

/// A message published with `Client::notify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
    /// The log index of the entry that carried it: increases along the log, the same on every
    /// node.
    pub log_index: u64,
}

/// What a committed statement did to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableOp {
    Insert,
    Update,
    Delete,
}

/// One row changed by a committed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEvent {
    pub table: String,
    pub op: TableOp,
    /// The row's rowid (for an update: after the update). Tables `WITHOUT ROWID` report none:
    /// SQLite's update hook does not fire for them.
    pub rowid: i64,
    /// The log index of the entry that changed the row.
    pub log_index: u64,
}

/// An event collected during apply, published after commit.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    Notify(Notification),
    Table(TableEvent),
}

/// Why [`Subscription::recv`] returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    /// This subscriber fell more than the buffer ([`EVENT_BUFFER`] messages) behind: the `n`
    /// oldest messages it had not read are gone. The next `recv` returns the oldest one still
    /// kept.
    #[error(
        "the subscriber fell behind: {0} messages were dropped (the buffer keeps {EVENT_BUFFER})"
    )]
    Lagged(u64),
    /// The node stopped: no more messages will come.
    #[error("the node stopped: no more messages")]
    Closed,
}

/// A subscription to a notification channel ([`Notification`]) or to table changes
/// ([`TableEvent`]). Receives the messages published after it was made, in log order.
pub struct Subscription<T> {
    rx: broadcast::Receiver<T>,
    filter: Option<Vec<String>>,
    table_of: fn(&T) -> &str,
}

impl<T: Clone> Subscription<T> {
    /// The next message; waits for one.
    ///
    /// # Errors
    /// [`ListenError::Lagged`] when messages were dropped because this subscriber was too slow
    /// (it goes on with the oldest kept one), [`ListenError::Closed`] once the node stopped.
    pub async fn recv(&mut self) -> Result<T, ListenError> {
        loop {
            let message = self.rx.recv().await.map_err(|e| match e {
                broadcast::error::RecvError::Lagged(n) => ListenError::Lagged(n),
                broadcast::error::RecvError::Closed => ListenError::Closed,
            })?;
            if self.wanted(&message) {
                return Ok(message);
            }
        }
    }

    /// The next message if one is waiting, without waiting: `Ok(None)` when none is.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Option<T>, ListenError> {
        loop {
            match self.rx.try_recv() {
                Ok(message) if self.wanted(&message) => return Ok(Some(message)),
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Empty) => return Ok(None),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    return Err(ListenError::Lagged(n))
                }
                Err(broadcast::error::TryRecvError::Closed) => return Err(ListenError::Closed),
            }
        }
    }

    fn wanted(&self, message: &T) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|tables| tables.iter().any(|t| t == (self.table_of)(message)))
    }
}

/// The node's publishers: one broadcast channel per notification channel that has (or had)
/// subscribers, and one for table changes.
pub struct Events {
    capacity: usize,
    channels: Mutex<HashMap<String, broadcast::Sender<Notification>>>,
    tables: broadcast::Sender<TableEvent>,
}

impl Default for Events {
    fn default() -> Self {
        Events::new(EVENT_BUFFER)
    }
}

impl Events {
    /// Publishers whose subscribers each keep at most `capacity` unread messages (at least 1).
    pub fn new(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            capacity,
            channels: Mutex::new(HashMap::new()),
            tables: broadcast::channel(capacity).0,
        }
    }

    /// The most unread messages one subscriber keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// A subscription to the notifications of `channel`.
    pub fn listen(&self, channel: &str) -> Subscription<Notification> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        // Channels whose subscribers all went away keep no buffer.
        channels.retain(|_, sender| sender.receiver_count() > 0);
        let sender = channels
            .entry(channel.to_string())
            .or_insert_with(|| broadcast::channel(self.capacity).0);
        Subscription {
            rx: sender.subscribe(),
            filter: None,
            table_of: |n: &Notification| &n.channel,
        }
    }

    /// A subscription to the changes of the rows of `tables` (names as written in the schema,
    /// compared exactly). The buffer is shared by all tables: changes to other tables count
    /// towards a subscriber's lag, though it never receives them.
    pub fn listen_tables(&self, tables: &[&str]) -> Subscription<TableEvent> {
        Subscription {
            rx: self.tables.subscribe(),
            filter: Some(tables.iter().map(|t| (*t).to_string()).collect()),
            table_of: |e: &TableEvent| &e.table,
        }
    }

    /// Whether anyone listens to table changes (the writer skips collecting them otherwise).
    pub(crate) fn tables_watched(&self) -> bool {
        self.tables.receiver_count() > 0
    }

    /// Delivers committed events, in order. A channel without subscribers drops its messages
    /// (and is forgotten).
    pub(crate) fn publish(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        for event in events {
            match event {
                Event::Notify(n) => {
                    if let Some(sender) = channels.get(&n.channel) {
                        if sender.send(n.clone()).is_err() {
                            channels.remove(&n.channel);
                        }
                    }
                }
                Event::Table(e) => {
                    let _ = self.tables.send(e);
                }
            }
        }
    }
}

/// Shared between the writer and the node's clients.
pub type SharedEvents = Arc<Events>;

#[cfg(test)]
mod tests {
    use super::*;

    fn note(channel: &str, i: u64) -> Event {
        Event::Notify(Notification {
            channel: channel.into(),
            payload: format!("m{i}"),
            log_index: i,
        })
    }

    #[tokio::test]
    async fn subscribers_receive_their_channel_in_order() {
        let events = Events::new(8);
        let mut a = events.listen("a");
        let mut b = events.listen("b");
        events.publish(vec![note("a", 1), note("b", 2), note("a", 3)]);
        assert_eq!(a.recv().await.unwrap().log_index, 1);
        assert_eq!(a.recv().await.unwrap().log_index, 3);
        assert_eq!(b.recv().await.unwrap().log_index, 2);
        assert_eq!(a.try_recv(), Ok(None));
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_how_many_it_lost() {
        let events = Events::new(4);
        let mut slow = events.listen("a");
        events.publish((1..=10).map(|i| note("a", i)).collect());
        assert_eq!(slow.recv().await, Err(ListenError::Lagged(6)));
        // The buffer kept the newest 4.
        for i in 7..=10 {
            assert_eq!(slow.recv().await.unwrap().log_index, i);
        }
    }

    #[tokio::test]
    async fn table_subscribers_get_only_their_tables() {
        let events = Events::new(8);
        let mut users = events.listen_tables(&["users"]);
        let change = |table: &str, rowid| {
            Event::Table(TableEvent {
                table: table.into(),
                op: TableOp::Insert,
                rowid,
                log_index: 1,
            })
        };
        events.publish(vec![change("other", 1), change("users", 2)]);
        assert_eq!(users.recv().await.unwrap().rowid, 2);
        assert_eq!(users.try_recv(), Ok(None));
    }
}
