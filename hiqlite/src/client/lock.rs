//! Distributed locks with leases and fencing tokens: [`Client::lock`] returns a [`LockGuard`]
//! that renews its lease in the background and releases the lock when dropped. See docs/cache.md.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cache::unexpected;
use super::Client;
use crate::engine::error::Error;
use crate::types::cache::{CacheOp, CacheOutput};

/// The lease [`Client::lock`] asks for.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// The shortest lease a lock may have: renewals run every third of it.
pub const MIN_LEASE: Duration = Duration::from_millis(300);
/// Longest pause between two attempts of a waiting [`Client::lock`].
const MAX_RETRY: Duration = Duration::from_millis(200);

/// A held lock, from [`Client::lock`] or [`Client::try_lock`].
///
/// While it lives, a background task renews the lease every third of it. Dropping it releases
/// the lock (best effort, in the background); [`release`](Self::release) does it and waits. If
/// this process dies, the lock is free once its lease has run out on the leader's clock.
///
/// A holder can lose the lock without knowing at once (a long pause, a partition): then another
/// holder gets it. Writes that must only come from the current holder check
/// [`token`](Self::token) with [`Txn::fence`](crate::Txn::fence), which the state machine refuses
/// for any grant but the current one.
pub struct LockGuard {
    client: Client,
    name: String,
    token: u64,
    held: watch::Receiver<bool>,
    renewer: JoinHandle<()>,
    released: bool,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("name", &self.name)
            .field("token", &self.token)
            .finish()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Client {
    /// Takes lock `name` with a lease of [`DEFAULT_LEASE`], waiting while another holder has it
    /// (asking again every 10-200 ms, for as long as it takes; [`lock_timeout`](Self::lock_timeout)
    /// bounds the wait).
    ///
    /// ```no_run
    /// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
    /// let lock = client.lock("nightly-report").await?;
    /// let mut txn = hiqlite::Txn::new();
    /// txn.fence(lock.name(), lock.token());
    /// txn.execute("INSERT INTO reports (day) VALUES (date('now'))", hiqlite::params!());
    /// client.txn(txn).await?; // refused if another holder took the lock meanwhile
    /// lock.release().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The write path's errors ([`Error::NoLeader`], [`Error::FormatTooOld`], ...).
    pub async fn lock(&self, name: impl Into<String>) -> Result<LockGuard, Error> {
        self.lock_with(name, DEFAULT_LEASE).await
    }

    /// [`lock`](Self::lock) with a lease of `lease` (at least [`MIN_LEASE`]).
    pub async fn lock_with(
        &self,
        name: impl Into<String>,
        lease: Duration,
    ) -> Result<LockGuard, Error> {
        let guard = self.lock_until(name.into(), lease, None).await?;
        Ok(guard.expect("waits without a deadline"))
    }

    /// [`lock_with`](Self::lock_with), waiting at most `wait` for another holder to let go:
    /// `None` when the lock was still held by another grant after `wait`. An attempt in flight
    /// when `wait` ends is finished first, so a grant is never taken and then dropped unseen.
    /// Errors as for [`lock`](Self::lock).
    pub async fn lock_timeout(
        &self,
        name: impl Into<String>,
        lease: Duration,
        wait: Duration,
    ) -> Result<Option<LockGuard>, Error> {
        self.lock_until(name.into(), lease, Some(tokio::time::Instant::now() + wait))
            .await
    }

    /// Asks for lock `name` until it is granted or `deadline` (none: forever) has passed.
    async fn lock_until(
        &self,
        name: String,
        lease: Duration,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Option<LockGuard>, Error> {
        let holder = super::random_id();
        let mut pause = Duration::from_millis(10);
        loop {
            if let Some(guard) = self.acquire(&name, holder, lease).await? {
                return Ok(Some(guard));
            }
            // Another grant holds it: ask again soon (its holder may release it any moment).
            let mut wake = tokio::time::Instant::now() + pause;
            if let Some(deadline) = deadline {
                if tokio::time::Instant::now() >= deadline {
                    return Ok(None);
                }
                wake = wake.min(deadline);
            }
            tokio::time::sleep_until(wake).await;
            pause = (pause * 2).min(MAX_RETRY);
        }
    }

    /// Takes lock `name` with a lease of `lease` (at least [`MIN_LEASE`]) if it is free now;
    /// `None` when another holder has it. Errors as for [`lock`](Self::lock).
    pub async fn try_lock(
        &self,
        name: impl Into<String>,
        lease: Duration,
    ) -> Result<Option<LockGuard>, Error> {
        self.acquire(&name.into(), super::random_id(), lease).await
    }

    async fn acquire(
        &self,
        name: &str,
        holder: u64,
        lease: Duration,
    ) -> Result<Option<LockGuard>, Error> {
        let lease = lease.max(MIN_LEASE);
        let op = CacheOp::Lock {
            name: name.to_owned(),
            holder,
            lease_ms: millis(lease),
        };
        match self.cache_op(op).await? {
            CacheOutput::Lock { token: None, .. } => Ok(None),
            CacheOutput::Lock {
                token: Some(token), ..
            } => {
                let (tx, held) = watch::channel(true);
                let renewer = tokio::spawn(renew(self.clone(), name.to_owned(), token, lease, tx));
                Ok(Some(LockGuard {
                    client: self.clone(),
                    name: name.to_owned(),
                    token,
                    held,
                    renewer,
                    released: false,
                }))
            }
            other => Err(unexpected(other)),
        }
    }
}

/// Renews grant `token` every third of `lease` until a renewal says the grant lost the lock, or
/// no renewal got through for a whole lease; then tells `held`.
async fn renew(
    client: Client,
    name: String,
    token: u64,
    lease: Duration,
    held: watch::Sender<bool>,
) {
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(lease / 3).await;
        let op = CacheOp::Renew {
            name: name.clone(),
            token,
            lease_ms: millis(lease),
        };
        let started = tokio::time::Instant::now();
        match client.cache_op(op).await {
            Ok(CacheOutput::Held { held: true, .. }) => last_renewed = started,
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(lock = %name, token, error = %e, "cannot renew the lock's lease; retrying");
                if last_renewed.elapsed() >= lease {
                    break;
                }
            }
        }
    }
    tracing::warn!(lock = %name, token, "lock lost: its lease ran out or another holder took it");
    held.send_replace(false);
}

impl LockGuard {
    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fencing token of this grant: the log index of the entry that granted it. A later
    /// grant of the same lock always has a larger token.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// `false` once the background renewal found the lock lost (another holder took it, or no
    /// renewal got through for a whole lease). `true` does not prove the lock is still held:
    /// fence writes with [`token`](Self::token).
    pub fn is_held(&self) -> bool {
        *self.held.borrow()
    }

    /// Resolves when the background renewal finds the lock lost (see [`is_held`](Self::is_held)).
    pub async fn lost(&self) {
        let mut held = self.held.clone();
        let _ = held.wait_for(|&h| !h).await;
    }

    /// Releases the lock and waits for it; returns whether this grant still held it.
    ///
    /// # Errors
    /// The write path's errors; the lock is then free at the latest when its lease runs out.
    pub async fn release(mut self) -> Result<bool, Error> {
        self.released = true;
        self.renewer.abort();
        let op = CacheOp::Unlock {
            name: self.name.clone(),
            token: self.token,
        };
        match self.client.cache_op(op).await? {
            CacheOutput::Held { held, .. } => Ok(held),
            other => Err(unexpected(other)),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.renewer.abort();
        if self.released {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let op = CacheOp::Unlock {
            name: self.name.clone(),
            token: self.token,
        };
        runtime.spawn(async move {
            if let Err(e) = client.cache_op(op).await {
                tracing::debug!(error = %e, "releasing a dropped lock failed; its lease frees it");
            }
        });
    }
}
