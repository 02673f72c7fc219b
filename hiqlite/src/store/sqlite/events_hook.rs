//! Collecting the events of the entries being applied (see `store::events`): SQLite's update
//! hook on the writer's connection records every row a user statement changes, and
//! `WriteOp::Notify` adds a notification (`notify.rs`). They wait in [`Collector`] until the segment's
//! transaction commits; a savepoint or transaction that rolls back drops what it produced.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::hooks::Action;
use rusqlite::Connection;

use crate::store::events::{Event, Events, TableEvent, TableOp};

/// The events of the segment being applied, and where they go once it commits.
pub(super) struct Collector {
    pending: Arc<Mutex<Vec<Event>>>,
    /// The log index of the entry being applied (the update hook tags rows with it).
    index: Arc<AtomicU64>,
    events: Arc<Events>,
}

impl Collector {
    /// Installs the update hook on `conn` (the writer's connection) and returns the collector
    /// that publishes to `events`.
    pub(super) fn install(conn: &Connection, events: Arc<Events>) -> Collector {
        let pending: Arc<Mutex<Vec<Event>>> = Arc::default();
        let index = Arc::new(AtomicU64::new(0));
        let (hook_pending, hook_index, hook_events) =
            (pending.clone(), index.clone(), events.clone());
        conn.update_hook(Some(
            move |action: Action, db: &str, table: &str, rowid: i64| {
                // Hiqlite's own tables and SQLite's are nobody's business; temp tables differ
                // per node.
                if db != "main"
                    || table.starts_with("_hiqlite")
                    || table.starts_with("sqlite_")
                    || !hook_events.tables_watched()
                {
                    return;
                }
                let op = match action {
                    Action::SQLITE_INSERT => TableOp::Insert,
                    Action::SQLITE_UPDATE => TableOp::Update,
                    Action::SQLITE_DELETE => TableOp::Delete,
                    _ => return,
                };
                hook_pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Event::Table(TableEvent {
                        table: table.to_string(),
                        op,
                        rowid,
                        log_index: hook_index.load(Ordering::Relaxed),
                    }));
            },
        ));
        Collector {
            pending,
            index,
            events,
        }
    }

    /// The publishers (shared with the node's clients).
    pub(super) fn events(&self) -> Arc<Events> {
        self.events.clone()
    }

    /// Starts collecting for the entry at `log_index`; returns the mark to roll back to.
    pub(super) fn begin_entry(&self, log_index: u64) -> usize {
        self.index.store(log_index, Ordering::Relaxed);
        self.lock().len()
    }

    /// Drops what was collected since `mark` (the entry's savepoint rolled back).
    pub(super) fn roll_back_to(&self, mark: usize) {
        self.lock().truncate(mark);
    }

    /// Drops everything collected (the transaction rolled back, or starts over).
    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    pub(super) fn push(&self, event: Event) {
        self.lock().push(event);
    }

    /// Publishes what was collected (the transaction committed).
    pub(super) fn publish(&self) {
        let events = std::mem::take(&mut *self.lock());
        self.events.publish(events);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}
