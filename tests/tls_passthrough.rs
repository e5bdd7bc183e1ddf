//! TLS passthrough: a TLS listener routes by SNI (TLSRoute) and splices bytes to the backend,
//! which terminates TLS itself: the client verifies the backend's certificate, not the gateway's.

mod support;

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use sluice::runtime::{BindMode, Runtime};
use support::{echo, tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NS: &str = "gateway-conformance-infra";

fn config(echo_port: u16) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: sluice}}
spec: {{controllerName: sluice.dev/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: tls, namespace: {NS}}}
spec:
  gatewayClassName: sluice
  listeners:
    - {{name: tls, protocol: TLS, port: 443, hostname: "*.example.com", tls: {{mode: Passthrough}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {{name: abc, namespace: {NS}}}
spec:
  parentRefs: [{{name: tls}}]
  hostnames: [abc.example.com]
  rules: [{{backendRefs: [{{name: tls-backend, port: 443}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: tls-backend, namespace: {NS}}}
spec: {{ports: [{{name: https, port: 443, targetPort: 8443}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: tls-backend-1, namespace: {NS}, labels: {{kubernetes.io/service-name: tls-backend}}}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"]}}]
ports: [{{name: https, port: {echo_port}}}]
"#
    )
}

async fn get(addr: std::net::SocketAddr, ca_pem: &str, sni: &str) -> std::io::Result<String> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA PEM")).expect("add root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(sni.to_string()).expect("server name");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
    tls.write_all(format!("GET /passthrough HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut out = String::new();
    tls.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn tls_routes_by_sni_without_terminating() {
    let material = tls::conformance_tls_material();
    let (cert, key) = material.secrets[&(NS.to_string(), "tls-checks-certificate".to_string())].clone();
    let ca = material.ca[&(NS.to_string(), "tls-checks-ca-certificate".to_string())].clone();
    let backend = echo::start(echo::EchoConfig {
        namespace: NS.into(),
        pod: "tls-backend-0-0".into(),
        service: "tls-backend".into(),
        bind_ip: "127.0.0.1".parse().expect("ip"),
        tls: Some(echo::EchoTls { cert_pem: cert, key_pem: key, client_ca_pem: None }),
    })
    .await
    .expect("echo");
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    let loaded = sluice::config::parse_text("tls.yaml", &config(backend.https_port.expect("https port")));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let snapshot = rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    assert!(snapshot.status.problems().is_empty(), "{:?}", snapshot.status.problems());
    let addr = rt.listener_addr(NS, "tls", 443).expect("bound");

    let body = get(addr, &ca, "abc.example.com").await.expect("request through the passthrough listener");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("\"serverName\": \"abc.example.com\""), "the backend terminated TLS: {body}");
    assert!(body.contains("\"path\": \"/passthrough\""), "{body}");

    // A name the listener takes but no TLSRoute does: the connection is closed, no answer.
    assert!(get(addr, &ca, "other.example.com").await.is_err());
    let route = snapshot.status.find("TLSRoute", Some(NS), "abc").expect("TLSRoute status");
    assert_eq!(route.status["parents"][0]["conditions"][0]["status"], "True", "{}", route.status);
    let gw = snapshot.status.find("Gateway", Some(NS), "tls").expect("Gateway status");
    assert_eq!(gw.status["listeners"][0]["attachedRoutes"], 1);
    assert_eq!(gw.status["listeners"][0]["supportedKinds"][0]["kind"], "TLSRoute");
}
