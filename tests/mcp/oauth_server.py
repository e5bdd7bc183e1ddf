"""A small OAuth 2.1 authorization server for tests/policies_mcp.rs, built on the official `mcp`
SDK's own server-side auth module (`mcp.server.auth`: metadata, dynamic client registration,
/authorize, /token with PKCE), approving every request at once. Access tokens are JWTs (RS256,
PyJWT) for the resource the client named (RFC 8707 `resource` as `aud`), with a `scope` and a
`tools` claim; its JWKS is at /jwks.

Prints one JSON line {"issuer", "jwks_uri"} once listening on 127.0.0.1, then serves until killed.
"""

import json
import os
import secrets
import socket
import sys
import time

for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)

import jwt  # noqa: E402
import uvicorn  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from jwt.algorithms import RSAAlgorithm  # noqa: E402
from mcp.server.auth.provider import AuthorizationCode, RefreshToken, construct_redirect_uri  # noqa: E402
from mcp.server.auth.routes import create_auth_routes  # noqa: E402
from mcp.server.auth.settings import ClientRegistrationOptions  # noqa: E402
from mcp.shared.auth import OAuthToken  # noqa: E402
from pydantic import AnyHttpUrl  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "as-key-1"


class Provider:
    """Approves every authorization at once; remembers clients and codes in memory."""

    def __init__(self, issuer):
        self.issuer = issuer
        self.clients = {}
        self.codes = {}

    async def get_client(self, client_id):
        return self.clients.get(client_id)

    async def register_client(self, client_info):
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client, params):
        code = secrets.token_urlsafe(16)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or ["tools.read"],
            expires_at=time.time() + 300,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject="agent-1",
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(self, client, authorization_code):
        return self.codes.get(authorization_code)

    async def exchange_authorization_code(self, client, authorization_code):
        self.codes.pop(authorization_code.code, None)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": authorization_code.subject,
            "aud": authorization_code.resource,
            "scope": " ".join(authorization_code.scopes),
            # What this agent may use: the gateway's rule reads it.
            "tools": ["time_get_current_time"],
            "iat": now,
            "exp": now + 600,
        }
        token = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": KID})
        return OAuthToken(access_token=token, token_type="Bearer", expires_in=600, scope=claims["scope"])

    async def load_refresh_token(self, client, refresh_token):
        return None

    async def exchange_refresh_token(self, client, refresh_token, scopes):
        raise NotImplementedError

    async def load_access_token(self, token):
        return None

    async def revoke_token(self, token):
        return None


def main():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # With the trailing slash: the form pydantic gives the metadata's `issuer`, which clients
    # compare with the protected-resource metadata's authorization server.
    issuer = f"http://127.0.0.1:{port}/"
    provider = Provider(issuer)
    routes = create_auth_routes(
        provider,
        issuer_url=AnyHttpUrl(issuer),
        client_registration_options=ClientRegistrationOptions(enabled=True, valid_scopes=["tools.read"]),
    )
    jwk = RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
    jwk.update({"kid": KID, "use": "sig", "alg": "RS256"})

    async def jwks(_request):
        return JSONResponse({"keys": [jwk]})

    app = Starlette(routes=[*routes, Route("/jwks", jwks)])
    print(json.dumps({"issuer": issuer, "jwks_uri": f"{issuer}jwks"}), flush=True)
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
