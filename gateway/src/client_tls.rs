//! TLS toward clients: the gateway terminates it with its own certificate so
//! clients with `sslmode=prefer` or `require` work unchanged.

use std::{io, path::Path, sync::Arc};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// An acceptor from PEM files, or with a throwaway self-signed certificate
/// when none is configured (clients that verify certificates need real ones).
pub fn acceptor(cert_and_key: Option<(&Path, &Path)>) -> io::Result<TlsAcceptor> {
    let (chain, key) = match cert_and_key {
        Some((cert, key)) => load_pem(cert, key)?,
        None => throwaway()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

type CertAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn load_pem(cert: &Path, key: &Path) -> io::Result<CertAndKey> {
    let named =
        |path: &Path, e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let chain = rustls_pemfile::certs(&mut io::BufReader::new(
        std::fs::File::open(cert).map_err(|e| named(cert, e))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| named(cert, e))?;
    let key_der = rustls_pemfile::private_key(&mut io::BufReader::new(
        std::fs::File::open(key).map_err(|e| named(key, e))?,
    ))
    .map_err(|e| named(key, e))?
    .ok_or_else(|| io::Error::other(format!("{}: no private key found", key.display())))?;
    Ok((chain, key_der))
}

fn throwaway() -> io::Result<CertAndKey> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .map_err(io::Error::other)?;
    let key = PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    Ok((vec![certified.cert.der().clone()], key))
}
