//! P5: MCP. An MCP client of our own (streamable HTTP over one kept-alive HTTP/1.1 connection)
//! measures, against the bench upstream's MCP server directly and through Sluice's federation
//! of ten such servers:
//! - `tools/call` latency (sequential calls; the added p50 is Sluice's minus direct's, per
//!   round);
//! - `tools/list` latency when every upstream takes 20 ms to list its tools: through Sluice the
//!   ten lists must be fetched in parallel, so the whole should take about one delay.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::report::Spread;

pub const TARGETS: usize = 10;
pub const LIST_DELAY_MS: u64 = 20;
pub const ROUTE: &str = "/mcp";

/// Sluice's MCP configuration: `/mcp` to an MCPBackend of ten upstream MCP servers, and `/` to
/// the upstream (the readiness probe).
pub fn sluice_conf(gateway: &str, up: u16) -> String {
    let mut s = String::from(gateway);
    s.push_str(&crate::targets::upstream_service(up));
    let _ = write!(
        s,
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: mcp, namespace: default}}\n\
         spec:\n  parentRefs: [{{name: bench}}]\n  rules:\n\
         \x20   - matches: [{{path: {{type: PathPrefix, value: {ROUTE}}}}}]\n\
         \x20     backendRefs: [{{group: sluice.dev, kind: MCPBackend, name: fed}}]\n\
         \x20   - backendRefs: [{{name: upstream, port: 80}}]\n---\n\
         apiVersion: sluice.dev/v1alpha1\nkind: MCPBackend\nmetadata: {{name: fed, namespace: default}}\nspec:\n  targets:\n"
    );
    for i in 0..TARGETS {
        let _ = writeln!(
            s,
            "    - {{name: t{i}, streamableHttp: {{url: \"http://127.0.0.1:{up}/mcp/{i}?list_delay_ms={LIST_DELAY_MS}\"}}}}"
        );
    }
    s
}

/// One MCP session over one connection.
pub struct Client {
    send: http1::SendRequest<Full<Bytes>>,
    authority: String,
    path: String,
    session: Option<String>,
    next_id: u64,
}

impl Client {
    pub async fn connect(port: u16, path: &str) -> Result<Client, String> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let (send, conn) = http1::handshake(TokioIo::new(tcp)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut c =
            Client { send, authority: format!("127.0.0.1:{port}"), path: path.into(), session: None, next_id: 1 };
        c.rpc(
            "initialize",
            r#"{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}"#,
        )
        .await?;
        c.post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into()).await?;
        Ok(c)
    }

    async fn post(&mut self, body: String) -> Result<String, String> {
        let mut req = Request::post(&self.path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18");
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        self.send.ready().await.map_err(|e| e.to_string())?;
        let resp = self.send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        if let Some(s) = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            self.session = Some(s.to_string());
        }
        let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            return Err(format!("HTTP {status}: {text}"));
        }
        // A one-event SSE answer carries the JSON in its `data:` line.
        Ok(match text.lines().find_map(|l| l.strip_prefix("data:")) {
            Some(d) => d.trim().to_string(),
            None => text,
        })
    }

    /// Ends the session (`DELETE`).
    pub async fn close(mut self) -> Result<(), String> {
        let Some(session) = self.session.take() else { return Ok(()) };
        let req = Request::delete(&self.path)
            .header(header::HOST, &self.authority)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18")
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        self.send.ready().await.map_err(|e| e.to_string())?;
        let resp = self.send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        if status.is_success() { Ok(()) } else { Err(format!("DELETE: HTTP {status}")) }
    }

    pub async fn rpc(&mut self, method: &str, params: &str) -> Result<String, String> {
        let id = self.next_id;
        self.next_id += 1;
        let out = self.post(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#)).await?;
        if out.contains(r#""error""#) || !out.contains(r#""result""#) {
            return Err(format!("{method}: {}", out.chars().take(300).collect::<String>()));
        }
        Ok(out)
    }
}

/// Latencies of one round against one endpoint, in µs.
#[derive(Default, Clone)]
pub struct Round {
    pub call_us: Vec<f64>,
    pub list_us: Vec<f64>,
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(port: u16, path: &str, tool: &str, calls: usize, lists: usize) -> Result<Round, String> {
    let mut c = Client::connect(port, path).await?;
    let params = format!(r#"{{"name":"{tool}","arguments":{{"text":"hello"}}}}"#);
    for _ in 0..20 {
        c.rpc("tools/call", &params).await?;
    }
    let mut r = Round::default();
    for _ in 0..calls {
        let t = Instant::now();
        let out = c.rpc("tools/call", &params).await?;
        r.call_us.push(t.elapsed().as_secs_f64() * 1e6);
        if !out.contains("hello") {
            return Err(format!("tools/call answered without the echo: {out}"));
        }
    }
    for _ in 0..lists {
        let t = Instant::now();
        let out = c.rpc("tools/list", "{}").await?;
        r.list_us.push(t.elapsed().as_secs_f64() * 1e6);
        if !out.contains("echo") {
            return Err(format!("tools/list listed no echo tool: {out}"));
        }
    }
    Ok(r)
}

#[derive(Default)]
pub struct McpResults {
    /// `direct` and `sluice-mcp`, each a list of rounds.
    pub rounds: HashMap<&'static str, Vec<Round>>,
    pub failures: Vec<(String, String)>,
    pub calls: usize,
}

/// Runs `rounds` rounds, direct and through Sluice interleaved.
pub fn run(up: u16, sluice_port: Option<u16>, rounds: usize, quick: bool) -> McpResults {
    let (calls, lists) = if quick { (50, 3) } else { (2000, 30) };
    let mut res = McpResults { calls, ..McpResults::default() };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            res.failures.push(("p5".into(), e.to_string()));
            return res;
        }
    };
    let direct_path = format!("/mcp/0?list_delay_ms={LIST_DELAY_MS}");
    for round in 0..rounds {
        let mut runs: Vec<(&'static str, u16, String, &str)> = vec![("direct", up, direct_path.clone(), "echo")];
        if let Some(p) = sluice_port {
            runs.push(("sluice-mcp", p, ROUTE.to_string(), "t0_echo"));
        }
        if round % 2 == 1 {
            runs.reverse();
        }
        for (name, port, path, tool) in runs {
            let out = rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(300), measure(port, &path, tool, calls, lists))
                    .await
                    .unwrap_or_else(|_| Err("timed out".into()))
            });
            match out {
                Ok(r) => {
                    eprintln!(
                        "[round {}/{rounds}] p5-mcp {name:<12} tools/call p50 {:>7.1} µs p99 {:>7.1} µs  tools/list p50 {:>6.2} ms",
                        round + 1,
                        pct(&r.call_us, 0.5),
                        pct(&r.call_us, 0.99),
                        pct(&r.list_us, 0.5) / 1000.0
                    );
                    res.rounds.entry(name).or_default().push(r);
                }
                Err(e) => {
                    eprintln!("[round {}/{rounds}] p5-mcp {name}: {e}", round + 1);
                    res.failures.push((name.to_string(), e));
                }
            }
        }
    }
    res
}

/// The P5 section of `RESULTS.md`.
pub fn render(out: &mut String, r: &McpResults) {
    if r.rounds.is_empty() && r.failures.is_empty() {
        return;
    }
    let _ = writeln!(out, "### P5: MCP\n");
    let _ = writeln!(
        out,
        "Our MCP client (streamable HTTP, one kept-alive connection, sequential requests) against the bench upstream's MCP server directly (`direct`: one server) and through Sluice (`sluice-mcp`: an MCPBackend federating {TARGETS} such servers, 1 worker thread). {} `tools/call` per round after 20 of warm-up; `tools/list` with every upstream answering after {LIST_DELAY_MS} ms. Medians over rounds, (min–max).\n",
        r.calls
    );
    let _ = writeln!(out, "| Target | tools/call p50 | tools/call p99 | tools/list p50 |");
    let _ = writeln!(out, "|---|---|---|---|");
    let stat = |name: &str, f: &dyn Fn(&Round) -> f64| {
        r.rounds.get(name).and_then(|v| Spread::of(v.iter().map(f).filter(|x| x.is_finite()).collect()))
    };
    let us = |v: f64| format!("{v:.0} µs");
    let ms = |v: f64| format!("{:.1} ms", v / 1000.0);
    for name in ["direct", "sluice-mcp"] {
        let p50 = stat(name, &|x| pct(&x.call_us, 0.5));
        let p99 = stat(name, &|x| pct(&x.call_us, 0.99));
        let list = stat(name, &|x| pct(&x.list_us, 0.5));
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            p50.map_or("—".into(), |s| s.show(us)),
            p99.map_or("—".into(), |s| s.show(us)),
            list.map_or("—".into(), |s| s.show(ms)),
        );
    }
    let (Some(d), Some(s)) = (r.rounds.get("direct"), r.rounds.get("sluice-mcp")) else {
        for (t, e) in &r.failures {
            let _ = writeln!(out, "\n{t}: {e}");
        }
        out.push('\n');
        return;
    };
    let added: Vec<f64> = d.iter().zip(s).map(|(a, b)| pct(&b.call_us, 0.5) - pct(&a.call_us, 0.5)).collect();
    let lists: Vec<f64> = s.iter().map(|x| pct(&x.list_us, 0.5)).collect();
    if let (Some(a), Some(l)) = (Spread::of(added), Spread::of(lists)) {
        let call_ok = a.median <= 300.0;
        // "About one upstream's delay": within 1.5 delays (ten in a row would be 200 ms).
        let list_ok = l.median <= 1.5 * LIST_DELAY_MS as f64 * 1000.0;
        let _ = writeln!(
            out,
            "\nAdded by Sluice to `tools/call` at p50: {} (target ≤ 300 µs: {}). `tools/list` over {TARGETS} upstreams of {LIST_DELAY_MS} ms each: {} (target: about one delay, here ≤ {} ms: {}; one after another would take {} ms).",
            a.show(us),
            if call_ok { "met" } else { "**not met**" },
            l.show(ms),
            LIST_DELAY_MS * 3 / 2,
            if list_ok { "met" } else { "**not met**" },
            LIST_DELAY_MS * TARGETS as u64
        );
    }
    for (t, e) in &r.failures {
        let _ = writeln!(out, "\n{t}: {e}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_configuration_lists_ten_targets() {
        let c = super::sluice_conf("# gw\n", 9);
        assert_eq!(c.matches("streamableHttp").count(), super::TARGETS);
        assert!(c.contains("kind: MCPBackend"));
    }
}
