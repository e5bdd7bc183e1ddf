//! The benchmark scenarios run with wrk/h2load: P1 (plain proxying), P2 (a chat completion
//! through the AI path) and P6's routing cost. P3 (streaming) has its own client and runner: `streaming.rs`.

/// The protocol the load generator speaks to the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 keep-alive, with wrk.
    H1,
    /// h2c with prior knowledge, with h2load, this many streams per connection.
    H2 { streams: u32 },
}

/// One load shape, run against every target.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Stable identifier, used by `--scenarios` and in the raw CSV.
    pub id: &'static str,
    /// The issue's scenario group (`P1`, ...).
    pub group: &'static str,
    pub title: &'static str,
    pub proto: Proto,
    /// Request path on the upstream (see `upstream.rs` for what each path answers).
    pub path: &'static str,
    pub connections: u32,
    /// `POST` of [`CHAT_REQUEST`] (through a wrk Lua script) instead of a `GET`.
    pub chat: bool,
    /// The targets this scenario runs against (those of them that were started).
    pub targets: &'static [&'static str],
}

/// The targets of P1: plain proxies.
pub const P1_TARGETS: &[&str] =
    &["direct", "nginx", "haproxy", "sluice-1w", "sluice-2w", "sluice-1w-log", "sluice-1w-trace"];
/// The targets of P2: a plain forward (nginx) against LLM gateways.
pub const P2_TARGETS: &[&str] = &[
    "direct",
    "nginx",
    "sluice-ai-openai",
    "sluice-ai-anthropic",
    "sluice-ai-policy",
    "sluice-ai-log",
    "sluice-ai-trace",
    "litellm",
];

/// The API key every P2/P3 client sends: LiteLLM's master key (Sluice replaces it with the
/// provider's key from its Secret; nginx passes it on; the bench upstream ignores it).
pub const CLIENT_KEY: &str = "sk-bench-litellm-master";

/// The model every P2/P3 request asks for.
pub const MODEL: &str = "gpt-4o-mini";

/// A realistic OpenAI chat request of about 1 KiB (system prompt, a short conversation).
pub const CHAT_REQUEST: &str = concat!(
    r#"{"model":"gpt-4o-mini","messages":["#,
    r#"{"role":"system","content":"You are a concise technical assistant for a team that runs an API gateway in "#,
    r#"production. Answer in plain English, in one paragraph, without lists or headings. When you are not sure, "#,
    r#"say so instead of guessing, and never invent configuration options that do not exist."},"#,
    r#"{"role":"user","content":"We put a reverse proxy in front of our model servers last week. What does it "#,
    r#"actually do for each request?"},"#,
    r#"{"role":"assistant","content":"It accepts the request, picks an upstream, forwards it over a pooled "#,
    r#"connection and streams the answer back, applying routing, limits and metrics on the way."},"#,
    r#"{"role":"user","content":"And what does an LLM gateway add on top of that? Please keep it short, our "#,
    r#"on-call engineers read this on their phones during incidents."}],"#,
    r#""temperature":0.2,"max_tokens":256,"user":"bench-client-0001"}"#
);

/// P1: plain proxying of GETs with fixed-size bodies.
pub fn p1() -> Vec<Scenario> {
    let h1 = |id, title, path, connections| Scenario {
        id,
        group: "P1",
        title,
        proto: Proto::H1,
        path,
        connections,
        chat: false,
        targets: P1_TARGETS,
    };
    let h2 = |id, title, streams, connections| Scenario {
        id,
        group: "P1",
        title,
        proto: Proto::H2 { streams },
        path: "/bytes/1024",
        connections,
        chat: false,
        targets: P1_TARGETS,
    };
    vec![
        h1("p1-h1-1k-c1", "HTTP/1.1 keep-alive, 1 KiB response, 1 connection", "/bytes/1024", 1),
        h1("p1-h1-1k-c32", "HTTP/1.1 keep-alive, 1 KiB response, 32 connections", "/bytes/1024", 32),
        h1("p1-h1-1k-c64", "HTTP/1.1 keep-alive, 1 KiB response, 64 connections", "/bytes/1024", 64),
        h1("p1-h1-16k-c1", "HTTP/1.1 keep-alive, 16 KiB response, 1 connection", "/bytes/16384", 1),
        h1("p1-h1-16k-c64", "HTTP/1.1 keep-alive, 16 KiB response, 64 connections", "/bytes/16384", 64),
        h2("p1-h2-1k-c1", "h2c, 1 KiB response, 1 connection × 1 stream", 1, 1),
        h2("p1-h2-1k-c8m8", "h2c, 1 KiB response, 8 connections × 8 streams", 8, 8),
    ]
}

/// P2: a 1 KiB chat completion (non-streamed), POSTed over HTTP/1.1 keep-alive.
pub fn p2() -> Vec<Scenario> {
    let chat = |id, title, connections| Scenario {
        id,
        group: "P2",
        title,
        proto: Proto::H1,
        path: "/v1/chat/completions",
        connections,
        chat: true,
        targets: P2_TARGETS,
    };
    vec![
        chat("p2-chat-c1", "chat completion, ~1 KiB request and answer, HTTP/1.1 keep-alive, 1 connection", 1),
        chat("p2-chat-c32", "chat completion, ~1 KiB request and answer, HTTP/1.1 keep-alive, 32 connections", 32),
    ]
}

/// The targets of P6's routing cost: each proxy with 10 and with 10,000 routes.
pub const P6_TARGETS: &[&str] = &["nginx-r10", "nginx-r10k", "sluice-r10", "sluice-r10k"];

/// P6: the routing cost of 10 against 10,000 path-prefix routes (see `config_scale.rs`).
pub fn p6() -> Vec<Scenario> {
    vec![Scenario {
        id: "p6-routes-c32",
        group: "P6",
        title: "HTTP/1.1 keep-alive, 1 KiB response, 32 connections, to the shortest of N path-prefix routes",
        proto: Proto::H1,
        path: crate::config_scale::PATH,
        connections: 32,
        chat: false,
        targets: P6_TARGETS,
    }]
}

/// Every wrk/h2load scenario, in run order.
pub fn all() -> Vec<Scenario> {
    let mut v = p1();
    v.extend(p2());
    v.extend(p6());
    v
}

/// Where each request's last message starts: P2 writes a new number there on every request, as
/// every real conversation's last turn is new (a gateway may remember what clients resend, such
/// as system prompts and history; it cannot remember the new turn). The number starts at random
/// in every wrk run, so that no warm-up or earlier round has sent the same turn.
const LAST_TURN: &str = "And what does an LLM gateway add";

/// The wrk script that POSTs [`CHAT_REQUEST`], its last message numbered anew each time.
pub fn wrk_chat_script() -> String {
    let (head, tail) = CHAT_REQUEST.split_once(LAST_TURN).unwrap_or((CHAT_REQUEST, ""));
    let tail = if tail.is_empty() { String::new() } else { format!("{LAST_TURN}{tail}") };
    format!(
        "-- Generated by bench-run: POST a ~1 KiB OpenAI chat request, its last turn numbered anew.\n\
         wrk.method = \"POST\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer {CLIENT_KEY}\"\n\
         local head = [==[{head}]==]\n\
         local tail = [==[{tail}]==]\n\
         -- A random start (40 bits from /dev/urandom): no run repeats another's turns.\n\
         local f = assert(io.open(\"/dev/urandom\", \"rb\"))\n\
         local bytes = f:read(5)\n\
         f:close()\n\
         local run = 0\n\
         for i = 1, #bytes do run = run * 256 + bytes:byte(i) end\n\
         local n = 0\n\
         request = function()\n\
         \x20 n = n + 1\n\
         \x20 return wrk.format(nil, nil, nil, head .. \"Ticket \" .. run .. \"-\" .. n .. \". \" .. tail)\n\
         end\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_request_is_about_1_kib_and_not_streamed() {
        assert!((850..1200).contains(&CHAT_REQUEST.len()), "{}", CHAT_REQUEST.len());
        assert!(!crate::upstream::chat::wants_stream(CHAT_REQUEST.as_bytes()));
        assert!(CHAT_REQUEST.contains(MODEL));
        assert!(CHAT_REQUEST.contains(LAST_TURN), "the last turn is where the number goes");
        assert!(wrk_chat_script().contains("local head = [==[{\"model\""));
    }
}
