//! Checks the conformance echo backend (tests/support/echo.rs) and TLS material
//! (tests/support/tls.rs) against the echo-basic contract, over loopback only.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use support::echo::goform::{clean_path, parse_duration, query_value};
use support::echo::{self, EchoConfig, EchoHandle, EchoTls};
use support::tls::{TlsMaterial, conformance_tls_material};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const INFRA: &str = "gateway-conformance-infra";

type Answer = (StatusCode, HeaderMap, Bytes);

async fn start_echo(tls: Option<EchoTls>) -> EchoHandle {
    echo::start(EchoConfig {
        namespace: INFRA.to_owned(),
        pod: "infra-backend-v1-abc12-xyz".to_owned(),
        service: "infra-backend-v1".to_owned(),
        bind_ip: LOOPBACK,
        tls,
    })
    .await
    .expect("start echo")
}

/// One request on a fresh connection over `io`, HTTP/2 (prior knowledge or ALPN) when `h2`.
async fn send<I>(io: I, req: Request<Full<Bytes>>, h2: bool) -> hyper::Result<Answer>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let resp = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        sender.send_request(req).await?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        sender.send_request(req).await?
    };
    let (parts, body) = resp.into_parts();
    Ok((parts.status, parts.headers, body.collect().await?.to_bytes()))
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::from(body.to_owned()))).expect("valid request")
}

async fn plain(port: u16, req: Request<Full<Bytes>>, h2: bool) -> Answer {
    let tcp = TcpStream::connect((LOOPBACK, port)).await.expect("connect");
    send(TokioIo::new(tcp), req, h2).await.expect("response")
}

async fn get(port: u16, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut all = vec![("host", "example.com")];
    all.extend_from_slice(headers);
    plain(port, request("GET", uri, &all, ""), false).await
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body).expect("JSON body")
}

/// Writes `raw` on a fresh connection and reads until the server closes it.
async fn raw_exchange(port: u16, raw: &str) -> std::io::Result<String> {
    let mut tcp = TcpStream::connect((LOOPBACK, port)).await?;
    tcp.write_all(raw.as_bytes()).await?;
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn echo_body_is_go_marshal_indent() {
    let echo = start_echo(None).await;
    let raw = "GET /a//b?x=1&y HTTP/1.1\r\nHost: example.com:8080\r\nfoo-bar: v1\r\n\
               FOO-BAR: v2\r\nX-Echo-Set-Header: \r\nConnection: close\r\n\r\n";
    let answer = raw_exchange(echo.http_port, raw).await.expect("exchange");
    let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\ncontent-type: application/json\r\n"), "{head}");
    assert!(head.contains("\r\nx-content-type-options: nosniff\r\n"), "{head}");
    let expected = r#"{
 "path": "/a//b?x=1\u0026y",
 "host": "example.com:8080",
 "method": "GET",
 "proto": "HTTP/1.1",
 "headers": {
  "Connection": [
   "close"
  ],
  "Foo-Bar": [
   "v1",
   "v2"
  ],
  "X-Echo-Set-Header": [
   ""
  ]
 },
 "httpPort": "3000",
 "namespace": "gateway-conformance-infra",
 "ingress": "",
 "service": "infra-backend-v1",
 "pod": "infra-backend-v1-abc12-xyz"
}"#;
    assert_eq!(body, expected);
    assert_eq!(*echo.log.lock().expect("log"), vec!["/a//b?x=1&y".to_owned()]);
}

#[tokio::test]
async fn mux_routes_like_echo_basic() {
    let echo = start_echo(None).await;
    let port = echo.http_port;
    let (status, headers, body) = get(port, "/health", &[]).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"OK"[..]));
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");

    let (status, _, body) = get(port, "/status/404", &[]).await;
    assert_eq!((status, body.len()), (StatusCode::NOT_FOUND, 0));
    assert_eq!(get(port, "/status/404?x=1", &[]).await.0, StatusCode::BAD_REQUEST);
    // `//` is collapsed for routing, but the RequestURI no longer matches ^/status/NNN$.
    assert_eq!(get(port, "//status/404", &[]).await.0, StatusCode::BAD_REQUEST);

    let (status, headers, _) = get(port, "/status", &[]).await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(headers["location"], "/status/");
    let (status, headers, _) = get(port, "/a/../b?q=1", &[]).await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(headers["location"], "/b?q=1");

    let (status, _, body) = get(port, "/anything?delay=bogus", &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(&body[..], br#"{"message":"time: invalid duration \"bogus\""}"#);
    // Only echoed requests are logged.
    assert_eq!(echo.log.lock().expect("log").len(), 1);
}

#[tokio::test]
async fn requested_response_headers_and_delay() {
    let echo = start_echo(None).await;
    let port = echo.http_port;
    let set = [("x-echo-set-header", "A:1,B:2,A: x"), ("x-echo-set-header", "a: 3, Content-Type: text/html")];
    let (status, headers, body) = get(port, "/set", &set).await;
    assert_eq!(status, StatusCode::OK);
    let values = |name: &str| -> Vec<&str> {
        let all = headers.get_all(name).iter();
        all.map(|v| v.to_str().expect("ASCII")).collect()
    };
    assert_eq!(values("a"), ["1,x", "3"]);
    assert_eq!(values("b"), ["2"]);
    assert_eq!(values("content-type"), ["application/json"]);
    assert_eq!(json(&body)["headers"]["X-Echo-Set-Header"].as_array().map(Vec::len), Some(2));

    let started = Instant::now();
    let (status, _, body) = get(port, "/slow?delay=300ms", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(json(&body)["path"], "/slow?delay=300ms");

    let form = [("host", "h"), ("content-type", "application/x-www-form-urlencoded")];
    let started = Instant::now();
    let req = request("POST", "/form?delay=0s", &form, "delay=250ms");
    let (status, _, body) = plain(port, req, false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(json(&body)["method"], "POST");
}

#[tokio::test]
async fn h2c_port_needs_http2() {
    let echo = start_echo(None).await;
    let req = request("GET", "http://example.com/h2c?x=1", &[], "");
    let (status, _, body) = plain(echo.h2c_port, req, true).await;
    assert_eq!(status, StatusCode::OK);
    let body = json(&body);
    assert_eq!(body["proto"], "HTTP/2.0");
    assert_eq!(body["host"], "example.com");
    assert_eq!(body["path"], "/h2c?x=1");
    assert_eq!(body["httpPort"], "3000");

    let (status, _, body) = get(echo.h2c_port, "/", &[]).await;
    assert_eq!((status, &body[..]), (StatusCode::BAD_REQUEST, &b"Expected h2c request"[..]));
    let upgrade = [("upgrade", "h2c"), ("connection", "Upgrade, HTTP2-Settings")];
    let (status, _, body) = get(echo.h2c_port, "/", &upgrade).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["proto"], "HTTP/1.1");
    // The HTTP/1.1-only port does not speak HTTP/2.
    let tcp = TcpStream::connect((LOOPBACK, echo.http_port)).await.expect("connect");
    let req = request("GET", "http://example.com/", &[], "");
    assert!(send(TokioIo::new(tcp), req, true).await.is_err());
}

#[tokio::test]
async fn retry_counts_per_uuid() {
    let echo = start_echo(None).await;
    let port = echo.http_port;
    let uri = "/retry/?uuid=x&succeedAfter=2&responseCode=503";
    assert_eq!(get(port, uri, &[]).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(port, uri, &[]).await.0, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, body) = get(port, uri, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["path"], uri);
    assert_eq!(get(port, uri, &[]).await.0, StatusCode::OK);

    let (status, _, body) = get(port, "/retry/?succeedAfter=1", &[]).await;
    assert_eq!((status, &body[..]), (StatusCode::BAD_REQUEST, &b"uuid is required\n"[..]));

    // No responseCode: the connection is reset (after delayRetry).
    let reset = "GET /retry/r?uuid=r&succeedAfter=1&delayRetry=100ms HTTP/1.1\r\nHost: h\r\n\r\n";
    let started = Instant::now();
    let err = raw_exchange(port, reset).await.expect_err("connection reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert!(started.elapsed() >= Duration::from_millis(100));
    let again = reset.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n");
    let again = raw_exchange(port, &again).await.expect("echo");
    assert!(again.starts_with("HTTP/1.1 200 OK"), "{again}");
}

#[tokio::test]
async fn websocket_echoes_frames() {
    let echo = start_echo(None).await;
    let url = format!("ws://127.0.0.1:{}/ws", echo.http_port);
    let mut req = url.as_str().into_client_request().expect("ws request");
    let origin = "ws://gateway/TestConformance/HTTPRouteBackendProtocolWebSocket";
    req.headers_mut().insert("origin", origin.parse().expect("origin"));
    let tcp = TcpStream::connect((LOOPBACK, echo.http_port)).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.expect("handshake");
    let text = Message::text("Websocket Support!");
    ws.send(text.clone()).await.expect("send text");
    assert_eq!(ws.next().await.expect("reply").expect("frame"), text);
    let binary = Message::binary(vec![1u8, 2, 3, 4, 5, 6, 7]);
    ws.send(binary.clone()).await.expect("send binary");
    assert_eq!(ws.next().await.expect("reply").expect("frame"), binary);
    ws.close(None).await.expect("close");

    // x/net/websocket refuses a handshake without Origin.
    let req = url.as_str().into_client_request().expect("ws request");
    let tcp = TcpStream::connect((LOOPBACK, echo.http_port)).await.expect("connect");
    match tokio_tungstenite::client_async(req, tcp).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        }
        other => panic!("expected 403, got {other:?}"),
    }
}

fn secret<'a>(m: &'a TlsMaterial, name: &str) -> &'a (String, String) {
    &m.secrets[&(INFRA.to_owned(), name.to_owned())]
}

fn tls_client(
    root_pem: &str,
    client_cert: Option<&(String, String)>,
    alpn: &[&[u8]],
    versions: &[&'static SupportedProtocolVersion],
) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(cert.expect("root PEM")).expect("root cert");
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match client_cert {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes());
            let chain = chain.collect::<Result<Vec<_>, _>>().expect("client chain");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key");
            builder.with_client_auth_cert(chain, key).expect("client auth")
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// One HTTPS request; `Err` for a failed handshake or request.
async fn https(port: u16, sni: &str, connector: &TlsConnector, h2: bool) -> Result<Answer, String> {
    let tcp = TcpStream::connect((LOOPBACK, port)).await.expect("connect");
    let name = ServerName::try_from(sni.to_owned()).expect("server name");
    let tls = connector.connect(name, tcp).await.map_err(|e| e.to_string())?;
    let req = if h2 {
        request("GET", &format!("https://{sni}/tls"), &[], "")
    } else {
        request("GET", "/tls", &[("host", sni)], "")
    };
    let answer = send(TokioIo::new(tls), req, h2).await;
    answer.map_err(|e| e.to_string())
}

#[tokio::test]
async fn https_reports_tls_state() {
    let material = conformance_tls_material();
    let ca3 = &material.ca[&(INFRA.to_owned(), "tls-checks-ca-certificate".to_owned())];
    let (cert_pem, key_pem) = secret(&material, "tls-checks-certificate").clone();
    let echo = start_echo(Some(EchoTls { cert_pem, key_pem, client_ca_pem: Some(ca3.clone()) })).await;
    let port = echo.https_port.expect("https port");
    let client_cert = secret(&material, "tls-checks-client-certificate");
    let tls13: &[&'static SupportedProtocolVersion] = &[&rustls::version::TLS13];

    let connector = tls_client(ca3, Some(client_cert), &[b"http/1.1"], tls13);
    let (status, _, body) = https(port, "abc.example.com", &connector, false).await.expect("h1");
    assert_eq!(status, StatusCode::OK);
    let body = json(&body);
    assert_eq!(body["proto"], "HTTP/1.1");
    assert_eq!(body["host"], "abc.example.com");
    let tls = &body["tls"];
    assert_eq!(tls["version"], "TLSv1.3");
    assert_eq!(tls["serverName"], "abc.example.com");
    assert_eq!(tls["negotiatedProtocol"], "http/1.1");
    assert!(tls["cipherSuite"].as_str().is_some_and(|s| s.starts_with("TLS_")), "{tls}");
    assert_eq!(tls["peerCertificates"], serde_json::json!([client_cert.0]));

    let connector = tls_client(ca3, None, &[b"h2", b"http/1.1"], tls13);
    let (_, _, body) = https(port, "other.example.com", &connector, true).await.expect("h2");
    let body = json(&body);
    assert_eq!(body["proto"], "HTTP/2.0");
    assert_eq!(body["tls"]["negotiatedProtocol"], "h2");
    assert_eq!(body["tls"]["serverName"], "other.example.com");
    assert!(body["tls"].get("peerCertificates").is_none(), "{body}");

    let tls12: &[&'static SupportedProtocolVersion] = &[&rustls::version::TLS12];
    let connector = tls_client(ca3, None, &[], tls12);
    let (_, _, body) = https(port, "abc.example.com", &connector, false).await.expect("tls12");
    let tls = &json(&body)["tls"];
    assert_eq!(tls["version"], "TLSv1.2");
    assert!(tls.get("negotiatedProtocol").is_none(), "{tls}");
    let suite = tls["cipherSuite"].as_str().unwrap_or_default();
    assert!(suite.starts_with("TLS_ECDHE_ECDSA_WITH_"), "{suite}");

    // A client certificate from another CA is rejected (TLS 1.3 reports it after the handshake).
    let stranger = secret(&material, "tls-validity-checks-client-certificate");
    let connector = tls_client(ca3, Some(stranger), &[], tls13);
    assert!(https(port, "abc.example.com", &connector, false).await.is_err());

    // The plaintext listeners of a TLS pod carry no `tls` object.
    let (_, _, body) = get(echo.http_port, "/", &[]).await;
    assert!(json(&body).get("tls").is_none());
    assert_eq!(echo.log.lock().expect("log").len(), 4);
}

#[tokio::test]
async fn self_signed_listener_certificate_is_its_own_root() {
    let material = conformance_tls_material();
    let (cert_pem, key_pem) = secret(&material, "tls-validity-checks-certificate").clone();
    let connector = tls_client(&cert_pem, None, &[], &[&rustls::version::TLS13]);
    let echo = start_echo(Some(EchoTls { cert_pem, key_pem, client_ca_pem: None })).await;
    let port = echo.https_port.expect("https port");
    // Only names webpki accepts: it refuses to match a wildcard directly below a top-level
    // domain (`*.org` for `second-example.org`), which Go's verifier (and so the suite) allows.
    for sni in ["fourth-example.wildcard.org", "third-example.wildcard.org"] {
        let (status, _, body) = https(port, sni, &connector, false).await.expect("response");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json(&body)["tls"]["serverName"], sni);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("certificate PEM").to_vec()
}

#[derive(serde::Deserialize)]
struct Doc {
    kind: String,
    metadata: Meta,
    #[serde(rename = "type")]
    type_: Option<String>,
    data: std::collections::BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct Meta {
    name: String,
    namespace: String,
}

#[test]
fn tls_material_matches_the_suite_setup() {
    use base64::Engine as _;
    let m = conformance_tls_material();
    assert_eq!((m.secrets.len(), m.ca.len()), (9, 5));
    let docs: Vec<Doc> = serde_saphyr::from_multiple(&m.yaml).expect("YAML");
    assert_eq!(docs.len(), 14);
    for doc in &docs {
        let id = (doc.metadata.namespace.clone(), doc.metadata.name.clone());
        assert!(!["nonexistent-certificate", "does-not-exist", "non-exisitng-cm"].contains(&id.1.as_str()));
        match doc.kind.as_str() {
            "Secret" => {
                assert_eq!(doc.type_.as_deref(), Some("kubernetes.io/tls"));
                let decode = |k: &str| {
                    let bytes = base64::engine::general_purpose::STANDARD.decode(&doc.data[k]);
                    String::from_utf8(bytes.expect("base64")).expect("PEM text")
                };
                assert_eq!((decode("tls.crt"), decode("tls.key")), m.secrets[&id]);
            }
            "ConfigMap" => {
                assert_eq!(doc.data["ca.crt"], m.ca[&id]);
                assert!(doc.data["key.crt"].starts_with("-----BEGIN PRIVATE KEY-----\n"));
            }
            other => panic!("unexpected kind {other}"),
        }
    }
    for ns in ["gateway-conformance-infra", "gateway-conformance-app-backend"] {
        let id = (ns.to_owned(), "tls-passthrough-checks-certificate".to_owned());
        assert!(m.secrets.contains_key(&id));
    }
    // SAN encodings: [2] dNSName = 0x82, [6] uniformResourceIdentifier = 0x86.
    let validity = der(&secret(&m, "tls-validity-checks-certificate").0);
    assert!(contains(&validity, b"\x86\x01*"));
    assert!(contains(&validity, b"\x82\x05*.org"));
    assert!(contains(&validity, b"\x82\x0e*.wildcard.org"));
    let checks = der(&secret(&m, "tls-checks-certificate").0);
    assert!(contains(&checks, b"\x86\x26spiffe://abc.example.com/test-identity"));
    assert!(contains(&checks, b"\x82\x0fabc.example.com"));
    let web = &m.secrets[&("gateway-conformance-web-backend".to_owned(), "certificate".to_owned())];
    assert!(contains(&der(&web.0), b"\x86\x01*"));
}

#[test]
fn go_parsers() {
    let ok = |s: &str| parse_duration(s).expect(s);
    assert_eq!(ok("1s"), Duration::from_secs(1));
    assert_eq!(ok("500ms"), Duration::from_millis(500));
    assert_eq!(ok("1.5s"), Duration::from_millis(1500));
    assert_eq!(ok("100us"), Duration::from_micros(100));
    assert_eq!(ok("2\u{b5}s"), Duration::from_micros(2));
    assert_eq!(ok("1h2m3.5s"), Duration::from_millis(3_723_500));
    assert_eq!(ok(".5s"), Duration::from_millis(500));
    assert_eq!(ok("+0"), Duration::ZERO);
    assert_eq!(ok("-1s"), Duration::ZERO);
    let err = |s: &str| parse_duration(s).expect_err(s);
    assert_eq!(err("1"), r#"time: missing unit in duration "1""#);
    assert_eq!(err("1x"), r#"time: unknown unit "x" in duration "1x""#);
    assert_eq!(err("abc"), r#"time: invalid duration "abc""#);
    assert_eq!(err("."), r#"time: invalid duration ".""#);
    assert_eq!(err("9999999999h"), r#"time: invalid duration "9999999999h""#);

    assert_eq!(query_value("a=1&delay=2s", "delay").as_deref(), Some("2s"));
    assert_eq!(query_value("delay=%zz&delay=1s", "delay").as_deref(), Some("1s"));
    assert_eq!(query_value("x;y=1&delay=3s&delay=4s", "delay").as_deref(), Some("3s"));
    assert_eq!(query_value("d%65lay=1+2", "delay").as_deref(), Some("1 2"));
    assert_eq!(query_value("other=1", "delay"), None);
    assert_eq!(clean_path("/a/./b/../c/"), "/a/c/");
    assert_eq!(clean_path("/../x"), "/x");
}
