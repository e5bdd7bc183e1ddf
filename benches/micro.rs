//! Micro-benchmarks (divan): route matching with 10 and 10,000 routes, stream translation per
//! event, and token counting. Run with `cargo bench --bench micro`; CI runs each once with
//! `cargo bench --bench micro -- --test` to keep them working. Figures are per call, on this
//! machine: compare them within one run, not across machines.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use divan::{Bencher, black_box};
use http::{HeaderMap, Method};
use serde_json::json;
use sluice::ai::canonical::StreamEvent;
use sluice::ai::wire::{anthropic_stream, openai_stream};
use sluice::ir::Snapshot;
use sluice::ir::route::RequestView;
use sluice::ir::translate::{Context, translate};

fn main() {
    divan::main();
}

/// A snapshot with one Gateway and `n` HTTPRoutes with the prefixes `/r0/` … `/r{n-1}/`.
fn snapshot(n: usize) -> Snapshot {
    let mut yaml = String::from(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: sluice}\n\
         spec: {controllerName: sluice.dev/gateway-controller}\n---\n\
         apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: default}\n\
         spec:\n  gatewayClassName: sluice\n  listeners: [{name: http, protocol: HTTP, port: 80}]\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: up, namespace: default}\n\
         spec:\n  ports: [{port: 80}]\n",
    );
    for i in 0..n {
        let _ = write!(
            yaml,
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r{i}, namespace: default}}\n\
             spec:\n  parentRefs: [{{name: gw}}]\n  rules:\n  - matches: [{{path: {{type: PathPrefix, value: /r{i}/}}}}]\n\
             \x20   backendRefs: [{{name: up, port: 80}}]\n"
        );
    }
    let loaded = sluice::config::parse_text("bench.yaml", &yaml);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let resources: Vec<_> = loaded.resources.into_iter().map(|l| l.resource).collect();
    let ctx = Context {
        version: 1,
        now: "2026-01-01T00:00:00Z".into(),
        default_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        address_usable: Box::new(|_| true),
    };
    translate(&resources, &ctx)
}

/// Finding the route of `/r0/bytes/1024` (the shortest prefix: last in precedence order).
#[divan::bench(args = [10, 10_000])]
fn route_match(bencher: Bencher, routes: usize) {
    let snap = snapshot(routes);
    let port = snap.ports.values().next().expect("a port");
    let listener = port.listener_for("bench.local").expect("a listener");
    let headers = HeaderMap::new();
    let method = Method::GET;
    bencher.bench_local(|| {
        let req = RequestView { method: &method, path: black_box("/r0/bytes/1024"), query: None, headers: &headers };
        black_box(listener.routes.find("bench.local", &req).is_some())
    });
}

fn openai_chunk(i: usize) -> String {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": format!(" word{i}")}, "finish_reason": null}]})
    .to_string()
}

/// One OpenAI stream chunk read and written as Anthropic events (the translation per event).
#[divan::bench]
fn sse_openai_to_anthropic(bencher: Bencher) {
    let chunk = openai_chunk(7);
    let mut dec = openai_stream::Decoder::default();
    let mut enc = anthropic_stream::Encoder::new("gpt-4o-mini");
    let mut events: Vec<StreamEvent> = Vec::new();
    let mut out = String::new();
    // Past the start, so that each iteration is a content delta.
    dec.decode(&chunk, &mut events);
    events.iter().for_each(|e| enc.encode(e, &mut out));
    bencher.bench_local(|| {
        events.clear();
        out.clear();
        dec.decode(black_box(&chunk), &mut events);
        events.iter().for_each(|e| enc.encode(e, &mut out));
        black_box(out.len())
    });
}

/// One Anthropic `content_block_delta` read and written as an OpenAI chunk.
#[divan::bench]
fn sse_anthropic_to_openai(bencher: Bencher) {
    let start = json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
        "model": "claude-x", "content": [], "stop_reason": null, "usage": {"input_tokens": 5, "output_tokens": 1}}})
    .to_string();
    let block =
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}).to_string();
    let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " word7"}})
        .to_string();
    let mut dec = sluice::ai::wire::anthropic_stream::Decoder::default();
    let mut enc = openai_stream::Encoder::new("claude-x", 1, false);
    let mut events = Vec::new();
    let mut out = String::new();
    dec.decode("message_start", &start, &mut events);
    dec.decode("content_block_start", &block, &mut events);
    events.iter().for_each(|e| enc.encode(e, &mut out));
    bencher.bench_local(|| {
        events.clear();
        out.clear();
        dec.decode("content_block_delta", black_box(&delta), &mut events);
        events.iter().for_each(|e| enc.encode(e, &mut out));
        black_box(out.len())
    });
}

/// About 1 KiB of English prose.
fn prose() -> String {
    "The gateway accepts the request, picks an upstream, forwards it over a pooled connection and streams the \
     answer back, applying routing, limits and metrics on the way. "
        .repeat(7)
}

/// Counting the tokens of ~1 KiB of text (the encoder is built once, before).
#[divan::bench]
fn tokens_1kib(bencher: Bencher) {
    let text = prose();
    let _ = sluice::ai::tokens::estimate_text("gpt-4o-mini", "warm up");
    bencher
        .counter(divan::counter::BytesCount::of_str(&text))
        .bench_local(|| black_box(sluice::ai::tokens::estimate_text("gpt-4o-mini", black_box(&text))));
}
