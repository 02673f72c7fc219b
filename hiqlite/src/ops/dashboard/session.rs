//! Dashboard log-in: the password check and the session cookie.
//!
//! A session token is `EXPIRY.NONCE.SIGNATURE`: the expiry in Unix seconds, 16 random bytes (so
//! no two sessions share a token), and an HMAC-SHA256 over both with a key drawn at start-up, so
//! tokens need no server-side store and stop working when the node restarts. Logging out
//! remembers the token as revoked until it expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// The cookie's name.
pub(super) const COOKIE: &str = "hiqlite_dashboard";
/// How long a session lasts after logging in.
pub(super) const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// What the HMAC signs besides the expiry, so a token means nothing to any other use of the key.
const CONTEXT: &[u8] = b"hiqlite-dashboard-session-v1.";

/// The password that logs in and the key that signs sessions, for one node.
pub(super) struct Sessions {
    password: Secret,
    key: [u8; 32],
    /// Logged-out tokens' signatures and their expiry, pruned as they expire.
    revoked: Mutex<HashMap<Vec<u8>, u64>>,
}

impl Sessions {
    /// Sessions that log in with `password`, signed with a fresh random key.
    ///
    /// # Errors
    /// When the operating system gives no random bytes (the dashboard is then not served).
    pub(super) fn new(password: Secret) -> Result<Sessions, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key)?;
        Ok(Sessions {
            password,
            key,
            revoked: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `given` is the password. Both sides are hashed first, so the comparison takes the
    /// same time whatever `given` is.
    pub(super) fn password_matches(&self, given: &str) -> bool {
        let given = Sha256::digest(given.as_bytes());
        let expected = Sha256::digest(self.password.as_bytes());
        bool::from(given.ct_eq(&expected))
    }

    /// A new session token valid for [`SESSION_TTL`] from `now`.
    ///
    /// # Errors
    /// When the operating system gives no random bytes for the nonce.
    pub(super) fn issue(&self, now: SystemTime) -> Result<String, getrandom::Error> {
        let expiry = unix_secs(now) + SESSION_TTL.as_secs();
        let mut nonce = [0u8; 16];
        getrandom::getrandom(&mut nonce)?;
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let signature = self.sign(expiry, &nonce);
        Ok(format!(
            "{expiry}.{nonce}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// Whether `token` is one this node issued, not expired at `now` and not logged out. A
    /// malformed token is simply not valid.
    pub(super) fn is_valid(&self, token: &str, now: SystemTime) -> bool {
        let Some((expiry, nonce, signature)) = self.parse(token) else {
            return false;
        };
        if expiry <= unix_secs(now) {
            return false;
        }
        let expected = self.sign(expiry, nonce);
        if !bool::from(expected.as_slice().ct_eq(&signature)) {
            return false;
        }
        let revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        !revoked.contains_key(&signature)
    }

    /// Logs `token` out: it is refused from now on, even before it expires.
    pub(super) fn revoke(&self, token: &str, now: SystemTime) {
        if !self.is_valid(token, now) {
            return;
        }
        let Some((expiry, _, signature)) = self.parse(token) else {
            return;
        };
        let now = unix_secs(now);
        let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked.retain(|_, e| *e > now);
        revoked.insert(signature, expiry);
    }

    fn parse<'a>(&self, token: &'a str) -> Option<(u64, &'a str, Vec<u8>)> {
        let mut parts = token.split('.');
        let (expiry, nonce, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expiry = expiry.parse().ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        Some((expiry, nonce, signature))
    }

    fn sign(&self, expiry: u64, nonce: &str) -> Vec<u8> {
        // HMAC takes a key of any length; this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(CONTEXT);
        mac.update(expiry.to_string().as_bytes());
        mac.update(b".");
        mac.update(nonce.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// The value of cookie `name` in a `Cookie` request header, if present.
pub(super) fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(Secret::new("a dashboard password")).unwrap()
    }

    #[test]
    fn only_the_exact_password_matches() {
        let s = sessions();
        assert!(s.password_matches("a dashboard password"));
        for wrong in [
            "",
            "a dashboard passwor",
            "a dashboard password ",
            "A dashboard password",
        ] {
            assert!(!s.password_matches(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn an_issued_token_is_valid_until_it_expires_or_is_revoked() {
        let s = sessions();
        let now = SystemTime::now();
        let token = s.issue(now).unwrap();
        let other = s.issue(now).unwrap();
        assert_ne!(token, other, "every session has a token of its own");
        assert!(s.is_valid(&token, now));
        assert!(s.is_valid(&token, now + SESSION_TTL - Duration::from_secs(2)));
        assert!(!s.is_valid(&token, now + SESSION_TTL + Duration::from_secs(1)));
        s.revoke(&token, now);
        assert!(!s.is_valid(&token, now));
        // Other sessions still work.
        assert!(s.is_valid(&other, now));
    }

    #[test]
    fn forged_altered_or_foreign_tokens_are_refused() {
        let s = sessions();
        let now = SystemTime::now();
        let token = s.issue(now).unwrap();
        let (expiry, rest) = token.split_once('.').unwrap();
        let (nonce, sig) = rest.split_once('.').unwrap();
        let later = format!("{}.{nonce}.{sig}", expiry.parse::<u64>().unwrap() + 1000);
        for bad in [
            "",
            "..",
            "garbage",
            &format!("{expiry}.{nonce}."),
            &format!("{expiry}.{nonce}.AAAA"),
            &format!("{expiry}.AAAA.{sig}"),
            &later,
            &format!("{expiry}.{nonce}.{sig}x"),
            &format!("{token}.x"),
        ] {
            assert!(!s.is_valid(bad, now), "{bad:?}");
        }
        // Another node (another key) did not issue it.
        assert!(!sessions().is_valid(&token, now));
    }

    #[test]
    fn cookie_values_are_found_by_name() {
        let h = "a=1; hiqlite_dashboard=tok.en; b=2";
        assert_eq!(cookie_value(h, COOKIE), Some("tok.en"));
        assert_eq!(cookie_value(h, "b"), Some("2"));
        assert_eq!(cookie_value(h, "c"), None);
        assert_eq!(cookie_value("", COOKIE), None);
    }
}
