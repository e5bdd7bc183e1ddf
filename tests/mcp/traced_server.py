"""An MCP server over stdio, built on the official MCP Python SDK (MCPServer), with one tool,
`trace_context`, that answers the W3C trace context keys (`traceparent`, `tracestate`) it
found in the call's `params._meta` (SEP-414), as JSON. Used by tests/observability.rs to show
that a target called through Sluice is handed Sluice's span as its parent.
"""

import json

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("traced")


@server.tool()
def trace_context(ctx: Context) -> str:
    """The trace context keys of this call's _meta, as JSON."""
    meta = ctx.request_context.meta
    if meta is None:
        found = {}
    elif isinstance(meta, dict):
        found = meta
    else:
        found = meta.model_dump()
    return json.dumps({key: found.get(key) for key in ("traceparent", "tracestate")})


if __name__ == "__main__":
    server.run("stdio")
