#!/usr/bin/env bash
# Runs every test: installs the real clients and servers the end-to-end tests drive (the
# official openai, anthropic, google-genai and mcp Python SDKs, mcp-server-time,
# @modelcontextprotocol/server-everything, and the agent CLIs Claude Code, Codex CLI and Gemini
# CLI from npm), then `cargo test`, then the Gateway API conformance corpus again in Kubernetes
# mode (manifests written to a fake API server, status read back from it).
set -euo pipefail
cd "$(dirname "$0")/.."

pip_quiet=(--quiet --disable-pip-version-check)
if [ "$(id -u)" -eq 0 ]; then pip_quiet+=(--root-user-action=ignore); fi
python3 -m pip install "${pip_quiet[@]}" -r tests/python/requirements.txt -r tests/mcp/requirements.txt
npm ci --prefix tests/mcp --no-audit --no-fund --silent
# The agent CLIs (tests/agent_clis.rs). Install scripts are off (native helpers built with
# node-gyp would fetch Node's headers); the one the tests need is Claude Code's, which only puts
# the native binary of its platform package in place, and is run by itself.
npm ci --prefix tests/agents --no-audit --no-fund --silent --ignore-scripts
(cd tests/agents/node_modules/@anthropic-ai/claude-code && node install.cjs)

cargo test --locked "$@"
if [ $# -eq 0 ]; then
  SLUICE_CONFORMANCE_MODE=kubernetes cargo test --locked --test conformance
fi
