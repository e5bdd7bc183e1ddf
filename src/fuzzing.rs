//! Entry points for the fuzz targets (`fuzz/`): each takes outside bytes as a peer would send
//! them and drives one family of parsers the way the data path does. Nothing here may panic on
//! any input; the targets only call these. The unit tests below run every entry point over the
//! golden fixtures (the fuzzers' seeds), so that the entry points stay compiled and correct in
//! every build.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt as _;
use serde_json::Value;

use crate::ai::canonical::ChatRequest;
use crate::ai::stream::{self, Encode, Notes};
use crate::ai::wire::{
    anthropic, anthropic_stream, bedrock, gemini, openai_chat, openai_responses, openai_responses_stream, openai_stream,
};
use crate::ir::ai::WireFormat;
use crate::mcp::session_token::Seal as _;

/// Provider formats, by a selector byte.
const FORMATS: [WireFormat; 4] = [WireFormat::OpenAi, WireFormat::Anthropic, WireFormat::Gemini, WireFormat::Bedrock];

/// A client's chat request in each client format (OpenAI Chat Completions, Anthropic Messages,
/// OpenAI Responses), then, when it parses, built for every provider format.
pub fn chat_request(data: &[u8]) {
    // The direct parse and the byte edit of a same-format body take any bytes without panic.
    if let Some(Ok(req)) = openai_chat::parse_request_bytes(data) {
        build_everywhere(&req);
    }
    let _ = crate::ai::wire::splice::set_members(data, &[("model", b"\"m\""), ("stream_options", b"{}")]);
    let _ = crate::ai::wire::splice::member(data, "model");
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let parsed =
        [openai_chat::parse_request(&body), anthropic::parse_request(&body), openai_responses::parse_request(&body)];
    for req in parsed.into_iter().flatten() {
        build_everywhere(&req);
    }
}

fn build_everywhere(req: &ChatRequest) {
    let _ = openai_chat::build_request(req, "gpt-4o-mini");
    let _ = anthropic::build_request(req, "claude-sonnet-4-5");
    let _ = gemini::build_request(req);
    let _ = bedrock::build_request(req, "anthropic.claude-3-haiku");
    let _ = crate::ai::tokens::estimate_prompt(req);
}

/// A provider's whole answer in each provider format, rendered for every client format when it
/// parses.
pub fn provider_response(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let parsed = [
        openai_chat::parse_response(&body),
        anthropic::parse_response(&body),
        gemini::parse_response(&body),
        bedrock::parse_response(&body),
    ];
    for r in parsed.into_iter().flatten() {
        let _ = openai_chat::render_response(&r, 0);
        let _ = anthropic::render_response(&r);
        let _ = openai_responses::render_response(&r, 0, &body);
    }
}

/// One runtime for every stream a fuzz process translates.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| {
        // A fuzz process without a runtime can test nothing: say why and stop.
        eprintln!("cannot start a runtime: {e}");
        std::process::exit(2)
    })
});

/// A provider's streamed answer. The first byte picks the provider format (SSE for OpenAI,
/// Anthropic and Gemini; AWS event-stream for Bedrock) and the client format it is translated
/// to (or passed through); the second, how the bytes are cut into chunks as they arrive. The
/// rest is the body: framing, bounds, decoding and encoding all run as on the data path.
pub fn provider_stream(data: &[u8]) {
    let [pick, cut, body @ ..] = data else { return };
    let format = FORMATS[usize::from(pick & 3)];
    let encode = match (pick >> 2) % 5 {
        0 => Encode::OpenAi(openai_stream::Encoder::new("m", 0, true)),
        1 => Encode::Anthropic(anthropic_stream::Encoder::new("m")),
        2 => Encode::Responses(Box::new(openai_responses_stream::Encoder::new("m", 0, &Value::Null))),
        3 => Encode::PassOpenAi { include_usage: pick & 0x80 != 0 },
        _ => Encode::PassAnthropic,
    };
    let size = usize::from(*cut).max(1);
    // Bedrock's frames carry checksums: with the top bit of `cut` set they are made right, so
    // that the decoding behind them is reached (else nearly every input fails the prelude's).
    let body = if format == WireFormat::Bedrock && cut & 0x80 != 0 { with_checksums(body) } else { body.to_vec() };
    let chunks: Vec<Result<Bytes, String>> = body.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let upstream: stream::Upstream = Box::pin(futures_util::stream::iter(chunks));
    let decode = crate::ai::providers::of(format).stream_decoder("m", &HeaderMap::new());
    let notes = Notes { keep_text: true, signatures: None, guard: None };
    let translated = stream::translate(upstream, decode, encode, Box::new(|_, _, _| {}), notes);
    RUNTIME.block_on(async {
        let _ = translated.collect().await;
    });
}

/// AWS event-stream framing alone (Bedrock's streams), message by message.
pub fn event_stream(data: &[u8]) {
    let [mode, data @ ..] = data else { return };
    // Even modes make every frame's checksums right, so that headers and payloads are reached;
    // odd ones leave the bytes as they are (wrong checksums are refused).
    let data = if mode & 1 == 0 { with_checksums(data) } else { data.to_vec() };
    let mut decoder = crate::ai::eventstream::Decoder::default();
    decoder.push(&data);
    // Each message consumes at least its prelude: bounded by the input's length.
    for _ in 0..=data.len() / 16 {
        match decoder.next_message() {
            Ok(Some(m)) => {
                let _ = m.header(":event-type");
            }
            Ok(None) | Err(_) => break,
        }
    }
}

/// `data` with the checksums of each AWS event-stream frame made right: the prelude's CRC32
/// (bytes 8..12) and the message's (its last four), frame after frame as the lengths say.
fn with_checksums(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut at = 0;
    while out.len() >= at + 12 {
        let total = u32::from_be_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]]) as usize;
        let prelude = crc32fast::hash(&out[at..at + 8]);
        out[at + 8..at + 12].copy_from_slice(&prelude.to_be_bytes());
        if total < 16 || at + total > out.len() {
            break;
        }
        let message = crc32fast::hash(&out[at..at + total - 4]);
        out[at + total - 4..at + total].copy_from_slice(&message.to_be_bytes());
        at += total;
    }
    out
}

/// Kubernetes manifests as `sluice run` loads them, translated into a snapshot when they load.
pub fn manifests(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let loaded = crate::config::parse_text("fuzz.yaml", text);
    if !loaded.errors.is_empty() {
        return;
    }
    let resources: Vec<_> = loaded.resources.into_iter().map(|l| l.resource).collect();
    let ctx = crate::ir::translate::Context {
        version: 1,
        now: "2026-01-01T00:00:00Z".into(),
        default_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        address_usable: Box::new(|_| true),
    };
    let _ = crate::ir::translate::translate(&resources, &ctx);
}

/// The gateway a request head is fuzzed against: mock AI routes, a redirect, header
/// modifiers, a rewrite towards a Service without endpoints (answered without a connection),
/// and a CORS rule.
const HTTP_CONFIG: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: sluice}
spec: {controllerName: sluice.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: sluice
  listeners: [{name: http, protocol: HTTP, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: ["api.example", "*.wild.example"]
  rules:
    - matches: [{path: {type: PathPrefix, value: /v1}}]
      backendRefs: [{group: sluice.dev, kind: AIBackend, name: mock}]
    - matches: [{path: {type: PathPrefix, value: /old}, headers: [{name: x-a, value: b}]}]
      filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
    - matches: [{path: {type: RegularExpression, value: "/svc/[a-z]+"}, queryParams: [{name: q, value: "1"}]}]
      filters:
        - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-set, value: v}], remove: [x-drop]}}
        - {type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /}, hostname: in.example}}
        - {type: CORS, cors: {allowOrigins: ["https://app.example"], allowMethods: [GET, POST]}}
      backendRefs: [{name: nowhere, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: nowhere, namespace: default}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {name: mock, namespace: default}
spec:
  provider: {name: m, type: mock}
"#;

/// Bytes a client sends on a connection (HTTP/1.1, or HTTP/2 with prior knowledge), served as
/// the listener serves them, through hyper and every request phase, on an in-memory connection
/// that the client half-closes after its last byte. Returns what the gateway answered.
pub fn http_request(data: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    static RT: LazyLock<Option<tokio::runtime::Runtime>> =
        LazyLock::new(|| tokio::runtime::Builder::new_current_thread().enable_all().build().ok());
    static GATEWAY: LazyLock<Option<std::sync::Arc<crate::runtime::Runtime>>> = LazyLock::new(|| {
        let rt = RT.as_ref()?;
        let loaded = crate::config::parse_text("fuzz.yaml", HTTP_CONFIG);
        let resources: Vec<_> = loaded.resources.into_iter().map(|l| l.resource).collect();
        rt.block_on(async {
            let gw = crate::runtime::Runtime::new(crate::runtime::BindMode::Ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            let snapshot = gw.apply(resources).await;
            snapshot.status.problems().is_empty().then_some(gw)
        })
    });
    let (Some(rt), Some(gw)) = (RT.as_ref(), GATEWAY.as_ref()) else { return Vec::new() };
    let shared = gw.shared.clone();
    let bind = crate::ir::BindKey { gateway: crate::ir::ObjectKey::new("default", "gw"), port: 80 };
    let conn = std::sync::Arc::new(crate::proxy::ConnInfo {
        bind,
        scheme: "http",
        remote: std::net::SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000),
        sni_listener: None,
    });
    rt.block_on(async {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let bounds = crate::ir::policy::ConnectionsIr::default();
        let serving =
            tokio::spawn(async move { crate::proxy::listener::serve_http(server, conn, shared, &bounds, true).await });
        let mut answer = Vec::new();
        let (mut reader, mut writer) = tokio::io::split(client);
        let write = async {
            let _ = writer.write_all(data).await;
            let _ = writer.shutdown().await;
        };
        let read = async { while reader.read_buf(&mut answer).await.is_ok_and(|n| n > 0) && answer.len() < 1 << 20 {} };
        // Bounded: a hang here is a finding (libFuzzer's -timeout reports it).
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async { tokio::join!(write, read) }).await;
        serving.abort();
        answer
    })
}

/// One message a client posts to an MCP endpoint, and the ids and cursors it may hand back.
pub fn mcp_message(data: &[u8]) {
    let _ = crate::mcp::jsonrpc::parse(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    for kind in [crate::mcp::federation::ListKind::Tools, crate::mcp::federation::ListKind::Resources] {
        let _ = crate::mcp::cursor::Cursor::decode(text, kind);
    }
    static KEY: LazyLock<Option<crate::mcp::session_token::SessionKey>> =
        LazyLock::new(|| crate::mcp::session_token::SessionKey::new(b"a fuzzing key of thirty-two byte").ok());
    if let Some(k) = &*KEY {
        let _ = k.open(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every golden fixture (the fuzzers' seeds) through every entry point.
    #[test]
    fn the_seeds_go_through_every_entry_point() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ai/wire/golden");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("golden fixtures") {
            let data = std::fs::read(entry.expect("entry").path()).expect("read");
            chat_request(&data);
            provider_response(&data);
            for pick in 0..20u8 {
                provider_stream(&[&[pick, 7][..], &data].concat());
            }
            event_stream(&data);
            manifests(&data);
            mcp_message(&data);
            seen += 1;
        }
        assert!(seen > 10, "{seen} fixtures");
        manifests(include_bytes!("../examples/quickstart.yaml"));
        for (_, seed) in http_seeds() {
            let _ = http_request(&seed);
        }
    }

    /// The `http_request` target's seeds (`fuzz/http_seeds`), by file name.
    fn http_seeds() -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/http_seeds");
        let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .expect("fuzz/http_seeds")
            .map(|e| {
                let path = e.expect("entry").path();
                (
                    path.file_name().unwrap_or_default().to_string_lossy().to_string(),
                    std::fs::read(&path).expect("read"),
                )
            })
            .collect();
        seeds.sort();
        seeds
    }

    /// A frame with wrong checksums is refused; made right, it decodes.
    #[test]
    fn checksums_are_made_right_frame_by_frame() {
        let mut frame = Vec::new();
        frame.extend_from_slice(&18u32.to_be_bytes());
        frame.extend_from_slice(&0u32.to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(b"{}");
        frame.extend_from_slice(&[0; 4]);
        let two = [frame.clone(), frame].concat();
        let mut d = crate::ai::eventstream::Decoder::default();
        d.push(&two);
        assert!(d.next_message().is_err(), "wrong checksums are refused");
        let mut d = crate::ai::eventstream::Decoder::default();
        d.push(&with_checksums(&two));
        for _ in 0..2 {
            assert!(matches!(d.next_message(), Ok(Some(_))), "made right, each frame decodes");
        }
        // The event-stream seeds (`fuzz/event_stream_seeds`) are whole Bedrock streams.
        let seed = include_bytes!("../fuzz/event_stream_seeds/bedrock-converse-stream.bin");
        let mut d = crate::ai::eventstream::Decoder::default();
        d.push(seed);
        let mut events = 0;
        while let Ok(Some(m)) = d.next_message() {
            assert!(m.header(":event-type").is_some());
            events += 1;
        }
        assert_eq!(events, 7);
        event_stream(&[&[0u8][..], seed].concat());
        provider_stream(&[&[3u8, 0xc0][..], seed].concat());
    }

    /// Requests through the whole request path are answered (the fuzz target's seeds).
    #[test]
    fn http_requests_are_answered() {
        let answers: std::collections::HashMap<String, String> = http_seeds()
            .into_iter()
            .map(|(name, seed)| (name, String::from_utf8_lossy(&http_request(&seed)).to_string()))
            .collect();
        let answer = |name: &str| answers.get(name).cloned().unwrap_or_default();
        assert!(answer("get.http").starts_with("HTTP/1.1 200 OK"), "{}", answer("get.http"));
        let chat = answer("chat.http");
        assert!(chat.starts_with("HTTP/1.1 200 OK") && chat.contains("chat.completion"), "{chat}");
        let pipelined = answer("redirect-pipelined.http");
        assert!(pipelined.starts_with("HTTP/1.1 301") && pipelined.matches("HTTP/1.1 ").count() == 2, "{pipelined}");
        assert!(answer("chunked-h2c-upgrade.http").starts_with("HTTP/1.1 5"), "no endpoints");
        assert!(answer("h2-preface.http").len() > 9, "an HTTP/2 server preface");
    }
}
