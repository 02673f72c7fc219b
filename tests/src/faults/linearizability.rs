//! A Wing–Gong–Lowe linearizability checker for one integer register with read, write and
//! compare-and-set.
//!
//! The algorithm (Wing & Gong 1993, with Lowe's 2017 memoisation): walk the history as a list of
//! call and return events in real-time order; repeatedly try to linearize an operation whose call
//! comes before every pending return, backtracking when a return is reached whose operation has
//! not been linearized. A cache of (set of linearized operations, register value) prunes states
//! already explored, which keeps the search close to linear for histories with little
//! concurrency.
//!
//! Unknown outcomes (timeouts, lost leaders) follow Jepsen's Knossos: the operation's return is
//! at infinity, so it may take effect at any point after its call, or never. "Never" needs no
//! search: once every operation with a known return has been linearized the history is accepted,
//! whatever unknown operations are left over. An unknown compare-and-set whose comparison fails
//! is indistinguishable from "never", so it is only linearized where it would succeed.

use std::collections::HashSet;
use std::fmt;

/// An operation on the register, with what the client observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegOp {
    /// A read that returned this value.
    Read(i64),
    Write(i64),
    Cas {
        expected: i64,
        new: i64,
    },
}

/// How an operation ended, as far as the checker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It happened (a read returned its value, a write or CAS was acknowledged).
    Ok,
    /// A compare-and-set that definitely did not happen because the comparison failed.
    CasFailed,
    /// It may have happened at any time after its call, or never.
    Unknown,
}

/// One operation of the history. Times are on one monotonic clock, in any unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub op: RegOp,
    pub status: Status,
    pub call: u64,
    /// Ignored for [`Status::Unknown`].
    pub ret: u64,
}

/// The checker's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order exists. `stuck_at` is the operation (index into the input) whose return could
    /// not be reached in the deepest partial linearization found; `longest_prefix` its length.
    NotLinearizable {
        stuck_at: usize,
        longest_prefix: usize,
    },
    /// The search exceeded its step budget; nothing is known.
    GaveUp {
        steps: u64,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Linearizable => f.write_str("linearizable"),
            Verdict::NotLinearizable {
                stuck_at,
                longest_prefix,
            } => write!(
                f,
                "NOT linearizable: no order reaches the return of operation #{stuck_at} \
                 (longest linearizable prefix: {longest_prefix} operations)"
            ),
            Verdict::GaveUp { steps } => write!(f, "inconclusive after {steps} search steps"),
        }
    }
}

/// Applies `op` to a register holding `state`: the new value if the operation may be
/// linearized here.
fn step(state: i64, op: &Operation) -> Option<i64> {
    match (op.op, op.status) {
        (RegOp::Read(v), _) => (v == state).then_some(state),
        (RegOp::Write(v), _) => Some(v),
        (RegOp::Cas { expected, .. }, Status::CasFailed) => (expected != state).then_some(state),
        (RegOp::Cas { expected, new }, _) => (expected == state).then_some(new),
    }
}

/// One event of the doubly linked list: the call or the return of `op`.
#[derive(Debug, Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
    /// For a call: index of its return event.
    partner: usize,
}

/// The list of events still to linearize; index 0 is the head sentinel.
struct Events {
    events: Vec<Event>,
    prev: Vec<usize>,
    next: Vec<usize>,
}

const NIL: usize = usize::MAX;

impl Events {
    fn new(ops: &[Operation]) -> Events {
        // (time, returns after calls at equal times, op, is_call): ties count as concurrent,
        // which can only make the checker more permissive, never report a false violation.
        let mut order: Vec<(u64, u8, usize, bool)> = Vec::with_capacity(2 * ops.len());
        for (i, o) in ops.iter().enumerate() {
            order.push((o.call, 0, i, true));
            let ret = if o.status == Status::Unknown {
                u64::MAX
            } else {
                o.ret
            };
            order.push((ret, 1, i, false));
        }
        order.sort_unstable();
        let mut events = vec![Event {
            op: NIL,
            is_call: false,
            partner: NIL,
        }];
        let mut return_of = vec![NIL; ops.len()];
        for &(_, _, op, is_call) in &order {
            if !is_call {
                return_of[op] = events.len();
            }
            events.push(Event {
                op,
                is_call,
                partner: NIL,
            });
        }
        for e in events.iter_mut().skip(1) {
            if e.is_call {
                e.partner = return_of[e.op];
            }
        }
        let n = events.len();
        let prev = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let next = (0..n)
            .map(|i| if i + 1 < n { i + 1 } else { NIL })
            .collect();
        Events { events, prev, next }
    }

    fn unlink(&mut self, i: usize) {
        let (p, n) = (self.prev[i], self.next[i]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    /// Undoes `unlink(i)`; links must be restored in the reverse order of their removal.
    fn relink(&mut self, i: usize) {
        let (p, n) = (self.prev[i], self.next[i]);
        self.next[p] = i;
        if n != NIL {
            self.prev[n] = i;
        }
    }

    /// Removes a call and its return (the operation is linearized).
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.events[call].partner);
    }

    fn unlift(&mut self, call: usize) {
        self.relink(self.events[call].partner);
        self.relink(call);
    }
}

/// Values no operation ever compares against (never read, never a CAS's expected value) are all
/// alike to the model: replacing them with one sentinel lets the cache merge states that differ
/// only in which unobserved value the register holds.
fn canonicalize(ops: &[Operation], initial: i64) -> (Vec<Operation>, i64) {
    const UNOBSERVED: i64 = i64::MIN;
    let mut observed: HashSet<i64> = HashSet::new();
    for o in ops {
        match o.op {
            RegOp::Read(v) => {
                observed.insert(v);
            }
            RegOp::Cas { expected, .. } => {
                observed.insert(expected);
            }
            RegOp::Write(_) => {}
        }
    }
    let canon = |v: i64| {
        if observed.contains(&v) {
            v
        } else {
            UNOBSERVED
        }
    };
    let ops = ops
        .iter()
        .map(|o| {
            let op = match o.op {
                RegOp::Read(v) => RegOp::Read(v),
                RegOp::Write(v) => RegOp::Write(canon(v)),
                RegOp::Cas { expected, new } => RegOp::Cas {
                    expected,
                    new: canon(new),
                },
            };
            Operation { op, ..*o }
        })
        .collect();
    (ops, canon(initial))
}

/// Explored configurations: (linearized operations with a known outcome, register value) →
/// the sets of unknown-outcome operations linearized alongside.
///
/// A configuration that linearized a *superset* of another's unknown operations is dominated by
/// it: unknown operations never have to be linearized, so whatever completes from the superset
/// also completes from the subset. Trying unknown operations last means the subsets are explored
/// first, and the supersets then pruned here.
#[derive(Default)]
struct Cache {
    seen: std::collections::HashMap<(Vec<u64>, i64), Vec<Vec<u64>>>,
}

impl Cache {
    /// Records the configuration; false if it (or one dominating it) was seen before.
    fn insert(&mut self, linearized: &[u64], unknown_mask: &[u64], state: i64) -> bool {
        let known: Vec<u64> = linearized
            .iter()
            .zip(unknown_mask)
            .map(|(l, m)| l & !m)
            .collect();
        let unknown: Vec<u64> = linearized
            .iter()
            .zip(unknown_mask)
            .map(|(l, m)| l & m)
            .collect();
        let sets = self.seen.entry((known, state)).or_default();
        let dominated = sets
            .iter()
            .any(|seen| seen.iter().zip(&unknown).all(|(s, u)| s & !u == 0));
        if dominated {
            return false;
        }
        sets.push(unknown);
        true
    }
}

/// Checks `ops` against a register that starts at `initial`, giving up after `max_steps`.
pub fn check(ops: &[Operation], initial: i64, max_steps: u64) -> Verdict {
    let (ops, initial) = canonicalize(ops, initial);
    let ops = &ops[..];
    let mut events = Events::new(ops);
    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut unknown_mask = vec![0u64; words];
    for (i, o) in ops.iter().enumerate() {
        if o.status == Status::Unknown {
            unknown_mask[i / 64] |= 1 << (i % 64);
        }
    }
    let mut cache = Cache::default();
    // (call event, register value before it)
    let mut stack: Vec<(usize, i64)> = Vec::new();
    let mut state = initial;
    // Each configuration's candidates (calls before the first pending return) are tried in two
    // passes: operations with a known outcome first, then unknown ones (see [`Cache`]).
    let mut entry = events.next[0];
    let mut unknown_pass = false;
    let mut steps = 0u64;
    let (mut longest_prefix, mut stuck_at) = (0, NIL);
    loop {
        steps += 1;
        if steps > max_steps {
            return Verdict::GaveUp { steps };
        }
        if entry == NIL {
            return Verdict::Linearizable;
        }
        let ev = events.events[entry];
        let op = &ops[ev.op];
        if !ev.is_call && op.status == Status::Unknown {
            // Every operation with a known return is linearized; the rest may never happen.
            return Verdict::Linearizable;
        }
        if ev.is_call {
            if (op.status == Status::Unknown) == unknown_pass {
                if let Some(new_state) = step(state, op) {
                    let (word, bit) = (ev.op / 64, 1u64 << (ev.op % 64));
                    linearized[word] |= bit;
                    if cache.insert(&linearized, &unknown_mask, new_state) {
                        stack.push((entry, state));
                        state = new_state;
                        events.lift(entry);
                        entry = events.next[0];
                        unknown_pass = false;
                        continue;
                    }
                    linearized[word] &= !bit;
                }
            }
            entry = events.next[entry];
        } else if !unknown_pass {
            entry = events.next[0];
            unknown_pass = true;
        } else {
            if stack.len() >= longest_prefix {
                longest_prefix = stack.len();
                stuck_at = ev.op;
            }
            let Some((call, previous)) = stack.pop() else {
                return Verdict::NotLinearizable {
                    stuck_at,
                    longest_prefix,
                };
            };
            let op = events.events[call].op;
            linearized[op / 64] &= !(1u64 << (op % 64));
            state = previous;
            events.unlift(call);
            entry = events.next[call];
            unknown_pass = ops[op].status == Status::Unknown;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: u64 = 1_000_000;

    fn ok(op: RegOp, call: u64, ret: u64) -> Operation {
        Operation {
            op,
            status: Status::Ok,
            call,
            ret,
        }
    }

    fn unknown(op: RegOp, call: u64) -> Operation {
        Operation {
            op,
            status: Status::Unknown,
            call,
            ret: 0,
        }
    }

    fn cas_failed(expected: i64, new: i64, call: u64, ret: u64) -> Operation {
        Operation {
            op: RegOp::Cas { expected, new },
            status: Status::CasFailed,
            call,
            ret,
        }
    }

    use RegOp::{Read, Write};

    fn cas(expected: i64, new: i64) -> RegOp {
        RegOp::Cas { expected, new }
    }

    fn is_linearizable(ops: &[Operation]) -> bool {
        match check(ops, 0, BUDGET) {
            Verdict::Linearizable => true,
            Verdict::NotLinearizable { .. } => false,
            v => panic!("{v}"),
        }
    }

    #[test]
    fn empty_and_sequential_histories() {
        assert!(is_linearizable(&[]));
        assert!(is_linearizable(&[
            ok(Write(1), 0, 1),
            ok(Read(1), 2, 3),
            ok(cas(1, 2), 4, 5),
            cas_failed(1, 3, 6, 7),
            ok(Read(2), 8, 9),
        ]));
    }

    #[test]
    fn stale_read_after_acknowledged_write_is_a_violation() {
        // The write returned before the read began: reading the old value is not allowed.
        assert!(!is_linearizable(&[
            ok(Write(1), 0, 10),
            ok(Read(0), 11, 12)
        ]));
        // The same read overlapping the write may go either way.
        assert!(is_linearizable(&[ok(Write(1), 0, 10), ok(Read(0), 5, 12)]));
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_any_order() {
        // Two overlapping writes, then reads that fix the order 2 then 1.
        assert!(is_linearizable(&[
            ok(Write(1), 0, 10),
            ok(Write(2), 1, 9),
            ok(Read(1), 11, 12),
        ]));
        // Reads must agree on one order: seeing 1 then 2 then 1 again is impossible.
        assert!(!is_linearizable(&[
            ok(Write(1), 0, 10),
            ok(Write(2), 1, 9),
            ok(Read(1), 11, 12),
            ok(Read(2), 13, 14),
        ]));
    }

    #[test]
    fn two_successful_cas_from_the_same_value_is_a_violation() {
        // Lost update: both CAS(0 -> x) succeeded.
        assert!(!is_linearizable(&[
            ok(cas(0, 1), 0, 10),
            ok(cas(0, 2), 1, 11),
        ]));
        assert!(is_linearizable(&[
            ok(cas(0, 1), 0, 10),
            cas_failed(0, 2, 1, 11)
        ]));
    }

    #[test]
    fn failed_cas_must_see_a_different_value() {
        // Nothing changed the register from 0, yet CAS(0 -> 5) reported a failed guard.
        assert!(!is_linearizable(&[
            ok(Read(0), 0, 1),
            cas_failed(0, 5, 2, 3)
        ]));
    }

    #[test]
    fn unknown_write_may_apply_later_or_never() {
        // An unknown write may take effect long after the client gave up...
        assert!(is_linearizable(&[
            unknown(Write(7), 0),
            ok(Read(0), 20, 21),
            ok(Read(7), 30, 31),
        ]));
        // ...or never.
        assert!(is_linearizable(&[
            unknown(Write(7), 0),
            ok(Read(0), 30, 31)
        ]));
        // But only once: after it showed and was overwritten, it cannot come back.
        assert!(!is_linearizable(&[
            unknown(Write(7), 0),
            ok(Read(7), 10, 11),
            ok(Write(8), 12, 13),
            ok(Read(7), 14, 15),
        ]));
        // And never before its call.
        assert!(!is_linearizable(&[ok(Read(7), 0, 1), unknown(Write(7), 5)]));
    }

    #[test]
    fn unknown_cas_applies_only_where_the_comparison_holds() {
        assert!(is_linearizable(&[
            unknown(cas(0, 3), 0),
            ok(Read(3), 10, 11),
        ]));
        assert!(!is_linearizable(&[
            ok(Write(1), 0, 1),
            unknown(cas(0, 3), 2),
            ok(Read(3), 10, 11),
        ]));
    }

    #[test]
    fn a_classic_violation_in_a_larger_history_is_found() {
        // Many harmless concurrent operations around one stale read.
        let mut ops = Vec::new();
        let mut t = 0;
        for v in 1..200 {
            ops.push(ok(Write(v), t, t + 15));
            ops.push(ok(Read(v), t + 16, t + 18));
            ops.push(unknown(cas(v - 1, -v), t + 1));
            t += 20;
        }
        assert!(is_linearizable(&ops));
        ops.push(ok(Read(5), t + 100, t + 101));
        match check(&ops, 0, BUDGET) {
            Verdict::NotLinearizable { stuck_at, .. } => assert_eq!(stuck_at, ops.len() - 1),
            v => panic!("expected a violation, got {v}"),
        }
    }

    #[test]
    fn the_step_budget_is_respected() {
        let ops = [
            ok(Write(1), 0, 10),
            ok(Write(2), 1, 11),
            ok(Read(3), 12, 13),
        ];
        assert!(matches!(check(&ops, 0, 3), Verdict::GaveUp { .. }));
        assert!(matches!(
            check(&ops, 0, BUDGET),
            Verdict::NotLinearizable { .. }
        ));
    }

    /// The definition, by brute force: some subset of the unknown operations, together with all
    /// others, has an order that respects real time and the register's semantics.
    fn brute_force(ops: &[Operation], initial: i64) -> bool {
        let unknown: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].status == Status::Unknown)
            .collect();
        (0u32..1 << unknown.len()).any(|subset| {
            let chosen: Vec<usize> = (0..ops.len())
                .filter(|i| match unknown.iter().position(|u| u == i) {
                    Some(k) => subset & (1 << k) != 0,
                    None => true,
                })
                .collect();
            let mut used = vec![false; chosen.len()];
            orders(ops, &chosen, &mut used, initial)
        })
    }

    fn orders(ops: &[Operation], chosen: &[usize], used: &mut [bool], state: i64) -> bool {
        if used.iter().all(|&u| u) {
            return true;
        }
        for k in 0..chosen.len() {
            if used[k] {
                continue;
            }
            let o = &ops[chosen[k]];
            // Every pending operation that returned before this one was called must come first.
            let blocked = (0..chosen.len()).any(|j| {
                let p = &ops[chosen[j]];
                !used[j] && j != k && p.status != Status::Unknown && p.ret < o.call
            });
            if blocked {
                continue;
            }
            if let Some(next) = step(state, o) {
                used[k] = true;
                if orders(ops, chosen, used, next) {
                    used[k] = false;
                    return true;
                }
                used[k] = false;
            }
        }
        false
    }

    #[test]
    fn agrees_with_brute_force_on_random_small_histories() {
        let mut rng = crate::faults::rng::Rng::new(0x5EED);
        let (mut linearizable, mut violations) = (0, 0);
        for _ in 0..3000 {
            let n = rng.range(1, 6) as usize;
            let ops: Vec<Operation> = (0..n)
                .map(|_| {
                    let v = rng.range(0, 2) as i64;
                    let w = rng.range(0, 2) as i64;
                    let op = match rng.below(3) {
                        0 => Read(v),
                        1 => Write(v),
                        _ => cas(v, w),
                    };
                    let status = match (op, rng.below(6)) {
                        (_, 0) => Status::Unknown,
                        (RegOp::Cas { .. }, 1 | 2) => Status::CasFailed,
                        _ => Status::Ok,
                    };
                    let call = rng.range(0, 20);
                    Operation {
                        op,
                        status,
                        call,
                        ret: call + rng.range(1, 8),
                    }
                })
                .collect();
            let expected = brute_force(&ops, 0);
            assert_eq!(is_linearizable(&ops), expected, "{ops:#?}");
            if expected {
                linearizable += 1;
            } else {
                violations += 1;
            }
        }
        assert!(
            linearizable > 300 && violations > 300,
            "{linearizable} / {violations}"
        );
    }
}
