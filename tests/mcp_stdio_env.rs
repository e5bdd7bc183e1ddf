//! A stdio MCP target gets a clean environment: PATH and the like, and what its configuration
//! lists (`env`, and `envFromSecrets` from a Secret), never the gateway's own variables (which
//! may hold keys). The target is the real
//! `mcp-server-time` (PyPI), started through `sh`, which writes what it was given to a file.

mod support;

use std::time::{Duration, Instant};

use support::process;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_target_sees_only_what_its_configuration_gives_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = dir.path().join("env.txt");
    let port = process::free_port();
    let script = format!("env > '{}'; exec python3 -m mcp_server_time --local-timezone UTC", seen.display());
    let config = support::yaml::gateway_route(port, "mcp", &["{group: sluice.dev, kind: MCPBackend, name: tools}"])
        + &format!(
            r#"---
apiVersion: sluice.dev/v1alpha1
kind: MCPBackend
metadata: {{name: tools, namespace: default}}
spec:
  targets:
    - name: time
      stdio:
        command: sh
        args: ["-c", {script}]
        env: {{CONFIGURED_FOR_TARGET: "yes"}}
        envFromSecrets: {{TARGET_TOKEN: {{name: target-env, key: token}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: target-env, namespace: default}}
stringData: {{token: tok-from-a-secret}}
"#,
            script = serde_json::json!(script)
        );
    let file = dir.path().join("gw.yaml");
    std::fs::write(&file, config).expect("write");
    let gw = process::Gateway::start_with_env(&file, &[], &[("GATEWAY_ONLY_SECRET", "sk-not-for-targets")]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.exists() {
        // The target starts when a client first needs it.
        let _ = support::gateway::request(addr, "POST", "/mcp", &[], init).await;
        assert!(
            Instant::now() < deadline,
            "the stdio target never started (is mcp-server-time installed? scripts/test.sh installs it)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let env = std::fs::read_to_string(&seen).expect("read env");
    assert!(env.lines().any(|l| l == "CONFIGURED_FOR_TARGET=yes"), "{env}");
    assert!(env.lines().any(|l| l == "TARGET_TOKEN=tok-from-a-secret"), "envFromSecrets: {env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(!env.contains("GATEWAY_ONLY_SECRET") && !env.contains("sk-not-for-targets"), "{env}");
    drop(gw);
}
