//! Fake LLM providers for the AI gateway tests, written from the providers' published wire formats.
//!
//! - [`openai`]: OpenAI Chat Completions (JSON and SSE chunks ending with `data: [DONE]`),
//!   embeddings, models and OpenAI's error shape.
//! - [`anthropic`]: Anthropic Messages (JSON and named SSE events), `count_tokens`, models,
//!   Anthropic's error shape and its header checks (`x-api-key`, `anthropic-version`).
//! - [`gemini`]: Google's Gemini API (`generateContent`, `streamGenerateContent` as SSE or a
//!   JSON array, models), Google's error shape and the request checks of the real API.
//!
//! - [`bedrock`]: AWS Bedrock Runtime Converse and ConverseStream (binary event-stream
//!   framing), checking every request's SigV4 signature.
//! - [`vertex`]: Google Vertex AI (Gemini and Claude publishers, answered by the Gemini and
//!   Anthropic fakes) with Google's OAuth token endpoint, checking the service-account JWT.
//!
//! The OpenAI fake also plays an Azure OpenAI resource ([`openai::Script::azure`]).
//!
//! Each fake binds `127.0.0.1:0`, records every request it receives (see [`RecordedRequest`]) and
//! answers from a script: a queue of behaviours taken one per request, then a fallback. A
//! behaviour is a reply (streamed when the request asks for a stream), an HTTP error in the
//! provider's format (optionally with `Retry-After`), a TCP reset before any response byte, a
//! stream cut (some events, then the connection is dropped) or an in-stream error event.
//! Dropping the handle (its last clone) stops the listener and every open connection.

pub mod anthropic;
pub mod bedrock;
pub mod gemini;
mod gemini_checks;
pub mod openai;
pub mod vertex;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinSet};

/// The response body type of the fakes.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `Value::Null` when it is empty or not JSON.
    pub body: Value,
    pub raw_body: Bytes,
}

impl RecordedRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    /// True when the body is present but not valid JSON.
    pub fn body_is_invalid_json(&self) -> bool {
        !self.raw_body.is_empty() && serde_json::from_slice::<Value>(&self.raw_body).is_err()
    }
}

/// What a provider handler decided for one request.
pub(crate) enum Outcome {
    Respond(Response<Body>),
    /// Close the connection with a TCP RST, without a response byte.
    Reset,
}

/// One step of a response body.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Data(Bytes),
    Sleep(Duration),
    /// End the body with an error: hyper drops the connection mid-body.
    Cut,
}

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;
pub(crate) type Handler = Arc<dyn Fn(RecordedRequest) -> BoxFuture + Send + Sync>;

/// Behaviours consumed one per request, then a fallback.
pub(crate) struct Queue<B> {
    items: Mutex<VecDeque<B>>,
    fallback: B,
}

impl<B: Clone> Queue<B> {
    pub(crate) fn new(items: Vec<B>, fallback: B) -> Self {
        Queue { items: Mutex::new(items.into()), fallback }
    }

    pub(crate) fn next(&self) -> B {
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        items.pop_front().unwrap_or_else(|| self.fallback.clone())
    }

    pub(crate) fn push(&self, b: B) {
        self.items.lock().unwrap_or_else(PoisonError::into_inner).push_back(b);
    }

    pub(crate) fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A counter for ids (`chatcmpl-fake-1`, `msg_fake_1`…): deterministic per fake.
#[derive(Default)]
pub(crate) struct Ids(AtomicU64);

impl Ids {
    pub(crate) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The listener and the record of requests shared by the fakes.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    accept: AbortHandle,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The accept task owns the connection tasks (a JoinSet): aborting it ends them all.
        self.accept.abort();
    }
}

impl Server {
    pub(crate) async fn start(handler: Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a fake provider on loopback");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept_loop(listener, handler, requests.clone()));
        Server { addr, requests, accept: task.abort_handle() }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

async fn accept_loop(listener: TcpListener, handler: Handler, requests: Arc<Mutex<Vec<RecordedRequest>>>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    conns.spawn(serve_conn(tcp, handler.clone(), requests.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_conn(tcp: TcpStream, handler: Handler, requests: Arc<Mutex<Vec<RecordedRequest>>>) {
    let _ = tcp.set_nodelay(true);
    // A duplicate descriptor lets a handler set SO_LINGER 0 on the socket hyper owns; closing
    // the original afterwards makes the kernel send RST instead of FIN.
    let dup = tcp.as_fd().try_clone_to_owned().ok().map(std::net::TcpStream::from);
    let reset = Arc::new(Notify::new());
    let service_reset = reset.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        let requests = requests.clone();
        let reset = service_reset.clone();
        async move {
            let recorded = record(req).await;
            requests.lock().unwrap_or_else(PoisonError::into_inner).push(recorded.clone());
            match handler(recorded).await {
                Outcome::Respond(resp) => Ok::<_, Infallible>(resp),
                Outcome::Reset => {
                    reset.notify_one();
                    std::future::pending().await
                }
            }
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    tokio::select! {
        _ = conn => {}
        _ = reset.notified() => {
            if let Some(Ok(dup)) = dup.map(TcpStream::from_std) {
                let _ = dup.set_zero_linger();
            }
            // `conn` (and with it the socket) is dropped here: RST.
        }
    }
}

async fn record(req: Request<Incoming>) -> RecordedRequest {
    let (parts, body) = req.into_parts();
    let raw_body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".to_owned()),
        headers,
        body: serde_json::from_slice(&raw_body).unwrap_or(Value::Null),
        raw_body,
    }
}

/// A body from pieces: data frames, pauses, and an optional cut.
pub(crate) fn piece_body(pieces: Vec<Piece>) -> Body {
    let stream = futures_util::stream::unfold(pieces.into_iter(), |mut it| async move {
        loop {
            match it.next()? {
                Piece::Data(b) => return Some((Ok(Frame::data(b)), it)),
                Piece::Sleep(d) => tokio::time::sleep(d).await,
                Piece::Cut => {
                    return Some((Err(io::Error::new(io::ErrorKind::ConnectionAborted, "fake stream cut")), it));
                }
            }
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

/// A JSON response with `extra` headers.
pub(crate) fn json_response(status: u16, extra: &[(&str, String)], body: &Value) -> Response<Body> {
    let bytes = Bytes::from(serde_json::to_vec(body).expect("serialise JSON"));
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("content-length", bytes.len().to_string());
    for (n, v) in extra {
        builder = builder.header(*n, v.as_str());
    }
    builder.body(piece_body(vec![Piece::Data(bytes)])).expect("response")
}

/// A JSON response that announces its full length, sends about half of it and drops the
/// connection.
pub(crate) fn cut_json_response(extra: &[(&str, String)], body: &Value) -> Response<Body> {
    let bytes = Bytes::from(serde_json::to_vec(body).expect("serialise JSON"));
    let half = bytes.slice(..bytes.len() / 2);
    let mut builder = Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("content-length", bytes.len().to_string());
    for (n, v) in extra {
        builder = builder.header(*n, v.as_str());
    }
    builder.body(piece_body(vec![Piece::Data(half), Piece::Sleep(FLUSH_PAUSE), Piece::Cut])).expect("response")
}

/// An SSE response (`text/event-stream`) made of `pieces`.
pub(crate) fn sse_response(extra: &[(&str, String)], pieces: Vec<Piece>) -> Response<Body> {
    let mut builder = Response::builder()
        .status(200)
        .header("content-type", "text/event-stream; charset=utf-8")
        .header("cache-control", "no-cache");
    for (n, v) in extra {
        builder = builder.header(*n, v.as_str());
    }
    builder.body(piece_body(pieces)).expect("response")
}

/// Time given to hyper to flush what was written before a cut.
pub(crate) const FLUSH_PAUSE: Duration = Duration::from_millis(30);

/// Turns a list of SSE events into body pieces: `first_byte_delay` before the first, `interval`
/// between events; with `cut_after`, the stream is dropped after that many events (the remaining
/// ones are never sent).
pub(crate) fn event_pieces(
    events: Vec<String>,
    first_byte_delay: Duration,
    interval: Duration,
    cut_after: Option<usize>,
) -> Vec<Piece> {
    let mut pieces = Vec::new();
    if !first_byte_delay.is_zero() {
        pieces.push(Piece::Sleep(first_byte_delay));
    }
    for (i, event) in events.into_iter().enumerate() {
        if cut_after == Some(i) {
            break;
        }
        if i > 0 && !interval.is_zero() {
            pieces.push(Piece::Sleep(interval));
        }
        pieces.push(Piece::Data(Bytes::from(event)));
    }
    if cut_after.is_some() {
        pieces.push(Piece::Sleep(FLUSH_PAUSE));
        pieces.push(Piece::Cut);
    }
    pieces
}

/// Splits `text` into at most `n` non-empty pieces of nearly equal length (on char boundaries);
/// an empty text gives no piece.
pub fn split_chunks(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let n = n.clamp(1, chars.len());
    let (base, extra) = (chars.len() / n, chars.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        out.push(chars[start..start + len].iter().collect());
        start += len;
    }
    out
}

/// A rough token figure for texts the script gave no number for (about four characters a token).
pub(crate) fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// Every string found under `value`, concatenated with spaces (for estimates).
pub(crate) fn all_text(value: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push(' ');
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(value, &mut out);
    out
}
