//! Optional TLS (rustls, with the aws-lc-rs provider reqwest already brings) on every listener:
//! one PEM certificate chain and key serve OTLP/gRPC (through tonic's own TLS), OTLP/HTTP and
//! the HTTP API (through [`TlsListener`], an `axum::serve` listener).
//!
//! Handshakes run in their own tasks, bounded in number and time, so a slow or silent client
//! never holds up the connections behind it; a client that does not speak TLS is dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A TLS handshake that has not finished by then is dropped: far above a real handshake even
/// over a slow link, short enough that idle sockets do not pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once on one listener; past it, accepting waits for one to end.
const MAX_PENDING_HANDSHAKES: usize = 1024;
/// Pause after an accept error (out of file descriptors, ...), as `axum::serve` does, so the
/// loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Only one of certificate and key was given.
    #[error(
        "TLS needs both a certificate and a key (--tls-cert and --tls-key); only the {0} was given"
    )]
    Incomplete(&'static str),
    /// A PEM file could not be read.
    #[error("cannot read the TLS {what} {path}: {source}")]
    Read {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM file holds nothing usable.
    #[error("invalid TLS {what} {path}: {source}")]
    Pem {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("invalid TLS certificate {0}: no CERTIFICATE block")]
    NoCertificate(PathBuf),
    /// rustls refused the pair (a key that does not match the certificate, ...).
    #[error("unusable TLS certificate and key: {0}")]
    Config(#[from] rustls::Error),
    /// tonic refused the identity for the gRPC listener.
    #[error("cannot set up TLS on the gRPC listener: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// A certificate chain and its key, ready for every listener.
#[derive(Clone)]
pub struct TlsIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity(***)")
    }
}

impl TlsIdentity {
    /// TLS from `--tls-cert` and `--tls-key`: both or neither (`Ok(None)`).
    pub fn from_files(
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Option<TlsIdentity>, TlsError> {
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(TlsError::Incomplete("certificate")),
            (None, Some(_)) => Err(TlsError::Incomplete("key")),
            (Some(cert), Some(key)) => {
                let read = |what, path: &Path| {
                    std::fs::read(path).map_err(|source| TlsError::Read {
                        what,
                        path: path.to_path_buf(),
                        source,
                    })
                };
                let (cert_pem, key_pem) = (read("certificate", cert)?, read("key", key)?);
                Self::parse(cert_pem, key_pem, cert, key).map(Some)
            }
        }
    }

    /// TLS from PEM text (a certificate chain, then a private key: PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Result<TlsIdentity, TlsError> {
        Self::parse(
            cert_pem.into(),
            key_pem.into(),
            Path::new("(PEM)"),
            Path::new("(PEM)"),
        )
    }

    fn parse(
        cert_pem: Vec<u8>,
        key_pem: Vec<u8>,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<TlsIdentity, TlsError> {
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::Pem {
                what: "certificate",
                path: cert_path.to_path_buf(),
                source,
            })?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate(cert_path.to_path_buf()));
        }
        // The key's error message never includes key material.
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| TlsError::Pem {
            what: "key",
            path: key_path.to_path_buf(),
            source,
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        // axum serves HTTP/1.1 only here (its http2 feature is off).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity {
            cert_pem,
            key_pem,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The same identity for tonic's gRPC server (which negotiates `h2` itself).
    pub fn grpc(&self) -> tonic::transport::ServerTlsConfig {
        // tonic builds its rustls config with the process's default provider; name ours so
        // that another provider compiled in later cannot leave it undecided. An error only
        // means one is installed already.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(
            &self.cert_pem,
            &self.key_pem,
        ))
    }

    /// A TLS listener over `tcp`.
    pub fn listener(&self, tcp: TcpListener) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: self.acceptor.clone(),
            handshakes: JoinSet::new(),
        }
    }
}

/// An `axum::serve` listener whose connections have completed a TLS handshake.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<(TlsStream<TcpStream>, SocketAddr)> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some((tls, peer)),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // Cancel-safe: both branches are, and handshakes in progress live in `self`.
        loop {
            tokio::select! {
                accepted = self.tcp.accept(), if self.handshakes.len() < MAX_PENDING_HANDSHAKES => {
                    match accepted {
                        Ok((stream, peer)) => {
                            self.handshakes.spawn(handshake(self.acceptor.clone(), stream, peer));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot accept a connection");
                            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        }
                    }
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves `router` on `listener` (over TLS when `tls` is set) until `shutdown` completes.
pub fn serve_http(
    what: &'static str,
    listener: TcpListener,
    tls: Option<&TlsIdentity>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let result = move |e: std::io::Error| tracing::error!(error = %e, "{what} server failed");
    match tls {
        Some(tls) => {
            let serve =
                axum::serve(tls.listener(listener), router).with_graceful_shutdown(shutdown);
            tokio::spawn(async move { serve.await.unwrap_or_else(result) })
        }
        None => {
            let serve = axum::serve(listener, router).with_graceful_shutdown(shutdown);
            tokio::spawn(async move { serve.await.unwrap_or_else(result) })
        }
    }
}
