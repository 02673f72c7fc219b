//! Backups as every room speaks of them: what a backup is ([`BackupInfo`]) and what can go wrong
//! with one ([`BackupError`]). Both cross the network (`hiqlite backup list` on another machine),
//! so they hold plain data only. The file format and the work live in `crate::backup`.

use serde::{Deserialize, Serialize};

/// Where a backup is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupLocation {
    /// In the node's `backup_dir` (`HQL_BACKUP_DIR`).
    Local,
    /// In the node's S3 bucket (`HQL_S3_BUCKET`).
    S3,
}

impl std::fmt::Display for BackupLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupLocation::Local => f.write_str("local"),
            BackupLocation::S3 => f.write_str("s3"),
        }
    }
}

/// One backup: a consistent copy of the database at one applied log entry, encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// The file name, e.g. `hiqlite-5f1c0e3a9b2d4c61-00000000000000000042-1764495600000.hqbackup`
    /// (lineage in hex, log index, creation time): what
    /// `hiqlite backup verify NAME` takes.
    pub name: String,
    /// The entry time (leader time, ms since the Unix epoch) of the last entry the copy holds.
    pub created_ms: i64,
    /// The index of the last log entry the copy holds.
    pub log_index: u64,
    /// The term of that entry.
    pub log_term: u64,
    /// The size of the backup file in bytes (encrypted, with its header).
    pub size: u64,
    /// The id of the key it was encrypted with (one of `ENC_KEYS`).
    pub key_id: String,
    pub location: BackupLocation,
    /// The lineage of the history it belongs to: backups and log segments of one lineage form one
    /// history of log indexes; a restore, or a cluster formed anew, starts another. 0: a backup
    /// of a cluster that had none yet (before format 4).
    pub lineage: u64,
}

/// One log segment: committed log entries `first_index..=last_index`, encrypted, in the backup
/// store (see `crate::backup::segment`). Name, range and times come from the file name, so a
/// listing needs no download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// The file name, e.g.
    /// `hiqlite-log-5f1c0e3a9b2d4c61-00000000000000000043-00000000000000000050-1764495600000-1764495601000.hqlog`
    /// (lineage in hex, first and last index, first and last entry time).
    pub name: String,
    /// The index of the first entry it holds.
    pub first_index: u64,
    /// The index of the last entry it holds.
    pub last_index: u64,
    /// The entry time (ms since the Unix epoch; the running maximum of the leaders' clocks along
    /// the log) of the first entry.
    pub first_ms: i64,
    /// The entry time of the last entry.
    pub last_ms: i64,
    /// The size of the file in bytes (encrypted, with its header).
    pub size: u64,
    /// The id of the key it was encrypted with, when the listing read its header (local files);
    /// `None` for S3 objects, listed by name only.
    pub key_id: Option<String>,
    pub location: BackupLocation,
    /// The lineage of the history it belongs to (see [`BackupInfo::lineage`]).
    pub lineage: u64,
}

/// How far a point-in-time restore goes: the newest snapshot backup at or before the target, plus
/// the shipped log entries after it up to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreTarget {
    /// Everything shipped: the last entry of the newest segment (or the newest snapshot backup,
    /// when no segment follows it).
    Latest,
    /// Every entry whose entry time (ms since the Unix epoch, leader time) is at most this.
    Time(i64),
    /// Every entry up to and including this log index.
    LogIndex(u64),
}

impl std::fmt::Display for RestoreTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreTarget::Latest => f.write_str("the latest shipped state"),
            RestoreTarget::Time(ms) => write!(f, "entry time {ms} ms"),
            RestoreTarget::LogIndex(i) => write!(f, "log index {i}"),
        }
    }
}

/// What went wrong with a backup. Each variant says what to do; none carries key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum BackupError {
    /// Backups need `backup_dir` and encryption keys, and this node has not got one of them.
    #[error("backups are not configured on this node: {0}")]
    NotConfigured(String),
    /// Reading or writing a file failed.
    #[error("backup I/O on {path}: {message}")]
    Io { path: String, message: String },
    /// Copying the database failed.
    #[error("copying the database for a backup failed: {0}")]
    Copy(String),
    /// The file does not start like a Hiqlite backup.
    #[error("{name} is not a Hiqlite backup (its first bytes are not the backup magic)")]
    NotABackup { name: String },
    /// The backup was written by a newer Hiqlite: upgrade this binary to read it.
    #[error(
        "{name} has backup format {found}, this binary reads up to {newest}: use a newer Hiqlite"
    )]
    NewerFormat {
        name: String,
        found: u16,
        newest: u16,
    },
    /// The database inside is of a cluster format newer than this binary speaks.
    #[error("{name} holds data of format {found}, this binary speaks up to {newest}")]
    NewerDataFormat { name: String, found: u8, newest: u8 },
    /// The backup names a key id that is not in `ENC_KEYS`: add that key (old keys stay
    /// usable for reading).
    #[error(
        "{name} was encrypted with key {key_id:?}, which is not in ENC_KEYS (known: {known:?})"
    )]
    UnknownKey {
        name: String,
        key_id: String,
        known: Vec<String>,
    },
    /// A key with the backup's key id exists, but it is not the key the backup was made with.
    #[error(
        "{name}: the key {key_id:?} in ENC_KEYS is not the key this backup was encrypted with"
    )]
    WrongKey { name: String, key_id: String },
    /// The file ends before the data its header announces.
    #[error("{name} is truncated: expected {expected} bytes, found {found}")]
    Truncated {
        name: String,
        expected: u64,
        found: u64,
    },
    /// The contents were changed after writing (authentication failed), or the header is garbled.
    #[error("{name} was modified or damaged: {detail}")]
    Tampered { name: String, detail: String },
    /// The decrypted data is not what the header describes (checksum, length, or log id).
    #[error("{name} does not match its header: {detail}")]
    Mismatch { name: String, detail: String },
    /// The decrypted data is not a Hiqlite database.
    #[error("{name} does not hold a Hiqlite database: {detail}")]
    NotADatabase { name: String, detail: String },
    /// The contacted node runs a release without backups (its connection speaks an older format).
    #[error("the node speaks format {format}; backups need format {needed}: upgrade that node")]
    NodeTooOld { format: u8, needed: u8 },
    /// No backup of that name.
    #[error("no backup named {name:?}")]
    NotFound { name: String },
    /// A backup name must be a plain file name (no `/`, no `..`).
    #[error("invalid backup name {name:?}: give a file name as `hiqlite backup list` prints it")]
    InvalidName { name: String },
    /// A backup was written to the local directory, but uploading it to the S3 bucket failed
    /// (after retries for transient errors). The local file is kept; the next backup is uploaded
    /// anew.
    #[error(
        "backup {name} was written to the local backup directory, but uploading it to S3 failed \
         after {attempts} attempt(s): {message} (the local file is kept)"
    )]
    UploadFailed {
        name: String,
        attempts: u32,
        message: String,
    },
    /// Talking to the S3 bucket failed (listing or reading a backup): `action` says what was
    /// done, `message` what the server or the network answered (never the credentials).
    #[error("S3 {action} failed: {message}")]
    S3 { action: String, message: String },
    /// A point-in-time restore needs a snapshot backup to start from, and the store has none.
    #[error(
        "the backup store holds no snapshot backup to restore from: make one (`hiqlite backup \
         now`); a node that ships its log makes one itself when it starts shipping"
    )]
    NoSnapshot,
    /// The restore target lies before the oldest snapshot backup in the store.
    #[error(
        "the restore target ({target}) is before the oldest snapshot backup (log index \
         {oldest_index}, entry time {oldest_ms} ms): choose a target at or after it"
    )]
    TargetBeforeOldest {
        target: String,
        oldest_index: u64,
        oldest_ms: i64,
    },
    /// The restore target lies after the newest entry shipped to the store.
    #[error(
        "the restore target ({target}) is later than the newest shipped log entry: the newest \
         restorable point is log index {newest_index}, entry time {newest_ms} ms (choose it or an \
         earlier one, or wait for the next segment)"
    )]
    TargetNotShipped {
        target: String,
        newest_index: u64,
        newest_ms: i64,
    },
    /// The shipped log misses entries between the snapshot and the target: no segment holds
    /// `missing_from` (`detail` says what comes next).
    #[error(
        "the shipped log has a gap: no segment holds log index {missing_from} ({detail}); restore \
         to a point before it, or from a snapshot backup made after the gap"
    )]
    SegmentGap { missing_from: u64, detail: String },
    /// Applying a shipped entry to the restored database failed (the disk, or a file that is not
    /// what its name says).
    #[error("replaying log entry {index} into the restored database failed: {message}")]
    Replay { index: u64, message: String },
    // Added with restores (format 4).
    /// The cluster refused to swap in the restored database (every node checks the same bytes
    /// and refuses alike); the database is unchanged.
    #[error("the restore was refused: {detail}")]
    RestoreRefused { detail: String },
}

/// Which state a restore brings the cluster to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreSource {
    /// One snapshot backup, as it was taken: `name` as `hiqlite backup list` prints it, looked
    /// up in the given location, or (`None`) locally first, then in S3.
    Backup {
        name: String,
        location: Option<BackupLocation>,
    },
    /// The newest snapshot backup at or before `target` plus the shipped log segments up to it
    /// (point-in-time recovery).
    PointInTime(RestoreTarget),
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreInfo {
    /// The snapshot backup (or file) the restored state started from.
    pub from: String,
    /// Log entries replayed on top of that snapshot (point-in-time recovery; 0 otherwise).
    pub entries_replayed: u64,
    /// The last log index the restored database holds, counted in the log it came from.
    pub restored_log_index: u64,
    /// That entry's time (leader time, ms since the Unix epoch).
    pub restored_time_ms: i64,
    /// Size of the restored SQLite database in bytes.
    pub bytes: u64,
    /// The index of this cluster's log entry that swapped the database: from it on, every node
    /// holds the restored state.
    pub log_index: u64,
}
