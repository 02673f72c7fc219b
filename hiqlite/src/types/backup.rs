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
    /// The file name, e.g. `hiqlite-00000000000000000042-1764495600000.hqbackup`: what
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

/// A point in the backed-up history of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreTarget {
    /// Everything the store holds: the newest snapshot and every segment after it.
    Latest,
    /// Every entry whose entry time (leader time, ms since the Unix epoch) is at or before this.
    Time(i64),
    /// Every entry up to and including this log index (of the cluster the backups came from).
    LogIndex(u64),
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
