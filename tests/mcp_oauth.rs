//! MCP authorization as the specification describes it, with the official `mcp` Python SDK's
//! OAuth client (tests/mcp/oauth_client.py) against a Sluice MCP route whose TrafficPolicy makes
//! it an OAuth resource server: the client gets the 401, discovers the protected-resource
//! metadata, registers with and is authorized by an authorization server built on the SDK's own
//! server-side auth module (tests/mcp/oauth_server.py, approving at once, issuing RS256 JWTs for
//! the resource it is asked about), and then lists and calls only the tools its token's claims
//! allow. The MCP target is the real `mcp-server-time`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sluice::runtime::{BindMode, Runtime};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// Fails the test, saying what to install, unless the SDK and the time server are installed.
fn require_sdk() {
    let ok = Command::new("python3")
        .args(["-c", "import mcp, mcp_server_time, jwt, cryptography, uvicorn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 cannot import mcp, mcp_server_time, jwt and cryptography: run `pip install -r tests/mcp/requirements.txt \
         -r tests/python/requirements.txt` (or `bash scripts/test.sh`)"
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The authorization server, and what it printed: its issuer and JWKS URL.
fn authorization_server() -> (Server, Value) {
    let mut child = Command::new("python3")
        .arg(format!("{MANIFEST}/tests/mcp/oauth_server.py"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the authorization server");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("the server's first line");
    let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
    (server, info)
}

fn config(issuer: &str, jwks: &str) -> String {
    support::yaml::gateway_route(80, "mcp", &["{group: sluice.dev, kind: MCPBackend, name: tools}"])
        + &format!(
            r#"---
apiVersion: sluice.dev/v1alpha1
kind: MCPBackend
metadata: {{name: tools, namespace: default}}
spec:
  targets:
    - name: time
      stdio: {{command: python3, args: ["-m", "mcp_server_time", "--local-timezone", "UTC"]}}
---
apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: {{name: agents, namespace: default}}
spec:
  targetRefs: [{{group: sluice.dev, kind: MCPBackend, name: tools}}]
  authentication:
    jwt:
      providers: [{{issuer: "{issuer}", jwks: {{url: "{jwks}"}}}}]
  mcpAuthorization:
    authorizationServers: ["{issuer}"]
    scopesSupported: [tools.read]
  authorization:
    rules:
      - {{name: own-tools, action: Allow, when: 'mcp.tool.name in identity.claims.tools'}}
"#
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_oauth_client_gets_a_token_and_sees_only_its_tools() {
    require_sdk();
    let (_as, info) = tokio::task::spawn_blocking(authorization_server).await.expect("join");
    let (issuer, jwks) = (info["issuer"].as_str().expect("issuer"), info["jwks_uri"].as_str().expect("jwks"));
    let loaded = sluice::config::parse_text("mcp-oauth.yaml", &config(issuer, jwks));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let addr = rt.listener_addr("default", "gw", 80).expect("bound");
    let url = format!("http://{addr}/mcp");

    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("python3")
            .arg(format!("{MANIFEST}/tests/mcp/oauth_client.py"))
            .arg(&url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the client");
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while child.try_wait().expect("wait").is_none() {
            assert!(std::time::Instant::now() < deadline, "the OAuth client did not finish in 90 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("output")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    assert_eq!(v["authorized_via_redirect"], true, "{v}");
    assert_eq!(v["tools"], serde_json::json!(["time_get_current_time"]), "only the tools the token allows: {v}");
    assert_eq!(v["allowed_call"]["is_error"], false, "{v}");
    let forbidden = &v["forbidden_call"];
    assert!(
        forbidden["error"]["message"].as_str().is_some_and(|m| m.contains("Unknown tool")),
        "a forbidden tool is not callable either: {v}"
    );
}
