//! Retention: which old backups to delete, as a pure function of what a store holds
//! ([`plan`]), and carrying the plan out on a [`BackupStore`] ([`apply`]).
//!
//! The rule, for each location (`local`, `s3`) with its own window (`backup_keep_days_local`,
//! `backup_keep_days`): every snapshot made within the window is kept, and so is the newest
//! snapshot made before it, so that every moment of the window stays restorable (that
//! snapshot, plus the log segments after it). Older snapshots are deleted, and so are log
//! segments whose entries all lie at or before the oldest kept snapshot's log index: no restore
//! can start before that snapshot. The newest snapshot is never deleted, however old. A location
//! without snapshots keeps everything.
//!
//! Segments belong to a lineage (one history of log indexes; a restore starts another): a
//! segment is measured against the kept snapshots of its own lineage, and one whose lineage has
//! no kept snapshot left goes with that lineage's snapshots.

use std::cmp::Ordering;

use crate::engine::backups::BackupStore;
use crate::types::backup::{BackupInfo, BackupLocation, SegmentInfo};

/// A milliseconds-per-day factor for the `*_keep_days` settings.
pub const DAY_MS: i64 = 86_400_000;

/// A segment of the shipped Raft log, as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRef {
    pub name: String,
    /// The log index of its first and last entry.
    pub first_index: u64,
    pub last_index: u64,
    /// The entry time of its last entry (ms since the Unix epoch).
    pub last_ms: i64,
    pub location: BackupLocation,
    /// The lineage of the history it belongs to.
    pub lineage: u64,
}

impl From<&SegmentInfo> for SegmentRef {
    fn from(s: &SegmentInfo) -> Self {
        SegmentRef {
            name: s.name.clone(),
            first_index: s.first_index,
            last_index: s.last_index,
            last_ms: s.last_ms,
            location: s.location,
            lineage: s.lineage,
        }
    }
}

/// How long each location keeps snapshots, in milliseconds; `None` leaves the location alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Windows {
    pub local: Option<i64>,
    pub s3: Option<i64>,
}

impl Windows {
    /// Windows of whole days: `backup_keep_days_local` and `backup_keep_days`.
    pub fn days(local: Option<u32>, s3: Option<u32>) -> Windows {
        let ms = |days: u32| i64::from(days).saturating_mul(DAY_MS);
        Windows {
            local: local.map(ms),
            s3: s3.map(ms),
        }
    }

    fn of(&self, location: BackupLocation) -> Option<i64> {
        match location {
            BackupLocation::Local => self.local,
            BackupLocation::S3 => self.s3,
        }
    }
}

/// What to delete: snapshots and segments, each by name and location, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub snapshots: Vec<(String, BackupLocation)>,
    pub segments: Vec<(String, BackupLocation)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty() && self.segments.is_empty()
    }
}

/// Oldest first: by creation time, then log index, then name.
fn by_age(a: &BackupInfo, b: &BackupInfo) -> Ordering {
    (a.created_ms, a.log_index, &a.name).cmp(&(b.created_ms, b.log_index, &b.name))
}

/// What to delete at `now_ms` from `snapshots` and `segments` (any order, any mix of
/// locations) under `windows` (see the module's rule).
pub fn plan(
    snapshots: &[BackupInfo],
    segments: &[SegmentRef],
    windows: Windows,
    now_ms: i64,
) -> Plan {
    let mut out = Plan::default();
    for location in [BackupLocation::Local, BackupLocation::S3] {
        let Some(window) = windows.of(location) else {
            continue;
        };
        let mut snaps: Vec<&BackupInfo> = snapshots
            .iter()
            .filter(|s| s.location == location)
            .collect();
        snaps.sort_by(|a, b| by_age(a, b));
        if snaps.is_empty() {
            continue;
        }
        let cutoff = now_ms.saturating_sub(window);
        // The newest snapshot made before the window: everything older goes.
        let first_kept = snaps
            .iter()
            .rposition(|s| s.created_ms < cutoff)
            .unwrap_or(0);
        out.snapshots.extend(
            snaps[..first_kept]
                .iter()
                .map(|s| (s.name.clone(), location)),
        );
        let kept = &snaps[first_kept..];
        let obsolete = |g: &SegmentRef| {
            if !snaps.iter().any(|s| s.lineage == g.lineage) {
                // No snapshot of its history here at all: not ours to judge.
                return false;
            }
            let oldest_kept_index = kept
                .iter()
                .filter(|s| s.lineage == g.lineage)
                .map(|s| s.log_index)
                .min();
            oldest_kept_index.is_none_or(|index| g.last_index <= index)
        };
        let mut old_segments: Vec<&SegmentRef> = segments
            .iter()
            .filter(|g| g.location == location && obsolete(g))
            .collect();
        old_segments.sort_by_key(|g| (g.first_index, g.last_index));
        out.segments
            .extend(old_segments.iter().map(|g| (g.name.clone(), location)));
    }
    out
}

/// Deletes what `plan` says from `store`, logging each deletion. A failed deletion is logged
/// and the rest go on (the next run tries again). Returns how many were deleted.
pub async fn apply(store: &dyn BackupStore, plan: &Plan) -> usize {
    let mut deleted = 0;
    for (kind, items) in [("backup", &plan.snapshots), ("log segment", &plan.segments)] {
        for (name, location) in items {
            match store.delete(name, *location).await {
                Ok(()) => {
                    deleted += 1;
                    tracing::info!(%name, %location, "retention: deleted old {kind}");
                }
                Err(e) => {
                    tracing::warn!(%name, %location, error = %e, "retention: cannot delete old {kind}; the next scheduled backup tries again")
                }
            }
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;
    use BackupLocation::{Local, S3};

    const NOW: i64 = 1_764_498_000_000;

    fn snap(name: &str, days_ago: i64, log_index: u64, location: BackupLocation) -> BackupInfo {
        BackupInfo {
            name: name.into(),
            created_ms: NOW - days_ago * DAY_MS,
            log_index,
            log_term: 1,
            size: 1,
            key_id: "k1".into(),
            location,
            lineage: 1,
        }
    }

    fn seg(name: &str, first: u64, last: u64, location: BackupLocation) -> SegmentRef {
        SegmentRef {
            name: name.into(),
            first_index: first,
            last_index: last,
            last_ms: 0,
            location,
            lineage: 1,
        }
    }

    fn names(items: &[(String, BackupLocation)]) -> Vec<&str> {
        items.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn segments_are_judged_within_their_own_lineage() {
        let of = |lineage, mut x: BackupInfo| {
            x.lineage = lineage;
            x
        };
        let in_lineage = |lineage, mut g: SegmentRef| {
            g.lineage = lineage;
            g
        };
        // History 1 ran until a restore 10 days ago started history 2 (its indexes start low).
        let snapshots = [
            of(1, snap("h1-old", 40, 100, Local)),
            of(1, snap("h1-kept", 35, 200, Local)),
            of(2, snap("h2", 5, 3, Local)),
        ];
        let segments = [
            in_lineage(1, seg("h1-before", 101, 200, Local)),
            in_lineage(1, seg("h1-after", 201, 300, Local)),
            in_lineage(2, seg("h2-after", 4, 9, Local)),
            // A history with no snapshot here: left alone.
            in_lineage(3, seg("h3", 1, 2, Local)),
        ];
        let p = plan(&snapshots, &segments, Windows::days(Some(30), None), NOW);
        assert_eq!(names(&p.snapshots), vec!["h1-old"]);
        assert_eq!(names(&p.segments), vec!["h1-before"]);
        // Once history 1's last snapshot leaves the window's reach, its segments go with it.
        let p = plan(&snapshots, &segments, Windows::days(Some(1), None), NOW);
        assert_eq!(names(&p.snapshots), vec!["h1-old", "h1-kept"]);
        assert_eq!(names(&p.segments), vec!["h1-before", "h1-after"]);
    }

    #[test]
    fn nothing_to_do_without_snapshots_or_within_the_window() {
        let w = Windows::days(Some(3), Some(30));
        assert!(plan(&[], &[seg("g", 1, 9, Local)], w, NOW).is_empty());
        let snaps = [snap("a", 2, 10, Local), snap("b", 1, 20, Local)];
        assert!(plan(&snaps, &[], w, NOW).is_empty());
    }

    #[test]
    fn keeps_the_window_and_the_newest_snapshot_before_it() {
        let snaps = [
            snap("e", 1, 50, S3),
            snap("a", 40, 10, S3),
            snap("c", 31, 30, S3),
            snap("d", 10, 40, S3),
            snap("b", 35, 20, S3),
        ];
        let p = plan(&snaps, &[], Windows::days(None, Some(30)), NOW);
        // c (31 days) is kept: the window's first moments are restored from it.
        assert_eq!(names(&p.snapshots), ["a", "b"]);
        assert!(p.snapshots.iter().all(|(_, l)| *l == S3));
    }

    #[test]
    fn never_deletes_the_newest_snapshot() {
        let snaps = [snap("a", 90, 10, Local), snap("b", 60, 20, Local)];
        let p = plan(&snaps, &[], Windows::days(Some(3), None), NOW);
        assert_eq!(names(&p.snapshots), ["a"]);
        let p = plan(&snaps[..1], &[], Windows::days(Some(3), None), NOW);
        assert!(p.is_empty());
    }

    #[test]
    fn a_zero_window_keeps_only_the_newest() {
        let snaps = [
            snap("a", 3, 10, Local),
            snap("b", 2, 20, Local),
            snap("c", 1, 30, Local),
        ];
        let p = plan(&snaps, &[], Windows::days(Some(0), None), NOW);
        assert_eq!(names(&p.snapshots), ["a", "b"]);
        // Made "now" (or later: another node's clock) counts as inside the window.
        let mut fresh = snaps.to_vec();
        fresh.push(snap("d", 0, 40, Local));
        let p = plan(&fresh, &[], Windows::days(Some(0), None), NOW);
        assert_eq!(names(&p.snapshots), ["a", "b"]);
    }

    #[test]
    fn each_location_has_its_own_window_and_none_leaves_it_alone() {
        let snaps = [
            snap("l1", 10, 10, Local),
            snap("l2", 5, 20, Local),
            snap("l3", 1, 30, Local),
            snap("s1", 10, 10, S3),
            snap("s2", 5, 20, S3),
            snap("s3", 1, 30, S3),
        ];
        let p = plan(&snaps, &[], Windows::days(Some(3), Some(4)), NOW);
        assert_eq!(
            p.snapshots,
            vec![("l1".to_string(), Local), ("s1".to_string(), S3)]
        );
        // 7 days: s1 (10 days) is the newest before the window, so the bucket keeps all.
        let p = plan(&snaps, &[], Windows::days(Some(3), Some(7)), NOW);
        assert_eq!(p.snapshots, vec![("l1".to_string(), Local)]);
        let p = plan(&snaps, &[], Windows::days(Some(3), None), NOW);
        assert_eq!(p.snapshots, vec![("l1".to_string(), Local)]);
        let p = plan(&snaps, &[], Windows::default(), NOW);
        assert!(p.is_empty());
    }

    #[test]
    fn segments_go_when_the_oldest_kept_snapshot_covers_them() {
        let snaps = [
            snap("a", 40, 100, S3),
            snap("b", 35, 200, S3),
            snap("c", 10, 300, S3),
        ];
        let segments = [
            seg("g3", 201, 250, S3), // after b: needed to restore b + log
            seg("g1", 1, 100, S3),   // all at or before a
            seg("g2", 101, 200, S3), // ends exactly at b: covered by b
            seg("g4", 150, 210, S3), // straddles b: kept
            seg("l1", 1, 50, Local), // another location without snapshots: kept
        ];
        let p = plan(&snaps, &segments, Windows::days(Some(0), Some(30)), NOW);
        assert_eq!(names(&p.snapshots), ["a"]);
        assert_eq!(names(&p.segments), ["g1", "g2"]);
        assert!(p.segments.iter().all(|(_, l)| *l == S3));
    }

    #[test]
    fn segments_are_kept_while_every_snapshot_is_in_the_window_but_not_before_the_first() {
        let snaps = [snap("a", 1, 100, Local), snap("b", 0, 200, Local)];
        let segments = [seg("g0", 1, 99, Local), seg("g1", 100, 150, Local)];
        let p = plan(&snaps, &segments, Windows::days(Some(3), None), NOW);
        assert!(p.snapshots.is_empty());
        // Entries up to 99 precede every snapshot: no restore can use them.
        assert_eq!(names(&p.segments), ["g0"]);
    }

    #[test]
    fn input_order_does_not_matter() {
        let mut snaps = vec![
            snap("a", 9, 10, Local),
            snap("b", 8, 20, Local),
            snap("c", 7, 30, Local),
            snap("d", 1, 40, Local),
        ];
        let expected = plan(&snaps, &[], Windows::days(Some(5), None), NOW);
        assert_eq!(names(&expected.snapshots), ["a", "b"]);
        snaps.reverse();
        assert_eq!(
            plan(&snaps, &[], Windows::days(Some(5), None), NOW),
            expected
        );
    }

    #[test]
    fn huge_windows_do_not_overflow() {
        let snaps = [snap("a", 9, 10, Local), snap("b", 8, 20, Local)];
        let p = plan(&snaps, &[], Windows::days(Some(u32::MAX), None), NOW);
        assert!(p.is_empty());
    }
}
