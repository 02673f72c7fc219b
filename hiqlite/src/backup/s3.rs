//! Backups uploaded to an S3 bucket ([`S3Backups`]), with the `s3-simple` client.
//!
//! A backup is first written to the local directory by [`LocalBackups`] (the staging area), then
//! uploaded under its file name as the object key: files of 8 MiB or more as a multipart upload
//! (8 MiB parts, s3-simple's `put_stream`), smaller ones in one PUT. Transient failures (no
//! connection, HTTP 5xx, 408, 429) of uploads, listings and deletes are retried with a doubling
//! backoff; anything else (wrong credentials, a missing bucket) fails at once. A failed upload
//! leaves the local file.
//!
//! Listing reads each object's header with a ranged GET of its first [`HEADER_PROBE`] bytes:
//! the header is readable without the key (`format.rs`), so the listing needs no metadata of
//! its own and shows what a local listing shows.

use std::path::Path;
use std::time::Duration;

use futures::future::BoxFuture;
use s3_simple::{Bucket, BucketOptions, Credentials, Region, S3Error};

use super::format::BackupHeader;
use super::local::EXTENSION;
use super::{segment, LocalBackups};
use crate::config::S3Config;
use crate::engine::backups::{BackupStore, NewSegment};
use crate::types::backup::{BackupError, BackupInfo, BackupLocation, SegmentInfo};

/// Bytes read from the start of each object to decode its header; every header is shorter
/// (its largest field, the key id, is at most 255 bytes).
pub const HEADER_PROBE: u64 = 512;
/// Object keys of backups start with this (names are `hiqlite-INDEX-MS.hqbackup`; log segments'
/// `hiqlite-log-...hqlog` share it and are told apart by their ending).
const KEY_PREFIX: &str = "hiqlite-";

/// How often and how patiently an S3 operation is retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// The wait after the first failed attempt; it doubles after each further one.
    pub first_delay: Duration,
}

impl Default for Retry {
    /// 4 attempts, waiting 1, 2 and 4 s between them.
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_delay: Duration::from_secs(1),
        }
    }
}

/// Local backups, each also uploaded to an S3 bucket.
#[derive(Clone)]
pub struct S3Backups {
    local: LocalBackups,
    bucket: Bucket,
    retry: Retry,
}

impl std::fmt::Debug for S3Backups {
    /// The endpoint and bucket; never the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backups")
            .field("url", &self.bucket.host.as_str())
            .field("bucket", &self.bucket.name)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl S3Backups {
    /// Backups made by `local`, each uploaded to the bucket of
    /// `config`.
    ///
    /// # Errors
    /// [`BackupError::NotConfigured`] when `config` lacks the URL, bucket, key or secret, or the
    /// URL does not parse.
    pub fn new(local: LocalBackups, config: &S3Config, retry: Retry) -> Result<Self, BackupError> {
        let missing = |name: &str| BackupError::NotConfigured(format!("{name} is not set"));
        let url = config.url.as_deref().ok_or_else(|| missing("s3_url"))?;
        let host = url
            .parse()
            .map_err(|e| BackupError::NotConfigured(format!("s3_url {url:?} is not a URL: {e}")))?;
        let bucket = config.bucket.clone().ok_or_else(|| missing("s3_bucket"))?;
        let key = config.key.clone().ok_or_else(|| missing("s3_key"))?;
        let secret = config.secret.as_ref().ok_or_else(|| missing("s3_secret"))?;
        let secret = String::from_utf8_lossy(secret.as_bytes()).into_owned();
        let bucket = Bucket::new(
            host,
            bucket,
            Region::new(config.region()),
            Credentials::new(key, secret),
            Some(BucketOptions {
                path_style: config.path_style,
                list_objects_v2: true,
            }),
        )
        .map_err(|e| BackupError::NotConfigured(format!("the S3 bucket: {}", describe(&e))))?;
        Ok(S3Backups {
            local,
            bucket,
            retry: Retry {
                attempts: retry.attempts.max(1),
                ..retry
            },
        })
    }

    /// Uploads backup `name` of the local directory, retrying transient failures. Returns the
    /// bytes uploaded.
    ///
    /// # Errors
    /// [`BackupError::UploadFailed`] with the last failure; the local file is not touched.
    /// [`BackupError::InvalidName`] for a name that is not a backup file name.
    pub async fn upload(&self, name: &str) -> Result<u64, BackupError> {
        let path = self.local.dir.path_of(name)?;
        let result = retrying(self.retry, &format!("uploading {name}"), || async {
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| Failure::Final(format!("opening {}: {e}", path.display())))?;
            self.bucket
                .put_stream(&mut file, name.to_string())
                .await
                .map_err(Failure::from)
        })
        .await;
        match result {
            Ok(done) => Ok(done.uploaded_bytes as u64),
            Err((attempts, message)) => Err(BackupError::UploadFailed {
                name: name.into(),
                attempts,
                message,
            }),
        }
    }

    /// Lists the objects whose keys start with `prefix`, retrying transient failures.
    async fn list_objects(
        &self,
        prefix: &str,
        action: &str,
    ) -> Result<Vec<s3_simple::Object>, BackupError> {
        retrying(self.retry, action, || async {
            self.bucket.list(prefix, None).await.map_err(Failure::from)
        })
        .await
        .map(|pages| pages.into_iter().flat_map(|p| p.contents).collect())
        .map_err(|(_, message)| BackupError::S3 {
            action: action.into(),
            message,
        })
    }

    /// The backups in the bucket (objects named `hiqlite-*.hqbackup`), oldest log index first.
    /// An object whose header cannot be read is left out with a warning in the log.
    ///
    /// # Errors
    /// [`BackupError::S3`] when the bucket cannot be listed.
    pub async fn list_remote(&self) -> Result<Vec<BackupInfo>, BackupError> {
        let objects = self.list_objects(KEY_PREFIX, "listing the bucket").await?;
        let suffix = format!(".{EXTENSION}");
        let mut out = Vec::new();
        for object in objects {
            if !object.key.ends_with(&suffix) || object.key.contains('/') {
                continue;
            }
            match self.header_of(&object.key).await {
                Ok(header) => out.push(BackupInfo {
                    name: object.key,
                    created_ms: header.created_ms,
                    log_index: header.log_index,
                    log_term: header.log_term,
                    size: object.size,
                    key_id: header.key_id,
                    location: BackupLocation::S3,
                    lineage: header.lineage,
                }),
                Err(e) => tracing::warn!("skipping S3 backup {}: {e}", object.key),
            }
        }
        out.sort_by(|a, b| {
            (a.log_index, a.created_ms, &a.name).cmp(&(b.log_index, b.created_ms, &b.name))
        });
        Ok(out)
    }

    /// The log segments in the bucket (objects named `hiqlite-log-*.hqlog`), by first index, as
    /// their names tell (no object is read).
    ///
    /// # Errors
    /// [`BackupError::S3`] when the bucket cannot be listed.
    pub async fn list_remote_segments(&self) -> Result<Vec<SegmentInfo>, BackupError> {
        let objects = self
            .list_objects(segment::NAME_PREFIX, "listing the bucket's log segments")
            .await?;
        let mut out: Vec<SegmentInfo> = objects
            .into_iter()
            .filter_map(|o| segment::info_from_name(&o.key, o.size, None, BackupLocation::S3))
            .collect();
        out.sort_by(|a, b| {
            (a.first_index, a.last_index, &a.name).cmp(&(b.first_index, b.last_index, &b.name))
        });
        Ok(out)
    }

    /// Downloads object `name` into the new file `dest`, chunk by chunk as it arrives (never the
    /// whole object in memory), and fsyncs it. On an error `dest` is removed.
    ///
    /// # Errors
    /// [`BackupError::InvalidName`], [`BackupError::NotFound`] (HTTP 404),
    /// [`BackupError::S3`], [`BackupError::Io`] (also when `dest` exists).
    pub async fn download(&self, name: &str, dest: &Path) -> Result<(), BackupError> {
        use tokio::io::AsyncWriteExt;
        // Only names a listing gives: plain file names of backups or segments.
        self.local.dir.path_of(name)?;
        let action = || format!("downloading {name}");
        let io = |e: std::io::Error| BackupError::Io {
            path: dest.display().to_string(),
            message: e.to_string(),
        };
        let mut file = tokio::fs::File::options()
            .write(true)
            .create_new(true)
            .open(dest)
            .await
            .map_err(io)?;
        let result = async {
            let mut response = self.bucket.get(name).await.map_err(|e| match &e {
                S3Error::HttpFailWithBody(404, _) => BackupError::NotFound { name: name.into() },
                _ => s3_err(&action(), &e),
            })?;
            while let Some(chunk) = response.chunk().await.map_err(|e| BackupError::S3 {
                action: action(),
                message: describe(&S3Error::Reqwest(e)),
            })? {
                file.write_all(&chunk).await.map_err(io)?;
            }
            file.flush().await.map_err(io)?;
            file.sync_all().await.map_err(io)
        }
        .await;
        if result.is_err() {
            drop(file);
            let _ = tokio::fs::remove_file(dest).await;
        }
        result
    }

    /// Deletes object `name` from the bucket (S3 answers a missing object with success too).
    ///
    /// # Errors
    /// [`BackupError::InvalidName`] for a name that is not a backup's; [`BackupError::S3`]
    /// when the bucket refuses or cannot be reached.
    pub async fn delete_remote(&self, name: &str) -> Result<(), BackupError> {
        self.local.dir.path_of(name)?;
        let action = format!("deleting {name}");
        retrying(self.retry, &action, || async {
            self.bucket.delete(name).await.map_err(Failure::from)
        })
        .await
        .map(|_| ())
        .map_err(|(_, message)| BackupError::S3 { action, message })
    }

    /// The header of object `key`, from a ranged GET of its first bytes.
    async fn header_of(&self, key: &str) -> Result<BackupHeader, BackupError> {
        let action = || format!("reading the header of {key}");
        let response = self
            .bucket
            .get_range(key, 0, Some(HEADER_PROBE - 1))
            .await
            .map_err(|e| s3_err(&action(), &e))?;
        let bytes = response.bytes().await.map_err(|e| BackupError::S3 {
            action: action(),
            message: e.to_string(),
        })?;
        let (header, _) = BackupHeader::read(&mut &bytes[..], key)?;
        Ok(header)
    }
}

impl BackupStore for S3Backups {
    /// Writes the backup locally, then uploads it; answers the S3 entry.
    fn create(&self) -> BoxFuture<'_, Result<BackupInfo, BackupError>> {
        Box::pin(async move {
            let info = self.local.create().await?;
            let size = self.upload(&info.name).await?;
            tracing::info!(name = %info.name, size, bucket = %self.bucket.name, "backup uploaded to S3");
            Ok(BackupInfo {
                location: BackupLocation::S3,
                ..info
            })
        })
    }

    /// Local backups as [`LocalBackups`] prepares them; objects of the bucket are downloaded first.
    fn prepare_restore(
        &self,
        source: crate::types::backup::RestoreSource,
    ) -> BoxFuture<'_, Result<crate::engine::backups::PreparedRestore, BackupError>> {
        Box::pin(super::restore::prepare(
            self,
            self.local.keys(),
            self.local.dir(),
            source,
        ))
    }

    /// The local backups, then the bucket's.
    fn list(&self) -> BoxFuture<'_, Result<Vec<BackupInfo>, BackupError>> {
        Box::pin(async move {
            let mut all = self.local.list().await?;
            all.extend(self.list_remote().await?);
            Ok(all)
        })
    }

    /// Writes the segment locally, then uploads it; answers the S3 entry. When the upload
    /// fails the local file is removed too, so the shipper writes the same entries again next
    /// round and the bucket gets no gap.
    fn write_segment(
        &self,
        segment: NewSegment,
    ) -> BoxFuture<'_, Result<SegmentInfo, BackupError>> {
        Box::pin(async move {
            let info = self.local.write_segment(segment).await?;
            match self.upload(&info.name).await {
                Ok(_) => Ok(SegmentInfo {
                    location: BackupLocation::S3,
                    ..info
                }),
                Err(e) => {
                    if let Ok(path) = self.local.dir.path_of(&info.name) {
                        let _ = tokio::fs::remove_file(path).await;
                    }
                    Err(e)
                }
            }
        })
    }

    /// The local segments, then the bucket's.
    fn list_segments(&self) -> BoxFuture<'_, Result<Vec<SegmentInfo>, BackupError>> {
        Box::pin(async move {
            let mut all = self.local.list_segments().await?;
            all.extend(self.list_remote_segments().await?);
            Ok(all)
        })
    }

    fn fetch<'a>(
        &'a self,
        name: &'a str,
        location: BackupLocation,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<(), BackupError>> {
        Box::pin(async move {
            match location {
                BackupLocation::Local => self.local.fetch(name, location, dest).await,
                BackupLocation::S3 => self.download(name, dest).await,
            }
        })
    }

    /// Deletes from the staging directory or from the bucket.
    fn delete<'a>(
        &'a self,
        name: &'a str,
        location: BackupLocation,
    ) -> BoxFuture<'a, Result<(), BackupError>> {
        match location {
            BackupLocation::Local => self.local.delete(name, location),
            BackupLocation::S3 => Box::pin(self.delete_remote(name)),
        }
    }
}

/// Runs `op` until it succeeds, fails for good, or has used all attempts of `retry`, waiting a doubling delay after each transient failure. Only for operations that
/// may safely run twice (uploads of a whole object, listings, reads, deletes).
/// On failure answers the attempts made and the last failure in words.
async fn retrying<T, Fut>(
    retry: Retry,
    action: &str,
    mut op: impl FnMut() -> Fut,
) -> Result<T, (u32, String)>
where
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let mut delay = retry.first_delay;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(Failure::Transient(message)) if attempt < retry.attempts => {
                tracing::warn!(attempt, error = %message, "S3: {action} failed; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
                attempt += 1;
            }
            Err(Failure::Transient(message) | Failure::Final(message)) => {
                return Err((attempt, message))
            }
        }
    }
}

/// A failed S3 operation: whether retrying may help, and the failure in words.
enum Failure {
    Transient(String),
    Final(String),
}

impl From<S3Error> for Failure {
    fn from(e: S3Error) -> Self {
        if is_transient(&e) {
            Failure::Transient(describe(&e))
        } else {
            Failure::Final(describe(&e))
        }
    }
}

/// Whether retrying may help: no connection or no answer, or a server-side HTTP status.
fn is_transient(e: &S3Error) -> bool {
    match e {
        S3Error::Reqwest(_) | S3Error::Io(_) | S3Error::HttpFail => true,
        S3Error::HttpFailWithBody(status, _) => *status >= 500 || matches!(status, 408 | 429),
        _ => false,
    }
}

/// An S3 failure in words: the HTTP status with the S3 error code and message of the answer's
/// XML body, or the client's error (which names the URL, never the credentials).
fn describe(e: &S3Error) -> String {
    match e {
        S3Error::HttpFailWithBody(status, body) => {
            let tag = |name: &str| {
                let open = format!("<{name}>");
                let start = body.find(&open)? + open.len();
                let end = body[start..].find(&format!("</{name}>"))? + start;
                Some(body[start..end].to_string())
            };
            match (tag("Code"), tag("Message")) {
                (Some(code), Some(message)) => format!("HTTP {status}: {code}: {message}"),
                (Some(code), None) => format!("HTTP {status}: {code}"),
                _ => format!("HTTP {status}"),
            }
        }
        S3Error::Reqwest(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            message
        }
        other => other.to_string(),
    }
}

fn s3_err(action: &str, e: &S3Error) -> BackupError {
    BackupError::S3 {
        action: action.into(),
        message: describe(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_an_s3_error_answer_by_its_code() {
        let body = "<?xml version=\"1.0\"?><Error><Code>InvalidAccessKeyId</Code>\
                    <Message>The key does not exist</Message></Error>";
        let e = S3Error::HttpFailWithBody(403, body.into());
        assert_eq!(
            describe(&e),
            "HTTP 403: InvalidAccessKeyId: The key does not exist"
        );
        assert!(!is_transient(&e));
        assert!(is_transient(&S3Error::HttpFailWithBody(503, String::new())));
        assert_eq!(
            describe(&S3Error::HttpFailWithBody(500, "x".into())),
            "HTTP 500"
        );
    }

    /// Transient failures are retried up to the attempts allowed, final ones are not.
    #[tokio::test]
    async fn retries_transient_failures_only() {
        let retry = Retry {
            attempts: 3,
            first_delay: Duration::from_millis(1),
        };
        let calls = std::cell::Cell::new(0);
        let flaky = || async {
            calls.set(calls.get() + 1);
            match calls.get() {
                1 | 2 => Err(Failure::Transient("HTTP 500".into())),
                n => Ok(n),
            }
        };
        assert_eq!(retrying(retry, "listing", flaky).await.ok(), Some(3));

        calls.set(0);
        let down = || async {
            calls.set(calls.get() + 1);
            Err::<(), _>(Failure::Transient("HTTP 503".into()))
        };
        assert_eq!(
            retrying(retry, "listing", down).await.unwrap_err(),
            (3, "HTTP 503".to_string())
        );

        calls.set(0);
        let refused = || async {
            calls.set(calls.get() + 1);
            Err::<(), _>(Failure::Final("HTTP 403".into()))
        };
        assert_eq!(
            retrying(retry, "listing", refused).await.unwrap_err(),
            (1, "HTTP 403".to_string())
        );
        assert_eq!(calls.get(), 1);
    }
}
