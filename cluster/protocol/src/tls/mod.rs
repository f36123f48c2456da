//! TLS with rustls, set up with Redis's setting names (`tls-port`, `tls-cert-file`,
//! `tls-key-file`, `tls-ca-cert-file`, `tls-auth-clients`), for the client ports of shard
//! servers and proxies and for the cluster's own links: the settings, an acceptor whose
//! certificates reload without a restart, the links' dialling, and one stream type for plain
//! and TLS connections.

mod acceptor;
pub mod links;
mod stream;

pub use acceptor::{reload_on_change, Acceptor};
pub use stream::{send, Stream};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// `tls-auth-clients`: whether a client must present a certificate the CA signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthClients {
    /// Redis's default: no certificate, no connection.
    #[default]
    Yes,
    No,
    /// A certificate is checked when one is presented.
    Optional,
}

impl AuthClients {
    pub fn parse(value: &str) -> Result<AuthClients, String> {
        match value.to_ascii_lowercase().as_str() {
            "yes" => Ok(AuthClients::Yes),
            "no" => Ok(AuthClients::No),
            "optional" => Ok(AuthClients::Optional),
            _ => Err("argument(s) must be one of the following: no, yes, optional".into()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AuthClients::Yes => "yes",
            AuthClients::No => "no",
            AuthClients::Optional => "optional",
        }
    }
}

/// Where a TLS port's certificates are, and whether clients must have their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The port's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// The CA that signs client certificates (PEM); needed unless `auth_clients` is no.
    pub ca_cert_file: Option<PathBuf>,
    pub auth_clients: AuthClients,
}

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{path}: {why}")]
    File { path: String, why: String },
    #[error("tls-ca-cert-file is needed to check client certificates (tls-auth-clients {0})")]
    NoCa(&'static str),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
}

impl TlsError {
    fn file(path: &Path, why: impl ToString) -> TlsError {
        TlsError::File {
            path: path.display().to_string(),
            why: why.to_string(),
        }
    }
}

/// The certificates of a PEM file, at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|err| TlsError::file(path, err))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::file(path, err))?;
    if chain.is_empty() {
        return Err(TlsError::file(path, "no certificate in the file"));
    }
    Ok(chain)
}

/// A file's modification time, by which certificate changes are noticed; None if unreadable.
fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
