//! A pool of read-only SQLite connections for local reads.
//!
//! Reads never touch the network and never wait for the writer (WAL lets readers and the writer
//! run at once). Each connection keeps its own prepared-statement cache.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

/// Read-only connections to the node's database file.
pub struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    /// Opens `size` read-only connections. The writer must have created the database first.
    pub fn open(db_path: &Path, size: usize) -> rusqlite::Result<Arc<ReadPool>> {
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size.max(1) {
            let conn = Connection::open_with_flags(
                db_path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            // Belt and braces: even a statement that slips past read-only mode cannot write.
            conn.execute_batch("PRAGMA query_only = ON;")?;
            super::guard::install_reader_guard(&conn);
            conn.set_prepared_statement_cache_capacity(256);
            idle.push(conn);
        }
        Ok(Arc::new(ReadPool {
            permits: Arc::new(Semaphore::new(idle.len())),
            idle: Mutex::new(idle),
        }))
    }

    /// Runs `f` with a connection on a blocking thread, so a long query never stalls the async
    /// runtime (and with it Raft heartbeats).
    pub async fn with_conn<T, F>(self: &Arc<Self>, f: F) -> Result<T, crate::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, crate::Error> + Send + 'static,
    {
        // The permit travels with the blocking task: if the caller is cancelled, the connection
        // stays accounted for until the task really gives it back.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| crate::Error::ShuttingDown)?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            // Put the connection back even if `f` panics (it may run user row-mapping code).
            let conn = ReturnOnDrop {
                pool: &pool,
                conn: Some(conn),
            };
            f(conn.conn.as_ref().expect("present until drop"))
        })
        .await
        .map_err(|e| crate::Error::Storage(format!("read task failed: {e}")))?
    }

    fn take(&self) -> Result<Connection, crate::Error> {
        // A poisoned lock only means a reader panicked while holding it; the Vec is still fine.
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.pop().ok_or(crate::Error::ShuttingDown)
    }

    fn put_back(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }

    /// Closes all connections (used before the database file is replaced or at shutdown).
    pub fn close(&self) {
        self.permits.close();
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

struct ReturnOnDrop<'a> {
    pool: &'a ReadPool,
    conn: Option<Connection>,
}

impl Drop for ReturnOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put_back(conn);
        }
    }
}
