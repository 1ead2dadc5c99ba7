//! TLS to the database, when the store's URL says `sslmode=require`: rustls (the receiver's
//! aws-lc provider), the server's certificate checked against the CA file given
//! (`store_ca_file`) or, without one, the system's roots. `sslmode=prefer` (the driver's
//! default) and `disable` connect in plain text: a TLS connection that is not checked would only
//! look safe.

use std::path::Path;
use std::sync::Arc;

use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::receiver::store::StoreError;

/// A connector checking the server against `ca_file`'s certificates, else the system's roots.
pub(super) fn connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, StoreError> {
    let roots = match ca_file {
        Some(path) => file_roots(path)?,
        None => system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::PgConfig(format!("TLS to the database: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The certificates of a PEM file; an error when it holds none.
fn file_roots(path: &Path) -> Result<RootCertStore, StoreError> {
    let unusable = |why: String| {
        StoreError::PgConfig(format!("the store's CA file {}: {why}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unusable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unusable(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(unusable("no certificate in it".into()));
    }
    Ok(roots)
}

/// The system's trusted roots (those it could read; an error when there are none).
fn system_roots() -> Result<RootCertStore, StoreError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(StoreError::PgConfig(
            "TLS to the database: the system has no trusted roots; give store_ca_file".into(),
        ));
    }
    Ok(roots)
}
