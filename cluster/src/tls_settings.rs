//! TLS settings under Redis's names (`tls-port`, `tls-cert-file`, `tls-key-file`,
//! `tls-ca-cert-file`, `tls-auth-clients`, `tls-cluster`, `tls-replication`), as flags and
//! config-file keys: a client port's, shared by the shard server and the proxy, and the
//! cluster links', which the controller and the CLI take too.

use serde::Deserialize;
use slotcache_protocol::tls::links::{self, LinkFiles, LinkTls};
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
    /// Whether TLS clients need a certificate: yes (the default), no, or optional.
    #[arg(long, env = "SLOTCACHE_TLS_AUTH_CLIENTS")]
    pub tls_auth_clients: Option<String>,
    /// yes: followers stream from their leader over TLS, and the replication port serves TLS
    /// only (a shard server's setting).
    #[arg(long, env = "SLOTCACHE_TLS_REPLICATION")]
    pub tls_replication: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub links: LinkSettings,
}

/// The certificates, and whether the links to shard servers' client ports use TLS.
#[derive(clap::Args, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(default, rename_all = "kebab-case")]
pub struct LinkSettings {
    /// yes: every connection to a shard server's client port (proxy lanes, the controller's
    /// and the CLI's queries) is TLS, and a server publishes its TLS port for them.
    #[arg(long, env = "SLOTCACHE_TLS_CLUSTER")]
    pub tls_cluster: Option<String>,
    /// This process's certificate chain (PEM): its TLS port's, and what it shows when it
    /// dials over TLS. Reloaded on SIGHUP or when it changes.
    #[arg(long, env = "SLOTCACHE_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "SLOTCACHE_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// The CA that certificates must be signed by (PEM): clients' and, on TLS links, peers'.
    #[arg(long, env = "SLOTCACHE_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,
}

#[derive(Debug, Error)]
pub enum TlsSettingsError {
    #[error("tls-port needs tls-cert-file and tls-key-file")]
    NoCertificate,
    #[error("tls-cluster and tls-replication need tls-ca-cert-file")]
    NoCa,
    #[error("{0}: argument must be 'yes' or 'no'")]
    YesNo(&'static str),
    #[error("tls-auth-clients: {0}")]
    AuthClients(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A yes/no setting; unset is no.
fn yes_no(name: &'static str, value: &Option<String>) -> Result<bool, TlsSettingsError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("no") => Ok(false),
        Some("yes") => Ok(true),
        Some(_) => Err(TlsSettingsError::YesNo(name)),
    }
}

fn shown(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default()
}

impl LinkSettings {
    pub fn overridden_by(self, over: LinkSettings) -> LinkSettings {
        LinkSettings {
            tls_cluster: over.tls_cluster.or(self.tls_cluster),
            tls_cert_file: over.tls_cert_file.or(self.tls_cert_file),
            tls_key_file: over.tls_key_file.or(self.tls_key_file),
            tls_ca_cert_file: over.tls_ca_cert_file.or(self.tls_ca_cert_file),
        }
    }

    pub fn cluster(&self) -> Result<bool, TlsSettingsError> {
        yes_no("tls-cluster", &self.tls_cluster)
    }

    /// Installs this process's TLS links, when `tls-cluster` or `replication` asks for any;
    /// whether it did.
    pub fn install(&self, replication: bool) -> Result<bool, TlsSettingsError> {
        let cluster = self.cluster()?;
        if !cluster && !replication {
            return Ok(false);
        }
        let ca_cert_file = self
            .tls_ca_cert_file
            .clone()
            .ok_or(TlsSettingsError::NoCa)?;
        let identity = self.tls_cert_file.clone().zip(self.tls_key_file.clone());
        let files = LinkFiles {
            ca_cert_file,
            identity,
        };
        links::install(LinkTls::new(files, cluster, replication)?);
        Ok(true)
    }

    fn value(&self, name: &str) -> Option<String> {
        Some(match name {
            "tls-cluster" => yes_no_shown(self.cluster().unwrap_or(false)),
            "tls-cert-file" => shown(&self.tls_cert_file),
            "tls-key-file" => shown(&self.tls_key_file),
            "tls-ca-cert-file" => shown(&self.tls_ca_cert_file),
            _ => return None,
        })
    }
}

fn yes_no_shown(on: bool) -> String {
    if on { "yes" } else { "no" }.into()
}

/// Every TLS setting's name, as CONFIG GET shows it.
pub const NAMES: [&str; 7] = [
    "tls-auth-clients",
    "tls-ca-cert-file",
    "tls-cert-file",
    "tls-cluster",
    "tls-key-file",
    "tls-port",
    "tls-replication",
];

/// The TLS settings CONFIG SET changes in a running process; the others hold from its start.
pub const SETTABLE: [&str; 4] = [
    "tls-auth-clients",
    "tls-ca-cert-file",
    "tls-cert-file",
    "tls-key-file",
];

/// A file setting's value: empty is none, as Redis's EMPTY_STRING_IS_NULL.
fn path_setting(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| value.into())
}

impl TlsSettings {
    /// Takes CONFIG SET's value for one of the `SETTABLE` settings; Err with Redis's reason.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let links = &mut self.links;
        match name {
            "tls-auth-clients" => {
                AuthClients::parse(value)?;
                self.tls_auth_clients = Some(value.to_ascii_lowercase());
            }
            "tls-ca-cert-file" => links.tls_ca_cert_file = path_setting(value),
            "tls-cert-file" => links.tls_cert_file = path_setting(value),
            "tls-key-file" => links.tls_key_file = path_setting(value),
            _ => return Err(format!("{name} is not a TLS setting CONFIG SET changes")),
        }
        Ok(())
    }

    /// What a TLS port's `acceptor` becomes after a CONFIG SET of the settings `named`, built
    /// from the files now, so that files which do not make a configuration fail the whole
    /// CONFIG SET, as in Redis, and the port keeps what it had. None when there is no TLS port
    /// or no TLS setting was named. The error is Redis's text, which names the first file
    /// setting (tls-auth-clients has no apply step of its own).
    pub fn reconfigured(
        &self,
        acceptor: Option<&Acceptor>,
        named: &[String],
    ) -> Result<Option<Acceptor>, String> {
        let tls = |n: &&String| SETTABLE.contains(&n.as_str());
        let files = named.iter().filter(tls).find(|n| *n != "tls-auth-clients");
        let (Some(name), Some(_)) = (files.or_else(|| named.iter().find(tls)), acceptor) else {
            return Ok(None);
        };
        let built = match self.files() {
            Ok(files) => Acceptor::load(files).map_err(TlsSettingsError::from),
            Err(err) => Err(err),
        };
        built.map(Some).map_err(|err| {
            tracing::warn!(%err, "TLS configuration not updated");
            format!(
                "CONFIG SET failed (possibly related to argument '{name}') - Unable to update TLS configuration. Check server logs."
            )
        })
    }

    /// These settings, with each one `over` sets taking its place (flags over a file's).
    pub fn overridden_by(self, over: TlsSettings) -> TlsSettings {
        TlsSettings {
            tls_port: over.tls_port.or(self.tls_port),
            tls_auth_clients: over.tls_auth_clients.or(self.tls_auth_clients),
            tls_replication: over.tls_replication.or(self.tls_replication),
            links: self.links.overridden_by(over.links),
        }
    }

    pub fn auth_clients(&self) -> Result<AuthClients, TlsSettingsError> {
        self.tls_auth_clients
            .as_deref()
            .map_or(Ok(AuthClients::Yes), AuthClients::parse)
            .map_err(TlsSettingsError::AuthClients)
    }

    pub fn replication(&self) -> Result<bool, TlsSettingsError> {
        yes_no("tls-replication", &self.tls_replication)
    }

    /// A setting as CONFIG GET shows it, by Redis's name (empty, 0 or no when unset); None
    /// for a name that is not a TLS setting.
    pub fn value(&self, name: &str) -> Option<String> {
        Some(match name {
            "tls-port" => self.tls_port.unwrap_or(0).to_string(),
            "tls-auth-clients" => self.auth_clients().map_or("yes", AuthClients::name).into(),
            "tls-replication" => yes_no_shown(self.replication().unwrap_or(false)),
            _ => return self.links.value(name),
        })
    }

    /// Where this process's certificates are, and whether clients need one.
    pub fn files(&self) -> Result<TlsFiles, TlsSettingsError> {
        let links = &self.links;
        let (Some(cert_file), Some(key_file)) = (&links.tls_cert_file, &links.tls_key_file) else {
            return Err(TlsSettingsError::NoCertificate);
        };
        Ok(TlsFiles {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
            ca_cert_file: links.tls_ca_cert_file.clone(),
            auth_clients: self.auth_clients()?,
        })
    }

    /// The acceptor for this process's certificates, read from the files now.
    pub fn acceptor(&self) -> Result<Arc<Acceptor>, TlsSettingsError> {
        Ok(Arc::new(Acceptor::load(self.files()?)?))
    }

    /// The TLS client port and its acceptor; None without a TLS port.
    pub fn client_port(&self) -> Result<Option<(u16, Arc<Acceptor>)>, TlsSettingsError> {
        match self.tls_port.filter(|&port| port != 0) {
            Some(port) => Ok(Some((port, self.acceptor()?))),
            None => Ok(None),
        }
    }
}
