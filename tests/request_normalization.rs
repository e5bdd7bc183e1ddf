//! Requests as an attacker writes them, on raw sockets: a path with dot segments (plain or
//! percent-encoded) is matched, and forwarded, as its normalized form, never by its raw prefix;
//! and request smuggling shapes (two Content-Lengths, obs-fold, a Transfer-Encoding whose last
//! coding is not chunked) are refused with 400. (Content-Length beside Transfer-Encoding is
//! framed by Transfer-Encoding, as RFC 9112 section 6.1 says, and forwarded with one framing.)

mod support;

/// Two prefixes, each answering with its name in `x-route`.
fn two_routes() -> String {
    let mut out = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"]);
    let rule = |name: &str| {
        format!(
            "    - matches: [{{path: {{type: PathPrefix, value: /{name}}}}}]\n      filters: [{{type: ResponseHeaderModifier, \
             responseHeaderModifier: {{set: [{{name: x-route, value: {name}}}]}}}}]\n      backendRefs: [{{group: sluice.dev, kind: AIBackend, name: mock}}]\n"
        )
    };
    let i = out.find("    - backendRefs:").expect("the rule");
    out.truncate(i);
    out + &rule("public") + &rule("private") + &support::yaml::mock_backend("")
}

use support::gateway::{raw, raw_status as status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_are_removed_before_routes_match() {
    let (_rt, addr) = support::gateway::start(&two_routes()).await;
    let routed = tokio::task::spawn_blocking(move || {
        let get = |path: &str| {
            let r = raw(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
            let route = r.lines().find_map(|l| l.strip_prefix("x-route: ")).unwrap_or("-").to_string();
            (path.to_string(), status(&r), route)
        };
        [
            get("/public/v1/models"),
            get("/public/../private/v1/models"),
            get("/public/%2e%2e/private/v1/models"),
            get("/public/%2E%2E/private/./v1/models"),
            get("/private/../public/v1/models"),
        ]
    })
    .await
    .expect("join");
    eprintln!("{routed:?}");
    let want = ["public", "private", "private", "private", "public"];
    for ((path, code, route), want) in routed.iter().zip(want) {
        assert_eq!((*code, route.as_str()), (200, want), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_shapes_are_refused() {
    let config = support::yaml::gateway_route(80, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend("");
    let (_rt, addr) = support::gateway::start(&config).await;
    let results = tokio::task::spawn_blocking(move || {
        [
            ("two CLs", "POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
            ("obs-fold", "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"),
            (
                "TE not chunked last",
                "POST /v1/models HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
            ),
        ]
        .map(|(what, req)| (what, status(&raw(addr, req))))
    })
    .await
    .expect("join");
    eprintln!("{results:?}");
    for (what, code) in results {
        assert_eq!(code, 400, "{what}");
    }
}

/// A client's `Connection` names headers of its own hop: they go no further, and naming an
/// operator's header there does not remove it (the route's header modifier runs after).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_listed_headers_cannot_remove_an_operators_headers() {
    let echo = support::echo::start_local("echo-0", "echo").await;
    let config = support::yaml::gateway_route(80, "web", &["{name: echo, port: 80}"]).replace(
        "  rules:\n    - backendRefs:\n",
        "  rules:\n    - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-operator, value: yes}]}}]\n      backendRefs:\n",
    ) + &support::yaml::local_service("echo", echo.http_port);
    let (_rt, addr) = support::gateway::start(&config).await;
    let answer = tokio::task::spawn_blocking(move || {
        raw(
            addr,
            "GET /hi HTTP/1.1\r\nHost: x\r\nX-Client-Hop: mine\r\nConnection: close, x-operator, x-client-hop\r\n\r\n",
        )
    })
    .await
    .expect("join");
    assert_eq!(status(&answer), 200, "{answer}");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let seen: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not the echo's JSON ({e}): {body}"));
    let headers = seen["headers"].to_string().to_ascii_lowercase();
    eprintln!("the backend saw: {headers}");
    assert!(headers.contains("x-operator"), "the operator's header was removed by the client: {body}");
    assert!(!headers.contains("x-client-hop"), "a header the client named in Connection went upstream: {body}");
}
