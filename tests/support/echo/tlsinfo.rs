//! The HTTPS side of the echo backend: rustls server configuration (like echo-basic's
//! `tls.Config`) and the `tls` object of the echo JSON (like Go's `tls.ConnectionState`).

use std::io;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ProtocolVersion, RootCertStore, ServerConfig, ServerConnection};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::EchoTls;
use super::json::Json;

fn invalid(err: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, err.to_string())
}

fn certs(pem: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(invalid)
}

/// Server config: ALPN `h2` and `http/1.1`; with `client_ca_pem`, client certificates are
/// verified against it when the client offers one (Go's `tls.VerifyClientCertIfGiven`).
pub fn server_config(tls: &EchoTls) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(invalid)?;
    let builder = match &tls.client_ca_pem {
        Some(ca_pem) => {
            let mut roots = RootCertStore::empty();
            for cert in certs(ca_pem)? {
                roots.add(cert).map_err(invalid)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(invalid)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).map_err(invalid)?;
    let mut config = builder.with_single_cert(certs(&tls.cert_pem)?, key).map_err(invalid)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What echo-basic reports about the TLS connection a request arrived on.
pub struct TlsInfo {
    version: String,
    peer_certificates: Vec<String>,
    server_name: String,
    negotiated_protocol: String,
    cipher_suite: String,
}

impl TlsInfo {
    pub fn from_connection(conn: &ServerConnection) -> Self {
        let version = match conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
            Some(ProtocolVersion::TLSv1_1) => "TLSv1.1",
            Some(ProtocolVersion::TLSv1_0) => "TLSv1.0",
            _ => "",
        };
        let peer_certificates = conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|der| super::super::pem::encode("CERTIFICATE", der))
            .collect();
        TlsInfo {
            version: version.to_owned(),
            peer_certificates,
            server_name: conn.server_name().unwrap_or_default().to_owned(),
            negotiated_protocol: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default(),
            cipher_suite: conn.negotiated_cipher_suite().map(|s| go_cipher_suite_name(s.suite())).unwrap_or_default(),
        }
    }

    /// The JSON `tls` object: `peerCertificates` and `negotiatedProtocol` are omitted when empty.
    pub fn to_json(&self) -> Json {
        let mut members = vec![("version".to_owned(), Json::str(&self.version))];
        if !self.peer_certificates.is_empty() {
            let certs = self.peer_certificates.iter().map(Json::str).collect();
            members.push(("peerCertificates".to_owned(), Json::Arr(certs)));
        }
        members.push(("serverName".to_owned(), Json::str(&self.server_name)));
        if !self.negotiated_protocol.is_empty() {
            let proto = Json::str(&self.negotiated_protocol);
            members.push(("negotiatedProtocol".to_owned(), proto));
        }
        members.push(("cipherSuite".to_owned(), Json::str(&self.cipher_suite)));
        Json::Obj(members)
    }
}

/// Go's `tls.CipherSuiteName`: IANA names, which rustls shares except for its `TLS13_` prefix
/// on TLS 1.3 suites; unknown suites are written as `0xXXXX`.
fn go_cipher_suite_name(suite: rustls::CipherSuite) -> String {
    let name = format!("{suite:?}");
    if let Some(rest) = name.strip_prefix("TLS13_") {
        format!("TLS_{rest}")
    } else if name.starts_with("TLS_") {
        name
    } else {
        format!("0x{:04X}", u16::from(suite))
    }
}
