#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 10), seeded from the golden wire fixtures,
# the examples and the MCP test messages; a crash fails the run and leaves its input under
# fuzz/artifacts/<target>/. Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz --locked`).
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-10}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(chat_request provider_response provider_stream event_stream manifests mcp_message http_request)
fi
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }
rustup toolchain list | grep -q '^nightly' || { echo "a nightly toolchain is missing: rustup toolchain install nightly" >&2; exit 1; }
cargo +nightly fuzz build >/dev/null
for t in "${targets[@]}"; do
  seeds="seeds/$t"
  rm -rf "$seeds" && mkdir -p "$seeds" "corpus/$t"
  cp ../src/ai/wire/golden/*.json "$seeds/"
  cp ../examples/*.yaml "$seeds/"
  # AWS event-stream frames (Bedrock): a mode byte (0: checksums made right) first; for the
  # stream target, Bedrock with an OpenAI or Anthropic client, checksums made right (0x80).
  if [ "$t" = event_stream ]; then
    for f in event_stream_seeds/*.bin; do printf '\000' | cat - "$f" > "$seeds/$(basename "$f")"; done
  fi
  if [ "$t" = provider_stream ]; then
    for f in event_stream_seeds/*.bin; do
      printf '\003\300' | cat - "$f" > "$seeds/openai-$(basename "$f")"
      printf '\007\300' | cat - "$f" > "$seeds/anthropic-$(basename "$f")"
    done
  fi
  # A client's bytes on a connection: request heads, HTTP/2 prefaces.
  if [ "$t" = http_request ]; then
    rm -f "$seeds"/* && cp http_seeds/* "$seeds/"
  fi
  # Stream targets read a format byte and a chunk size first.
  if [ "$t" = provider_stream ]; then
    for f in ../src/ai/wire/golden/*.json; do printf '\001\020' | cat - "$f" > "$seeds/stream-$(basename "$f")"; done
    # One short stream per provider format (selector byte: 0 OpenAI, 1 Anthropic, 2 Gemini).
    printf '\000\040data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}\n\ndata: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\ndata: [DONE]\n\n' > "$seeds/openai.sse"
    printf '\001\040event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3}}}\n\nevent: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\nevent: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\nevent: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n' > "$seeds/anthropic.sse"
    printf '\002\040data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}\n\n' > "$seeds/gemini.sse"
  fi
  echo "== $t: ${seconds}s"
  cargo +nightly fuzz run "$t" "corpus/$t" "$seeds" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 |
    (grep -E "^(stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)|DONE|^==.*ERROR|panicked|SUMMARY" || true) | tail -6
done
