#!/usr/bin/env bash
# Runs every test: installs the real clients and servers the end-to-end tests drive (the
# official openai, anthropic and mcp Python SDKs, mcp-server-time, and
# @modelcontextprotocol/server-everything from npm), then `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

pip_quiet=(--quiet --disable-pip-version-check)
if [ "$(id -u)" -eq 0 ]; then pip_quiet+=(--root-user-action=ignore); fi
python3 -m pip install "${pip_quiet[@]}" -r tests/python/requirements.txt -r tests/mcp/requirements.txt
npm ci --prefix tests/mcp --no-audit --no-fund --silent

cargo test --locked "$@"
