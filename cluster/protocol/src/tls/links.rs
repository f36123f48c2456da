//! The cluster's own links over TLS, dialled as Redis's replicas dial their master: the CA of
//! `tls-ca-cert-file` is what a peer's certificate must chain to, and `tls-cert-file` (with
//! `tls-key-file`) is this process's own certificate, for peers that check clients.
//!
//! `tls-cluster` covers every connection to a shard server's client port (proxy lanes, the
//! controller's and the CLI's queries); `tls-replication` a follower's stream from its leader.
//! A process installs its choice once at start, as it does the cluster secret.

use super::stream::Stream;
use super::{certificates, modified, TlsError};
use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, TlsStream};

/// Which of the cluster's links a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// To a shard server's client port.
    Cluster,
    /// A follower to its leader's replication port.
    Replication,
}

/// Where the client side of the links finds its certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkFiles {
    pub ca_cert_file: PathBuf,
    /// This process's certificate and key, shown to peers that ask for one.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// Which links use TLS, and how they dial.
pub struct LinkTls {
    files: LinkFiles,
    cluster: bool,
    replication: bool,
    /// The configuration built from the files, with their modification times then: rebuilt
    /// when they move, so rotated certificates are used without a restart.
    current: Mutex<(Vec<Option<SystemTime>>, TlsConnector)>,
}

static INSTALLED: OnceLock<LinkTls> = OnceLock::new();

impl LinkTls {
    /// Reads the files; fails with what is wrong in them.
    pub fn new(files: LinkFiles, cluster: bool, replication: bool) -> Result<LinkTls, TlsError> {
        let current = Mutex::new((modification_times(&files), build(&files)?));
        Ok(LinkTls {
            files,
            cluster,
            replication,
            current,
        })
    }

    fn covers(&self, link: Link) -> bool {
        match link {
            Link::Cluster => self.cluster,
            Link::Replication => self.replication,
        }
    }

    fn connector(&self) -> TlsConnector {
        let mut current = self.current.lock();
        let now = modification_times(&self.files);
        if now != current.0 {
            match build(&self.files) {
                Ok(connector) => *current = (now, connector),
                Err(err) => tracing::warn!(%err, "TLS link certificates not reloaded"),
            }
        }
        current.1.clone()
    }

    pub fn files(&self) -> &LinkFiles {
        &self.files
    }
}

/// Sets this process's links; the first call wins.
pub fn install(links: LinkTls) {
    let _ = INSTALLED.set(links);
}

/// The installed settings when `link` is to use TLS.
pub fn tls_for(link: Link) -> Option<&'static LinkTls> {
    INSTALLED.get().filter(|links| links.covers(link))
}

/// Connects to `addr` (`host:port`) as `link`, Nagle off, through a TLS handshake when the
/// link uses TLS; the whole within `patience`.
pub async fn dial(addr: &str, link: Link, patience: Duration) -> io::Result<Stream> {
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr}"));
    let connect = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let Some(links) = tls_for(link) else {
            return Ok(Stream::Plain(tcp));
        };
        let host = addr
            .rsplit_once(':')
            .map_or(addr, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        let tls = links.connector().connect(name, tcp).await?;
        Ok(Stream::Tls(Box::new(TlsStream::Client(tls))))
    };
    tokio::time::timeout(patience, connect)
        .await
        .map_err(|_| timed_out())?
}

fn modification_times(files: &LinkFiles) -> Vec<Option<SystemTime>> {
    let identity = files.identity.iter().flat_map(|(c, k)| [c, k]);
    std::iter::once(&files.ca_cert_file)
        .chain(identity)
        .map(|path| modified(path))
        .collect()
}

fn build(files: &LinkFiles) -> Result<TlsConnector, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(&files.ca_cert_file)? {
        roots.add(cert)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match &files.identity {
        None => builder.with_no_client_auth(),
        Some((cert_file, key_file)) => {
            let key = PrivateKeyDer::from_pem_file(key_file)
                .map_err(|err| TlsError::file(key_file, err))?;
            builder.with_client_auth_cert(certificates(cert_file)?, key)?
        }
    };
    Ok(TlsConnector::from(Arc::new(config)))
}
