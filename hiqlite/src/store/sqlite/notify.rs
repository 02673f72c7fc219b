//! Applying `WriteOp::Notify`: nothing is written to the database; the writer's event
//! collector (`events_hook.rs`) publishes the notification once the entry's segment commits.

use super::ops::{needs_format, OpError};
use super::writer::WriterThread;
use crate::store::events::{Event, Notification};
use crate::types::command::WriteOutput;
use crate::types::format::Feature;

impl WriterThread {
    /// Applies `WriteOp::Notify` (inside the entry's savepoint): nothing is written; the
    /// notification is published once the segment commits.
    pub(super) fn apply_notify(
        &self,
        log_index: u64,
        channel: &str,
        payload: &str,
    ) -> Result<WriteOutput, OpError> {
        if !Feature::Notify.enabled_at(self.format) {
            return Err(needs_format(Feature::Notify, self.format));
        }
        self.events.push(Event::Notify(Notification {
            channel: channel.to_string(),
            payload: payload.to_string(),
            log_index,
        }));
        Ok(WriteOutput::Executed {
            rows_affected: 0,
            last_insert_rowid: 0,
        })
    }
}
