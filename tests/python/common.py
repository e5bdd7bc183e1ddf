"""Shared helpers of the SDK scenario scripts (openai_sdk.py, anthropic_sdk.py, genai_sdk.py).

Each script runs one scenario against SLUICE_BASE_URL with an official SDK, unchanged but for
the base URL, and prints one JSON object on stdout: what the SDK gave back (text, tool calls,
finish/stop reason, the usage object it parsed) or, for a failure, the SDK exception's class,
status and message. The exit status is 0 whenever that JSON was printed.
"""

import json
import os
import sys

# Hermetic: no provider variable or proxy of the environment may change what the SDKs send.
for _name in list(os.environ):
    _upper = _name.upper()
    if _upper.startswith(("OPENAI_", "ANTHROPIC_", "AZURE_OPENAI_", "GOOGLE_", "GEMINI_")) or _upper in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        del os.environ[_name]
os.environ["NO_PROXY"] = "127.0.0.1,localhost"


def base_url():
    url = os.environ.get("SLUICE_BASE_URL")
    if not url:
        sys.exit("SLUICE_BASE_URL is not set (e.g. http://127.0.0.1:8080)")
    return url.rstrip("/")


def api_key(default):
    return os.environ.get("SLUICE_API_KEY", default)


def model(default):
    return os.environ.get("SLUICE_MODEL", default)


def error_json(err):
    """The SDK exception as data: class, HTTP status (None for connection errors), message, body."""
    return {
        "class": type(err).__name__,
        "status": getattr(err, "status_code", None),
        "message": str(getattr(err, "message", err)),
        "body": getattr(err, "body", None),
    }


def run(scenarios, sdk_error):
    """Runs the scenario named by argv[1]; prints its result (or the SDK error) as JSON."""
    if len(sys.argv) != 2 or sys.argv[1] not in scenarios:
        sys.exit(f"usage: {sys.argv[0]} SCENARIO (one of: {', '.join(sorted(scenarios))})")
    name = sys.argv[1]
    try:
        result = scenarios[name]()
    except sdk_error as err:
        result = {"error": error_json(err)}
    result["scenario"] = name
    json.dump(result, sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")
