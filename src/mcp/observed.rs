//! What is reported of each MCP message handled (docs/observability.md): its span, a child of
//! the HTTP request's (the parent of its calls to targets); `mcp_requests_total` and its
//! duration by method, target, tool and result; and an access log line when the route logs.

use std::time::Instant;

use serde_json::Value;

use super::Ctx;
use super::federation::Owner;
use super::jsonrpc::RpcError;
use crate::metrics::trace::{Attribute, Kind, TraceSpan};

/// One message being handled.
pub struct Observed<'m> {
    method: &'m str,
    started: Instant,
    span: Option<TraceSpan>,
}

impl<'m> Observed<'m> {
    /// A message with `method`, and the tool it calls (as the client names it) for
    /// `tools/call`.
    pub fn begin(ctx: &Ctx, method: &'m str, params: Option<&serde_json::Map<String, Value>>) -> Self {
        let tool =
            (method == "tools/call").then(|| params.and_then(|p| p.get("name")).and_then(Value::as_str)).flatten();
        let span = ctx.span.as_ref().map(|s| message_span(s, method, tool));
        Observed { method, started: Instant::now(), span }
    }

    /// Runs the handling of the message, its calls to targets traced under its span.
    pub async fn run<F: std::future::Future>(&self, fut: F) -> F::Output {
        super::upstream::trace::within(self.span.clone(), fut).await
    }

    /// The message was handled: `called` is the owner of the tool it called, if any.
    pub fn end(self, ctx: &Ctx, called: Option<&Owner>, error: Option<&RpcError>) {
        let reached = called.map(Owner::labels).unwrap_or_default();
        ctx.state.metrics.mcp.record(self.method, &reached, error.is_none(), self.started.elapsed());
        if let Some(span) = &self.span {
            if let Some(target) = reached.target {
                span.set(Attribute::new("sluice.mcp.target", target.to_string()));
            }
            if let Some(e) = error {
                span.set(Attribute::new("error.type", e.code.to_string()));
                span.fail(e.message.clone());
            }
            span.end();
        }
        if let Some(log) = &ctx.log {
            self.log(ctx, log, &reached, error);
        }
    }

    /// One access log line: sampled as the route's requests are; with a status filter, only
    /// the messages that failed.
    fn log(&self, ctx: &Ctx, m: &super::MessageLog, reached: &crate::metrics::Reached<'_>, error: Option<&RpcError>) {
        use crate::proxy::access_log;
        if !access_log::sampled(m.log.sampling) || (!m.log.statuses.is_empty() && error.is_none()) {
            return;
        }
        let mut line = access_log::line(&m.log);
        line.str("route", &m.route);
        line.raw("client_ip", format_args!("\"{}\"", m.client));
        line.opt_str("identity", m.identity.as_deref());
        line.str("mcp_method", self.method);
        line.opt_str("mcp_target", reached.target);
        line.opt_str("mcp_tool", reached.tool);
        match error {
            None => line.str("mcp_result", "ok"),
            Some(e) => line.raw("mcp_result", format_args!("\"error {}\"", e.code)),
        }
        line.float("duration_ms", self.started.elapsed().as_secs_f64() * 1000.0);
        ctx.state.metrics.access_logs.write(m.log.path.as_ref(), &line.finish());
    }
}

/// The span of one message handled (the MCP semantic conventions: `mcp.method.name`, the tool
/// as the client names it; not the session id, which lets its holder use the session).
fn message_span(request: &TraceSpan, method: &str, tool: Option<&str>) -> TraceSpan {
    let mut attributes = vec![Attribute::new("mcp.method.name", method.to_string())];
    if let Some(t) = tool {
        attributes.push(Attribute::new("gen_ai.tool.name", t.to_string()));
    }
    let name = match tool {
        Some(t) => format!("{method} {t}"),
        None => method.to_string(),
    };
    request.child(name, Kind::Server, attributes)
}
