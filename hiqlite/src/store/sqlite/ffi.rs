//! The few raw SQLite calls rusqlite does not wrap, kept in one place.

use rusqlite::Connection;

/// Resets the connection's `last_insert_rowid()` to 0, so an entry never sees a rowid left over
/// from an earlier entry (batches are cut differently on each node).
pub fn reset_last_insert_rowid(conn: &Connection) {
    // SAFETY: the handle belongs to `conn`, which is borrowed for the duration of the call and
    // used on this thread only; sqlite3_set_last_insert_rowid has no other preconditions.
    unsafe { rusqlite::ffi::sqlite3_set_last_insert_rowid(conn.handle(), 0) }
}

/// Number of deferred foreign key violations pending in the open transaction. They are only
/// reported at COMMIT, which would fail the whole batch; the writer checks them per entry instead.
pub fn deferred_foreign_key_violations(conn: &Connection) -> i32 {
    let (mut current, mut highwater) = (0, 0);
    // SAFETY: valid handle of a connection borrowed for the call; the out-pointers point to
    // live locals; SQLITE_DBSTATUS_DEFERRED_FKS takes no reset flag semantics that matter here.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_status(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBSTATUS_DEFERRED_FKS,
            &mut current,
            &mut highwater,
            0,
        )
    };
    if rc == rusqlite::ffi::SQLITE_OK {
        current
    } else {
        0
    }
}
