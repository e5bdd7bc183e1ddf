//! Certificates from Secrets and CA bundles from ConfigMaps, turned into rustls configs.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::api::{ConfigMap, Secret};

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its key, checked to belong together.
pub struct CertAndKey {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_der: PrivateKeyDer<'static>,
    pub key: Arc<CertifiedKey>,
}

/// Reads `tls.crt` and `tls.key` of a Secret.
pub fn certificate_from_secret(secret: &Secret) -> Result<CertAndKey, String> {
    let crt = secret.get("tls.crt").map_err(|e| format!("{e:?}"))?.ok_or("the Secret has no tls.crt")?;
    let key = secret.get("tls.key").map_err(|e| format!("{e:?}"))?.ok_or("the Secret has no tls.key")?;
    certificate_from_pem(&crt, &key)
}

pub fn certificate_from_pem(crt: &[u8], key: &[u8]) -> Result<CertAndKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(crt)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls.crt is not a PEM certificate: {e}"))?;
    if chain.is_empty() {
        return Err("tls.crt holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("tls.key is not a PEM private key: {e}"))?;
    let key_der = key.clone_key();
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("tls.key is not a usable private key: {e}"))?;
    let certified = CertifiedKey::new(chain.clone(), signing);
    certified.keys_match().map_err(|e| format!("tls.key does not match tls.crt: {e}"))?;
    // Parse the leaf once so that garbage DER is caught here, not at handshake time.
    webpki_check(&chain[0])?;
    Ok(CertAndKey { chain, key_der, key: Arc::new(certified) })
}

fn webpki_check(cert: &CertificateDer<'_>) -> Result<(), String> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).map(|_| ()).map_err(|e| format!("tls.crt is not a valid X.509 certificate: {e}"))
}

/// The PEM certificates of a CA bundle ConfigMap (`ca.crt`).
pub fn roots_from_config_maps(maps: &[&ConfigMap]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cm in maps {
        let pem = cm.data.get("ca.crt").ok_or_else(|| format!("ConfigMap {} has no ca.crt", cm.metadata.name()))?;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("ConfigMap {}: ca.crt is not PEM: {e}", cm.metadata.name()))?;
            roots.add(cert).map_err(|e| format!("ConfigMap {}: bad CA certificate: {e}", cm.metadata.name()))?;
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate found".into());
    }
    Ok(roots)
}

#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Client certificate validation of an HTTPS listener.
pub struct ClientValidation {
    pub roots: Arc<RootCertStore>,
    /// AllowInsecureFallback: ask for a certificate but let the connection through without one.
    pub insecure_fallback: bool,
}

pub fn server_config(cert: &CertAndKey, client: Option<&ClientValidation>) -> Result<ServerConfig, String> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client {
        None => builder.with_no_client_auth(),
        Some(v) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(v.roots.clone(), provider())
                .build()
                .map_err(|e| e.to_string())?;
            if v.insecure_fallback {
                builder.with_client_cert_verifier(Arc::new(InsecureFallbackVerifier(verifier)))
            } else {
                builder.with_client_cert_verifier(verifier)
            }
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(FixedCert(cert.key.clone())));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// TLS towards a backend: the roots to trust and an optional client certificate.
pub fn client_config(roots: RootCertStore, client_cert: Option<&CertAndKey>) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut config = match client_cert {
        None => builder.with_no_client_auth(),
        Some(c) => builder
            .with_client_auth_cert(c.chain.clone(), c.key_der.clone_key())
            .map_err(|e| format!("client certificate rejected: {e}"))?,
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The system's well-known roots (Mozilla's, as shipped by webpki-roots).
pub fn system_roots() -> RootCertStore {
    RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// AllowInsecureFallback: asks for a client certificate and verifies it, but lets the
/// connection through when the certificate is missing or does not verify.
#[derive(Debug)]
struct InsecureFallbackVerifier(Arc<dyn rustls::server::danger::ClientCertVerifier>);

impl rustls::server::danger::ClientCertVerifier for InsecureFallbackVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        if let Err(e) = self.0.verify_client_cert(end_entity, intermediates, now) {
            tracing::debug!(error = %e, "client certificate did not verify; allowed by AllowInsecureFallback");
        }
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
