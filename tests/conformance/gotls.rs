//! TLS client configuration that behaves like Go's crypto/tls client: full chain verification
//! against the given roots, host names matched the way crypto/x509 does (a `*.org` SAN matches
//! `example.org`, which webpki refuses), and a client certificate that records whether the
//! server asked for it.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a client config trusting only `roots_pem`, offering `client` (cert, key) PEM.
pub fn client_config(
    roots_pem: &str,
    client: Option<&(String, String)>,
    alpn_h2: bool,
) -> Result<(Arc<ClientConfig>, Arc<ClientCert>), String> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("root PEM: {e}"))?;
        roots.add(cert).map_err(|e| format!("root cert: {e}"))?;
    }
    let key = match client {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("client cert PEM: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| format!("client key PEM: {e}"))?;
            let signer = provider.key_provider.load_private_key(key).map_err(|e| format!("client key: {e}"))?;
            let issuer = certs.first().and_then(|c| issuer_raw(c.as_ref()));
            Some((Arc::new(CertifiedKey::new(certs, signer)), issuer))
        }
        None => None,
    };
    let resolver = Arc::new(ClientCert { key, requested: AtomicBool::new(false) });
    let verifier = Arc::new(GoVerifier { roots: Arc::new(roots), provider: provider.clone() });
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(resolver.clone());
    if alpn_h2 {
        cfg.alpn_protocols = vec![b"h2".to_vec()];
    }
    Ok((Arc::new(cfg), resolver))
}

#[derive(Debug)]
pub struct ClientCert {
    /// The key and the leaf's raw issuer Name.
    key: Option<(Arc<CertifiedKey>, Option<Vec<u8>>)>,
    requested: AtomicBool,
}

impl ClientCert {
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

impl ResolvesClientCert for ClientCert {
    /// Like Go's `getClientCertificate`: the certificate is sent when the server names no
    /// acceptable CAs or one of them is the certificate's issuer; otherwise none is sent.
    fn resolve(&self, hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.requested.store(true, Ordering::SeqCst);
        let (key, issuer) = self.key.as_ref()?;
        let acceptable = hints.is_empty() || issuer.as_ref().is_some_and(|i| hints.contains(&i.as_slice()));
        acceptable.then(|| key.clone())
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

#[derive(Debug)]
struct GoVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for GoVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        let algs = self.provider.signature_verification_algorithms.all;
        verify_server_cert_signed_by_trust_anchor(&cert, &self.roots, intermediates, now, algs)?;
        let (dns, ips) = sans(end_entity.as_ref());
        let ok = match server_name {
            ServerName::DnsName(n) => {
                let host = n.as_ref().to_ascii_lowercase();
                dns.iter().any(|p| match_hostnames(p, &host))
            }
            ServerName::IpAddress(ip) => ips.contains(&IpAddr::from(*ip)),
            _ => false,
        };
        if ok {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::General(format!("x509: certificate is not valid for {server_name:?} (SANs {dns:?} {ips:?})")))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Go's `matchHostnames`: same label count, `*` allowed as the whole leftmost label.
fn match_hostnames(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    let pattern = pattern.trim_end_matches('.');
    if pattern.is_empty() || host.is_empty() {
        return false;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    p.len() == h.len() && p.iter().zip(&h).enumerate().all(|(i, (p, h))| (i == 0 && *p == "*") || p == h)
}

/// One DER element: (tag, content, rest).
fn der(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let l0 = usize::from(*b.get(1)?);
    let (len, hdr) = if l0 < 0x80 {
        (l0, 2)
    } else {
        let n = l0 & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let content = b.get(hdr..hdr + len)?;
    Some((tag, content, &b[hdr + len..]))
}

fn elements(mut b: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while let Some((tag, content, rest)) = der(b) {
        out.push((tag, content));
        b = rest;
    }
    out
}

/// The raw DER of a certificate's issuer Name (Go's `RawIssuer`).
fn issuer_raw(cert: &[u8]) -> Option<Vec<u8>> {
    let (_, tbs, _) = der(der(cert)?.1)?;
    let mut rest = tbs;
    let mut index = 0;
    let mut skip = 2;
    while let Some((tag, _, next)) = der(rest) {
        if index == 0 && tag == 0xA0 {
            skip = 3;
        }
        if index == skip {
            return Some(rest[..rest.len() - next.len()].to_vec());
        }
        rest = next;
        index += 1;
    }
    None
}

/// DNS and IP subject alternative names of a DER certificate.
fn sans(cert: &[u8]) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    let tbs = der(cert).and_then(|(_, c, _)| der(c)).map(|(_, c, _)| c).unwrap_or_default();
    for (tag, content) in elements(tbs) {
        if tag != 0xA3 {
            continue;
        }
        let exts = der(content).map(|(_, c, _)| c).unwrap_or_default();
        for (_, ext) in elements(exts) {
            let parts = elements(ext);
            if parts.first().map(|p| p.1) != Some(&[0x55, 0x1D, 0x11][..]) {
                continue;
            }
            let Some((_, value)) = parts.iter().find(|p| p.0 == 0x04) else { continue };
            let names = der(value).map(|(_, c, _)| c).unwrap_or_default();
            for (tag, name) in elements(names) {
                match tag {
                    0x82 => dns.push(String::from_utf8_lossy(name).into_owned()),
                    0x87 => {
                        if let Ok(a) = <[u8; 4]>::try_from(name) {
                            ips.push(IpAddr::from(a));
                        } else if let Ok(a) = <[u8; 16]>::try_from(name) {
                            ips.push(IpAddr::from(a));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    (dns, ips)
}
