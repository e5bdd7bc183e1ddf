//! `/config_dump` shows no secret: not a key from a Secret, not a header value (from a Secret or
//! a header modifier), not a stdio target's arguments or environment values, not an MCP URL's
//! query. Credentials written into a URL are
//! refused (they would be sent as written and shown there).

mod support;

use support::process;

const SECRETS: [&str; 7] =
    ["SUPERSECRET", "MCPTOKEN", "KEYSECRET", "ENVSECRET", "QUERYSECRET", "HEADERSECRET", "ARGSECRET"];

fn config(port: u16) -> String {
    support::yaml::gateway_route(port, "llm", &["{group: sluice.dev, kind: AIBackend, name: gpt}"])
        + r#"---
apiVersion: v1
kind: Secret
metadata: {name: key, namespace: default}
stringData: {apiKey: sk-SUPERSECRET-1, token: Bearer MCPTOKEN-2}
---
apiVersion: v1
kind: Secret
metadata: {name: vkeys, namespace: default}
stringData: {alice: sk-alice-KEYSECRET-3}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {name: gpt, namespace: default}
spec:
  provider: {type: openai, baseURL: "http://127.0.0.1:9/v1", auth: {secretRef: {name: key}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mcp, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /mcp}}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: {set: [{name: x-internal-key, value: HEADERSECRET-6}]}
      backendRefs: [{group: sluice.dev, kind: MCPBackend, name: tools}]
---
apiVersion: sluice.dev/v1alpha1
kind: MCPBackend
metadata: {name: tools, namespace: default}
spec:
  targets:
    - name: remote
      streamableHttp: {url: "http://127.0.0.1:9/mcp?api_key=QUERYSECRET-4"}
      headersFromSecrets: {authorization: {name: key, key: token}}
    - name: local
      stdio: {command: "true", args: ["--token", "ARGSECRET-7"], env: {TOKEN: ENVSECRET-5}}
---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: keys, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: llm}]
  authentication: {apiKeys: {secretRefs: [{name: vkeys}]}}
"#
}

#[test]
fn the_config_dump_shows_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gw.yaml");
    std::fs::write(&file, config(process::free_port())).expect("write");
    let out = process::check(&[&file], false);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let gw = process::Gateway::start(&file);
    let (status, dump) = gw.admin_get("/config_dump");
    assert_eq!(status, 200);
    assert!(dump.contains("TOKEN") && dump.contains("[redacted]"), "the dump still names what it hides: {dump}");
    assert!(dump.contains("x-internal-key"), "the dump names the header it hides: {dump}");
    for s in SECRETS {
        assert!(!dump.contains(s), "{s} is in /config_dump");
    }
    let (_, status_page) = gw.admin_get("/status");
    for s in SECRETS {
        assert!(!status_page.contains(s), "{s} is in /status");
    }
}

#[test]
fn credentials_in_urls_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (what, from, to) in [
        ("AI baseURL", "http://127.0.0.1:9/v1", "http://user:pw@127.0.0.1:9/v1"),
        ("AI baseURL query", "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1?key=abc"),
        ("MCP url", "http://127.0.0.1:9/mcp?api_key=QUERYSECRET-4", "http://user:pw@127.0.0.1:9/mcp"),
    ] {
        let text = config(process::free_port()).replace(from, to);
        assert!(text.contains(to), "{what}");
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, text).expect("write");
        let out = process::check(&[&file], false);
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{what}: {printed}");
        assert!(printed.contains("not supported"), "{what}: {printed}");
    }
}
