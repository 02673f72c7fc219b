//! [`TlsConfig`]: where a node's TLS certificates come from (docs/operations.md, "TLS").

use std::path::PathBuf;

use super::keys::given_by;

/// TLS on the Raft and API ports (and the HTTP listener, which uses the API certificate). Each
/// port speaks TLS when its certificate and key are set (PEM files), or with `auto_certs`; every
/// node of a cluster must be set up the same way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// The Raft port's certificate chain, PEM (TOML `tls_raft_cert`, env `HQL_TLS_RAFT_CERT`).
    /// With mutual TLS the node also presents it when it dials a peer.
    pub raft_cert: Option<PathBuf>,
    /// The Raft certificate's private key, PEM (TOML `tls_raft_key`, env `HQL_TLS_RAFT_KEY`).
    pub raft_key: Option<PathBuf>,
    /// The API port's (and HTTP listener's) certificate chain, PEM (TOML `tls_api_cert`, env
    /// `HQL_TLS_API_CERT`).
    pub api_cert: Option<PathBuf>,
    /// The API certificate's private key, PEM (TOML `tls_api_key`, env `HQL_TLS_API_KEY`).
    pub api_key: Option<PathBuf>,
    /// The CA certificate(s), PEM, that peers' certificates must chain to (TOML `tls_ca`, env
    /// `HQL_TLS_CA`). Needed with certificate files: nodes dial each other.
    pub ca: Option<PathBuf>,
    /// Generate a self-signed certificate per node at start, for development only (TOML
    /// `tls_auto_certs`, env `HQL_TLS_AUTO_CERTS`). Peers then accept any certificate: TLS
    /// encrypts, and only the shared-secret handshake authenticates.
    pub auto_certs: bool,
    /// Mutual TLS on the Raft port (TOML `tls_client_auth`, env `HQL_TLS_CLIENT_AUTH`): a peer
    /// dialing it must present a certificate that chains to `tls_ca`; nodes present their Raft
    /// certificate. Needs the Raft certificate and `tls_ca`.
    pub client_auth: bool,
}

impl TlsConfig {
    /// `true` when the Raft port speaks TLS.
    pub fn raft(&self) -> bool {
        self.auto_certs || self.raft_cert.is_some()
    }

    /// `true` when the API port (and the HTTP listener) speaks TLS.
    pub fn api(&self) -> bool {
        self.auto_certs || self.api_cert.is_some()
    }

    /// What is wrong with these settings, one message per problem.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (cert, key, c, k) in [
            (
                &self.raft_cert,
                &self.raft_key,
                "tls_raft_cert",
                "tls_raft_key",
            ),
            (&self.api_cert, &self.api_key, "tls_api_cert", "tls_api_key"),
        ] {
            match (cert, key) {
                (Some(_), None) => problems.push(format!(
                    "{c} is set but {k} is not: a certificate needs its private key ({})",
                    given_by(k)
                )),
                (None, Some(_)) => problems.push(format!(
                    "{k} is set but {c} is not: a private key needs its certificate ({})",
                    given_by(c)
                )),
                _ => {}
            }
        }
        let files = [
            ("tls_raft_cert", &self.raft_cert),
            ("tls_raft_key", &self.raft_key),
            ("tls_api_cert", &self.api_cert),
            ("tls_api_key", &self.api_key),
            ("tls_ca", &self.ca),
        ];
        if self.auto_certs {
            let set: Vec<&str> = files
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(k, _)| *k)
                .collect();
            if !set.is_empty() {
                problems.push(format!(
                    "tls_auto_certs generates the certificates, but {} {} set too: use either \
                     generated certificates (development) or certificate files",
                    set.join(", "),
                    if set.len() == 1 { "is" } else { "are" }
                ));
            }
        } else if (self.raft_cert.is_some() || self.api_cert.is_some()) && self.ca.is_none() {
            problems.push(format!(
                "TLS certificates are set but tls_ca is not: nodes dial each other and verify \
                 each other's certificates against it ({})",
                given_by("tls_ca")
            ));
        }
        if self.client_auth && (self.auto_certs || self.raft_cert.is_none() || self.ca.is_none()) {
            problems.push(
                "tls_client_auth needs tls_raft_cert, tls_raft_key and tls_ca (not \
                 tls_auto_certs): peers present their Raft certificate, checked against tls_ca"
                    .to_string(),
            );
        }
        for (key, path) in files {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                problems.push(format!("{key} is empty: give the path of a PEM file"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> TlsConfig {
        TlsConfig {
            raft_cert: Some("n.crt".into()),
            raft_key: Some("n.key".into()),
            api_cert: Some("n.crt".into()),
            api_key: Some("n.key".into()),
            ca: Some("ca.pem".into()),
            ..TlsConfig::default()
        }
    }

    #[test]
    fn complete_settings_have_no_problems() {
        assert!(TlsConfig::default().problems().is_empty());
        assert!(files().problems().is_empty());
        let mutual = TlsConfig {
            client_auth: true,
            ..files()
        };
        assert!(mutual.problems().is_empty());
        let auto = TlsConfig {
            auto_certs: true,
            ..TlsConfig::default()
        };
        assert!(auto.problems().is_empty());
    }

    #[test]
    fn each_mistake_is_named() {
        let cases = [
            (
                TlsConfig {
                    raft_key: None,
                    ..files()
                },
                "tls_raft_cert is set but tls_raft_key is not",
            ),
            (
                TlsConfig {
                    api_cert: None,
                    ..files()
                },
                "tls_api_key is set but tls_api_cert is not",
            ),
            (
                TlsConfig {
                    ca: None,
                    ..files()
                },
                "tls_ca is not",
            ),
            (
                TlsConfig {
                    auto_certs: true,
                    ..files()
                },
                "tls_auto_certs generates the certificates",
            ),
            (
                TlsConfig {
                    client_auth: true,
                    ..TlsConfig::default()
                },
                "tls_client_auth needs tls_raft_cert",
            ),
            (
                TlsConfig {
                    ca: Some("".into()),
                    ..files()
                },
                "tls_ca is empty",
            ),
        ];
        for (config, expected) in cases {
            let problems = config.problems();
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected:?} not in {problems:?}"
            );
        }
    }
}
