//! A Jepsen-style fault-injection suite for clusters of real `hiqlite serve` processes.
//!
//! A *round* starts a cluster, runs four workloads against it (a linearizable register in a
//! table, the same register in the replicated cache, a bank, a set) while a seeded [`nemesis`]
//! kills, pauses and wipes nodes, heals everything, waits for the cluster to converge, checks the
//! histories, and returns a [`report::RoundReport`].
//!
//! The seed fixes the fault schedule (kinds, targets, timings) and every client's choices; the
//! interleaving of real processes on a real machine is not reproducible, so a failing seed
//! reproduces the same pressure, not necessarily the same bug on the first try.

pub mod history;
pub mod linearizability;
pub mod nemesis;
pub mod report;
pub mod rng;
pub mod round;
pub mod workloads;

pub use report::{RoundReport, Summary};
pub use round::{run_round, RoundConfig};

/// Parses durations like `90s`, `3m`, `30m`, `1h`, `1h30m` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
    }
    number
        .is_empty()
        .then_some(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("3m"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30x"), None);
        assert_eq!(parse_duration("5m3"), None);
    }
}
