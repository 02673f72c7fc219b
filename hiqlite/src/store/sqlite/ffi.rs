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

/// A scalar SQL function implemented in Rust with SQLite's C signature.
pub type ScalarFn = unsafe extern "C" fn(
    *mut rusqlite::ffi::sqlite3_context,
    std::ffi::c_int,
    *mut *mut rusqlite::ffi::sqlite3_value,
);

/// Registers `func` as the SQL function `name` taking `n_arg` arguments (replacing a built-in of
/// that name and arity), with the text encoding and `flags` (`SQLITE_DETERMINISTIC`,
/// `SQLITE_INNOCUOUS`, ...) and `user_data` for `sqlite3_user_data`.
///
/// Through the C API rather than `Connection::create_scalar_function`, so the function can use
/// SQLite's own argument conversions (`sqlite3_value_numeric_type`, `sqlite3_value_int64`) and
/// limits, exactly like the built-ins it stands in for. `user_data` must stay valid for the
/// whole program (a `fn` pointer, or null): no destructor is registered.
pub fn register_scalar(
    conn: &Connection,
    name: &std::ffi::CStr,
    n_arg: std::ffi::c_int,
    flags: std::ffi::c_int,
    user_data: *mut std::ffi::c_void,
    func: ScalarFn,
) -> rusqlite::Result<()> {
    use rusqlite::ffi;
    // SAFETY: `conn.handle()` is the live connection owned by `conn`, used on this thread only
    // for this call. `name` is NUL-terminated and copied by SQLite. `user_data` lives for the
    // whole program (the caller's promise) and needs no destructor; `func` has the
    // scalar-function signature and is a function of the program.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            conn.handle(),
            name.as_ptr(),
            n_arg,
            ffi::SQLITE_UTF8 | flags,
            user_data,
            Some(func),
            None,
            None,
            None,
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(rc),
            Some(format!("cannot register {}()", name.to_string_lossy())),
        ))
    }
}
