//! Concurrent consistent reads share read-index rounds (ReadIndex batching).
//!
//! A consistent read needs a read index: a log index the leader confirmed, by a quorum round or
//! its lease, *after* the read began. Reads that begin while a round is under way cannot use its
//! answer (it may have been confirmed before they began), but they can all use the next one. So
//! at most one round runs at a time, and every read that arrives meanwhile joins the one queued
//! after it, which starts when the running one ends. A read on an idle node starts its round at
//! once. Under load, N concurrent reads cost about two rounds instead of N.
//!
//! The read that queued a round runs it; if that read is dropped (its caller gave up), the
//! round's other reads are told to retry and the next round is started, so nothing waits on a
//! round that nobody runs.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Why a round gave no read index: `retry` is true when a later round may succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoundFailure {
    pub retry: bool,
    pub message: String,
}

type Answer = Option<Result<u64, RoundFailure>>;

/// One read-index round and the reads waiting for it.
struct Round {
    answer: watch::Sender<Answer>,
    /// Set when the round may start (the one before it ended).
    turn: watch::Sender<bool>,
}

impl Round {
    fn new(may_start: bool) -> Arc<Round> {
        Arc::new(Round {
            answer: watch::channel(None).0,
            turn: watch::channel(may_start).0,
        })
    }
}

#[derive(Default)]
struct State {
    /// Whether a round is running (or handed over to its runner, about to run).
    running: bool,
    /// The round that starts when the running one ends; reads arriving now join it.
    next: Option<Arc<Round>>,
}

/// Shares read-index rounds among concurrent reads of one node.
#[derive(Default)]
pub(crate) struct ReadRounds {
    state: Mutex<State>,
}

impl ReadRounds {
    /// The answer of a round that starts after this call began: runs `fetch` (one round) when
    /// this call leads a round, otherwise waits for the round it joined. Every read of a round
    /// gets the same answer.
    pub(crate) async fn read_index<Fut>(
        &self,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<u64, RoundFailure>
    where
        Fut: Future<Output = Result<u64, RoundFailure>>,
    {
        let (round, runs_it) = {
            let mut state = self.lock();
            match &state.next {
                Some(round) => (round.clone(), false),
                None if state.running => {
                    let round = Round::new(false);
                    state.next = Some(round.clone());
                    (round, true)
                }
                None => {
                    state.running = true;
                    (Round::new(true), true)
                }
            }
        };
        if !runs_it {
            let mut answer = round.answer.subscribe();
            return match answer.wait_for(Option::is_some).await {
                Ok(a) => a.clone().expect("waited for an answer"),
                Err(_) => Err(cancelled()),
            };
        }
        let mut runner = Runner {
            rounds: self,
            round,
            answered: false,
        };
        let mut turn = runner.round.turn.subscribe();
        if turn.wait_for(|may| *may).await.is_err() {
            return Err(cancelled());
        }
        let answer = fetch().await;
        runner.finish(answer.clone());
        answer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn cancelled() -> RoundFailure {
    RoundFailure {
        retry: true,
        message: "the read that led this read-index round was cancelled".into(),
    }
}

/// The read running (or queued to run) a round. Dropped without an answer, it tells the round's
/// reads to retry and lets the next round go.
struct Runner<'a> {
    rounds: &'a ReadRounds,
    round: Arc<Round>,
    answered: bool,
}

impl Runner<'_> {
    fn finish(&mut self, answer: Result<u64, RoundFailure>) {
        self.answered = true;
        self.round.answer.send_replace(Some(answer));
        self.hand_over();
    }

    /// Ends this round's turn: the queued round may start, or no round runs.
    fn hand_over(&self) {
        let mut state = self.rounds.lock();
        if state
            .next
            .as_ref()
            .is_some_and(|next| Arc::ptr_eq(next, &self.round))
        {
            // Still queued: nobody started it; the running round hands over to the next one
            // queued after this (none yet).
            state.next = None;
            return;
        }
        match state.next.take() {
            Some(next) => {
                next.turn.send_replace(true);
            }
            None => state.running = false,
        }
    }
}

impl Drop for Runner<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.round.answer.send_replace(Some(Err(cancelled())));
            self.hand_over();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Reads waiting for the answer of the queued round, if one is queued.
    fn queued_members(rounds: &ReadRounds) -> Option<usize> {
        let state = rounds.lock();
        state.next.as_ref().map(|r| r.answer.receiver_count())
    }

    /// Yields until `cond` holds.
    async fn until(mut cond: impl FnMut() -> bool) {
        while !cond() {
            tokio::task::yield_now().await;
        }
    }

    /// 50 reads arriving while a round runs share the next round: 2 rounds in all, and every
    /// read's round started after the read began.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reads_arriving_during_a_round_share_the_next_one() {
        let rounds = Arc::new(ReadRounds::default());
        let started = Arc::new(AtomicU64::new(0));
        let (release, released) = watch::channel(false);
        let fetch = |rounds_started: Arc<AtomicU64>, mut go: watch::Receiver<bool>| async move {
            let n = rounds_started.fetch_add(1, Ordering::SeqCst) + 1;
            go.wait_for(|g| *g).await.unwrap();
            Ok(n * 100)
        };
        // The first read starts round 1 and holds it open.
        let first = tokio::spawn({
            let (rounds, started, released) = (rounds.clone(), started.clone(), released.clone());
            async move { rounds.read_index(|| fetch(started, released)).await }
        });
        while started.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let mut later = Vec::new();
        for _ in 0..50 {
            let (rounds, started, released) = (rounds.clone(), started.clone(), released.clone());
            later.push(tokio::spawn(async move {
                rounds.read_index(|| fetch(started, released)).await
            }));
        }
        // All 50 joined the queued round: its runner waits for its turn, the 49 others for
        // its answer.
        until(|| queued_members(&rounds) == Some(49)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1, "round 2 started early");
        release.send_replace(true);
        assert_eq!(first.await.unwrap(), Ok(100));
        for read in later {
            assert_eq!(read.await.unwrap(), Ok(200));
        }
        assert_eq!(started.load(Ordering::SeqCst), 2);
        // Idle again: the next read runs its own round at once.
        let next = rounds.read_index(|| fetch(started.clone(), released.clone()));
        assert_eq!(next.await, Ok(300));
    }

    /// A leader that is dropped mid-round tells its round's reads to retry, and rounds go on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_cancelled_round_lets_the_others_retry() {
        let rounds = Arc::new(ReadRounds::default());
        let stuck = tokio::spawn({
            let rounds = rounds.clone();
            async move {
                rounds
                    .read_index(std::future::pending::<Result<u64, RoundFailure>>)
                    .await
            }
        });
        until(|| rounds.lock().running).await;
        // Queued behind the stuck round; its runner is this task.
        let queued = tokio::spawn({
            let rounds = rounds.clone();
            async move { rounds.read_index(|| async { Ok(7) }).await }
        });
        until(|| queued_members(&rounds) == Some(0)).await;
        let member = tokio::spawn({
            let rounds = rounds.clone();
            async move { rounds.read_index(|| async { Ok(8) }).await }
        });
        until(|| queued_members(&rounds) == Some(1)).await;
        stuck.abort();
        assert_eq!(queued.await.unwrap(), Ok(7));
        assert_eq!(member.await.unwrap(), Ok(7));
        assert_eq!(rounds.read_index(|| async { Ok(9) }).await, Ok(9));
    }
}
