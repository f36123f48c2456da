//! Accepting TLS clients with certificates that can change under a running process: the
//! configuration is rebuilt from the files on SIGHUP, or when a file's modification time
//! moves, and new handshakes use it while established connections keep theirs.

use super::{certificates, modified, AuthClients, TlsError, TlsFiles};
use parking_lot::RwLock;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tracing::{info, warn};

/// How long a client has to finish its handshake; one that stalls is dropped rather than
/// held.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the certificate files are checked for changes.
const CHANGE_POLL: Duration = Duration::from_secs(1);

/// A TLS port's handshakes, with the configuration its files give now.
pub struct Acceptor {
    files: RwLock<TlsFiles>,
    current: RwLock<tokio_rustls::TlsAcceptor>,
}

impl Acceptor {
    /// Reads the files; fails with what is wrong in them.
    pub fn load(files: TlsFiles) -> Result<Acceptor, TlsError> {
        let current = RwLock::new(build(&files)?);
        Ok(Acceptor {
            files: RwLock::new(files),
            current,
        })
    }

    /// Reads the files again. On an error the configuration in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let files = self.files.read().clone();
        self.replace(files)
    }

    /// Uses other files from now on (CONFIG SET tls-cert-file ...). On an error nothing
    /// changes.
    pub fn replace(&self, files: TlsFiles) -> Result<(), TlsError> {
        let built = build(&files)?;
        *self.current.write() = built;
        *self.files.write() = files;
        Ok(())
    }

    /// Takes on `other`'s files and configuration (a CONFIG SET checked beforehand).
    pub fn adopt(&self, other: Acceptor) {
        *self.current.write() = other.current.into_inner();
        *self.files.write() = other.files.into_inner();
    }

    /// Completes a client's handshake.
    pub async fn accept(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        let acceptor = self.current.read().clone();
        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))?
    }

    fn modified(&self) -> Vec<Option<SystemTime>> {
        let files = self.files.read();
        [
            Some(&files.cert_file),
            Some(&files.key_file),
            files.ca_cert_file.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|path| modified(path))
        .collect()
    }
}

/// Reloads `acceptor` on SIGHUP and whenever its files change, for the life of the process.
pub async fn reload_on_change(acceptor: Arc<Acceptor>) {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = acceptor.modified();
    loop {
        let hangup = async {
            match hangups.as_mut() {
                Some(signals) => signals.recv().await,
                None => std::future::pending().await,
            }
        };
        let signalled = tokio::select! {
            _ = hangup => true,
            _ = tokio::time::sleep(CHANGE_POLL) => false,
        };
        let now = acceptor.modified();
        if !signalled && now == seen {
            continue;
        }
        seen = now;
        match acceptor.reload() {
            Ok(()) => info!("TLS certificates reloaded"),
            Err(err) => warn!(%err, "TLS certificates not reloaded; the previous ones stay"),
        }
    }
}

fn build(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let chain = certificates(&files.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&files.key_file)
        .map_err(|err| TlsError::file(&files.key_file, err))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match (files.auth_clients, &files.ca_cert_file) {
        (AuthClients::No, _) => builder.with_no_client_auth(),
        (auth, None) => return Err(TlsError::NoCa(auth.name())),
        (auth, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca)? {
                roots.add(cert)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match auth {
                AuthClients::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|err| TlsError::Verifier(err.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
