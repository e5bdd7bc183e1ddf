//! Configuration text the end-to-end tests share.

/// A GatewayClass `sluice`, a Gateway `default/gw` with one HTTP listener on `port`, and an
/// HTTPRoute `default/<route>` whose one rule sends to `backend_refs` (YAML flow maps, such as
/// `{group: sluice.dev, kind: AIBackend, name: openai}`). Ends with a newline; add resources
/// after a `---` line.
pub fn gateway_route(port: u16, route: &str, backend_refs: &[&str]) -> String {
    let refs: String = backend_refs.iter().map(|r| format!("        - {r}\n")).collect();
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: sluice}}
spec: {{controllerName: sluice.dev/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  gatewayClassName: sluice
  listeners: [{{name: http, protocol: HTTP, port: {port}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {route}, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
    - backendRefs:
{refs}"#
    )
}

/// A Secret `default/key` holding `sk-upstream` and an AIBackend `default/<name>` of type
/// `openai` at `http://127.0.0.1:<port>/v1` using it; starts with `---`, ends with a newline.
pub fn openai_backend(name: &str, port: u16) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Secret
metadata: {{name: key, namespace: default}}
stringData: {{apiKey: sk-upstream}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: {name}, namespace: default}}
spec:
  provider: {{type: openai, baseURL: "http://127.0.0.1:{port}/v1", auth: {{secretRef: {{name: key}}}}}}
"#
    )
}

/// An AIBackend `default/mock` of the mock provider, with `mock` settings (a YAML flow map such
/// as `{content: "hi", chunks: 3}`; empty: the defaults). Starts with `---`, ends with a newline.
pub fn mock_backend(mock: &str) -> String {
    let mock = if mock.is_empty() { String::new() } else { format!(", mock: {mock}") };
    format!(
        r#"---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: mock, namespace: default}}
spec:
  provider: {{name: m, type: mock{mock}}}
"#
    )
}

/// A TrafficPolicy `default/<name>` attached to the HTTPRoute `default/llm`; `sections` are the
/// spec's lines after `targetRefs` (indented two spaces). Starts with `---`.
pub fn route_policy(name: &str, sections: &str) -> String {
    policy_on_route("llm", name, sections)
}

/// [`route_policy`], attached to the HTTPRoute `default/<route>`.
pub fn policy_on_route(route: &str, name: &str, sections: &str) -> String {
    format!(
        r#"---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {{name: {name}, namespace: default}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: {route}}}]
{sections}"#
    )
}

/// An MCPBackend `default/tools` whose one target, `time`, is the real `mcp-server-time` (PyPI,
/// stdio). Starts with `---`.
pub fn time_mcp_backend() -> String {
    r#"---
apiVersion: sluice.dev/v1alpha1
kind: MCPBackend
metadata: {name: tools, namespace: default}
spec:
  targets:
    - name: time
      stdio: {command: python3, args: ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
"#
    .to_string()
}

/// A TrafficPolicy `default/<name>` attached to the Gateway `default/gw`; `sections` as in
/// [`route_policy`]. Starts with `---`.
pub fn gateway_policy(name: &str, sections: &str) -> String {
    route_policy(name, sections).replace("kind: HTTPRoute, name: llm", "kind: Gateway, name: gw")
}

/// A Service `default/<name>` (port 80, named `http`) whose one endpoint is `127.0.0.1:<port>`;
/// starts with `---`, ends with a newline.
pub fn local_service(name: &str, port: u16) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec: {{ports: [{{name: http, port: 80, targetPort: 8080}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-1, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"]}}]
ports: [{{name: http, port: {port}}}]
"#
    )
}

/// YAML of a block scalar (`|`) holding `text`, indented by `indent` spaces.
pub fn block(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}
