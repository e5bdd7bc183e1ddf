//! Protocol upgrades go through only as WebSocket, only to a backend whose Service port says it
//! speaks it (`appProtocol: kubernetes.io/ws`). A client's `Upgrade: h2c` (or a WebSocket
//! handshake towards a plain backend) is forwarded as a plain request without the `Upgrade`
//! header, so no client can speak another protocol to a backend past the gateway; and a backend
//! that switches protocols without an allowed upgrade gets the client a 502, not a spliced
//! connection. The backend is the conformance suite's echo server (tests/support/echo.rs).

mod support;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use support::echo;

/// Routes `/ws` to the echo server through a Service port marked `kubernetes.io/ws`, `/plain` to
/// the same server through an unmarked port, and `/rogue` to a backend on `rogue_port`.
fn config(echo_port: u16, rogue_port: u16) -> String {
    let mut out = support::yaml::gateway_route(80, "web", &["{name: echo, port: 80}"]);
    let i = out.find("    - backendRefs:").expect("the rule");
    out.truncate(i);
    let rule = |prefix: &str, service: &str, port: u16| {
        format!(
            "    - matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}]\n      backendRefs: [{{name: {service}, port: {port}}}]\n"
        )
    };
    out + &rule("/ws", "echo", 81)
        + &rule("/plain", "echo", 80)
        + &rule("/rogue", "rogue", 80)
        + &format!(
            r#"---
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: default}}
spec:
  ports:
    - {{name: http, port: 80, targetPort: 3000}}
    - {{name: ws, port: 81, targetPort: 3000, appProtocol: kubernetes.io/ws}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: echo-1, namespace: default, labels: {{kubernetes.io/service-name: echo}}}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"]}}]
ports: [{{name: http, port: {echo_port}}}, {{name: ws, port: {echo_port}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: rogue, namespace: default}}
spec:
  ports: [{{name: http, port: 80, targetPort: 9000}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: rogue-1, namespace: default, labels: {{kubernetes.io/service-name: rogue}}}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"]}}]
ports: [{{name: http, port: {rogue_port}}}]
"#
        )
}

async fn echo_backend() -> echo::EchoHandle {
    echo::start_local("echo-0", "echo").await
}

/// A backend that answers every request with `101 Switching Protocols` to h2c.
async fn rogue_backend() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let mut buf = [0u8; 4096];
                let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
                let _ = s
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                    .await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            });
        }
    });
    port
}

use support::gateway::{raw, raw_status as status};

/// The headers the echo server received, from its JSON answer.
fn echoed_headers(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("echo JSON ({e}): {response}"));
    json["headers"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_goes_through_to_a_websocket_backend() {
    let echo = echo_backend().await;
    let (_rt, addr) = support::gateway::start(&config(echo.http_port, rogue_backend().await)).await;
    let mut req = format!("ws://{addr}/ws").into_client_request().expect("ws request");
    req.headers_mut().insert("origin", "ws://gateway/upgrades".parse().expect("origin"));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tcp).await.expect("handshake through the gateway");
    assert_eq!(resp.status(), 101);
    let text = Message::text("through the gateway");
    ws.send(text.clone()).await.expect("send");
    assert_eq!(ws.next().await.expect("reply").expect("frame"), text);
    ws.close(None).await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_upgrades_and_other_backends_get_plain_requests() {
    let echo = echo_backend().await;
    let (_rt, addr) = support::gateway::start(&config(echo.http_port, rogue_backend().await)).await;
    let results = tokio::task::spawn_blocking(move || {
        // h2c towards the WebSocket backend, and WebSocket towards the plain one.
        let h2c = raw(
            addr,
            "GET /ws/h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
             HTTP2-Settings: AAMAAABkAAQAAP__\r\nX-Check: 1\r\n\r\n",
        );
        let ws_to_plain = raw(
            addr,
            "GET /plain/echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Origin: ws://gateway/upgrades\r\nConnection: close\r\n\r\n",
        );
        (h2c, ws_to_plain)
    })
    .await
    .expect("join");
    let (h2c, ws_to_plain) = results;
    assert_eq!(status(&h2c), 200, "{h2c}");
    let seen = echoed_headers(&h2c);
    assert!(seen.get("Upgrade").is_none() && seen.get("Http2-Settings").is_none(), "{seen}");
    assert_eq!(seen["X-Check"][0], "1", "the request itself went through: {seen}");
    assert_eq!(status(&ws_to_plain), 200, "{ws_to_plain}");
    let seen = echoed_headers(&ws_to_plain);
    assert!(seen.get("Upgrade").is_none(), "a plain backend never sees an upgrade: {seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_switching_protocols_unasked_is_a_bad_gateway() {
    let echo = echo_backend().await;
    let (_rt, addr) = support::gateway::start(&config(echo.http_port, rogue_backend().await)).await;
    let response = tokio::task::spawn_blocking(move || {
        raw(addr, "GET /rogue HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nConnection: close\r\n\r\n")
    })
    .await
    .expect("join");
    assert_eq!(status(&response), 502, "{response}");
    assert!(!response.contains("127.0.0.1"), "no address reaches the client: {response}");
}
