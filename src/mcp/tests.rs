//! Federation over fake upstreams: fan-out in parallel, merging, filters, routing, failures,
//! cursors across targets, rewritten resource URIs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::federation::{AllowAll, Federation, ItemFilter, ListKind, ORIGINAL_URI_META, UNAVAILABLE_META};
use super::upstream::pool::{Timeouts, UpstreamPool};
use super::upstream::{BoxFuture, Connector, McpUpstream, Page, UpstreamError};
use crate::ir::ObjectKey;
use crate::ir::mcp::{FailureMode, McpBackendIr, McpTargetIr, McpTransport, PrefixMode, ToolRules};

type Calls = Arc<Mutex<Vec<(String, String)>>>;

/// Each target answers listings after 400 ms (real time: tokio's test-util is not enabled).
/// Its command names its tools (`down` cannot start); its args, when given, are
/// `[resources, prompts, page size]`: how many resources `test://r/<i>`, the prompt names
/// (comma-separated), and how many items a page holds (0: one page).
struct Fake {
    calls: Calls,
}

struct FakeSession {
    target: String,
    tools: Vec<String>,
    resources: usize,
    prompts: Vec<String>,
    page: usize,
    calls: Calls,
}

impl Connector for Fake {
    fn connect(
        &self,
        target: Arc<McpTargetIr>,
        _: Arc<crate::mcp::upstream::relay::Relay>,
    ) -> BoxFuture<'static, Result<Arc<dyn McpUpstream>, UpstreamError>> {
        let calls = self.calls.clone();
        Box::pin(async move {
            let McpTransport::Stdio { command, args, .. } = &target.transport else {
                return Err(UpstreamError::Unavailable("not stdio".into()));
            };
            if command == "down" {
                return Err(UpstreamError::Unavailable("exited with status 1".into()));
            }
            let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
            Ok(Arc::new(FakeSession {
                target: target.name.clone(),
                tools: command.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                resources: arg(0).parse().unwrap_or(0),
                prompts: arg(1).split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                page: arg(2).parse().unwrap_or(0),
                calls,
            }) as Arc<dyn McpUpstream>)
        })
    }
}

impl FakeSession {
    fn record(&self, what: String) {
        self.calls.lock().unwrap().push((self.target.clone(), what));
    }
}

impl McpUpstream for FakeSession {
    fn capabilities(&self) -> Value {
        let mut c = json!({"tools": {}});
        if self.resources > 0 {
            c["resources"] = json!({});
        }
        if !self.prompts.is_empty() {
            c["prompts"] = json!({});
            c["completions"] = json!({});
        }
        c
    }

    fn list_page(&self, kind: ListKind, cursor: Option<String>) -> BoxFuture<'_, Result<Page, UpstreamError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let all: Vec<Value> = match kind {
                ListKind::Tools => {
                    self.tools.iter().map(|t| json!({"name": t, "inputSchema": {"type": "object"}})).collect()
                }
                ListKind::Resources => (0..self.resources)
                    .map(|i| json!({"uri": format!("test://r/{i}"), "name": format!("r{i}")}))
                    .collect(),
                ListKind::ResourceTemplates if self.resources > 0 => {
                    vec![json!({"uriTemplate": "test://r/{id}", "name": "r", "_meta": {"mine": 1}})]
                }
                ListKind::ResourceTemplates => Vec::new(),
                ListKind::Prompts => self.prompts.iter().map(|p| json!({"name": p})).collect(),
            };
            let from = match cursor {
                None => 0,
                Some(c) => c.strip_prefix("at-").and_then(|n| n.parse().ok()).ok_or(UpstreamError::Rpc {
                    code: -32602,
                    message: "bad upstream cursor".into(),
                    data: None,
                })?,
            };
            let size = if self.page == 0 { all.len().max(1) } else { self.page };
            let items: Vec<Value> = all.iter().skip(from).take(size).cloned().collect();
            let next_cursor = (from + size < all.len()).then(|| format!("at-{}", from + size));
            Ok(Page { items, next_cursor })
        })
    }

    fn call_tool(&self, name: String, _: Option<Map<String, Value>>) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        self.record(name.clone());
        Box::pin(async move { Ok(json!({"content": [{"type": "text", "text": format!("{}:{name}", self.target)}]})) })
    }

    fn read_resource(&self, uri: String) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        self.record(format!("read {uri}"));
        Box::pin(async move { Ok(json!({"contents": [{"uri": uri, "text": format!("{}:{uri}", self.target)}]})) })
    }

    fn get_prompt(
        &self,
        name: String,
        args: Option<Map<String, Value>>,
    ) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        self.record(format!("prompt {name}"));
        let args = Value::Object(args.unwrap_or_default());
        Box::pin(async move {
            Ok(
                json!({"messages": [{"role": "user", "content": {"type": "text", "text": format!("{}:{name}:{args}", self.target)}}]}),
            )
        })
    }

    fn complete(&self, params: Map<String, Value>) -> BoxFuture<'_, Result<Value, UpstreamError>> {
        self.record(format!("complete {}", Value::Object(params.clone())["ref"]));
        Box::pin(async move { Ok(json!({"completion": {"values": [self.target.clone()]}})) })
    }

    fn is_closed(&self) -> bool {
        false
    }
}

fn target(name: &str, tools: &str, rules: ToolRules) -> Arc<McpTargetIr> {
    rich(name, tools, rules, &[])
}

fn rich(name: &str, tools: &str, rules: ToolRules, args: &[&str]) -> Arc<McpTargetIr> {
    Arc::new(McpTargetIr {
        name: name.into(),
        id: Arc::from(format!("ns/b/{name}")),
        transport: McpTransport::Stdio {
            command: tools.into(),
            args: args.iter().map(|a| (*a).to_string()).collect(),
            env: vec![],
        },
        headers: vec![],
        tools: rules,
        tls: None,
    })
}

fn backend(failure_mode: FailureMode, targets: Vec<Arc<McpTargetIr>>) -> Arc<McpBackendIr> {
    Arc::new(McpBackendIr {
        key: ObjectKey::new("ns", "b"),
        targets,
        prefix: PrefixMode::Always,
        separator: "_".into(),
        failure_mode,
        session_key: None,
    })
}

struct DenyEcho;

impl ItemFilter for DenyEcho {
    fn allows(&self, _: &ObjectKey, _: &str, kind: ListKind, name: &str) -> bool {
        match kind {
            ListKind::Tools | ListKind::Prompts => name != "echo",
            ListKind::Resources => name != "test://r/1",
            ListKind::ResourceTemplates => false,
        }
    }
}

fn names(items: &[Value], key: &str) -> Vec<String> {
    items.iter().filter_map(|t| t[key].as_str().map(str::to_string)).collect()
}

fn pool(calls: &Calls) -> UpstreamPool {
    UpstreamPool::new(Arc::new(Fake { calls: calls.clone() }), Timeouts::default())
}

#[tokio::test]
async fn lists_in_parallel_merges_filters_and_routes() {
    let calls = Calls::default();
    let pool = pool(&calls);
    let rules = ToolRules { include: vec![], exclude: vec!["secret*".into()] };
    let backends = [backend(
        FailureMode::FailOpen,
        vec![
            target("a", "echo,add,secret_x", rules),
            target("b", "echo", ToolRules::default()),
            target("c", "down", ToolRules::default()),
        ],
    )];
    let fed = Federation { pool: &pool, backends: &backends, filter: &AllowAll };
    let start = tokio::time::Instant::now();
    let listing = fed.list(ListKind::Tools, None).await.expect("fail open");
    // Three targets one after another would take 1.2 s.
    assert!(start.elapsed() < Duration::from_millis(1000), "targets were listed one after another");
    assert_eq!(names(&listing.items, "name"), ["a_echo", "a_add", "b_echo"]);
    let result = listing.result();
    assert_eq!(result["_meta"][UNAVAILABLE_META][0]["target"], "c");
    assert!(result.get("nextCursor").is_none(), "one page: {result}");

    let out = fed.call(listing.owners.get("b_echo").cloned(), "b_echo", None, None).await.expect("routed");
    assert_eq!(out["content"][0]["text"], "b:echo");
    fed.call(None, "a_add", None, None).await.expect("routed through a fresh listing");
    assert_eq!(*calls.lock().unwrap(), [("b".to_string(), "echo".to_string()), ("a".to_string(), "add".to_string())]);
    let err = fed.call(None, "a_secret_x", None, None).await.expect_err("filtered");
    assert_eq!(err.code, -32602);
    let err = fed.call(None, "c_anything", None, None).await.expect_err("down");
    assert_eq!((err.code, err.data.as_ref().map(|d| d["target"].clone())), (-32603, Some(json!("c"))));

    // A reload that excludes a listed tool: the owner the client holds no longer calls it.
    let owner = listing.owners.get("a_add").cloned();
    let excluded = ToolRules { include: vec![], exclude: vec!["add".into()] };
    let reloaded = [backend(FailureMode::FailOpen, vec![target("a", "echo,add,secret_x", excluded)])];
    let fed_after = Federation { pool: &pool, backends: &reloaded, filter: &AllowAll };
    let err = fed_after.call(owner, "a_add", None, None).await.expect_err("excluded by the reload");
    assert_eq!((err.code, err.message.as_str()), (-32602, "Unknown tool: a_add"));
    assert_eq!(calls.lock().unwrap().len(), 2, "the excluded tool was not called");

    // A per-request filter applies at list and call time.
    let fed = Federation { pool: &pool, backends: &backends, filter: &DenyEcho };
    let listing = fed.list(ListKind::Tools, None).await.expect("fail open");
    assert_eq!(names(&listing.items, "name"), ["a_add"]);
    let err = fed.call(None, "a_echo", None, None).await.expect_err("denied");
    assert_eq!(err.code, -32602);
}

#[tokio::test]
async fn fail_closed_names_the_missing_target() {
    let pool = pool(&Calls::default());
    let backends = [backend(
        FailureMode::FailClosed,
        vec![target("a", "echo", ToolRules::default()), target("c", "down", ToolRules::default())],
    )];
    let fed = Federation { pool: &pool, backends: &backends, filter: &AllowAll };
    let err = fed.list(ListKind::Tools, None).await.expect_err("fail closed");
    assert_eq!(err.code, -32603);
    assert!(err.message.contains("c (its process could not be started or ended"), "{}", err.message);
    assert!(!err.message.contains("exited with status"), "how it failed is for the log: {}", err.message);
}

#[tokio::test]
async fn cursors_page_through_every_target() {
    let pool = pool(&Calls::default());
    // `a`: 5 resources by 2; `b`: 1 resource in one page; `c`: no resources at all.
    let backends = [backend(
        FailureMode::FailOpen,
        vec![
            rich("a", "t1", ToolRules::default(), &["5", "", "2"]),
            rich("b", "t2", ToolRules::default(), &["1", "", "0"]),
            target("c", "t3", ToolRules::default()),
        ],
    )];
    let fed = Federation { pool: &pool, backends: &backends, filter: &AllowAll };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let start = tokio::time::Instant::now();
        let listing = fed.list(ListKind::Resources, cursor.as_deref()).await.expect("a page");
        assert!(start.elapsed() < Duration::from_millis(700), "targets were asked one after another");
        pages += 1;
        seen.extend(names(&listing.items, "uri"));
        let result = listing.result();
        match result.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "the listing never ends");
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        [
            "sluice:a:test://r/0",
            "sluice:a:test://r/1",
            "sluice:b:test://r/0",
            "sluice:a:test://r/2",
            "sluice:a:test://r/3",
            "sluice:a:test://r/4"
        ]
    );
    // A cursor for another listing, or one not issued here, is invalid params.
    let tools_cursor = super::cursor::Cursor::start(ListKind::Tools).encode();
    let err = fed.list(ListKind::Resources, Some(&tools_cursor)).await.expect_err("another listing");
    assert_eq!(err.code, -32602);
    let err = fed.list(ListKind::Prompts, Some("not-a-cursor")).await.expect_err("garbage");
    assert_eq!(err.code, -32602);
    // Every page, merged.
    let all = fed.list_all(ListKind::Resources).await.expect("all pages");
    assert_eq!(all.items.len(), 6);
    assert!(all.next.is_none());
}

#[tokio::test]
async fn resources_prompts_and_completion_route_to_the_owner() {
    let calls = Calls::default();
    let pool = pool(&calls);
    let backends = [backend(
        FailureMode::FailOpen,
        vec![
            rich("a", "t1", ToolRules::default(), &["2", "greet,echo", "0"]),
            rich("b", "t2", ToolRules::default(), &["0", "greet", "0"]),
        ],
    )];
    let fed = Federation { pool: &pool, backends: &backends, filter: &AllowAll };
    let caps = fed.capabilities().await;
    assert!(caps["resources"].is_object() && caps["prompts"].is_object() && caps["completions"].is_object(), "{caps}");

    let resources = fed.list(ListKind::Resources, None).await.expect("resources");
    let first = &resources.items[0];
    assert_eq!(first["uri"], "sluice:a:test://r/0");
    assert_eq!(first["_meta"][ORIGINAL_URI_META], "test://r/0");
    assert_eq!(first["name"], "r0", "names of resources are kept");
    let templates = fed.list(ListKind::ResourceTemplates, None).await.expect("templates");
    assert_eq!(templates.items.len(), 1);
    assert_eq!(templates.items[0]["uriTemplate"], "sluice:a:test://r/{id}");
    assert_eq!(templates.items[0]["_meta"]["mine"], 1, "the target's own _meta is kept");
    assert_eq!(templates.items[0]["_meta"][ORIGINAL_URI_META], "test://r/{id}");

    let read = fed.read_resource("sluice:a:test://r/7", None).await.expect("read");
    assert_eq!(read["contents"][0]["uri"], "sluice:a:test://r/7");
    assert_eq!(read["contents"][0]["text"], "a:test://r/7");
    for bad in ["test://r/7", "sluice:zz:test://r/7", "sluice:a"] {
        assert_eq!(fed.read_resource(bad, None).await.expect_err(bad).code, -32602, "{bad}");
    }

    let prompts = fed.list(ListKind::Prompts, None).await.expect("prompts");
    assert_eq!(names(&prompts.items, "name"), ["a_greet", "a_echo", "b_greet"]);
    let mut args = Map::new();
    args.insert("who".into(), json!("you"));
    let got =
        fed.get_prompt(prompts.owners.get("b_greet").cloned(), "b_greet", Some(args), None).await.expect("prompt");
    assert_eq!(got["messages"][0]["content"]["text"], r#"b:greet:{"who":"you"}"#);
    let err = fed.get_prompt(None, "nope", None, None).await.expect_err("unknown");
    assert!(err.message.contains("Unknown prompt"), "{}", err.message);

    let params = |r: Value| {
        let mut p = Map::new();
        p.insert("ref".into(), r);
        p.insert("argument".into(), json!({"name": "x", "value": ""}));
        p
    };
    let out = fed.complete(None, params(json!({"type": "ref/prompt", "name": "a_greet"}))).await.expect("complete");
    assert_eq!(out["completion"]["values"][0], "a");
    let uri = json!({"type": "ref/resource", "uri": "sluice:a:test://r/{id}"});
    fed.complete(None, params(uri)).await.expect("complete a template");
    let err = fed.complete(None, params(json!({"type": "ref/other"}))).await.expect_err("bad ref");
    assert_eq!(err.code, -32602);
    let log: Vec<String> = calls.lock().unwrap().iter().map(|(t, w)| format!("{t} {w}")).collect();
    assert_eq!(
        log,
        [
            "a read test://r/7",
            "b prompt greet",
            r#"a complete {"name":"greet","type":"ref/prompt"}"#,
            r#"a complete {"type":"ref/resource","uri":"test://r/{id}"}"#
        ]
    );

    // The filter sees resources and prompts too, by the targets' own names and URIs.
    let fed = Federation { pool: &pool, backends: &backends, filter: &DenyEcho };
    let resources = fed.list(ListKind::Resources, None).await.expect("resources");
    assert_eq!(names(&resources.items, "uri"), ["sluice:a:test://r/0"]);
    assert_eq!(fed.read_resource("sluice:a:test://r/1", None).await.expect_err("denied").code, -32602);
    assert!(fed.list(ListKind::ResourceTemplates, None).await.expect("templates").items.is_empty());
    let prompts = fed.list(ListKind::Prompts, None).await.expect("prompts");
    assert_eq!(names(&prompts.items, "name"), ["a_greet", "b_greet"]);
    assert_eq!(fed.get_prompt(None, "a_echo", None, None).await.expect_err("denied").code, -32602);
}
