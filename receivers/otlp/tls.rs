//! TLS for the OTLP receivers: certificates from PEM files, an acceptor for the HTTP server
//! (which runs each handshake in its connection's task, under `read_header_timeout`), and an
//! identity for tonic.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::{rustls, TlsAcceptor};

use super::TlsConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain from {path}: {reason}")]
    Certificates { path: String, reason: String },
    #[error("cannot read the private key from {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn certificates(config: &TlsConfig) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |reason: String| TlsError::Certificates {
        path: config.cert_file.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(&config.cert_file)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if chain.is_empty() {
        return Err(error("no certificate found".into()));
    }
    Ok(chain)
}

fn private_key(config: &TlsConfig) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(&config.key_file).map_err(|e| TlsError::Key {
        path: config.key_file.display().to_string(),
        reason: e.to_string(),
    })
}

/// What `acceptor` would fail on, by the field to blame: for `validate`.
pub fn problems(config: &TlsConfig) -> Vec<(&'static str, String)> {
    let chain =
        certificates(config).map_err(|e| ("cert_file", format!("expected PEM certificates: {e}")));
    let key =
        private_key(config).map_err(|e| ("key_file", format!("expected a PEM private key: {e}")));
    match (chain, key) {
        (Ok(chain), Ok(key)) => match rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
        {
            Ok(_) => Vec::new(),
            Err(e) => vec![(
                "",
                format!("expected a certificate and its private key: {e}"),
            )],
        },
        (chain, key) => chain.err().into_iter().chain(key.err()).collect(),
    }
}

pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let mut server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certificates(config)?, private_key(config)?)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Reads the files now, so that a bad certificate fails start-up rather than the first client.
pub fn identity(config: &TlsConfig) -> Result<tonic::transport::Identity, TlsError> {
    acceptor(config)?;
    let read = |path: &PathBuf| std::fs::read(path).unwrap_or_default();
    Ok(tonic::transport::Identity::from_pem(
        read(&config.cert_file),
        read(&config.key_file),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, contents: &[u8]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("tributary-tls-{name}-{}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn garbage_files_are_named_by_their_field() {
        let config = TlsConfig {
            cert_file: write("cert-garbage", b"not a certificate"),
            key_file: write("key-garbage", b"-----BEGIN PRIVATE KEY-----\nnope\n"),
        };
        let problems = problems(&config);
        let fields: Vec<&str> = problems.iter().map(|(field, _)| *field).collect();
        assert_eq!(fields, ["cert_file", "key_file"], "{problems:?}");
        assert!(
            problems[0].1.contains("no certificate found"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_certificate_and_its_key_pass_and_a_key_of_another_does_not() {
        let directory =
            std::env::temp_dir().join(format!("tributary-tls-pairs-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let pair = |name: &str| {
            let (cert, key) = (
                directory.join(format!("{name}.crt")),
                directory.join(format!("{name}.key")),
            );
            let made = std::process::Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                ])
                .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .output()
                .expect("openssl makes the test certificate");
            assert!(
                made.status.success(),
                "{}",
                String::from_utf8_lossy(&made.stderr)
            );
            TlsConfig {
                cert_file: cert,
                key_file: key,
            }
        };
        let first = pair("first");
        assert_eq!(problems(&first), vec![]);
        let mismatched = TlsConfig {
            key_file: pair("second").key_file,
            ..first
        };
        let problems = problems(&mismatched);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "");
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn an_unreadable_file_is_a_problem() {
        let directory = std::env::temp_dir();
        let config = TlsConfig {
            // A directory exists but cannot be read as a file.
            cert_file: directory.clone(),
            key_file: directory,
        };
        assert_eq!(problems(&config).len(), 2);
    }
}
