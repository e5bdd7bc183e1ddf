//! The TLS Secrets and CA ConfigMaps the conformance suite creates at setup (README sections
//! "Echo and client contract 6" and "TLS material needed by the Gateway tests").
//!
//! Deviation: the suite uses RSA-2048 keys (PKCS#1 `RSA PRIVATE KEY`), but rcgen on ring cannot
//! generate RSA keys, so every key here is ECDSA P-256 in PKCS#8 (`PRIVATE KEY`). rustls and Go
//! accept either; nothing in the tests depends on the key type. Everything else follows the
//! suite: subjects, key usages, extended key usages, CA serial 2024, one-year validity, and the
//! host-to-SAN rule (IP -> IP SAN, DNS-1123 name optionally prefixed `*.` -> DNS SAN, anything
//! else -> URI SAN, so `"*"` becomes URI SAN `*`).
//!
//! The names the suite must not find (Secrets `nonexistent-certificate` and `does-not-exist`,
//! ConfigMaps `does-not-exist` and `non-exisitng-cm`) are deliberately not created.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};

use super::pem;
use rcgen::string::Ia5String;

const INFRA: &str = "gateway-conformance-infra";
const APP: &str = "gateway-conformance-app-backend";
const WEB: &str = "gateway-conformance-web-backend";

/// Generated Secrets and CA ConfigMaps, keyed by `(namespace, name)`.
pub struct TlsMaterial {
    /// Multi-document YAML: Secrets (`kubernetes.io/tls`, base64 `tls.crt`/`tls.key`) and
    /// ConfigMaps (`ca.crt`, `key.crt` as plain PEM strings).
    pub yaml: String,
    /// Secret -> (certificate PEM, private key PEM).
    pub secrets: HashMap<(String, String), (String, String)>,
    /// CA ConfigMap -> CA certificate PEM (`ca.crt`).
    pub ca: HashMap<(String, String), String>,
}

#[derive(Clone, Copy)]
enum Usage {
    Server,
    Client,
}

struct Ca {
    params: CertificateParams,
    key: KeyPair,
}

/// Generates the full set of TLS material with fresh keys.
pub fn conformance_tls_material() -> TlsMaterial {
    let mut m = TlsMaterial { yaml: String::new(), secrets: HashMap::new(), ca: HashMap::new() };
    let validity_ca = m.add_ca(INFRA, "tls-validity-checks-ca-certificate");
    let per_port_ca = m.add_ca(INFRA, "tls-validity-checks-per-port-ca-certificate");
    let checks_ca = m.add_ca(INFRA, "tls-checks-ca-certificate");
    m.add_ca(WEB, "web-backend-cm");
    m.add_ca(INFRA, "mismatch-ca-certificate");

    let validity_hosts = ["*", "*.org", "*.wildcard.org"];
    m.add_cert(INFRA, "tls-validity-checks-certificate", &validity_hosts, Usage::Server, None);
    m.add_cert(WEB, "certificate", &["*"], Usage::Server, None);
    let client = Usage::Client;
    m.add_cert(INFRA, "tls-validity-checks-client-certificate", &[], client, Some(&validity_ca));
    let per_port_client = "tls-validity-checks-per-port-client-certificate";
    m.add_cert(INFRA, per_port_client, &[], client, Some(&per_port_ca));

    let checks_hosts = ["abc.example.com", "spiffe://abc.example.com/test-identity", "other.example.com"];
    let ca3 = Some(&checks_ca);
    m.add_cert(INFRA, "tls-checks-certificate", &checks_hosts, Usage::Server, ca3);
    m.add_cert(INFRA, "tls-checks-client-certificate", &[], client, ca3);
    let passthrough = "tls-passthrough-checks-certificate";
    m.add_cert(INFRA, passthrough, &["abc.example.com"], Usage::Server, ca3);
    m.add_cert(APP, passthrough, &["abc.example.com"], Usage::Server, ca3);
    let terminate = "tls-terminate-checks-certificate";
    m.add_cert(INFRA, terminate, &["tls.example.com"], Usage::Server, ca3);
    m
}

impl TlsMaterial {
    fn add_ca(&mut self, namespace: &str, name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.serial_number = Some(SerialNumber::from(2024u64));
        params.distinguished_name = distinguished_name(&[
            (DnType::CommonName, "gatewayapi"),
            (DnType::OrganizationName, "Kubernetes Gateway API"),
            (DnType::CountryName, "US"),
        ]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth, ExtendedKeyUsagePurpose::ServerAuth];
        set_one_year(&mut params);
        let key = new_key();
        let cert = params.self_signed(&key).expect("self-sign CA certificate");
        let cert_pem = pem::encode("CERTIFICATE", cert.der());
        let key_pem = pem::encode("PRIVATE KEY", &key.serialize_der());
        self.yaml.push_str(&config_map_yaml(namespace, name, &cert_pem, &key_pem));
        self.ca.insert((namespace.to_owned(), name.to_owned()), cert_pem);
        Ca { params, key }
    }

    /// A leaf certificate Secret, self-signed when `signer` is `None`.
    fn add_cert(&mut self, namespace: &str, name: &str, hosts: &[&str], usage: Usage, signer: Option<&Ca>) {
        let mut params = CertificateParams::default();
        params.distinguished_name =
            distinguished_name(&[(DnType::CommonName, "default"), (DnType::OrganizationName, "Acme Co")]);
        params.subject_alt_names = hosts.iter().map(|h| host_san(h)).collect();
        params.key_usages = vec![KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.is_ca = IsCa::ExplicitNoCa;
        set_one_year(&mut params);
        let key = new_key();
        let cert = match signer {
            Some(ca) => params.signed_by(&key, &Issuer::from_params(&ca.params, &ca.key)),
            None => params.self_signed(&key),
        }
        .expect("sign leaf certificate");
        let cert_pem = pem::encode("CERTIFICATE", cert.der());
        let key_pem = pem::encode("PRIVATE KEY", &key.serialize_der());
        self.yaml.push_str(&secret_yaml(namespace, name, &cert_pem, &key_pem));
        let id = (namespace.to_owned(), name.to_owned());
        self.secrets.insert(id, (cert_pem, key_pem));
    }
}

fn new_key() -> KeyPair {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate ECDSA P-256 key")
}

fn distinguished_name(entries: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in entries {
        dn.push(ty.clone(), *value);
    }
    dn
}

/// Valid from now for one year, like the suite's `NotBefore: now, NotAfter: now + 1 year`.
fn set_one_year(params: &mut CertificateParams) {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_after = params.not_before + Duration::from_secs(365 * 24 * 60 * 60);
}

fn host_san(host: &str) -> SanType {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return SanType::IpAddress(ip);
    }
    let value = Ia5String::try_from(host).expect("hosts are ASCII");
    if is_dns1123_subdomain(host.strip_prefix("*.").unwrap_or(host)) {
        SanType::DnsName(value)
    } else {
        SanType::URI(value)
    }
}

fn is_dns1123_subdomain(name: &str) -> bool {
    let label_ok = |label: &str| {
        let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        label.len() <= 63
            && edge_ok(label.chars().next())
            && edge_ok(label.chars().last())
            && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok)
}

fn metadata(namespace: &str, name: &str) -> String {
    format!("metadata:\n  name: {name}\n  namespace: {namespace}\n")
}

fn secret_yaml(namespace: &str, name: &str, cert_pem: &str, key_pem: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Secret\n{}type: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n",
        metadata(namespace, name),
        STANDARD.encode(cert_pem),
        STANDARD.encode(key_pem),
    )
}

fn config_map_yaml(namespace: &str, name: &str, ca_pem: &str, key_pem: &str) -> String {
    let block = |pem: &str| -> String { pem.lines().map(|l| format!("    {l}\n")).collect() };
    format!(
        "---\napiVersion: v1\nkind: ConfigMap\n{}data:\n  ca.crt: |\n{}  key.crt: |\n{}",
        metadata(namespace, name),
        block(ca_pem),
        block(key_pem),
    )
}

/// A fresh CA and a server certificate for `127.0.0.1` signed by it, as PEM:
/// `(CA certificate, server certificate, server key)`.
pub fn loopback_server_cert() -> (String, String, String) {
    let mut ca = CertificateParams::default();
    ca.distinguished_name = distinguished_name(&[(DnType::CommonName, "sluice test CA")]);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign];
    set_one_year(&mut ca);
    let ca_key = new_key();
    let ca_cert = ca.self_signed(&ca_key).expect("self-sign CA certificate");
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = distinguished_name(&[(DnType::CommonName, "127.0.0.1")]);
    leaf.subject_alt_names = vec![host_san("127.0.0.1")];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.is_ca = IsCa::ExplicitNoCa;
    set_one_year(&mut leaf);
    let key = new_key();
    let cert = leaf.signed_by(&key, &Issuer::from_params(&ca, &ca_key)).expect("sign server certificate");
    (
        pem::encode("CERTIFICATE", ca_cert.der()),
        pem::encode("CERTIFICATE", cert.der()),
        pem::encode("PRIVATE KEY", &key.serialize_der()),
    )
}
