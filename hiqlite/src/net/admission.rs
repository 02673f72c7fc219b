//! Admission control for one listener: how many connections may wait in the handshake, and how
//! many authenticated connections one peer may hold.
//!
//! Both bounds protect the node from floods rather than from its own peers:
//! - **Pending handshakes.** Anyone who can reach the port can open connections without knowing
//!   a secret. Each waits up to the handshake timeout, holding a task, a socket and a file
//!   descriptor. At most [`MAX_PENDING_HANDSHAKES`] wait at once; a new connection beyond that
//!   evicts the oldest waiting connection *of the address with the most waiting connections*.
//!   A flood from a few addresses thus evicts only its own connections, and peers elsewhere are
//!   never touched; a flood from everywhere evicts the oldest, and a legitimate peer, which
//!   finishes its handshake within a round trip, is evicted only if that many connections arrive
//!   during that round trip. Either way a flood cannot hold the port shut, as refusing the
//!   *newest* connection would (a flood of silent connections would keep every reconnecting node
//!   out). An evicted connection keeps its socket until its task runs and closes it; the
//!   listener accepts at most as many more connections as wait in the handshake, so a listener
//!   holds at most twice [`MAX_PENDING_HANDSHAKES`] sockets of unauthenticated peers even when
//!   its tasks lag behind a flood.
//! - **Connections per peer.** An authenticated peer (a node, identified by the id it proved, or
//!   a client, identified by its IP address) holds at most [`MAX_CONNECTIONS_PER_PEER`]
//!   connections on one listener. Nodes and clients open one or a few; this bound stops a
//!   runaway client (a reconnect loop that never closes) from exhausting descriptors.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tracing::warn;

use super::Channel;

/// Connections of one listener that may be in the handshake at the same time (TLS handshake
/// included). 128 is far above what a cluster needs (a node dials each peer once per channel)
/// and small enough that a flood of them costs little memory.
pub(crate) const MAX_PENDING_HANDSHAKES: usize = 128;

/// Authenticated connections one peer may hold on one listener. A node dials each peer over one
/// connection per channel (plus one while a snapshot streams); a client holds one per node it
/// talks to. 256 leaves room for many client processes behind one address.
pub(crate) const MAX_CONNECTIONS_PER_PEER: usize = 256;

/// How often at most a listener warns about evicted handshakes or refused connections; the
/// warning carries the counts since the last one, so a flood makes one line per interval.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Who an authenticated connection belongs to, for [`MAX_CONNECTIONS_PER_PEER`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PeerKey {
    /// A node that proved its id in the handshake.
    Node(u64),
    /// A client (or a node of a format that proves no id), by its address.
    Address(IpAddr),
}

/// The bounds of one listener; shared by its connection tasks.
pub(crate) struct Admission {
    channel: Channel,
    max_pending: usize,
    max_per_peer: usize,
    /// Sockets of unauthenticated connections, evicted ones included until they are closed.
    places: Arc<Semaphore>,
    state: Mutex<State>,
}

/// A socket of a connection in the handshake, counted until it is closed.
pub(crate) struct HandshakePlace(
    #[allow(dead_code, reason = "held for its drop")] OwnedSemaphorePermit,
);

struct Pending {
    ticket: u64,
    from: IpAddr,
    evict: CancellationToken,
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    /// Waiting handshakes, oldest first, each with its address and the token that evicts it.
    pending: VecDeque<Pending>,
    /// Authenticated connections per peer; peers with none are removed.
    per_peer: HashMap<PeerKey, usize>,
    /// Counts since the last warning, and when that was.
    evicted: u64,
    refused: u64,
    last_warning: Option<Instant>,
}

impl Admission {
    /// The bounds for a listener on `channel`: [`MAX_PENDING_HANDSHAKES`] and
    /// [`MAX_CONNECTIONS_PER_PEER`].
    pub(crate) fn new(channel: Channel) -> Arc<Admission> {
        Admission::with_limits(channel, MAX_PENDING_HANDSHAKES, MAX_CONNECTIONS_PER_PEER)
    }

    /// Custom bounds (tests use small ones). Both must be at least 1.
    pub(crate) fn with_limits(
        channel: Channel,
        max_pending: usize,
        max_per_peer: usize,
    ) -> Arc<Admission> {
        let max_pending = max_pending.max(1);
        Arc::new(Admission {
            channel,
            max_pending,
            max_per_peer: max_per_peer.max(1),
            places: Arc::new(Semaphore::new(2 * max_pending)),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing here can panic while the lock is held; a poisoned lock still has valid counts.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until fewer than twice [`MAX_PENDING_HANDSHAKES`] sockets of unauthenticated
    /// connections are open (waiting or evicted and not yet closed); the listener calls this
    /// before it accepts a connection.
    pub(crate) async fn handshake_place(&self) -> HandshakePlace {
        // The semaphore is never closed.
        let permit = self.places.clone().acquire_owned().await;
        HandshakePlace(permit.expect("the semaphore of handshake places is never closed"))
    }

    /// Registers a connection from `from` that starts its handshake, holding `place` until the
    /// returned guard is dropped. If
    /// [`MAX_PENDING_HANDSHAKES`] are already waiting, one is evicted (the oldest of the address
    /// with the most): its [`PendingHandshake::evicted`] resolves and its task closes it.
    pub(crate) fn begin_handshake(
        self: &Arc<Self>,
        from: IpAddr,
        place: HandshakePlace,
    ) -> PendingHandshake {
        let token = CancellationToken::new();
        let mut state = self.state();
        while state.pending.len() >= self.max_pending {
            let Some(at) = state.eviction_candidate() else {
                break;
            };
            if let Some(evicted) = state.pending.remove(at) {
                evicted.evict.cancel();
                state.evicted += 1;
            }
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.pending.push_back(Pending {
            ticket,
            from,
            evict: token.clone(),
        });
        self.maybe_warn(&mut state);
        PendingHandshake {
            admission: self.clone(),
            ticket,
            token,
            _place: place,
        }
    }

    /// Admits an authenticated connection of `peer`, or `None` when that peer already holds
    /// [`MAX_CONNECTIONS_PER_PEER`] connections here. The slot is freed when dropped.
    pub(crate) fn admit(self: &Arc<Self>, peer: PeerKey) -> Option<PeerSlot> {
        let mut state = self.state();
        let held = state.per_peer.entry(peer).or_insert(0);
        if *held >= self.max_per_peer {
            state.refused += 1;
            self.maybe_warn(&mut state);
            return None;
        }
        *held += 1;
        Some(PeerSlot {
            admission: self.clone(),
            peer,
        })
    }

    /// Warns about evictions and refusals at most once per [`WARN_INTERVAL`].
    fn maybe_warn(&self, state: &mut State) {
        if state.evicted == 0 && state.refused == 0 {
            return;
        }
        let now = Instant::now();
        if state
            .last_warning
            .is_some_and(|at| now.duration_since(at) < WARN_INTERVAL)
        {
            return;
        }
        warn!(
            channel = %self.channel,
            "connection flood: closed {} connections still in the handshake (more than {} were \
             waiting) and refused {} authenticated connections (a peer already held {}) since the \
             last warning",
            state.evicted,
            self.max_pending,
            state.refused,
            self.max_per_peer,
        );
        state.evicted = 0;
        state.refused = 0;
        state.last_warning = Some(now);
    }
}

impl State {
    /// Where in `pending` the connection to evict is: the oldest of the address with the most
    /// waiting connections (ties: the address whose oldest is older).
    fn eviction_candidate(&self) -> Option<usize> {
        let mut per_address: HashMap<IpAddr, (usize, usize)> = HashMap::new();
        for (at, p) in self.pending.iter().enumerate() {
            per_address.entry(p.from).or_insert((0, at)).0 += 1;
        }
        per_address
            .into_values()
            .max_by(|(n1, at1), (n2, at2)| n1.cmp(n2).then(at2.cmp(at1)))
            .map(|(_, oldest)| oldest)
    }
}

/// A connection in the handshake; dropping it (handshake done or failed) frees its place.
pub(crate) struct PendingHandshake {
    admission: Arc<Admission>,
    ticket: u64,
    token: CancellationToken,
    _place: HandshakePlace,
}

impl PendingHandshake {
    /// Resolves when a newer connection evicted this one.
    pub(crate) fn evicted(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }
}

impl Drop for PendingHandshake {
    fn drop(&mut self) {
        let mut state = self.admission.state();
        if let Some(at) = state.pending.iter().position(|p| p.ticket == self.ticket) {
            state.pending.remove(at);
        }
    }
}

/// One authenticated connection counted against its peer; dropping it frees the place.
pub(crate) struct PeerSlot {
    admission: Arc<Admission>,
    peer: PeerKey,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut state = self.admission.state();
        if let Some(held) = state.per_peer.get_mut(&self.peer) {
            *held -= 1;
            if *held == 0 {
                state.per_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A place outside the admission's own count: these tests check eviction alone.
    fn place() -> HandshakePlace {
        HandshakePlace(Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap())
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn the_oldest_pending_handshake_is_evicted() {
        let admission = Admission::with_limits(Channel::Api, 2, 1);
        let first = admission.begin_handshake(A, place());
        let second = admission.begin_handshake(A, place());
        assert!(!first.token.is_cancelled() && !second.token.is_cancelled());
        let third = admission.begin_handshake(A, place());
        assert!(first.token.is_cancelled(), "the oldest goes");
        assert!(!second.token.is_cancelled() && !third.token.is_cancelled());
        // A finished handshake frees its place: the next one evicts nobody.
        drop(second);
        let fourth = admission.begin_handshake(A, place());
        assert!(!third.token.is_cancelled() && !fourth.token.is_cancelled());
        assert_eq!(admission.state().pending.len(), 2);
    }

    #[test]
    fn a_flooding_address_evicts_only_its_own_connections() {
        let admission = Admission::with_limits(Channel::Raft, 4, 1);
        let peer = admission.begin_handshake(B, place());
        let flood: Vec<_> = (0..50)
            .map(|_| admission.begin_handshake(A, place()))
            .collect();
        assert!(!peer.token.is_cancelled(), "the older peer elsewhere stays");
        let evicted = flood.iter().filter(|p| p.token.is_cancelled()).count();
        assert_eq!(evicted, 50 - 3, "the flood keeps only its 3 newest");
        assert!(flood[47..].iter().all(|p| !p.token.is_cancelled()));
    }

    #[test]
    fn a_peer_holds_at_most_its_share_and_gets_it_back() {
        let admission = Admission::with_limits(Channel::Raft, 8, 2);
        let node = PeerKey::Node(7);
        let a = admission.admit(node).expect("first");
        let _b = admission.admit(node).expect("second");
        assert!(admission.admit(node).is_none(), "third is over the bound");
        // Other peers are not affected.
        assert!(admission.admit(PeerKey::Node(8)).is_some());
        drop(a);
        assert!(
            admission.admit(node).is_some(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn peers_without_connections_are_forgotten() {
        let admission = Admission::with_limits(Channel::Api, 8, 2);
        let slot = admission.admit(PeerKey::Address([10, 0, 0, 1].into()));
        drop(slot);
        assert!(admission.state().per_peer.is_empty());
    }
}
