//! `/metrics` credentials: `Authorization: Bearer <secret_api>`, compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// Whether the `Authorization` header value `header` carries `secret` as a bearer token.
///
/// The scheme is matched without regard to case (RFC 7235); the token must equal the secret
/// exactly. Both sides are hashed first, so the comparison takes the same time whatever the
/// token's length or content. A missing header, another scheme, or a wrong token: `false`.
pub(crate) fn bearer_matches(header: Option<&[u8]>, secret: &Secret) -> bool {
    let Some(value) = header.and_then(|h| std::str::from_utf8(h).ok()) else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let given = Sha256::digest(token.trim().as_bytes());
    let expected = Sha256::digest(secret.as_bytes());
    bool::from(given.ct_eq(&expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("an api secret of 32 characters!!")
    }

    #[test]
    fn the_right_token_passes_whatever_the_scheme_case() {
        for h in [
            "Bearer an api secret of 32 characters!!",
            "bearer an api secret of 32 characters!!",
            "BEARER  an api secret of 32 characters!! ",
        ] {
            assert!(bearer_matches(Some(h.as_bytes()), &secret()), "{h:?}");
        }
    }

    #[test]
    fn missing_wrong_or_other_schemes_fail() {
        for h in [
            None,
            Some(&b""[..]),
            Some(&b"Bearer"[..]),
            Some(&b"Bearer "[..]),
            Some(&b"Bearer an api secret of 32 characters!"[..]),
            Some(&b"Bearer an api secret of 32 characters!!x"[..]),
            Some(&b"Basic an api secret of 32 characters!!"[..]),
            Some(&b"an api secret of 32 characters!!"[..]),
            Some(&b"Bearer \xff\xfe"[..]),
        ] {
            assert!(!bearer_matches(h, &secret()), "{h:?}");
        }
    }
}
