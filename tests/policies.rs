//! TrafficPolicy end to end, against an in-process gateway on loopback:
//! - JWT: tokens minted by PyJWT + `cryptography` (tests/python/jwt_mint.py, independent of
//!   Sluice) with RSA, EC and Ed25519 keys from a JWKS server in this test that rotates its
//!   keys; every bad token of the issue's list refused with a 401 and a challenge;
//! - basic credentials from an htpasswd Secret, and CEL authorization rules on the identity;
//! - external authorization against a small HTTP auth service in this test: allow with copied
//!   headers, deny with its status and body passed back, a timeout failing closed;
//! - the policy's status, and MCP protected-resource metadata with its 401 challenge.
//!
//! Every upstream is the echo backend (support::echo) or the mock LLM provider.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::echo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "sluice-test";

// ---- small servers of this test ---------------------------------------------------------------

/// What a test server answers: status, extra headers, body; after a delay.
type Answer = (u16, Vec<(String, String)>, String, Duration);

/// A minimal HTTP/1.1 server on loopback: one request per connection, answered by `answer`
/// from the request head. Counts requests.
async fn serve(answer: Arc<dyn Fn(&str) -> Answer + Send + Sync>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (answer, counter) = (answer.clone(), counter.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let (status, headers, body, delay) = answer(&String::from_utf8_lossy(&buf));
                tokio::time::sleep(delay).await;
                let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, hits)
}

/// A raw HTTP/1.1 request to the gateway; returns status, the head (lower-cased) and body.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: Vec<(String, String)>,
    body: &str,
) -> (u16, String, String) {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    support::gateway::request(addr, method, path, &headers, body).await
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {token}"))]
}

use support::gateway::start as gateway;

const CHAT: &str = r#"{"model": "mock-1", "messages": [{"role": "user", "content": "hi"}]}"#;

fn mock_route(policy: &str) -> String {
    support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + "---\napiVersion: sluice.dev/v1alpha1\nkind: AIBackend\nmetadata: {name: mock, namespace: default}\nspec:\n  provider: {name: m, type: mock}\n"
        + policy
}

// ---- JWT ---------------------------------------------------------------------------------------

fn mint() -> Value {
    let out = Command::new("python3")
        .args(["tests/python/jwt_mint.py", ISSUER, AUDIENCE])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is needed ({e}): run `bash scripts/test.sh`, which installs what tests/python needs")
        });
    assert!(
        out.status.success(),
        "tests/python/jwt_mint.py failed: install PyJWT and cryptography (`pip install -r tests/python/requirements.txt`)"
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwts_of_every_key_type_pass_and_bad_ones_are_refused() {
    let minted = mint();
    let jwks = Arc::new(Mutex::new(minted["jwks"].to_string()));
    let served = jwks.clone();
    let (jwks_addr, fetches) =
        serve(Arc::new(move |_| (200, vec![], served.lock().expect("lock").clone(), Duration::ZERO))).await;
    let policy = format!(
        r#"---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {{name: jwt, namespace: default}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: llm}}]
  authentication:
    jwt:
      providers: [{{issuer: "{ISSUER}", audiences: ["{AUDIENCE}"], jwks: {{url: "http://{jwks_addr}/jwks.json"}}}}]
  authorization:
    rules: [{{action: Allow, when: 'identity.claims.groups.exists(g, g == "ml")'}}]
"#
    );
    let (_rt, addr) = gateway(&mock_route(&policy)).await;

    for (alg, token) in minted["good"].as_object().expect("good") {
        let (status, _, body) =
            send(addr, "POST", "/v1/chat/completions", bearer(token.as_str().expect("token")), CHAT).await;
        assert_eq!(status, 200, "{alg}: {body}");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the JWKS is fetched once and cached");

    for (case, token) in minted["bad"].as_object().expect("bad") {
        let (status, head, body) =
            send(addr, "POST", "/v1/chat/completions", bearer(token.as_str().expect("token")), CHAT).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert!(head.contains("www-authenticate: bearer"), "{case}: {head}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{case}: not JSON ({e}): {body}"));
        assert_eq!(v["error"]["type"], "authentication_error", "{case}: OpenAI's shape: {body}");
    }
    for header in ["Bearer", "Bearer a.b", "Bearer eyJ.eyJ.x", "Basic !!", "Token abc"] {
        let (status, _, body) =
            send(addr, "POST", "/v1/chat/completions", vec![("authorization".into(), header.into())], CHAT).await;
        assert_eq!(status, 401, "{header:?}: {body}");
    }
    let (status, _, _) = send(addr, "POST", "/v1/chat/completions", vec![], CHAT).await;
    assert_eq!(status, 401, "no credentials");

    // Key rotation: the provider starts signing with a new key; an unknown kid fetches the
    // JWKS again (at most every 5 s).
    *jwks.lock().expect("lock") = minted["rotated_jwks"].to_string();
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let rotated = minted["rotated"].as_str().expect("token");
    let (status, _, body) = send(addr, "POST", "/v1/chat/completions", bearer(rotated), CHAT).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

// ---- basic credentials, authorization rules, identity headers ----------------------------------

fn echo_route(echo_port: u16, policy: &str) -> String {
    support::yaml::gateway_route(80, "web", &["{name: echo, port: 80}"])
        + &support::yaml::local_service("echo", echo_port)
        + policy
}

async fn echo_backend() -> echo::EchoHandle {
    echo::start_local("echo-0", "echo").await
}

/// The headers the echo backend saw.
fn seen(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not the echo's JSON ({e}): {body}"));
    v["headers"].clone()
}

fn basic(user: &str, password: &str) -> Vec<(String, String)> {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    vec![("authorization".into(), format!("Basic {token}"))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_credentials_rules_and_identity_headers() {
    let backend = echo_backend().await;
    // bcrypt (cost 4, to keep the test quick) and {SHA} users.
    let alice = bcrypt::hash("wonderland", 4).expect("bcrypt");
    let policy = format!(
        r#"---
apiVersion: v1
kind: Secret
metadata: {{name: users, namespace: default}}
stringData:
  .htpasswd: |
    alice:{alice}
    bob:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=
---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {{name: users, namespace: default}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web}}]
  authentication:
    basic: {{secretRef: {{name: users}}, realm: staff}}
  authorization:
    rules:
      - {{action: Deny, when: 'identity.name == "bob" && request.path.startsWith("/admin")'}}
  identityHeaders: {{name: x-sluice-user}}
"#
    );
    let (_rt, addr) = gateway(&echo_route(backend.http_port, &policy)).await;

    let mut spoofed = basic("alice", "wonderland");
    spoofed.push(("x-sluice-user".into(), "mallory".into()));
    let (status, _, body) = send(addr, "GET", "/hello", spoofed, "").await;
    assert_eq!(status, 200, "{body}");
    let headers = seen(&body);
    assert_eq!(headers["X-Sluice-User"], json!(["alice"]), "the identity, never the client's copy: {headers}");
    assert!(headers.get("Authorization").is_none(), "checked credentials are not forwarded: {headers}");

    let (status, _, _) = send(addr, "GET", "/hello", basic("bob", "password"), "").await;
    assert_eq!(status, 200);
    let (status, _, body) = send(addr, "GET", "/admin/x", basic("bob", "password"), "").await;
    assert_eq!(status, 403, "{body}");
    let (status, head, _) = send(addr, "GET", "/hello", basic("alice", "wrong"), "").await;
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: basic realm=\"staff\""), "{head}");
    let (status, _, _) = send(addr, "GET", "/hello", vec![], "").await;
    assert_eq!(status, 401);
    let huge = vec![("authorization".into(), format!("Basic {}", "QUFB".repeat(4000)))];
    let (status, _, _) = send(addr, "GET", "/hello", huge, "").await;
    assert_eq!(status, 401, "huge credentials are refused, not panicked on");
}

// ---- external authorization --------------------------------------------------------------------

/// The auth service of these tests: `x-token: good` on `/auth/hello` is allowed (with two answer
/// headers, one to copy), `slow` takes 3 s, anything else is refused with a body of its own.
async fn auth_service() -> SocketAddr {
    let answer = |head: &str| -> Answer {
        let head = head.to_ascii_lowercase();
        if head.contains("x-token: slow") {
            (200, vec![], String::new(), Duration::from_secs(3))
        } else if head.contains("x-token: good") && head.starts_with("get /auth/hello") {
            let headers = vec![("x-auth-user".into(), "alice".into()), ("x-not-copied".into(), "1".into())];
            (200, headers, String::new(), Duration::ZERO)
        } else {
            (403, vec![], r#"{"denied": "no good token"}"#.into(), Duration::ZERO)
        }
    };
    serve(Arc::new(answer)).await.0
}

fn auth_service_yaml(port: u16) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Service
metadata: {{name: authz, namespace: default}}
spec:
  ports: [{{name: http, port: 80, targetPort: 9000}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: authz-1, namespace: default, labels: {{kubernetes.io/service-name: authz}}}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"]}}]
ports: [{{name: http, port: {port}}}]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_api_external_auth_filter() {
    let backend = echo_backend().await;
    let auth_addr = auth_service().await;
    let filter = "    - filters:\n        - type: ExternalAuth\n          externalAuth: {protocol: HTTP, \
                  backendRef: {name: authz, port: 80}, http: {path: /auth, allowedHeaders: [x-token], \
                  allowedResponseHeaders: [x-auth-user]}}\n      backendRefs:";
    let route =
        echo_route(backend.http_port, &auth_service_yaml(auth_addr.port())).replace("    - backendRefs:", filter);
    assert!(route.contains("ExternalAuth"), "{route}");
    let (_rt, addr) = gateway(&route).await;
    let token = |t: &str| vec![("x-token".to_string(), t.to_string())];
    let (status, _, body) = send(addr, "GET", "/hello", token("good"), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(seen(&body)["X-Auth-User"], json!(["alice"]));
    let (status, _, body) = send(addr, "GET", "/hello", token("bad"), "").await;
    assert_eq!((status, body.as_str()), (403, r#"{"denied": "no good token"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_authorization_allows_denies_and_fails_closed() {
    let backend = echo_backend().await;
    let auth_addr = auth_service().await;
    let policy = auth_service_yaml(auth_addr.port())
        + r#"---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: ext, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  authentication:
    external:
      protocol: HTTP
      backendRef: {name: authz, port: 80}
      http: {path: /auth, allowedHeaders: [x-token], allowedResponseHeaders: [x-auth-user]}
      timeout: 500ms
      identityHeader: x-auth-user
"#;
    let (_rt, addr) = gateway(&echo_route(backend.http_port, &policy)).await;
    let token = |t: &str| vec![("x-token".to_string(), t.to_string())];

    let (status, _, body) = send(addr, "GET", "/hello", token("good"), "").await;
    assert_eq!(status, 200, "{body}");
    let headers = seen(&body);
    assert_eq!(headers["X-Auth-User"], json!(["alice"]), "{headers}");
    assert!(headers.get("X-Not-Copied").is_none(), "{headers}");

    let (status, _, body) = send(addr, "GET", "/hello", token("bad"), "").await;
    assert_eq!((status, body.as_str()), (403, r#"{"denied": "no good token"}"#), "the service's own answer");

    let (status, _, body) = send(addr, "GET", "/hello", token("slow"), "").await;
    assert_eq!(status, 503, "fail closed: {body}");
    assert!(body.contains("authorization service"), "{body}");
}

// ---- status, and MCP routes as OAuth resource servers ------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_status_and_mcp_protected_resource_metadata() {
    let config = support::yaml::gateway_route(80, "tools", &["{group: sluice.dev, kind: MCPBackend, name: tools}"])
        + r#"---
apiVersion: sluice.dev/v1alpha1
kind: MCPBackend
metadata: {name: tools, namespace: default}
spec:
  targets: [{name: t, stdio: {command: "true"}}]
---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: oauth, namespace: default, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  targetRefs: [{group: sluice.dev, kind: MCPBackend, name: tools}]
  authentication:
    jwt:
      providers: [{issuer: "https://as.test", audiences: ["http://api.example/mcp"], jwks: {url: "http://127.0.0.1:9/jwks"}}]
  mcpAuthorization: {authorizationServers: ["https://as.test"], scopesSupported: [tools.read]}
---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: late, namespace: default, creationTimestamp: "2026-02-01T00:00:00Z"}
spec:
  targetRefs: [{group: sluice.dev, kind: MCPBackend, name: tools}]
  mcpAuthorization: {authorizationServers: ["https://other.test"]}
---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: broken, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: nowhere}]
  authorization:
    rules: [{action: Allow, when: "identity.name =="}]
---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: lost, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: nowhere}]
  models: [gpt-4o]
"#;
    let (rt, addr) = gateway(&config).await;
    let snapshot = rt.snapshot();
    let accepted = |name: &str| {
        let s = snapshot.status.find("TrafficPolicy", Some("default"), name).expect("status");
        let c = &s.status["ancestors"][0]["conditions"][0];
        (
            c["status"].as_str().unwrap_or("").to_string(),
            c["reason"].as_str().unwrap_or("").to_string(),
            c["message"].to_string(),
        )
    };
    assert_eq!(accepted("oauth").1, "Accepted");
    let (ok, reason, msg) = accepted("late");
    assert_eq!((ok.as_str(), reason.as_str()), ("False", "Conflicted"));
    assert!(msg.contains("mcpAuthorization") && msg.contains("default/oauth"), "{msg}");
    let (_, reason, msg) = accepted("broken");
    assert_eq!(reason, "Invalid");
    assert!(msg.contains("spec.authorization.rules[0].when"), "{msg}");
    assert_eq!(accepted("lost").1, "TargetNotFound");

    let (status, head, body) =
        send(addr, "POST", "/mcp", vec![], r#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        head.contains("resource_metadata=\"http://api.example/.well-known/oauth-protected-resource/mcp\""),
        "{head}"
    );
    let v: Value = serde_json::from_str(&body).expect("JSON-RPC");
    assert!(v["error"]["message"].is_string(), "{body}");

    let (status, _, body) = send(addr, "GET", "/.well-known/oauth-protected-resource/mcp", vec![], "").await;
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).expect("metadata");
    assert_eq!(doc["resource"], "http://api.example/mcp");
    assert_eq!(doc["authorization_servers"], json!(["https://as.test"]), "the older policy wins");
    assert_eq!(doc["scopes_supported"], json!(["tools.read"]));
}

// ---- request body limit ------------------------------------------------------------------------

/// A backend that reads each request's whole body before it answers, with the bytes it read.
async fn reading_backend() -> u16 {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let read = match req.into_body().collect().await {
                        Ok(b) => format!("read {} bytes", b.to_bytes().len()),
                        Err(e) => format!("the body broke: {e}"),
                    };
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from(read),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), service)
                    .await;
            });
        }
    });
    port
}

/// A TrafficPolicy's `requestBody.maxSize` on a proxied route: a body within it is forwarded; a
/// declared length over it is refused `413` before anything reaches the backend; a chunked body
/// that runs past it is cut there and refused `413` (the backend was still reading). Without the
/// section the same bodies pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routes_request_body_limit_refuses_larger_bodies() {
    let port = reading_backend().await;
    let policy = r#"---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: small-bodies, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: web}]
  requestBody: {maxSize: 1Ki}
"#;
    let chunked = |addr, size: usize| {
        let chunk = "x".repeat(500);
        let chunks: String = (0..size / 500).map(|_| format!("1f4\r\n{chunk}\r\n")).collect();
        let request = format!(
            "POST /upload HTTP/1.1\r\nHost: web\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{chunks}0\r\n\r\n"
        );
        let answer = support::gateway::raw(addr, &request);
        (support::gateway::raw_status(&answer), answer)
    };

    let (_rt, addr) = gateway(&echo_route(port, policy)).await;
    let (status, _, body) = send(addr, "POST", "/small", vec![], &"x".repeat(1000)).await;
    assert_eq!((status, body.as_str()), (200, "read 1000 bytes"), "a body within the limit");
    let (status, _, body) = send(addr, "POST", "/large", vec![], &"x".repeat(2000)).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("larger than this route takes"), "{body}");
    let (status, answer) = tokio::task::spawn_blocking(move || chunked(addr, 5000)).await.expect("join");
    assert_eq!(status, 413, "a chunked body past the limit: {answer}");
    let (status, answer) = tokio::task::spawn_blocking(move || chunked(addr, 1000)).await.expect("join");
    assert_eq!(status, 200, "a chunked body within the limit: {answer}");
    assert!(answer.ends_with("read 1000 bytes"), "{answer}");

    // The same bodies without the section.
    let (_rt, addr) = gateway(&echo_route(port, "")).await;
    let (status, _, body) = send(addr, "POST", "/large", vec![], &"x".repeat(2000)).await;
    assert_eq!((status, body.as_str()), (200, "read 2000 bytes"));
    let (status, answer) = tokio::task::spawn_blocking(move || chunked(addr, 5000)).await.expect("join");
    assert_eq!(status, 200, "{answer}");
}
