//! `changes()` and `total_changes()` on the writer connection, counted per entry.
//!
//! SQLite answers both from the connection's history: `total_changes()` counts every row changed
//! since the connection opened, and `changes()` reports the last INSERT/UPDATE/DELETE that ran
//! on it, which may be the writer's own bookkeeping or a statement of an earlier entry. A
//! node that restarted, installed a snapshot or cut its batches elsewhere would store other
//! values (`INSERT INTO log VALUES (total_changes())`). Here both count from the start of the
//! entry, as if each entry ran on a fresh connection:
//!
//! * `total_changes()`: rows changed by the entry's statements so far;
//! * `changes()`: rows changed by the entry's most recent completed INSERT, UPDATE or DELETE, 0
//!   before the first one (SQLite's value on a fresh connection).
//!
//! Within an entry SQLite's own counters are deterministic, so both are derived from them and a
//! per-thread mark set by [`mark_entry_start`] (thread-local like the entry clock, see
//! `determinism.rs`). `last_insert_rowid()` is handled by resetting it per entry (`ffi.rs`).

use std::cell::Cell;
use std::ffi::{c_int, CStr};

use rusqlite::{ffi, Connection};

thread_local! {
    /// `sqlite3_total_changes64` of the writer connection when the current entry started.
    static ENTRY_START: Cell<i64> = const { Cell::new(0) };
}

/// Marks the start of an entry on `conn` (call on the thread that runs the entry).
pub fn mark_entry_start(conn: &Connection) {
    // SAFETY: `conn.handle()` is the live connection owned by `conn`, used on this thread only.
    let total = unsafe { ffi::sqlite3_total_changes64(conn.handle()) };
    let _ = ENTRY_START.try_with(|c| c.set(total));
}

/// Replaces `changes()` and `total_changes()` on `conn` with the per-entry versions above.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let functions: [(&CStr, super::ffi::ScalarFn); 2] = [
        (c"changes", changes_fn),
        (c"total_changes", total_changes_fn),
    ];
    for (name, func) in functions {
        // Not DETERMINISTIC: the value changes between statements of one entry.
        super::ffi::register_scalar(
            conn,
            name,
            0,
            ffi::SQLITE_INNOCUOUS,
            std::ptr::null_mut(),
            func,
        )?;
    }
    Ok(())
}

/// SQLite's counters for the connection of `ctx`, less the mark of the current entry:
/// (rows changed by the entry so far, rows changed by the last completed DML statement).
fn counters(ctx: *mut ffi::sqlite3_context) -> (i64, i64) {
    let start = ENTRY_START.try_with(Cell::get).unwrap_or(0);
    // SAFETY: `ctx` is the valid function context SQLite passed to the running call; its
    // connection handle is valid for the call, and both counters only read it.
    let (total, last) = unsafe {
        let db = ffi::sqlite3_context_db_handle(ctx);
        (ffi::sqlite3_total_changes64(db), ffi::sqlite3_changes64(db))
    };
    (total - start, last)
}

unsafe extern "C" fn total_changes_fn(
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    _argv: *mut *mut ffi::sqlite3_value,
) {
    let (in_entry, _) = counters(ctx);
    // SAFETY: `ctx` is valid for this call.
    unsafe { ffi::sqlite3_result_int64(ctx, in_entry) };
}

unsafe extern "C" fn changes_fn(
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    _argv: *mut *mut ffi::sqlite3_value,
) {
    let (in_entry, last) = counters(ctx);
    // No row changed in this entry yet: the last DML statement (if any) ran before it, or changed
    // nothing; both read 0, as on a fresh connection.
    let value = if in_entry == 0 { 0 } else { last };
    // SAFETY: `ctx` is valid for this call.
    unsafe { ffi::sqlite3_result_int64(ctx, value) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(conn: &Connection) -> (i64, i64) {
        conn.query_row("SELECT changes(), total_changes()", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    }

    #[test]
    fn counts_start_over_with_every_entry() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3);")
            .unwrap();
        // Before any mark: SQLite's own view of the connection.
        assert_eq!(counted(&conn), (3, 3));

        mark_entry_start(&conn);
        assert_eq!(
            counted(&conn),
            (0, 0),
            "a new entry reads as a fresh connection"
        );
        conn.execute("UPDATE t SET x = x + 1 WHERE x < 3", [])
            .unwrap();
        assert_eq!(counted(&conn), (2, 2));
        conn.execute("DELETE FROM t WHERE x = 3", []).unwrap();
        assert_eq!(counted(&conn), (2, 4));
        // A statement reads the counters as they were when it started.
        conn.execute("INSERT INTO t VALUES (total_changes())", [])
            .unwrap();
        let stored: i64 = conn
            .query_row(
                "SELECT x FROM t WHERE rowid = (SELECT max(rowid) FROM t)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, 4);

        mark_entry_start(&conn);
        assert_eq!(counted(&conn), (0, 0));
    }
}
