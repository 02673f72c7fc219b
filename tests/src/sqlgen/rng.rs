//! The generator's only source of choice: the harness's SplitMix64 ([`crate::faults::rng`]) from
//! a seed, so one seed always produces the same statements (no wall clock, no OS randomness),
//! with the helpers a SQL generator needs.

/// A seeded PRNG with `pick`, `weighted`, `subset` and friends.
#[derive(Debug, Clone)]
pub struct Rng(crate::faults::rng::Rng);

impl Rng {
    /// The generator for `seed`; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Rng {
        Rng(crate::faults::rng::Rng::new(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        self.0.below(n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.0.below((hi - lo + 1) as u64) as i64
    }

    /// True with `percent` % probability.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.0.percent(u64::from(percent))
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One of `choices`, each with its weight; weights of 0 are never picked. Panics if all
    /// weights are 0.
    pub fn weighted<T: Copy>(&mut self, choices: &[(u32, T)]) -> T {
        let total: u64 = choices.iter().map(|(w, _)| u64::from(*w)).sum();
        assert!(total > 0, "no choice has a weight");
        let mut point = self.0.below(total);
        for (weight, choice) in choices {
            if point < u64::from(*weight) {
                return *choice;
            }
            point -= u64::from(*weight);
        }
        unreachable!("point below the total weight")
    }

    /// A non-empty random subset of `items` (at least `min`, in the original order).
    pub fn subset<T: Clone>(&mut self, items: &[T], min: usize) -> Vec<T> {
        loop {
            let chosen: Vec<T> = items.iter().filter(|_| self.chance(50)).cloned().collect();
            if chosen.len() >= min.min(items.len()) {
                return chosen;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_sequence() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let mut r = Rng::new(7);
        assert_eq!(a, (0..5).map(|_| r.next_u64()).collect::<Vec<_>>());
        assert_ne!(a[0], Rng::new(8).next_u64());
    }

    #[test]
    fn weighted_never_picks_zero_weights() {
        let mut r = Rng::new(1);
        for _ in 0..1000 {
            assert_ne!(r.weighted(&[(0, 'a'), (3, 'b'), (1, 'c')]), 'a');
        }
    }
}
