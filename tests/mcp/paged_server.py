"""A tiny MCP server over stdio (standard library only) whose listings come in pages of three:
seven resources `paged://item/<i>`, one template, four prompts. Used by tests/mcp_federation.rs
to page through a target that paginates.

With PAGED_GROWS=1 it offers a tool, `grow`, that adds a tool `grown<n>` and tells the client
with `notifications/tools/list_changed` (to test what Sluice does with list changes).

With PAGED_CANCEL_LOG set it also offers `slow`, which answers after 30 s unless cancelled,
and appends every `notifications/cancelled` it gets to that file (one JSON line each).

With PAGED_ASKS=1 it offers `ask`, which answers the way 2026-07-28 servers ask for input:
`resultType: input_required` with an elicitation, and once retried with the answer and its
`requestState`, a greeting.

With SLUICE_PROBE_MARKER set, any request other than `initialize` or `ping` writes that file:
the bad-input test proves that nothing but the handshake reached the target.
"""

import json
import os
import sys
import threading

PAGE = 3
RESOURCES = [
    {"uri": f"paged://item/{i}", "name": f"item {i}", "mimeType": "text/plain"} for i in range(7)
]
TEMPLATES = [{"uriTemplate": "paged://item/{n}", "name": "item by number"}]
PROMPTS = [
    {"name": f"p{i}", "arguments": [{"name": "who", "required": False}]} for i in range(4)
]


GROWN = []


OUT = threading.Lock()
SLOW = {}


def ask(params):
    answers = params.get("inputResponses") or {}
    if params.get("requestState") == "asked-once" and "who" in answers:
        name = (answers["who"].get("content") or {}).get("name", "nobody")
        return {"content": [{"type": "text", "text": f"hello {name}"}]}
    question = {
        "method": "elicitation/create",
        "params": {
            "message": "Who is asking?",
            "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        },
    }
    return {"resultType": "input_required", "inputRequests": {"who": question}, "requestState": "asked-once"}


def tools():
    listed = []
    if os.environ.get("PAGED_ASKS") == "1":
        listed.append({"name": "ask", "inputSchema": {"type": "object"}})
    if os.environ.get("PAGED_CANCEL_LOG"):
        listed.append({"name": "slow", "inputSchema": {"type": "object"}})
    if os.environ.get("PAGED_GROWS") == "1":
        listed.append({"name": "grow", "inputSchema": {"type": "object"}})
        listed += [{"name": name, "inputSchema": {"type": "object"}} for name in GROWN]
    return listed


def send(message):
    with OUT:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def slow(request_id):
    """Answers after 30 s unless `notifications/cancelled` names the request first."""
    stop = threading.Event()
    SLOW[json.dumps(request_id)] = stop
    if not stop.wait(30):
        send({"jsonrpc": "2.0", "id": request_id, "result": {"content": [{"type": "text", "text": "slow done"}]}})


def notify(method):
    send({"jsonrpc": "2.0", "method": method})


def page(items, field, params):
    start = int((params or {}).get("cursor") or 0)
    out = {field: items[start : start + PAGE]}
    if start + PAGE < len(items):
        out["nextCursor"] = str(start + PAGE)
    return out


def answer(method, params):
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"resources": {}, "prompts": {}, "tools": {}},
            "serverInfo": {"name": "paged", "version": "0"},
        }
    if method == "ping":
        return {}
    marker = os.environ.get("SLUICE_PROBE_MARKER")
    if marker:
        with open(marker, "w") as f:
            f.write(method + "\n")
    if method == "tools/list":
        return {"tools": tools()}
    if method == "tools/call" and params.get("name") == "ask" and os.environ.get("PAGED_ASKS") == "1":
        return ask(params)
    if method == "tools/call" and params.get("name") == "grow" and tools():
        GROWN.append(f"grown{len(GROWN)}")
        notify("notifications/tools/list_changed")
        return {"content": [{"type": "text", "text": f"{len(GROWN)} grown"}]}
    if method == "resources/list":
        return page(RESOURCES, "resources", params)
    if method == "resources/templates/list":
        return page(TEMPLATES, "resourceTemplates", params)
    if method == "prompts/list":
        return page(PROMPTS, "prompts", params)
    if method == "resources/read":
        uri = params["uri"]
        return {"contents": [{"uri": uri, "mimeType": "text/plain", "text": f"contents of {uri}"}]}
    if method == "prompts/get":
        who = (params.get("arguments") or {}).get("who", "nobody")
        text = f"{params['name']} for {who}"
        return {"messages": [{"role": "user", "content": {"type": "text", "text": text}}]}
    raise LookupError(method)


for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    if message.get("method") == "notifications/cancelled" and os.environ.get("PAGED_CANCEL_LOG"):
        params = message.get("params") or {}
        with open(os.environ["PAGED_CANCEL_LOG"], "a") as f:
            f.write(json.dumps(params) + "\n")
        stop = SLOW.pop(json.dumps(params.get("requestId")), None)
        if stop:
            stop.set()
        continue
    if "id" not in message or "method" not in message:
        continue
    params = message.get("params") or {}
    if message["method"] == "tools/call" and params.get("name") == "slow" and os.environ.get("PAGED_CANCEL_LOG"):
        threading.Thread(target=slow, args=(message["id"],), daemon=True).start()
        continue
    reply = {"jsonrpc": "2.0", "id": message["id"]}
    try:
        reply["result"] = answer(message["method"], message.get("params") or {})
    except LookupError as e:
        reply["error"] = {"code": -32601, "message": f"Method not found: {e}"}
    except (KeyError, ValueError) as e:
        reply["error"] = {"code": -32602, "message": f"Invalid params: {e}"}
    send(reply)
