//! The fake LLM providers of P2 and P3: `POST /v1/chat/completions` (OpenAI) and
//! `POST /v1/messages` (Anthropic), answering a fixed, realistic response of about 1 KiB with
//! usage, or a stream when the request says `"stream": true`.
//!
//! The request body is read whole but not parsed: a substring search finds `"stream": true` and,
//! for streams, `"max_tokens"` (or `"max_completion_tokens"`).
//!
//! Streams: N content chunks, the first at once (after the role chunk, or `message_start`,
//! `content_block_start` and `ping`), then each one interval after the previous one was produced
//! (never two together, whatever the timer's lateness), then the end at once after the last (OpenAI: a chunk with `finish_reason`, a usage chunk with `"choices":[]`, `data: [DONE]`;
//! Anthropic: `content_block_stop`, `message_delta` with usage, `message_stop`).
//! - N: the `x-bench-chunks` request header, else the request's `max_tokens`
//!   (`max_completion_tokens`), else [`ChatOpts::default_chunks`]; at most [`MAX_CHUNKS`].
//! - interval: the `x-bench-interval-us` header, else [`ChatOpts::interval`]
//!   (`bench-upstream --chunk-interval-us`).
//!
//! Each content chunk's text is ` wK@@T`: K its index from 0, T the wall-clock time
//! (nanoseconds since the Unix epoch) at which the upstream produced it. The P3 client reads T
//! back to measure each chunk's delay, whatever a proxy did to the stream around the text.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::UpBody;

/// The most content chunks one stream sends.
pub const MAX_CHUNKS: usize = 100_000;
/// The largest request body read.
const MAX_REQUEST: usize = 8 << 20;

/// Server-wide stream settings.
#[derive(Clone, Copy, Debug)]
pub struct ChatOpts {
    pub interval: Duration,
    pub default_chunks: usize,
}

impl Default for ChatOpts {
    fn default() -> Self {
        ChatOpts { interval: Duration::from_millis(10), default_chunks: 100 }
    }
}

/// Which provider API a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    OpenAi,
    Anthropic,
}

impl Api {
    pub fn of<B>(req: &Request<B>) -> Option<Api> {
        if req.method() != Method::POST {
            return None;
        }
        match req.uri().path() {
            "/v1/chat/completions" => Some(Api::OpenAi),
            "/v1/messages" => Some(Api::Anthropic),
            _ => None,
        }
    }
}

/// A chat completion as OpenAI answers it (1 KiB with usage).
pub const OPENAI_COMPLETION: &str = concat!(
    r#"{"id":"chatcmpl-BenchAq2lx7TnF0kS9vYc3JrWmP4dE","object":"chat.completion","created":1764000000,"#,
    r#""model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"#,
    r#""A reverse proxy sits between clients and the servers that answer them. It accepts each request, "#,
    r#"chooses an upstream, forwards the request over a pooled connection and streams the answer back. "#,
    r#"Because every request passes through it, it is the natural place for TLS termination, routing by "#,
    r#"host and path, retries, rate limits, authentication and metrics. An LLM gateway adds a model-aware "#,
    r#"layer on top: it reads the request body to find the model, picks the provider that serves it, "#,
    r#"applies that provider's credentials, translates between API formats when needed and counts the "#,
    r#"tokens each answer used.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"#,
    r#""usage":{"prompt_tokens":245,"completion_tokens":112,"total_tokens":357,"#,
    r#""prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"#,
    r#""completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"#,
    r#""service_tier":"default","system_fingerprint":"fp_b8bc95a0ac"}"#
);

/// The same answer as Anthropic's Messages API gives it.
pub const ANTHROPIC_MESSAGE: &str = concat!(
    r#"{"id":"msg_01BenchXFDUDYJgAACzvnptvV","type":"message","role":"assistant","#,
    r#""model":"claude-3-5-haiku-20241022","content":[{"type":"text","text":"#,
    r#""A reverse proxy sits between clients and the servers that answer them. It accepts each request, "#,
    r#"chooses an upstream, forwards the request over a pooled connection and streams the answer back. "#,
    r#"Because every request passes through it, it is the natural place for TLS termination, routing by "#,
    r#"host and path, retries, rate limits, authentication and metrics. An LLM gateway adds a model-aware "#,
    r#"layer on top: it reads the request body to find the model, picks the provider that serves it, "#,
    r#"applies that provider's credentials, translates between API formats when needed and counts the "#,
    r#"tokens each answer used."}],"stop_reason":"end_turn","stop_sequence":null,"#,
    r#""usage":{"input_tokens":245,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"#,
    r#""output_tokens":112,"service_tier":"standard"}}"#
);

const CHUNK_HEAD: &str = r#"data: {"id":"chatcmpl-BenchStream7TnF0kS9vYc3JrW","object":"chat.completion.chunk","created":1764000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_b8bc95a0ac","choices":["#;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// The bytes after the first `"key"` that is followed by a colon (whitespace allowed around it).
fn value_of<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(i) = find(&body[from..], key) {
        let rest = trim_start(&body[from + i + key.len()..]);
        if let Some(r) = rest.strip_prefix(b":") {
            return Some(trim_start(r));
        }
        from += i + key.len();
    }
    None
}

fn leading_number(b: &[u8]) -> Option<usize> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    std::str::from_utf8(&b[..n]).ok()?.parse().ok()
}

/// Whether a JSON request body asks for a stream.
pub fn wants_stream(body: &[u8]) -> bool {
    value_of(body, b"\"stream\"").is_some_and(|v| v.starts_with(b"true"))
}

/// The request's `max_tokens` (or `max_completion_tokens`).
pub fn max_tokens(body: &[u8]) -> Option<usize> {
    value_of(body, b"\"max_tokens\"").or_else(|| value_of(body, b"\"max_completion_tokens\"")).and_then(leading_number)
}

fn header_num<B>(req: &Request<B>, name: &str) -> Option<u64> {
    req.headers().get(name)?.to_str().ok()?.trim().parse().ok()
}

fn json(status: StatusCode, body: Bytes) -> Response<UpBody> {
    let mut resp = Response::new(UpBody::Full(Some(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Answers a request for one of the fake providers.
pub async fn respond(api: Api, req: Request<Incoming>, opts: ChatOpts) -> Response<UpBody> {
    let chunks_header = header_num(&req, "x-bench-chunks");
    let interval_header = header_num(&req, "x-bench-interval-us");
    let body = match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let msg = r#"{"error":{"message":"request body unreadable or too large","type":"invalid_request_error"}}"#;
            return json(StatusCode::BAD_REQUEST, Bytes::from_static(msg.as_bytes()));
        }
    };
    if !wants_stream(&body) {
        let answer = match api {
            Api::OpenAi => OPENAI_COMPLETION,
            Api::Anthropic => ANTHROPIC_MESSAGE,
        };
        return json(StatusCode::OK, Bytes::from_static(answer.as_bytes()));
    }
    let chunks = chunks_header
        .map(|n| n as usize)
        .or_else(|| max_tokens(&body))
        .unwrap_or(opts.default_chunks)
        .clamp(1, MAX_CHUNKS);
    let interval = interval_header.map_or(opts.interval, Duration::from_micros);
    let mut resp = Response::new(UpBody::Chat(ChatStream::new(api, chunks, interval)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Streams go through nginx unbuffered (its `proxy_buffering` stays on for P2's plain answers).
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// Wall-clock nanoseconds since the Unix epoch: comparable across the processes of one machine.
pub fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// A streamed answer: content chunks on a timer, then the end.
pub struct ChatStream {
    api: Api,
    chunks: usize,
    sent: usize,
    done: bool,
    interval: Duration,
    /// Armed after each chunk for the next one (the first goes out at once).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ChatStream {
    pub fn new(api: Api, chunks: usize, interval: Duration) -> Self {
        ChatStream { api, chunks, sent: 0, done: false, interval, timer: None }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.sent == self.chunks {
            self.done = true;
            return Poll::Ready(Some(Bytes::from(self.tail())));
        }
        // The first token goes out at once, with the head; each next one an interval after the
        // previous one was produced (a tokio `Interval` would catch up on late ticks in a burst).
        if let Some(t) = &mut self.timer
            && t.as_mut().poll(cx).is_pending()
        {
            return Poll::Pending;
        }
        let k = self.sent;
        self.sent += 1;
        if self.sent < self.chunks && !self.interval.is_zero() {
            let next = tokio::time::Instant::now() + self.interval;
            match &mut self.timer {
                Some(t) => t.as_mut().reset(next),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(next))),
            }
        } else {
            self.timer = None;
        }
        let mut out = String::with_capacity(if k == 0 { 1024 } else { 320 });
        if k == 0 {
            self.head(&mut out);
        }
        let text = format!(" w{k}@@{}", now_ns());
        match self.api {
            Api::OpenAi => {
                out.push_str(CHUNK_HEAD);
                out.push_str(r#"{"index":0,"delta":{"content":""#);
                out.push_str(&text);
                out.push_str(r#""},"logprobs":null,"finish_reason":null}]}"#);
                out.push_str("\n\n");
            }
            Api::Anthropic => {
                out.push_str("event: content_block_delta\ndata: ");
                out.push_str(r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""#);
                out.push_str(&text);
                out.push_str("\"}}\n\n");
            }
        }
        Poll::Ready(Some(Bytes::from(out)))
    }

    fn head(&self, out: &mut String) {
        match self.api {
            Api::OpenAi => {
                out.push_str(CHUNK_HEAD);
                out.push_str(
                    r#"{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}"#,
                );
                out.push_str("\n\n");
            }
            Api::Anthropic => {
                out.push_str("event: message_start\ndata: ");
                out.push_str(concat!(
                    r#"{"type":"message_start","message":{"id":"msg_01BenchStreamYJgAACzvnptvV","type":"message","#,
                    r#""role":"assistant","model":"claude-3-5-haiku-20241022","content":[],"stop_reason":null,"#,
                    r#""stop_sequence":null,"usage":{"input_tokens":245,"cache_creation_input_tokens":0,"#,
                    r#""cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}"#
                ));
                out.push_str("\n\n");
                out.push_str("event: content_block_start\ndata: ");
                out.push_str(r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#);
                out.push_str("\n\n");
                out.push_str("event: ping\ndata: {\"type\": \"ping\"}\n\n");
            }
        }
    }

    fn tail(&self) -> String {
        let n = self.chunks;
        match self.api {
            Api::OpenAi => format!(
                "{CHUNK_HEAD}{}\n\n{CHUNK_HEAD}],\"usage\":{{\"prompt_tokens\":245,\"completion_tokens\":{n},\"total_tokens\":{},{}}}}}\n\ndata: [DONE]\n\n",
                r#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#,
                245 + n,
                concat!(
                    r#""prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"#,
                    r#""completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}"#
                ),
            ),
            Api::Anthropic => format!(
                "event: content_block_stop\ndata: {}\n\nevent: message_delta\ndata: {}{n}}}}}\n\nevent: message_stop\ndata: {}\n\n",
                r#"{"type":"content_block_stop","index":0}"#,
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":"#,
                r#"{"type":"message_stop"}"#,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_stream_and_max_tokens() {
        assert!(wants_stream(br#"{"model":"m","stream":true}"#));
        assert!(wants_stream(br#"{"model":"m", "stream" : true, "max_tokens": 7}"#));
        assert!(!wants_stream(br#"{"model":"m","stream":false,"x":"stream"}"#));
        assert!(!wants_stream(br#"{"content":"\"stream\" is a word","model":"m"}"#));
        assert_eq!(max_tokens(br#"{"max_tokens": 42,"stream":true}"#), Some(42));
        assert_eq!(max_tokens(br#"{"max_completion_tokens":9}"#), Some(9));
        assert_eq!(max_tokens(br#"{"stream":true}"#), None);
    }

    #[test]
    fn fixed_answers_are_json_of_about_1_kib() {
        for a in [OPENAI_COMPLETION, ANTHROPIC_MESSAGE] {
            assert!((900..1300).contains(&a.len()), "{}", a.len());
            assert!(a.starts_with('{') && a.ends_with('}') && a.contains("\"usage\""));
        }
    }

    #[test]
    fn streams_have_every_event() {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        for api in [Api::OpenAi, Api::Anthropic] {
            let mut s = ChatStream::new(api, 3, Duration::ZERO);
            let mut all = String::new();
            while let Poll::Ready(Some(b)) = s.poll_next(&mut cx) {
                all.push_str(std::str::from_utf8(&b).expect("utf-8"));
            }
            assert!(s.is_done());
            assert_eq!(all.matches("@@").count(), 3, "{all}");
            let events: Vec<&str> = all.split("\n\n").filter(|e| !e.is_empty()).collect();
            match api {
                Api::OpenAi => {
                    assert_eq!(events.len(), 1 + 3 + 2 + 1, "{all}");
                    assert!(events[events.len() - 2].contains("\"choices\":[],\"usage\":{"));
                    assert_eq!(events[events.len() - 1], "data: [DONE]");
                }
                Api::Anthropic => {
                    let names: Vec<&str> =
                        events.iter().map(|e| e.lines().next().unwrap_or("").trim_start_matches("event: ")).collect();
                    assert_eq!(
                        names,
                        [
                            "message_start",
                            "content_block_start",
                            "ping",
                            "content_block_delta",
                            "content_block_delta",
                            "content_block_delta",
                            "content_block_stop",
                            "message_delta",
                            "message_stop"
                        ]
                    );
                    assert!(events[7].contains(r#""usage":{"output_tokens":3}}"#), "{}", events[7]);
                }
            }
        }
    }
}
