//! How the subcommands that talk to a running cluster connect (`--api`, `--secret-api`,
//! `--tls-ca`, `--tls-auto-certs`).

use clap::Args;
use hiqlite::client::RemoteOptions;
use hiqlite::{Client, Error};

#[derive(Args)]
pub struct ConnArgs {
    /// API address (host:port) of the node to talk to; repeat (or separate with commas) to fall
    /// back to the next node when one cannot be reached.
    #[arg(
        long = "api",
        value_name = "ADDR",
        env = "HQL_API",
        default_value = "127.0.0.1:8200",
        value_delimiter = ','
    )]
    api: Vec<String>,
    /// The cluster's API secret (default: the development secret of plain `hiqlite serve`).
    #[arg(long, value_name = "S", env = "HQL_SECRET_API", hide_env_values = true)]
    secret_api: Option<String>,
    /// Connect over TLS and check each node's certificate against the CA certificate(s) in this
    /// PEM file (the nodes' `tls_ca`). Needed when the nodes' API ports have certificates.
    #[arg(long, value_name = "FILE", env = "HQL_TLS_CA")]
    tls_ca: Option<std::path::PathBuf>,
    /// Connect over TLS and accept any certificate: for a development cluster running with
    /// generated certificates (`tls_auto_certs`). Only the API secret then authenticates the
    /// node.
    #[arg(long, env = "HQL_TLS_AUTO_CERTS", conflicts_with = "tls_ca")]
    tls_auto_certs: bool,
}

impl ConnArgs {
    /// A client that tries each `--api` address once, in order: a node that refuses the
    /// connection is skipped at once.
    ///
    /// # Errors
    /// [`Error::Config`] when the `--tls-ca` file cannot be read or holds no CA certificate.
    pub fn client(&self) -> Result<Client, Error> {
        Ok(Client::remote_with(
            self.api.clone(),
            self.secret(),
            self.options()?,
        ))
    }

    /// The options of [`client`](Self::client): one try per address, TLS as asked.
    ///
    /// # Errors
    /// [`Error::Config`] when the `--tls-ca` file cannot be read or holds no CA certificate.
    pub fn options(&self) -> Result<RemoteOptions, Error> {
        let options = RemoteOptions {
            retry_unreachable: false,
            ..RemoteOptions::default()
        };
        if self.tls_auto_certs {
            return Ok(options.with_tls(hiqlite::net::TlsClient::accept_any()));
        }
        match &self.tls_ca {
            Some(ca) => options
                .with_tls_ca(ca)
                .map_err(|e| Error::Config(format!("--tls-ca: {e}"))),
            None => Ok(options),
        }
    }

    /// The `--api` addresses, in order.
    pub fn addrs(&self) -> &[String] {
        &self.api
    }

    /// The API secret: `--secret-api`, or the development secret (saying so on stderr).
    pub fn secret(&self) -> String {
        self.secret_api.clone().unwrap_or_else(|| {
            eprintln!(
                "note: no --secret-api or HQL_SECRET_API given; using the development API secret \
                 of `hiqlite serve` without configuration"
            );
            crate::dev::DEV_SECRET_API.to_string()
        })
    }
}
