"""MCP scenarios driven by the official `mcp` Python SDK (pinned in tests/mcp/requirements.txt)
against SLUICE_MCP_URL; run by tests/mcp_federation.rs.

Each scenario prints one JSON object on stdout: what the SDK saw (tool names, call results,
`_meta`, errors as {code, message, data}).
"""

import asyncio
import json
import os
import sys
import time

for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

from mcp import Client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402
from mcp.types import PromptReference, ResourceTemplateReference  # noqa: E402


def url():
    value = os.environ.get("SLUICE_MCP_URL")
    if not value:
        sys.exit("SLUICE_MCP_URL is not set (e.g. http://127.0.0.1:8082/mcp)")
    return value


def client(mode="legacy"):
    return Client(url(), mode=mode, cache=None, read_timeout_seconds=60)


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


def meta_of(listing):
    meta = listing.meta
    if meta is None:
        return None
    return meta if isinstance(meta, dict) else meta.model_dump(by_alias=True)


def error_json(err):
    return {"code": err.code, "message": err.message, "data": err.data}


async def call(c, name, args):
    try:
        result = await c.call_tool(name, args)
        return {"text": text_of(result), "is_error": bool(result.is_error)}
    except MCPError as err:
        return {"error": error_json(err)}


async def list_and_call(mode):
    async with client(mode) as c:
        listing = await c.list_tools()
        out = {
            "protocol_version": c.protocol_version,
            "server": c.server_info.name if c.server_info else None,
            "tools": sorted(t.name for t in listing.tools),
            "meta": meta_of(listing),
            "time": await call(c, "time_get_current_time", {"timezone": "Europe/Paris"}),
            "echo": await call(c, "everything_echo", {"message": "hello through sluice"}),
            "sum": await call(c, "everything_get-sum", {"a": 2, "b": 40}),
            "unknown": await call(c, "nobody_has_this", {}),
        }
        return out


async def kill_target():
    """Lists, kills the `time` target's process (and keeps it from restarting), lists and calls
    again, then lets it come back and lists once more."""
    pidfile = os.environ["SLUICE_TIME_PIDFILE"]
    downfile = os.environ["SLUICE_TIME_DOWNFILE"]
    async with client() as c:
        before = sorted(t.name for t in (await c.list_tools()).tools)
        with open(downfile, "w") as f:
            f.write("down\n")
        with open(pidfile) as f:
            pid = int(f.read().strip())
        os.kill(pid, 9)
        time.sleep(0.5)
        listing = await c.list_tools()
        during = {
            "tools": sorted(t.name for t in listing.tools),
            "meta": meta_of(listing),
            "time": await call(c, "time_get_current_time", {"timezone": "UTC"}),
            "echo": await call(c, "everything_echo", {"message": "still here"}),
        }
        os.remove(downfile)
        after = None
        for _ in range(40):
            time.sleep(0.5)
            listing = await c.list_tools()
            if not meta_of(listing):
                after = sorted(t.name for t in listing.tools)
                break
        healed = await call(c, "time_get_current_time", {"timezone": "UTC"})
        return {"before": before, "during": during, "after": after, "healed": healed}


async def attempt(coro):
    try:
        return {"ok": await coro}
    except MCPError as err:
        return {"error": error_json(err)}


def dump(model):
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


async def every_page(fetch, attr):
    """Pages through a listing; returns the pages (each a list of items as JSON)."""
    pages, cursor = [], None
    while True:
        listing = await fetch(cursor)
        pages.append([dump(i) for i in getattr(listing, attr)])
        cursor = listing.next_cursor
        if not cursor or len(pages) > 50:
            return pages


async def resources_and_prompts():
    """Resources (paged through), templates, reads through rewritten URIs, prompts with
    arguments, completion, and a bad cursor."""
    async with client() as c:
        caps = c.server_capabilities
        out = {"capabilities": caps.model_dump(by_alias=True, exclude_none=True, mode="json") if caps else None}
        pages = await every_page(lambda cur: c.list_resources(cursor=cur, cache_mode="bypass"), "resources")
        out["resource_pages"] = pages
        resources = [r for p in pages for r in p]
        out["templates"] = [t for p in await every_page(
            lambda cur: c.list_resource_templates(cursor=cur, cache_mode="bypass"), "resource_templates"
        ) for t in p]
        prompts = [p for page in await every_page(lambda cur: c.list_prompts(cursor=cur, cache_mode="bypass"), "prompts") for p in page]
        out["prompts"] = prompts

        async def read(uri):
            result = await c.read_resource(uri)
            return [dump(x) for x in result.contents]

        doc = next((r["uri"] for r in resources if "everything" in r["uri"]), None)
        out["read_doc"] = await attempt(read(doc)) if doc else None
        out["read_paged"] = await attempt(read("sluice:paged:paged://item/5"))
        template = next((t["uriTemplate"] for t in out["templates"] if "dynamic/text" in t["uriTemplate"]), None)
        out["read_template"] = await attempt(read(template.replace("{resourceId}", "3"))) if template else None
        out["read_unknown"] = await attempt(read("demo://not/rewritten"))

        async def prompt(name, args):
            result = await c.get_prompt(name, args)
            return [dump(m) for m in result.messages]

        out["args_prompt"] = await attempt(prompt("everything_args-prompt", {"city": "Paris", "state": "TX"}))
        out["paged_prompt"] = await attempt(prompt("paged_p3", {"who": "sluice"}))

        async def complete(ref, argument, context=None):
            result = await c.complete(ref, argument, context)
            return dump(result.completion)

        out["complete_prompt"] = await attempt(
            complete(PromptReference(type="ref/prompt", name="everything_completable-prompt"), {"name": "department", "value": "Eng"})
        )
        if template:
            out["complete_template"] = await attempt(
                complete(ResourceTemplateReference(type="ref/resource", uri=template), {"name": "resourceId", "value": "7"})
            )
        out["bad_cursor"] = await attempt(c.list_resources(cursor="bm90IGEgY3Vyc29y"))
        return out


async def legacy_sse():
    """The HTTP+SSE transport of protocol 2024-11-05 (`sse_client`): old clients' way in."""
    from mcp import ClientSession
    from mcp.client.sse import sse_client

    session_ids = []
    async with sse_client(url(), on_session_created=session_ids.append) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=60) as s:
            init = await s.initialize()
            listing = await s.list_tools()

            async def legacy_call(name, args):
                try:
                    result = await s.call_tool(name, args)
                    return {"text": text_of(result), "is_error": bool(result.is_error)}
                except MCPError as err:
                    return {"error": error_json(err)}

            return {
                "protocol_version": init.protocol_version,
                "server": init.server_info.name,
                "session_ids": session_ids,
                "tools": sorted(t.name for t in listing.tools),
                "time": await legacy_call("time_get_current_time", {"timezone": "Europe/Paris"}),
                "echo": await legacy_call("everything_echo", {"message": "hello over SSE"}),
                "unknown": await legacy_call("nobody_has_this", {}),
            }


async def interactive(mode):
    """What targets ask of the client mid-call: sampling and elicitation answered by this
    client's callbacks (through Sluice, in the era `mode` negotiates), roots, and progress
    notifications of a long-running operation; plus one call to each of the three targets."""
    from mcp_types import CreateMessageResult, ElicitResult, ListRootsResult, Root, TextContent

    asked = {"sampling": [], "elicitation": [], "roots": 0}

    async def sampling(context, params):
        prompt = params.messages[0].content.text
        asked["sampling"].append({"prompt": prompt, "max_tokens": params.max_tokens})
        return CreateMessageResult(
            role="assistant",
            content=TextContent(type="text", text=f"sampled answer to <{prompt}>"),
            model="client-side-model",
            stop_reason="endTurn",
        )

    async def elicitation(context, params):
        asked["elicitation"].append(params.message)
        return ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True, "integer": 7})

    async def roots(context):
        asked["roots"] += 1
        return ListRootsResult(roots=[Root(uri="file:///work/project", name="project")])

    progress = []

    async def on_progress(value, total, message):
        progress.append({"progress": value, "total": total})

    c = Client(
        url(),
        mode=mode,
        cache=None,
        read_timeout_seconds=60,
        sampling_callback=sampling,
        elicitation_callback=elicitation,
        list_roots_callback=roots,
    )
    async with c:
        tools = sorted(t.name for t in (await c.list_tools()).tools)
        out = {"protocol_version": c.protocol_version, "tools": tools}
        out["sampling"] = await call(c, "everything_trigger-sampling-request", {"prompt": "name a river", "maxTokens": 33})
        out["elicitation"] = await call(c, "everything_trigger-elicitation-request", {})
        out["roots"] = await call(c, "everything_get-roots-list", {})
        try:
            result = await c.call_tool(
                "everything_trigger-long-running-operation", {"duration": 1, "steps": 4}, progress_callback=on_progress
            )
            out["long"] = {"text": text_of(result), "is_error": bool(result.is_error)}
        except MCPError as err:
            out["long"] = {"error": error_json(err)}
        out["progress"] = progress
        out["remote_echo"] = await call(c, "remote_echo", {"message": "over streamable HTTP"})
        out["remote_sampling"] = await call(c, "remote_trigger-sampling-request", {"prompt": "via http", "maxTokens": 5})
        out["legacy_echo"] = await call(c, "legacy_echo", {"message": "over HTTP+SSE"})
        out["legacy_sampling"] = await call(c, "legacy_trigger-sampling-request", {"prompt": "via sse", "maxTokens": 5})
        out["legacy_elicitation"] = await call(c, "legacy_trigger-elicitation-request", {})
        legacy_progress = []

        async def on_legacy_progress(value, total, message):
            legacy_progress.append({"progress": value, "total": total})

        try:
            await c.call_tool(
                "legacy_trigger-long-running-operation",
                {"duration": 1, "steps": 2},
                progress_callback=on_legacy_progress,
            )
        except MCPError as err:
            out["legacy_long_error"] = error_json(err)
        out["legacy_progress"] = legacy_progress
        out["time"] = await call(c, "time_get_current_time", {"timezone": "UTC"})
        out["asked"] = asked
        return out


async def input_required(mode):
    """A target that asks for input the 2026-07-28 way (`input_required`): through Sluice the
    client's elicitation callback answers it, whatever era the client speaks."""
    from mcp_types import ElicitResult

    asked = []

    async def elicitation(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"name": "Grace Hopper"})

    c = Client(url(), mode=mode, cache=None, read_timeout_seconds=60, elicitation_callback=elicitation)
    async with c:
        return {
            "protocol_version": c.protocol_version,
            "ask": await call(c, "paged_ask", {}),
            "asked": asked,
        }


async def listen_changes():
    """`subscriptions/listen` (2026-07-28): the acknowledgment, then a target's list change."""
    import anyio

    async with client("auto") as c:
        before = sorted(t.name for t in (await c.list_tools()).tools)
        async with c.listen(tools_list_changed=True, resource_subscriptions=["sluice:paged:paged://item/1"]) as sub:
            honored = sub.honored.model_dump(by_alias=True, exclude_none=True)
            grown = await call(c, "paged_grow", {})
            with anyio.fail_after(10):
                event = await sub.__anext__()
        after = sorted(t.name for t in (await c.list_tools()).tools)
        return {
            "protocol_version": c.protocol_version,
            "honored": honored,
            "event": type(event).__name__,
            "grown": grown,
            "before": before,
            "after": after,
        }


SCENARIOS = {
    "listen_changes": listen_changes,
    "input_required": lambda: input_required("legacy"),
    "input_required_auto": lambda: input_required("auto"),
    "interactive": lambda: interactive("legacy"),
    "interactive_auto": lambda: interactive("auto"),
    "legacy_sse": legacy_sse,
    "resources_and_prompts": resources_and_prompts,
    "list_and_call": lambda: list_and_call("legacy"),
    "list_and_call_auto": lambda: list_and_call("auto"),
    "kill_target": kill_target,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} SCENARIO (one of: {', '.join(sorted(SCENARIOS))})")
    result = asyncio.run(SCENARIOS[sys.argv[1]]())
    json.dump(result, sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")
