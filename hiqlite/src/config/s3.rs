//! [`S3Config`]: the S3 bucket backups are uploaded to (`s3_url`, `s3_bucket`, `s3_region`,
//! `s3_path_style`, `s3_key`, `s3_secret`). The secret is a [`Secret`]: never printed.

use super::Secret;

/// The region sent when `s3_region` is not set (what MinIO and Garage accept by default).
pub const DEFAULT_S3_REGION: &str = "us-east-1";

/// Where backups are uploaded. Unset (every field `None`): backups stay local. `Debug` shows the
/// secret as `Secret(***)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The endpoint, `http://` or `https://`, without the bucket (TOML `s3_url`, env
    /// `HQL_S3_URL`), e.g. `https://s3.example.com`.
    pub url: Option<String>,
    /// The bucket (TOML `s3_bucket`, env `HQL_S3_BUCKET`); it must exist.
    pub bucket: Option<String>,
    /// The region (TOML `s3_region`, env `HQL_S3_REGION`); `None`: [`DEFAULT_S3_REGION`].
    pub region: Option<String>,
    /// Path-style requests, `URL/BUCKET/KEY` (TOML `s3_path_style`, env `HQL_S3_PATH_STYLE`),
    /// instead of virtual-hosted `BUCKET.HOST/KEY`. Default `true` (MinIO, Garage, loopback).
    pub path_style: bool,
    /// The access key id (TOML `s3_key`, env `HQL_S3_KEY`).
    pub key: Option<String>,
    /// The secret access key (TOML `s3_secret`, env `HQL_S3_SECRET`).
    pub secret: Option<Secret>,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            url: None,
            bucket: None,
            region: None,
            path_style: true,
            key: None,
            secret: None,
        }
    }
}

impl S3Config {
    /// Whether any S3 setting is given (then all required ones must be: see `problems`).
    pub fn is_set(&self) -> bool {
        self.url.is_some() || self.bucket.is_some() || self.key.is_some() || self.secret.is_some()
    }

    /// The region to send.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or(DEFAULT_S3_REGION)
    }

    /// What is wrong with a set S3 configuration, each naming its key; nothing when unset.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.is_set() {
            return problems;
        }
        if !cfg!(feature = "s3") {
            problems.push(
                "s3_url, s3_bucket, s3_key or s3_secret is set, but this binary was built without \
                 the `s3` feature of hiqlite: rebuild with it, or unset them"
                    .into(),
            );
        }
        let missing = [
            ("s3_url", self.url.is_none()),
            ("s3_bucket", self.bucket.is_none()),
            ("s3_key", self.key.is_none()),
            ("s3_secret", self.secret.is_none()),
        ];
        for (name, is_missing) in missing {
            if is_missing {
                problems.push(format!(
                    "{name} is not set (TOML `{name}`, env HQL_{}), but another s3_* setting is: \
                     uploads need s3_url, s3_bucket, s3_key and s3_secret",
                    name.to_ascii_uppercase()
                ));
            }
        }
        if let Some(url) = &self.url {
            let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
            if !scheme_ok || url.len() <= "https://".len() {
                problems.push(format!("s3_url {url:?} is not an http:// or https:// URL"));
            }
        }
        problems
    }
}
