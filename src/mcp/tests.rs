//! Federation over fake upstreams: fan-out in parallel, merging, filters, routing, failures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::federation::{Federation, ToolFilter, UNAVAILABLE_META};
use super::upstream::pool::{Timeouts, UpstreamPool};
use super::upstream::{BoxFuture, Connector, McpUpstream, UpstreamError};
use crate::ir::ObjectKey;
use crate::ir::mcp::{FailureMode, McpBackendIr, McpTargetIr, McpTransport, PrefixMode, ToolRules};

/// Each target answers after 400 ms (real time: tokio's test-util is not enabled) with the tools named by its command; `down` cannot start.
struct Fake {
    calls: Arc<Mutex<Vec<(String, String)>>>,
}

struct FakeSession {
    target: String,
    tools: Vec<String>,
    calls: Arc<Mutex<Vec<(String, String)>>>,
}

impl Connector for Fake {
    fn connect(&self, target: Arc<McpTargetIr>) -> BoxFuture<'static, Result<Arc<dyn McpUpstream>, UpstreamError>> {
        let calls = self.calls.clone();
        Box::pin(async move {
            let McpTransport::Stdio { command, .. } = &target.transport else {
                return Err(UpstreamError::Unavailable("not stdio".into()));
            };
            if command == "down" {
                return Err(UpstreamError::Unavailable("exited with status 1".into()));
            }
            let tools = command.split(',').map(str::to_string).collect();
            Ok(Arc::new(FakeSession { target: target.name.clone(), tools, calls }) as Arc<dyn McpUpstream>)
        })
    }
}

impl McpUpstream for FakeSession {
    fn list_tools(&self) -> BoxFuture<'_, Result<Vec<Value>, UpstreamError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(self.tools.iter().map(|t| json!({"name": t, "inputSchema": {"type": "object"}})).collect())
        })
    }

    fn call_tool(&self, name: String, _: Option<Map<String, Value>>) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        self.calls.lock().unwrap().push((self.target.clone(), name.clone()));
        Box::pin(async move { Ok(json!({"content": [{"type": "text", "text": format!("{}:{name}", self.target)}]})) })
    }

    fn is_closed(&self) -> bool {
        false
    }
}

fn target(name: &str, tools: &str, rules: ToolRules) -> Arc<McpTargetIr> {
    Arc::new(McpTargetIr {
        name: name.into(),
        id: Arc::from(format!("ns/b/{name}")),
        transport: McpTransport::Stdio { command: tools.into(), args: vec![], env: vec![] },
        headers: vec![],
        tools: rules,
    })
}

fn backend(failure_mode: FailureMode, targets: Vec<Arc<McpTargetIr>>) -> Arc<McpBackendIr> {
    Arc::new(McpBackendIr {
        key: ObjectKey::new("ns", "b"),
        targets,
        prefix: PrefixMode::Always,
        separator: "_".into(),
        failure_mode,
    })
}

struct DenyEcho;

impl ToolFilter for DenyEcho {
    fn allows(&self, _: &ObjectKey, _: &str, tool: &str) -> bool {
        tool != "echo"
    }
}

fn names(tools: &[Value]) -> Vec<&str> {
    tools.iter().filter_map(|t| t["name"].as_str()).collect()
}

#[tokio::test]
async fn lists_in_parallel_merges_filters_and_routes() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let pool = UpstreamPool::new(Arc::new(Fake { calls: calls.clone() }), Timeouts::default());
    let rules = ToolRules { include: vec![], exclude: vec!["secret*".into()] };
    let backends = [backend(
        FailureMode::FailOpen,
        vec![
            target("a", "echo,add,secret_x", rules),
            target("b", "echo", ToolRules::default()),
            target("c", "down", ToolRules::default()),
        ],
    )];
    let fed = Federation { pool: &pool, backends: &backends, filter: &super::federation::AllowAll };
    let start = tokio::time::Instant::now();
    let catalog = fed.list().await.expect("fail open");
    // Three targets one after another would take 1.2 s.
    assert!(start.elapsed() < Duration::from_millis(1000), "targets were listed one after another");
    assert_eq!(names(&catalog.tools), ["a_echo", "a_add", "b_echo"]);
    let result = catalog.list_result();
    assert_eq!(result["_meta"][UNAVAILABLE_META][0]["target"], "c");

    let out = fed.call(Some(&catalog), "b_echo", None).await.expect("routed");
    assert_eq!(out["content"][0]["text"], "b:echo");
    fed.call(None, "a_add", None).await.expect("routed through a fresh listing");
    assert_eq!(*calls.lock().unwrap(), [("b".to_string(), "echo".to_string()), ("a".to_string(), "add".to_string())]);
    let err = fed.call(Some(&catalog), "a_secret_x", None).await.expect_err("filtered");
    assert_eq!(err.code, -32602);
    let err = fed.call(Some(&catalog), "c_anything", None).await.expect_err("down");
    assert_eq!((err.code, err.data.as_ref().map(|d| d["target"].clone())), (-32603, Some(json!("c"))));

    // A per-request filter applies at list and call time.
    let fed = Federation { pool: &pool, backends: &backends, filter: &DenyEcho };
    let catalog = fed.list().await.expect("fail open");
    assert_eq!(names(&catalog.tools), ["a_add"]);
    let err = fed.call(None, "a_echo", None).await.expect_err("denied");
    assert_eq!(err.code, -32602);
}

#[tokio::test]
async fn fail_closed_names_the_missing_target() {
    let pool = UpstreamPool::new(Arc::new(Fake { calls: Arc::default() }), Timeouts::default());
    let backends = [backend(
        FailureMode::FailClosed,
        vec![target("a", "echo", ToolRules::default()), target("c", "down", ToolRules::default())],
    )];
    let fed = Federation { pool: &pool, backends: &backends, filter: &super::federation::AllowAll };
    let err = fed.list().await.expect_err("fail closed");
    assert_eq!(err.code, -32603);
    assert!(err.message.contains("c (cannot connect: exited with status 1)"), "{}", err.message);
}
