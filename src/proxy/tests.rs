//! The request phases of the proxy handler, table-driven: a snapshot translated from YAML, and
//! requests sent through `handler::handle` over an in-memory HTTP/1 connection (no sockets).
//! The rules here need no upstream: they are answered by a filter, a phase, or the AI
//! pipeline's mock provider.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use super::handler::{ConnInfo, Shared, handle};
use super::pipeline::Pipelines;
use crate::ir::{BindKey, ObjectKey, Snapshot};

const CONFIG: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: sluice}
spec: {controllerName: sluice.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: sluice
  listeners: [{name: http, protocol: HTTP, port: 80, hostname: "*.example.com"}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /old}}]
      filters:
        - type: RequestRedirect
          requestRedirect: {hostname: new.example.com, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
    - matches: [{path: {type: PathPrefix, value: /cors}}]
      filters:
        - type: CORS
          cors: {allowOrigins: ["https://app.example"], allowMethods: [GET]}
    - matches: [{path: {type: PathPrefix, value: /v1}}]
      filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier: {set: [{name: x-served-by, value: sluice}]}
      backendRefs: [{group: sluice.dev, kind: AIBackend, name: mock}]
    - matches: [{path: {type: PathPrefix, value: /mixed}}]
      backendRefs: [{group: sluice.dev, kind: AIBackend, name: mock}, {group: sluice.dev, kind: MCPBackend, name: tools}]
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {name: mock, namespace: default}
spec:
  provider: {name: m, type: mock, mock: {content: "hello from mock"}}
---
apiVersion: sluice.dev/v1alpha1
kind: MCPBackend
metadata: {name: tools, namespace: default}
spec:
  targets: [{name: t, stdio: {command: "true"}}]
"#;

fn snapshot() -> Snapshot {
    crate::ir::translate::tests::from_yaml(CONFIG)
}

fn shared(snapshot: Snapshot) -> Arc<Shared> {
    let pools = Arc::new(super::upstream::Pools::default());
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let policy = Arc::new(crate::policy::PolicyLayer::default());
    let pipelines = Pipelines {
        ai: Arc::new(crate::ai::AiPipeline::new(
            pools.clone(),
            metrics.clone(),
            policy.clone(),
            Arc::new(crate::store::documents::MemoryDocs::default()),
        )),
        mcp: Arc::new(crate::mcp::McpPipeline {
            state: Arc::new(crate::mcp::McpState::default()),
            policy: policy.clone(),
        }),
    };
    Arc::new(Shared {
        snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
        pools,
        metrics,
        pipelines,
        policy,
        drain: Default::default(),
        body_idle_ms: (super::handler::BODY_IDLE.as_millis() as u64).into(),
    })
}

/// Sends one request through the handler over an in-memory connection.
async fn send(shared: &Arc<Shared>, req: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap, String) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let conn = Arc::new(ConnInfo {
        bind: BindKey { gateway: ObjectKey::new("default", "gw"), port: 80 },
        scheme: "http",
        remote: SocketAddr::from(([127, 0, 0, 1], 40000)),
        sni_listener: None,
    });
    let shared = shared.clone();
    let service = hyper::service::service_fn(move |req| handle(shared.clone(), conn.clone(), req));
    let server =
        tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server_io), service));
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(client_io)).await.expect("handshake");
    let driver = tokio::spawn(connection);
    let resp = sender.send_request(req).await.expect("an answer");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("the body").to_bytes();
    drop(sender);
    let _ = driver.await;
    let _ = server.await;
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(host: &str, path: &str) -> Request<Full<Bytes>> {
    Request::get(path).header("host", host).body(Full::default()).expect("request")
}

#[tokio::test]
async fn each_phase_answers_as_the_route_says() {
    let shared = shared(snapshot());
    let chat = Request::post("/v1/chat/completions")
        .header("host", "api.example.com")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"model": "m", "messages": [{"role": "user", "content": "hi"}]}"#)))
        .expect("request");
    let preflight = Request::options("/cors")
        .header("host", "a.example.com")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .body(Full::default())
        .expect("request");
    // (case, request, status, a header that must be there, text the body must hold)
    type Case = (&'static str, Request<Full<Bytes>>, StatusCode, Option<(&'static str, &'static str)>, &'static str);
    let cases: [Case; 6] = [
        ("route: no listener for the host", get("other.org", "/old"), StatusCode::NOT_FOUND, None, "no listener"),
        ("route: no rule matches", get("a.example.com", "/nothing"), StatusCode::NOT_FOUND, None, "no route"),
        (
            "request filter: redirect",
            get("a.example.com", "/old/page?x=1"),
            StatusCode::FOUND,
            Some(("location", "http://new.example.com/new/page?x=1")),
            "",
        ),
        (
            "request filter: CORS preflight answered by the filter",
            preflight,
            StatusCode::NO_CONTENT,
            Some(("access-control-allow-origin", "https://app.example")),
            "",
        ),
        (
            "pipeline: the AI rule's mock answers, response filters still apply",
            chat,
            StatusCode::OK,
            Some(("x-served-by", "sluice")),
            "hello from mock",
        ),
        (
            "route: a rule mixing backend kinds is refused",
            get("a.example.com", "/mixed"),
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "mix AIBackend and MCPBackend",
        ),
    ];
    for (name, req, status, header, text) in cases {
        let (got, headers, body) = send(&shared, req).await;
        assert_eq!(got, status, "{name}: {body}");
        if let Some((h, v)) = header {
            assert_eq!(headers.get(h).and_then(|v| v.to_str().ok()), Some(v), "{name}: {headers:?}");
        }
        assert!(body.contains(text), "{name}: {body}");
    }
}

#[test]
fn a_rule_mixing_backend_kinds_is_a_route_condition() {
    let s = snapshot();
    let r = s.status.find("HTTPRoute", Some("default"), "r").expect("route status");
    let conds = r.status["parents"][0]["conditions"].as_array().expect("conditions");
    let resolved = conds.iter().find(|c| c["type"] == "ResolvedRefs").expect("ResolvedRefs");
    assert_eq!(resolved["status"], "False", "{resolved}");
    assert_eq!(resolved["reason"], "InvalidKind", "{resolved}");
    assert!(resolved["message"].as_str().is_some_and(|m| m.contains("rules[3]")), "{resolved}");
}
