//! Deterministic clock and randomness for the SQLite writer connection.
//!
//! # Why
//!
//! Hiqlite replicates *statements*, not resulting pages: every node applies the same committed
//! Raft entry to its own SQLite file, so every node must compute the same result from the same
//! SQL. SQLite's clock functions read the local machine's clock and `random()` /
//! `randomblob()` read a process-wide PRNG seeded from the OS, so without this module
//! `INSERT INTO t VALUES (random(), datetime('now'))` stores different rows on different nodes,
//! silently diverging the replicas.
//!
//! # How
//!
//! * **Clock.** SQLite asks the connection's VFS for the time (`xCurrentTimeInt64`, falling
//!   back to `xCurrentTime`) whenever a statement needs "now", and caches the answer for the
//!   rest of that statement's run (`sqlite3StmtCurrentTime`); the cache is cleared every time a
//!   statement starts over. [`open_writer`] opens the connection with a VFS named
//!   [`VFS_NAME`] that is a copy of the default VFS (same file, locking, WAL shared-memory and
//!   sleep methods, so it interoperates with reader connections opened with the default VFS)
//!   except for those two clock methods: they return the *entry time* set on the calling
//!   thread by [`set_entry_context`]. This covers `datetime('now')`, `date('now')`,
//!   `time('now')`, `julianday('now')` / `julianday()`, `strftime(fmt, 'now')`,
//!   `unixepoch('now')` / `unixepoch()`, `timediff(x, 'now')`, `CURRENT_TIMESTAMP`,
//!   `CURRENT_DATE`, `CURRENT_TIME`, and columns declared `DEFAULT CURRENT_TIMESTAMP` (and
//!   friends), because all of them end up in `sqlite3StmtCurrentTime`.
//! * **Randomness.** `random()` and `randomblob(N)` are replaced on the writer connection by
//!   application-defined functions (application functions take precedence over built-ins) that
//!   draw from a per-thread SplitMix64 generator, re-seeded by every [`set_entry_context`]
//!   call. They keep SQLite's semantics: `random()` never returns `i64::MIN` (negative draws
//!   are mapped exactly like SQLite does), `randomblob(N)` converts `N` with SQLite's integer
//!   conversion, returns 1 byte for `N < 1` and fails with "string or blob too big" above
//!   `SQLITE_LIMIT_LENGTH`. They are registered as `SQLITE_UTF8 | SQLITE_INNOCUOUS` (usable in
//!   `DEFAULT (random())`, triggers and views, like the built-ins, even with
//!   `trusted_schema=OFF`) but deliberately *not* `SQLITE_DETERMINISTIC`: each call must
//!   return a new value, and a "deterministic" function may be evaluated at prepare time
//!   (STAT4 planning, constant factoring), which would make the number of draws depend on the
//!   node's statement cache.
//!
//! The context is thread-local, so several writer threads in one process (an in-process
//! cluster test) do not disturb each other, and connections opened normally (the reader pool)
//! keep the real clock and SQLite's own `random()`. Until [`set_entry_context`] is first called
//! on a thread, that thread's context is time 0 (`1970-01-01 00:00:00`) and seed 0:
//! deterministic, and conspicuous if a caller forgets to set it. The context must be set on the
//! thread that *steps* the statements (a `Connection` moved to another thread sees that
//! thread's context).
//!
//! # Already deterministic
//!
//! Everything computed from the database content and the statement: rowid allocation for
//! normal inserts (max + 1, or AUTOINCREMENT), `RETURNING`, date arithmetic on explicit values,
//! `printf`/`format` of floats (SQLite's own formatter). Made deterministic elsewhere:
//! `changes()` and `total_changes()` count from the start of the entry (`history.rs`),
//! `last_insert_rowid()` is reset per entry (`ffi.rs`), the entry time never goes backwards
//! along the log (`clock.rs`), and the math functions use one software implementation
//! (`math.rs`). The build (`sqlite_version()`, `sqlite_source_id()`,
//! `sqlite_compileoption_used()`) is the same binary on every node, except during a rolling
//! upgrade. The full list for users is `docs/sql.md`.
//!
//! # Not covered (still node-dependent)
//!
//! * The `'localtime'` and `'utc'` date modifiers use the node's time zone (via
//!   `localtime_r`); run every node in the same time zone (UTC) or avoid them in writes.
//! * SQLite's internal PRNG (`sqlite3_randomness`, process-wide, not per connection) is still
//!   used for (a) a new rowid once a rowid table (without AUTOINCREMENT) already holds rowid
//!   `9223372036854775807`, and (b) the names of result columns of `CREATE TABLE ... AS SELECT`
//!   after more than three duplicate column names (`a:N`). Both are edge cases; reseeding that
//!   PRNG would need the test-control interface and would also make WAL salts predictable, so
//!   it is left alone.
//! * Values that describe the file rather than the data: `PRAGMA page_count` /
//!   `freelist_count` / `database_list` / `data_version` and the `dbstat` virtual table are
//!   refused in writes (`guard.rs`); `rootpage` in `sqlite_schema` is not (SQLite's own DDL
//!   reads it), so do not store it.
//! * Query plans are a function of schema and `sqlite_stat*` tables; if a node runs `ANALYZE`
//!   or `PRAGMA optimize` locally (not through Raft), unordered result order and the order in
//!   which rows draw from `random()` can differ. Run those through Raft.
//! * Not a limitation of determinism but a consequence of it: values from `random()` and
//!   `randomblob()` in replicated writes are *predictable* to anyone who knows the seed (the
//!   caller derives it from the log id) and the generator. Never mint secrets (session tokens,
//!   API keys, password salts) in replicated SQL; generate them in the application with a
//!   CSPRNG and bind them as parameters. `randomblob(16)` ids stay unique in practice, but
//!   carry at most 64 bits of entropy (the generator's state) per entry.
//! * The writer connection's SQLite profile timings (`SQLITE_TRACE_PROFILE`) use the same
//!   frozen clock and report ~0; measure apply latency in Rust instead.

use std::cell::Cell;
use std::ffi::{c_int, CStr};
use std::path::Path;
use std::sync::OnceLock;

use rusqlite::{ffi, Connection, OpenFlags};

/// Name under which the deterministic VFS is registered (once per process).
pub const VFS_NAME: &str = "hiqlite-deterministic";

const VFS_NAME_C: &CStr = c"hiqlite-deterministic";

/// Milliseconds from the Julian-day epoch (noon, 24 Nov 4714 BC) to the Unix epoch, the offset
/// SQLite's own unix VFS adds in `unixCurrentTimeInt64` (`24405875 * 8640000`).
const UNIX_EPOCH_JULIAN_MS: i64 = 210_866_760_000_000;
const MS_PER_DAY: f64 = 86_400_000.0;

/// Opens the writer connection with deterministic clock and randomness.
pub fn open_writer(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    register_vfs()?;
    let conn = Connection::open_with_flags_and_vfs(path, flags, VFS_NAME_C)?;
    register_random_functions(&conn)?;
    super::history::register(&conn)?;
    // The math functions come with the cluster's format 2: the writer registers them
    // (`WriterThread::switch_format`).
    Ok(conn)
}

/// Sets the clock and random seed that the writer connection on THIS thread sees until the next call.
pub fn set_entry_context(leader_time_ms: i64, seed: u64) {
    // `try_with` only fails during thread teardown; there is nothing to set then.
    let _ = CONTEXT.try_with(|c| {
        c.set(EntryContext {
            time_ms: leader_time_ms,
            rng: SplitMix64(seed),
        })
    });
}

#[derive(Clone, Copy)]
struct EntryContext {
    /// Milliseconds since the Unix epoch.
    time_ms: i64,
    rng: SplitMix64,
}

/// What a thread sees before its first [`set_entry_context`] call.
const UNSET_CONTEXT: EntryContext = EntryContext {
    time_ms: 0,
    rng: SplitMix64(0),
};

thread_local! {
    static CONTEXT: Cell<EntryContext> = const { Cell::new(UNSET_CONTEXT) };
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and every seed gives a full-period,
/// well-mixed sequence. Not cryptographic (see the module docs).
#[derive(Clone, Copy)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Runs `f` on this thread's generator and stores the advanced state back.
fn with_rng<T>(f: impl FnOnce(&mut SplitMix64) -> T) -> T {
    let mut ctx = CONTEXT.try_with(Cell::get).unwrap_or(UNSET_CONTEXT);
    let out = f(&mut ctx.rng);
    let _ = CONTEXT.try_with(|c| c.set(ctx));
    out
}

/// The entry time of this thread as Julian-day milliseconds, SQLite's internal clock unit.
fn entry_time_julian_ms() -> i64 {
    let unix_ms = CONTEXT
        .try_with(|c| c.get().time_ms)
        .unwrap_or(UNSET_CONTEXT.time_ms);
    unix_ms.saturating_add(UNIX_EPOCH_JULIAN_MS)
}

// ---------------------------------------------------------------------------------------------
// VFS
// ---------------------------------------------------------------------------------------------

/// Registers the deterministic VFS once per process; later calls return the first outcome.
fn register_vfs() -> rusqlite::Result<()> {
    static REGISTERED: OnceLock<Result<(), c_int>> = OnceLock::new();
    let outcome = *REGISTERED.get_or_init(|| {
        // SAFETY: `sqlite3_vfs_find` is thread-safe (it initializes SQLite if needed and takes
        // the VFS mutex); a null name asks for the default VFS. The returned pointer, if not
        // null, points to a registered VFS that SQLite keeps alive for the process (built-in
        // VFSes are static and never unregistered by this crate).
        let base = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
        if base.is_null() {
            return Err(ffi::SQLITE_ERROR);
        }
        // SAFETY: `base` is non-null and valid (above); `iVersion` is the first field of every
        // VFS version, so it can always be read.
        let version = unsafe { (*base).iVersion };
        if version < 3 {
            // Older VFS structs are shorter than `sqlite3_vfs`; copying one would read past it.
            // The built-in unix and win32 VFSes are version 3.
            return Err(ffi::SQLITE_ERROR);
        }
        // SAFETY: a version-3 VFS is a complete `sqlite3_vfs`, which is `Copy` plain data
        // (integers, pointers, function pointers); reading it makes a bitwise copy.
        let mut vfs: ffi::sqlite3_vfs = unsafe { std::ptr::read(base) };
        vfs.zName = VFS_NAME_C.as_ptr();
        vfs.pNext = std::ptr::null_mut();
        vfs.xCurrentTime = Some(vfs_current_time);
        vfs.xCurrentTimeInt64 = Some(vfs_current_time_int64);
        // SQLite keeps the pointer for the rest of the process (a registered VFS must outlive
        // every connection using it), so this one allocation of ~170 bytes is intentionally
        // never freed; `OnceLock` makes sure it happens at most once.
        let vfs: &'static mut ffi::sqlite3_vfs = Box::leak(Box::new(vfs));
        // SAFETY: `vfs` is a valid VFS whose methods are the default VFS's methods (they only
        // use `szOsFile`, `mxPathname` and `pAppData`, copied unchanged) plus our two clock
        // methods; it lives forever and Rust never touches it again, so SQLite may write its
        // `pNext` link. Registration is thread-safe.
        let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 0) };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(rc)
        }
    });
    outcome.map_err(|rc| {
        rusqlite::Error::SqliteFailure(
            ffi::Error::new(rc),
            Some(format!("cannot register the {VFS_NAME} SQLite VFS")),
        )
    })
}

/// `xCurrentTimeInt64`: the entry time of the calling thread in Julian-day milliseconds.
unsafe extern "C" fn vfs_current_time_int64(
    _vfs: *mut ffi::sqlite3_vfs,
    out: *mut ffi::sqlite3_int64,
) -> c_int {
    if out.is_null() {
        return ffi::SQLITE_ERROR;
    }
    // SAFETY: SQLite passes a valid, aligned, writable pointer to an `sqlite3_int64`.
    unsafe { *out = entry_time_julian_ms() };
    ffi::SQLITE_OK
}

/// `xCurrentTime` (legacy, only used if `xCurrentTimeInt64` were missing): Julian days.
unsafe extern "C" fn vfs_current_time(_vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    if out.is_null() {
        return ffi::SQLITE_ERROR;
    }
    // SAFETY: SQLite passes a valid, aligned, writable pointer to a `double`.
    unsafe { *out = entry_time_julian_ms() as f64 / MS_PER_DAY };
    ffi::SQLITE_OK
}

// ---------------------------------------------------------------------------------------------
// random() and randomblob()
// ---------------------------------------------------------------------------------------------

/// Replaces `random()` and `randomblob(N)` on `conn` with the thread's deterministic generator.
///
/// Registered through the C API rather than `Connection::create_scalar_function` so that
/// `randomblob` can apply SQLite's own argument conversion (`sqlite3_value_int64`, e.g. for
/// text or real arguments) and length limit exactly like the built-in.
fn register_random_functions(conn: &Connection) -> rusqlite::Result<()> {
    let functions: [(&CStr, c_int, super::ffi::ScalarFn); 2] =
        [(c"random", 0, random_fn), (c"randomblob", 1, randomblob_fn)];
    for (name, n_arg, func) in functions {
        super::ffi::register_scalar(
            conn,
            name,
            n_arg,
            ffi::SQLITE_INNOCUOUS,
            std::ptr::null_mut(),
            func,
        )?;
    }
    Ok(())
}

/// `random()`: a signed 64-bit integer, never `i64::MIN` (SQLite's `randomFunc`).
unsafe extern "C" fn random_fn(
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    _argv: *mut *mut ffi::sqlite3_value,
) {
    let mut r = with_rng(|rng| rng.next_u64()) as i64;
    if r < 0 {
        // Same mapping as SQLite: keeps `abs(random())` from overflowing.
        r = -(r & i64::MAX);
    }
    // SAFETY: `ctx` is the valid function context SQLite passed to this call.
    unsafe { ffi::sqlite3_result_int64(ctx, r) };
}

/// `randomblob(N)`: `max(N, 1)` bytes, "string or blob too big" above `SQLITE_LIMIT_LENGTH`
/// (SQLite's `randomBlob` + `contextMalloc`).
unsafe extern "C" fn randomblob_fn(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    let n = if argc >= 1 && !argv.is_null() {
        // SAFETY: SQLite passes `argc` (registered as 1) valid value pointers in `argv`.
        unsafe { ffi::sqlite3_value_int64(*argv) }
    } else {
        0
    };
    let n = n.max(1);
    // SAFETY: `ctx` is valid for this call; `sqlite3_limit` with a negative value only reads
    // the connection's current limit.
    let max = unsafe {
        let db = ffi::sqlite3_context_db_handle(ctx);
        ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_LENGTH, -1)
    };
    if n > i64::from(max) {
        // SAFETY: `ctx` is valid for this call.
        unsafe { ffi::sqlite3_result_error_toobig(ctx) };
        return;
    }
    let len = n as u64; // 1 <= n <= SQLITE_LIMIT_LENGTH (<= i32::MAX)
                        // SAFETY: plain allocation from SQLite's allocator; null is handled below.
    let p = unsafe { ffi::sqlite3_malloc64(len) }.cast::<u8>();
    if p.is_null() {
        // SAFETY: `ctx` is valid for this call.
        unsafe { ffi::sqlite3_result_error_nomem(ctx) };
        return;
    }
    // SAFETY: `p` is a fresh, non-null allocation of `len` bytes (len fits in usize since it
    // is at most i32::MAX) that nothing else references; u8 has no alignment or validity
    // requirements, and the bytes are written before being read.
    let buf = unsafe {
        std::ptr::write_bytes(p, 0, len as usize);
        std::slice::from_raw_parts_mut(p, len as usize)
    };
    with_rng(|rng| rng.fill(buf));
    // SAFETY: `ctx` is valid; ownership of `p` (allocated with `sqlite3_malloc64`, `len`
    // initialized bytes) passes to SQLite, which frees it with `sqlite3_free`.
    unsafe { ffi::sqlite3_result_blob64(ctx, p.cast(), len, Some(ffi::sqlite3_free)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::types::Value;
    use std::sync::{Arc, Barrier};

    /// Every expression the module promises to make deterministic.
    const EXPRESSIONS: &[&str] = &[
        "random()",
        "randomblob(16)",
        "datetime('now')",
        "date('now')",
        "time('now')",
        "julianday('now')",
        "julianday()",
        "strftime('%Y-%m-%d %H:%M:%f', 'now')",
        "strftime('%s', 'now')",
        "unixepoch('now')",
        "unixepoch()",
        "unixepoch('now', 'subsec')",
        "CURRENT_TIMESTAMP",
        "CURRENT_DATE",
        "CURRENT_TIME",
    ];

    const T_2023: i64 = 1_700_000_000_123; // 2023-11-14 22:13:20.123 UTC

    fn flags() -> OpenFlags {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    }

    fn temp_writer() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("db.sqlite"), flags()).unwrap();
        (dir, conn)
    }

    fn eval(conn: &Connection, expr: &str) -> Value {
        conn.query_row(&format!("SELECT {expr}"), [], |r| r.get(0))
            .unwrap()
    }

    /// Opens a writer on a fresh thread, sets the context there, and evaluates `exprs` in order.
    fn eval_on_new_thread(time_ms: i64, seed: u64, exprs: &'static [&'static str]) -> Vec<Value> {
        std::thread::spawn(move || {
            let (_dir, conn) = temp_writer();
            set_entry_context(time_ms, seed);
            exprs.iter().map(|e| eval(&conn, e)).collect()
        })
        .join()
        .unwrap()
    }

    #[test]
    fn every_function_is_identical_on_two_writer_threads() {
        let barrier = Arc::new(Barrier::new(2));
        let spawn = |barrier: Arc<Barrier>| {
            std::thread::spawn(move || {
                let (_dir, conn) = temp_writer();
                set_entry_context(T_2023, 42);
                barrier.wait(); // both threads evaluate at the same time
                let values: Vec<Value> = EXPRESSIONS.iter().map(|e| eval(&conn, e)).collect();
                // the same expressions again, after re-setting the same context
                set_entry_context(T_2023, 42);
                let again: Vec<Value> = EXPRESSIONS.iter().map(|e| eval(&conn, e)).collect();
                (values, again)
            })
        };
        let a = spawn(barrier.clone());
        let b = spawn(barrier);
        let (a, a_again) = a.join().unwrap();
        let (b, b_again) = b.join().unwrap();
        for (i, expr) in EXPRESSIONS.iter().enumerate() {
            assert_eq!(a[i], b[i], "{expr} differs between nodes");
            assert_ne!(a[i], Value::Null, "{expr} is NULL");
        }
        assert_eq!(a, a_again);
        assert_eq!(b, b_again);
    }

    #[test]
    fn the_clock_is_the_entry_time() {
        const EXPRS: &[&str] = &[
            "datetime('now')",
            "date('now')",
            "time('now')",
            "unixepoch('now')",
            "unixepoch()",
            "julianday('now')",
            "CURRENT_TIMESTAMP",
            "CURRENT_DATE",
            "CURRENT_TIME",
        ];
        let epoch = eval_on_new_thread(0, 1, EXPRS);
        assert_eq!(
            epoch,
            vec![
                Value::Text("1970-01-01 00:00:00".into()),
                Value::Text("1970-01-01".into()),
                Value::Text("00:00:00".into()),
                Value::Integer(0),
                Value::Integer(0),
                Value::Real(2_440_587.5),
                Value::Text("1970-01-01 00:00:00".into()),
                Value::Text("1970-01-01".into()),
                Value::Text("00:00:00".into()),
            ]
        );

        const MILLIS: &[&str] = &[
            "datetime('now')",
            "strftime('%f', 'now')",
            "strftime('%Y-%m-%dT%H:%M:%f', 'now')",
            "strftime('%s', 'now')",
            "unixepoch('now')",
            "unixepoch('now', 'subsec')",
            "julianday('now')",
            "CURRENT_TIMESTAMP",
            "CURRENT_DATE",
            "CURRENT_TIME",
        ];
        let v = eval_on_new_thread(T_2023, 1, MILLIS);
        assert_eq!(v[0], Value::Text("2023-11-14 22:13:20".into()));
        assert_eq!(v[1], Value::Text("20.123".into()));
        assert_eq!(v[2], Value::Text("2023-11-14T22:13:20.123".into()));
        assert_eq!(v[3], Value::Text("1700000000".into()));
        assert_eq!(v[4], Value::Integer(1_700_000_000));
        assert_eq!(v[5], Value::Real(1_700_000_000.123));
        let Value::Real(jd) = v[6] else {
            panic!("julianday is not real: {:?}", v[6])
        };
        let expected = 2_440_587.5 + T_2023 as f64 / MS_PER_DAY;
        assert!((jd - expected).abs() < 1e-8, "{jd} != {expected}");
        // the fractional day resolves the milliseconds: round-trip through strftime
        assert_eq!(v[7], Value::Text("2023-11-14 22:13:20".into()));
        assert_eq!(v[8], Value::Text("2023-11-14".into()));
        assert_eq!(v[9], Value::Text("22:13:20".into()));
    }

    #[test]
    fn a_different_time_gives_a_different_now() {
        let a = eval_on_new_thread(T_2023, 7, &["datetime('now')"]);
        let b = eval_on_new_thread(T_2023 + 1_000, 7, &["datetime('now')"]);
        assert_eq!(a[0], Value::Text("2023-11-14 22:13:20".into()));
        assert_eq!(b[0], Value::Text("2023-11-14 22:13:21".into()));
        // and it is not the machine clock
        let real: String = Connection::open_in_memory()
            .unwrap()
            .query_row("SELECT datetime('now')", [], |r| r.get(0))
            .unwrap();
        assert_ne!(a[0], Value::Text(real));
    }

    #[test]
    fn default_current_timestamp_uses_the_entry_time_and_follows_the_context() {
        let (_dir, conn) = temp_writer();
        conn.execute_batch(
            "CREATE TABLE t (
                 id INTEGER PRIMARY KEY,
                 ts TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
                 d TEXT DEFAULT CURRENT_DATE,
                 tm TEXT DEFAULT CURRENT_TIME,
                 u INTEGER DEFAULT (unixepoch()),
                 r INTEGER DEFAULT (random()))",
        )
        .unwrap();
        // The same cached prepared statement, run under two contexts: the per-statement "now"
        // cache must not carry over from one run to the next.
        set_entry_context(0, 5);
        conn.prepare_cached("INSERT INTO t (id) VALUES (?)")
            .unwrap()
            .execute([1])
            .unwrap();
        set_entry_context(T_2023, 5);
        conn.prepare_cached("INSERT INTO t (id) VALUES (?)")
            .unwrap()
            .execute([2])
            .unwrap();
        let rows: Vec<(String, String, String, i64, i64)> = conn
            .prepare("SELECT ts, d, tm, u, r FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(rows[0].0, "1970-01-01 00:00:00");
        assert_eq!(rows[0].1, "1970-01-01");
        assert_eq!(rows[0].2, "00:00:00");
        assert_eq!(rows[0].3, 0);
        assert_eq!(rows[1].0, "2023-11-14 22:13:20");
        assert_eq!(rows[1].1, "2023-11-14");
        assert_eq!(rows[1].2, "22:13:20");
        assert_eq!(rows[1].3, 1_700_000_000);
        // same seed => the same first draw in both entries
        assert_eq!(rows[0].4, rows[1].4);
        set_entry_context(T_2023, 5);
        assert_eq!(eval(&conn, "random()"), Value::Integer(rows[0].4));
    }

    #[test]
    fn random_sequences_repeat_per_seed_and_differ_between_seeds() {
        const SEQ: &[&str] = &[
            "random()",
            "random()",
            "random()",
            "randomblob(20)",
            "random()",
        ];
        let a = eval_on_new_thread(T_2023, 11, SEQ);
        let b = eval_on_new_thread(T_2023, 11, SEQ);
        let c = eval_on_new_thread(T_2023, 12, SEQ);
        let d = eval_on_new_thread(0, 11, SEQ); // the time does not influence the draws
        assert_eq!(a, b);
        assert_eq!(a, d);
        assert_ne!(a, c);
        for (x, y) in a.iter().zip(&c) {
            assert_ne!(x, y);
        }
        // successive calls differ (not constant-folded)
        assert_ne!(a[0], a[1]);
        assert_ne!(a[1], a[2]);

        // on one connection: re-setting the context restarts the sequence; several calls in one
        // statement draw in order
        let (_dir, conn) = temp_writer();
        set_entry_context(1, 99);
        let first: (i64, i64, Vec<u8>) = conn
            .query_row("SELECT random(), random(), randomblob(9)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        set_entry_context(1, 99);
        let second: (i64, i64, Vec<u8>) = conn
            .query_row("SELECT random(), random(), randomblob(9)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(first, second);
        assert_ne!(first.0, first.1);

        // per-row draws (UPDATE ... SET x = random()) are identical on two nodes
        let update = || {
            std::thread::spawn(|| {
                let (_dir, conn) = temp_writer();
                set_entry_context(3, 4);
                conn.execute_batch(
                    "CREATE TABLE r (id INTEGER PRIMARY KEY, x, b);
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
                     INSERT INTO r (id) SELECT i FROM n;
                     UPDATE r SET x = random(), b = randomblob(id % 5);",
                )
                .unwrap();
                let rows = conn
                    .prepare("SELECT id, x, b FROM r ORDER BY id")
                    .unwrap()
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                        ))
                    })
                    .unwrap()
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .unwrap();
                rows
            })
            .join()
            .unwrap()
        };
        let rows = update();
        assert_eq!(rows, update());
        assert_eq!(rows[0].2.len(), 1); // randomblob(1)
        assert_eq!(rows[4].2.len(), 1); // randomblob(0) => 1 byte
        assert_eq!(rows[3].2.len(), 4);
    }

    #[test]
    fn randomblob_follows_sqlite_semantics() {
        let (_dir, conn) = temp_writer();
        set_entry_context(0, 3);
        let len = |expr: &str| -> i64 {
            conn.query_row(&format!("SELECT length({expr}), typeof({expr})"), [], |r| {
                assert_eq!(r.get::<_, String>(1)?, "blob");
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(len("randomblob(0)"), 1);
        assert_eq!(len("randomblob(-5)"), 1);
        assert_eq!(len("randomblob(NULL)"), 1);
        assert_eq!(len("randomblob('abc')"), 1);
        assert_eq!(len("randomblob('3')"), 3);
        assert_eq!(len("randomblob(2.9)"), 2);
        assert_eq!(len("randomblob(1)"), 1);
        assert_eq!(len("randomblob(8)"), 8);
        assert_eq!(len("randomblob(1000)"), 1000);
        // the blob is not all zeroes
        let blob: Vec<u8> = conn
            .query_row("SELECT randomblob(64)", [], |r| r.get(0))
            .unwrap();
        assert!(blob.iter().any(|&b| b != 0));

        // above SQLITE_LIMIT_LENGTH: the same error as the built-in
        let too_big = "SELECT randomblob(2000000000)";
        let ours = conn.query_row(too_big, [], |r| r.get::<_, Vec<u8>>(0));
        let builtin = Connection::open_in_memory()
            .unwrap()
            .query_row(too_big, [], |r| r.get::<_, Vec<u8>>(0));
        let code = |e: rusqlite::Result<Vec<u8>>| match e {
            Err(rusqlite::Error::SqliteFailure(e, _)) => e.code,
            other => panic!("expected an SQLite error, got {other:?}"),
        };
        assert_eq!(code(ours), rusqlite::ErrorCode::TooBig);
        assert_eq!(code(builtin), rusqlite::ErrorCode::TooBig);
    }

    #[test]
    fn random_never_returns_i64_min_and_is_well_spread() {
        let (_dir, conn) = temp_writer();
        set_entry_context(0, 0);
        let mut stmt = conn.prepare("SELECT random()").unwrap();
        let (mut neg, mut pos) = (0, 0);
        for _ in 0..2_000 {
            let v: i64 = stmt.query_row([], |r| r.get(0)).unwrap();
            assert_ne!(v, i64::MIN);
            if v < 0 {
                neg += 1
            } else {
                pos += 1
            }
        }
        assert!(neg > 800 && pos > 800, "neg {neg}, pos {pos}");
    }

    #[test]
    fn normal_connections_are_unaffected() {
        let (dir, writer) = temp_writer();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x);")
            .unwrap();
        set_entry_context(0, 8);
        let first = eval(&writer, "random()");

        // A reader on the same file, same thread, default VFS.
        let reader = Connection::open_with_flags(
            dir.path().join("db.sqlite"),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .unwrap();
        set_entry_context(0, 8);
        let r: i64 = reader
            .query_row("SELECT random()", [], |r| r.get(0))
            .unwrap();
        let blob: Vec<u8> = reader
            .query_row("SELECT randomblob(4)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(blob.len(), 4);
        // the reader did not consume the writer's sequence
        assert_eq!(eval(&writer, "random()"), first);
        assert_ne!(Value::Integer(r), first);
        // the reader has the real clock
        let year: i64 = reader
            .query_row("SELECT CAST(strftime('%Y', 'now') AS INTEGER)", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(year >= 2024, "{year}");
        assert_eq!(
            eval(&writer, "strftime('%Y', 'now')"),
            Value::Text("1970".into())
        );

        // The wrapped VFS shares locks and WAL index with the default one.
        writer
            .execute("INSERT INTO t VALUES (datetime('now'))", [])
            .unwrap();
        let seen: String = reader
            .query_row("SELECT x FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, "1970-01-01 00:00:00");
        let mode: String = reader
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // a write transaction on the writer blocks a second writer using the default VFS
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let other = Connection::open(dir.path().join("db.sqlite")).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let err = other.execute_batch("BEGIN IMMEDIATE").unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        writer.execute_batch("COMMIT").unwrap();
        other.execute_batch("BEGIN IMMEDIATE; ROLLBACK").unwrap();
    }

    #[test]
    fn functions_work_in_schema_with_untrusted_schema() {
        let run = || {
            std::thread::spawn(|| {
                let (_dir, conn) = temp_writer();
                set_entry_context(T_2023, 77);
                conn.execute_batch(
                    "PRAGMA trusted_schema = OFF;
                     CREATE TABLE t (id INTEGER PRIMARY KEY, r DEFAULT (random()),
                                     b DEFAULT (randomblob(8)), c DEFAULT (datetime('now')));
                     CREATE TABLE log (id, r);
                     CREATE TRIGGER t_ins AFTER INSERT ON t
                         BEGIN INSERT INTO log VALUES (new.id, random()); END;
                     INSERT INTO t (id) VALUES (1), (2);",
                )
                .unwrap();
                let t: Vec<(i64, i64, Vec<u8>, String)> = conn
                    .prepare("SELECT id, r, b, c FROM t ORDER BY id")
                    .unwrap()
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap();
                let log: Vec<(i64, i64)> = conn
                    .prepare("SELECT id, r FROM log ORDER BY id")
                    .unwrap()
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap();
                (t, log)
            })
            .join()
            .unwrap()
        };
        let (t, log) = run();
        assert_eq!((t.clone(), log.clone()), run());
        assert_eq!(t.len(), 2);
        assert_eq!(log.len(), 2);
        assert_ne!(t[0].1, t[1].1);
        assert_eq!(t[0].3, "2023-11-14 22:13:20");
    }

    #[test]
    fn an_unset_context_is_the_epoch_and_seed_zero() {
        let unset = std::thread::spawn(|| {
            let (_dir, conn) = temp_writer();
            (eval(&conn, "datetime('now')"), eval(&conn, "random()"))
        })
        .join()
        .unwrap();
        let zero = eval_on_new_thread(0, 0, &["datetime('now')", "random()"]);
        assert_eq!(unset.0, Value::Text("1970-01-01 00:00:00".into()));
        assert_eq!(vec![unset.0, unset.1], zero);
    }

    #[test]
    fn out_of_range_times_give_null_not_a_crash() {
        let v = eval_on_new_thread(i64::MAX, 0, &["datetime('now')", "unixepoch('now')"]);
        assert_eq!(v, vec![Value::Null, Value::Null]);
        let v = eval_on_new_thread(i64::MIN, 0, &["datetime('now')", "CURRENT_TIMESTAMP"]);
        assert_eq!(v, vec![Value::Null, Value::Null]);
    }

    #[test]
    fn splitmix64_reference_values() {
        // Reference output of SplitMix64 seeded with 1234567 (from the reference C code).
        let mut rng = SplitMix64(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        let mut buf = [0u8; 11];
        let mut a = SplitMix64(9);
        a.fill(&mut buf);
        let mut b = SplitMix64(9);
        let first = b.next_u64().to_le_bytes();
        let second = b.next_u64().to_le_bytes();
        assert_eq!(&buf[..8], &first);
        assert_eq!(&buf[8..], &second[..3]);
    }
}
