//! A client port's TLS settings under Redis's names (`tls-port`, `tls-cert-file`,
//! `tls-key-file`, `tls-ca-cert-file`, `tls-auth-clients`), as flags and config-file keys,
//! shared by the shard server and the proxy.

use serde::Deserialize;
use slotcache_protocol::tls::{Acceptor, AuthClients, TlsError, TlsFiles};
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;

#[derive(clap::Args, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(default, rename_all = "kebab-case")]
pub struct TlsSettings {
    /// Port for TLS clients (none by default). With --port 0, only TLS clients are served.
    #[arg(long, env = "SLOTCACHE_TLS_PORT")]
    pub tls_port: Option<u16>,
    /// The TLS port's certificate chain (PEM); reloaded on SIGHUP or when it changes.
    #[arg(long, env = "SLOTCACHE_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "SLOTCACHE_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// The CA that client certificates must be signed by (PEM).
    #[arg(long, env = "SLOTCACHE_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Whether TLS clients need a certificate: yes (the default), no, or optional.
    #[arg(long, env = "SLOTCACHE_TLS_AUTH_CLIENTS")]
    pub tls_auth_clients: Option<String>,
}

#[derive(Debug, Error)]
pub enum TlsSettingsError {
    #[error("tls-port needs tls-cert-file and tls-key-file")]
    NoCertificate,
    #[error("tls-auth-clients: {0}")]
    AuthClients(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl TlsSettings {
    /// These settings, with each one `over` sets taking its place (flags over a file's).
    pub fn overridden_by(self, over: TlsSettings) -> TlsSettings {
        TlsSettings {
            tls_port: over.tls_port.or(self.tls_port),
            tls_cert_file: over.tls_cert_file.or(self.tls_cert_file),
            tls_key_file: over.tls_key_file.or(self.tls_key_file),
            tls_ca_cert_file: over.tls_ca_cert_file.or(self.tls_ca_cert_file),
            tls_auth_clients: over.tls_auth_clients.or(self.tls_auth_clients),
        }
    }

    pub fn auth_clients(&self) -> Result<AuthClients, TlsSettingsError> {
        self.tls_auth_clients
            .as_deref()
            .map_or(Ok(AuthClients::Yes), AuthClients::parse)
            .map_err(TlsSettingsError::AuthClients)
    }

    /// A setting as CONFIG GET shows it, by Redis's name (empty or 0 when unset); None for
    /// a name that is not a TLS setting.
    pub fn value(&self, name: &str) -> Option<String> {
        let path = |path: &Option<PathBuf>| {
            path.as_ref()
                .map(|path| path.display().to_string())
                .unwrap_or_default()
        };
        Some(match name {
            "tls-port" => self.tls_port.unwrap_or(0).to_string(),
            "tls-cert-file" => path(&self.tls_cert_file),
            "tls-key-file" => path(&self.tls_key_file),
            "tls-ca-cert-file" => path(&self.tls_ca_cert_file),
            "tls-auth-clients" => self.auth_clients().map_or("yes", AuthClients::name).into(),
            _ => return None,
        })
    }

    /// The TLS port and its acceptor, read from the files now; None without a TLS port.
    pub fn acceptor(&self) -> Result<Option<(u16, Arc<Acceptor>)>, TlsSettingsError> {
        let Some(port) = self.tls_port.filter(|&port| port != 0) else {
            return Ok(None);
        };
        let (Some(cert_file), Some(key_file)) = (&self.tls_cert_file, &self.tls_key_file) else {
            return Err(TlsSettingsError::NoCertificate);
        };
        let acceptor = Acceptor::load(TlsFiles {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
            ca_cert_file: self.tls_ca_cert_file.clone(),
            auth_clients: self.auth_clients()?,
        })?;
        Ok(Some((port, Arc::new(acceptor))))
    }
}
