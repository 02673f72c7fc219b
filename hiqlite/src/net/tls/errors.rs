//! What a failed TLS handshake means: rustls' error, found inside the `io::Error` tokio-rustls
//! returns, turned into a [`NetError`] that says what to check.

use std::io;

use rustls::{AlertDescription, CertificateError};

use crate::net::NetError;

/// Which side of the handshake this process played.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// The [`NetError`] for a TLS handshake that failed with `e`.
pub(crate) fn handshake_failed(e: io::Error, side: Side) -> NetError {
    let Some(tls) = e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) else {
        return match e.kind() {
            // The peer hung up in the middle (shutting down, say): worth another try.
            io::ErrorKind::UnexpectedEof => NetError::ConnectionClosed,
            _ => NetError::Io(e),
        };
    };
    describe(tls, side)
}

/// A TLS error that surfaced after the TLS handshake seemed done: in TLS 1.3 a server that
/// refuses the client's certificate says so only after the client finished its side, so the
/// client learns it while reading the secret's handshake. Other errors pass unchanged.
pub(crate) fn surfaced_later(e: NetError) -> NetError {
    match e {
        NetError::Io(io) if io.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
            handshake_failed(io, Side::Client)
        }
        e => e,
    }
}

fn describe(e: &rustls::Error, side: Side) -> NetError {
    use rustls::Error as E;
    match e {
        E::InvalidMessage(_) | E::InappropriateMessage { .. } if side == Side::Client => {
            NetError::NotTls
        }
        E::InvalidCertificate(cert) => NetError::TlsCertificate(certificate(cert, side)),
        E::NoCertificatesPresented => NetError::TlsCertificate(
            "the client presented no certificate, and this node requires one (tls_client_auth)"
                .into(),
        ),
        E::AlertReceived(alert) => NetError::Tls(alert_received(*alert, side)),
        e => NetError::Tls(e.to_string()),
    }
}

fn certificate(e: &CertificateError, side: Side) -> String {
    let trusted = match side {
        Side::Client => "the CA in this side's tls_ca",
        Side::Server => "the CA in this node's tls_ca (mutual TLS)",
    };
    match e {
        CertificateError::UnknownIssuer => {
            format!("it is not signed by {trusted} (unknown issuer: a wrong CA file?)")
        }
        CertificateError::Expired => "it has expired (renew it; the node reloads it)".into(),
        CertificateError::ExpiredContext { time, not_after } => format!(
            "it expired at unix time {} and now is {} (renew it; the node reloads it)",
            not_after.as_secs(),
            time.as_secs()
        ),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet (check both machines' clocks)".into()
        }
        CertificateError::NotValidForName => {
            "it does not name the host this side connected to (a DNS name or IP address SAN \
             must match the host of the address)"
                .into()
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = match expected {
                rustls::pki_types::ServerName::DnsName(name) => name.as_ref().to_string(),
                rustls::pki_types::ServerName::IpAddress(ip) => {
                    std::net::IpAddr::from(*ip).to_string()
                }
                other => format!("{other:?}"),
            };
            format!(
                "it is not valid for {expected}, the host this side connected to; it names {} \
                 (a DNS name or IP address SAN must match the host of the address)",
                presented.join(", ")
            )
        }
        e => format!("{e:?}"),
    }
}

fn alert_received(alert: AlertDescription, side: Side) -> String {
    let hint = match (alert, side) {
        (AlertDescription::UnknownCA, Side::Client) => {
            "the server does not trust the CA that signed this node's certificate (mutual TLS: \
             check tls_ca on the server)"
        }
        (AlertDescription::UnknownCA, Side::Server) => {
            "the client does not trust the CA that signed this node's certificate (check the \
             client's tls_ca)"
        }
        (AlertDescription::CertificateExpired, _) => {
            "the peer finds this node's certificate expired"
        }
        (AlertDescription::CertificateRequired, _) => {
            "the server requires a client certificate (tls_client_auth) and this side has none"
        }
        (AlertDescription::BadCertificate, _) => {
            "the peer refused this side's certificate (wrong name, or not signed by its CA)"
        }
        _ => "",
    };
    if hint.is_empty() {
        format!("the peer sent the alert {alert:?}")
    } else {
        format!("the peer sent the alert {alert:?}: {hint}")
    }
}
