"""The official `mcp` SDK's OAuth client (`OAuthClientProvider`) against a Sluice MCP route that
is an OAuth resource server: it gets the 401, reads the protected-resource metadata, registers
with the authorization server, runs the authorization-code flow with PKCE (the "browser" step is
a plain GET of the authorization URL, which tests/mcp/oauth_server.py approves at once), then lists
and calls tools with its token. Prints one JSON object.

usage: oauth_client.py MCP_URL
"""

import asyncio
import json
import os
import sys
from urllib.parse import parse_qs, urlparse

for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

import httpx2  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.auth import OAuthClientProvider  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402


class Memory:
    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, info):
        self.client = info


async def main(url):
    result = {}
    redirect = {}

    async def redirect_handler(authorization_url):
        # The user's browser: the authorization server approves and redirects with a code.
        async with httpx2.AsyncClient() as http:
            resp = await http.get(authorization_url, follow_redirects=False)
        redirect["location"] = resp.headers["location"]

    async def callback_handler():
        q = parse_qs(urlparse(redirect["location"]).query)
        return AuthorizationCodeResult(code=q["code"][0], state=q.get("state", [None])[0])

    storage = Memory()
    auth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="sluice-test-agent",
            redirect_uris=["http://127.0.0.1:1/callback"],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            scope="tools.read",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write, read_timeout_seconds=60) as s:
                await s.initialize()
                tools = await s.list_tools()
                result["tools"] = sorted(t.name for t in tools.tools)
                called = await s.call_tool("time_get_current_time", {"timezone": "UTC"})
                result["allowed_call"] = {"is_error": bool(called.is_error)}
                try:
                    denied = await s.call_tool("time_convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"})
                    result["forbidden_call"] = {"is_error": bool(denied.is_error), "text": "".join(getattr(c, "text", "") for c in denied.content)}
                except MCPError as err:
                    result["forbidden_call"] = {"error": {"code": err.code, "message": err.message}}
    result["token_audience_set"] = storage.tokens is not None
    result["authorized_via_redirect"] = "location" in redirect
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
