//! Segment files: round trip, names, and each way a file can go wrong giving its own typed error.

use super::*;
use crate::config::{EncKey, EncKeys};
use crate::store::sqlite::test_db::{execute, timed_entries};

fn keys(active: &str, list: &[(&str, u8)]) -> EncKeys {
    EncKeys {
        keys: list
            .iter()
            .map(|(id, b)| EncKey::new(*id, [*b; 32]).unwrap())
            .collect(),
        active: Some(active.into()),
    }
}

/// Entries 5..=7; their leader clocks go 1000, 900 (behind: held at 1000), 1200.
fn entries() -> Vec<Entry> {
    timed_entries(
        5,
        vec![
            (1000, execute("INSERT INTO t VALUES (1)")),
            (900, execute("INSERT INTO t VALUES (2)")),
            (1200, execute("INSERT INTO t VALUES (3)")),
        ],
    )
    .into_iter()
    .map(|(e, _)| e)
    .collect()
}

fn written(prev_ms: i64) -> (SegmentHeader, Vec<u8>) {
    let ks = keys("k1", &[("k1", 1)]);
    let mut out = Vec::new();
    let h = write_segment(
        &mut out,
        ks.active_key().unwrap(),
        &entries(),
        prev_ms,
        (3, 0xabc),
    )
    .unwrap();
    (h, out)
}

fn indexes(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.log_id.index).collect()
}

#[test]
fn round_trip_keeps_entries_range_and_entry_times() {
    let (h, bytes) = written(950);
    assert_eq!((h.first_index, h.last_index), (5, 7));
    assert_eq!((h.first_term, h.last_term), (1, 1));
    // Entry times are the running maximum: 1000, 1000, 1200.
    assert_eq!((h.first_ms, h.last_ms), (1000, 1200));
    assert_eq!(h.data_format, 3);
    let (back, got) = read_segment(&mut bytes.as_slice(), &keys("k1", &[("k1", 1)]), "s").unwrap();
    assert_eq!(back, h);
    assert_eq!(indexes(&got), vec![5, 6, 7]);
    match (&got[1].payload, &entries()[1].payload) {
        (openraft::EntryPayload::Normal(a), openraft::EntryPayload::Normal(b)) => {
            assert_eq!(a.leader_time_ms, b.leader_time_ms);
            assert_eq!(format!("{:?}", a.op), format!("{:?}", b.op));
        }
        other => panic!("{other:?}"),
    }
    // The previous entry's time carries over when it is later than the leaders' clocks.
    let (h, _) = written(1100);
    assert_eq!((h.first_ms, h.last_ms), (1100, 1200));
    // Nothing of the SQL is readable in the file.
    assert!(!bytes.windows(6).any(|w| w == b"INSERT"));
}

#[test]
fn names_tell_range_and_times_and_sort_by_index() {
    let (h, _) = written(0);
    assert_eq!(
        h.name(),
        "hiqlite-log-0000000000000abc-00000000000000000005-00000000000000000007-1000-1200.hqlog"
    );
    let parts = |lineage, first_index, last_index, first_ms, last_ms| {
        Some(NameParts {
            lineage,
            first_index,
            last_index,
            first_ms,
            last_ms,
        })
    };
    assert_eq!(parse_name(&h.name()), parts(0xabc, 5, 7, 1000, 1200));
    assert_eq!(
        parse_name(&name_for(9, 1, 2, -5, -3)),
        parts(9, 1, 2, -5, -3)
    );
    assert_eq!(parse_name(&name_for(9, 1, 2, -5, 7)), parts(9, 1, 2, -5, 7));
    assert_eq!(parse_name("hiqlite-00000000000000000005-1.hqbackup"), None);
    assert_eq!(
        parse_name("hiqlite-log-00000000000000000007-00000000000000000005-1-2.hqlog"),
        None,
        "a range that runs backwards"
    );
    assert_eq!(parse_name("hiqlite-log-5-7-1-2.hqlog"), None);
    let mut names = [
        name_for(1, 10, 20, 5, 6),
        name_for(1, 9, 9, 1, 1),
        name_for(1, 21, 30, 7, 8),
    ];
    names.sort();
    assert_eq!(parse_name(&names[0]).unwrap().first_index, 9);
    assert_eq!(parse_name(&names[2]).unwrap().first_index, 21);
}

#[test]
fn header_round_trips() {
    let (h, bytes) = written(0);
    let (back, raw) = SegmentHeader::read(&mut bytes.as_slice(), "s").unwrap();
    assert_eq!(back, h);
    assert_eq!(raw, h.encode());
}

#[test]
fn wrong_and_unknown_keys_are_typed() {
    let (_, bytes) = written(0);
    let e = read_segment(&mut bytes.as_slice(), &keys("k1", &[("k1", 2)]), "s").unwrap_err();
    assert_eq!(
        e,
        BackupError::WrongKey {
            name: "s".into(),
            key_id: "k1".into()
        }
    );
    let e = read_segment(&mut bytes.as_slice(), &keys("k2", &[("k2", 1)]), "s").unwrap_err();
    assert!(
        matches!(&e, BackupError::UnknownKey { key_id, known, .. } if key_id == "k1" && known == &vec!["k2".to_string()]),
        "{e:?}"
    );
}

#[test]
fn tampered_body_or_header_fails_authentication() {
    let ks = keys("k1", &[("k1", 1)]);
    let (h, bytes) = written(0);
    let header_len = h.encode().len();
    let mut body = bytes.clone();
    let last = body.len() - 1;
    body[last] ^= 1;
    let e = read_segment(&mut body.as_slice(), &ks, "s").unwrap_err();
    assert!(matches!(e, BackupError::Tampered { .. }), "{e:?}");
    // A header field readable without the key: the last entry time (name and listing use it).
    let mut header = bytes.clone();
    let last_ms_at = 8 + 2 + 1 + 1 + 8 * 4 + 8;
    header[last_ms_at + 7] ^= 1;
    let e = read_segment(&mut header.as_slice(), &ks, "s").unwrap_err();
    assert!(matches!(e, BackupError::Tampered { .. }), "{e:?}");
    // Bytes appended after the last chunk.
    let mut longer = bytes.clone();
    longer.push(0);
    let e = read_segment(&mut longer.as_slice(), &ks, "s").unwrap_err();
    assert!(matches!(e, BackupError::Tampered { .. }), "{e:?}");
    assert!(header_len < bytes.len());
}

#[test]
fn truncated_segment_is_typed() {
    let ks = keys("k1", &[("k1", 1)]);
    let (h, bytes) = written(0);
    let cut = &bytes[..bytes.len() - 5];
    match read_segment(&mut &cut[..], &ks, "s").unwrap_err() {
        BackupError::Truncated {
            expected, found, ..
        } => {
            assert_eq!(expected, bytes.len() as u64);
            assert_eq!(found, cut.len() as u64);
        }
        other => panic!("{other:?}"),
    }
    let e = read_segment(&mut &bytes[..h.encode().len() - 3], &ks, "s").unwrap_err();
    assert!(matches!(e, BackupError::Truncated { .. }), "{e:?}");
    let e = read_segment(&mut &b"HQLBAKUP\0\x01"[..], &ks, "s").unwrap_err();
    assert!(matches!(e, BackupError::NotABackup { .. }), "{e:?}");
}

#[test]
fn newer_segment_format_is_refused() {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&(SEGMENT_FORMAT + 1).to_be_bytes());
    let e = SegmentHeader::read(&mut bytes.as_slice(), "s").unwrap_err();
    assert_eq!(
        e,
        BackupError::NewerFormat {
            name: "s".into(),
            found: SEGMENT_FORMAT + 1,
            newest: SEGMENT_FORMAT
        }
    );
}

#[test]
fn entries_must_be_consecutive_and_present() {
    let ks = keys("k1", &[("k1", 1)]);
    let key = ks.active_key().unwrap();
    let mut gap = entries();
    gap.remove(1);
    let e = write_segment(&mut Vec::new(), key, &gap, 0, (3, 1)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let e = write_segment(&mut Vec::new(), key, &[], 0, (3, 1)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn a_segment_may_end_at_the_last_log_index() {
    // Found by fuzzing (fuzz/regressions/segment/): counting and walking the header's range
    // overflowed at u64::MAX.
    let ks = keys("k1", &[("k1", 1)]);
    let last = timed_entries(u64::MAX, vec![(1000, execute("INSERT INTO t VALUES (1)"))]);
    let last: Vec<Entry> = last.into_iter().map(|(e, _)| e).collect();
    let mut out = Vec::new();
    write_segment(&mut out, ks.active_key().unwrap(), &last, 0, (3, 1)).unwrap();
    let (h, got) = read_segment(&mut out.as_slice(), &ks, "s").unwrap();
    assert_eq!((h.first_index, h.last_index), (u64::MAX, u64::MAX));
    assert_eq!(indexes(&got), vec![u64::MAX]);
}
