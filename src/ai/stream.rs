//! Streamed responses: the provider's SSE events are read one at a time, translated (or passed
//! through on same-format paths), and written downstream the moment each is ready. A stream
//! that breaks upstream ends downstream with a proper error event, never a hang.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};

use std::sync::Arc;

use super::canonical::{StopReason, StreamEvent, Usage};
use super::errors::ErrorKind;
use super::eventstream;
use super::guards::StreamGuard;
use super::signatures::{self, Signatures};
use super::wire::{
    anthropic_stream, bedrock_stream, gemini_client_stream, gemini_stream, openai_responses_stream, openai_stream,
};
use crate::httpkit::body::{BoxError, ProxyBody};
use crate::httpkit::{sse, sse_bounds};
use crate::ir::ai::WireFormat;

/// How the provider's events are read.
pub enum Decode {
    OpenAi(openai_stream::Decoder),
    Anthropic(anthropic_stream::Decoder),
    Gemini(gemini_stream::Decoder),
    /// Bedrock's ConverseStream, framed as AWS event-stream messages rather than SSE.
    Bedrock(bedrock_stream::Decoder),
}

impl Decode {
    /// Decodes one provider event into `out`.
    fn decode(&mut self, name: &str, data: &str, out: &mut Vec<StreamEvent>) {
        match self {
            Decode::OpenAi(d) => d.decode(data, out),
            Decode::Anthropic(d) => d.decode(name, data, out),
            Decode::Gemini(d) => d.decode(data, out),
            Decode::Bedrock(d) => d.decode(name, data, out),
        }
    }

    /// The provider's stream ended: what a format without an end marker still has to say.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        match self {
            Decode::Gemini(d) => d.finish(out),
            Decode::Bedrock(d) => d.finish(out),
            Decode::OpenAi(_) | Decode::Anthropic(_) => {}
        }
    }
}

/// How events are written for the client.
pub enum Encode {
    OpenAi(openai_stream::Encoder),
    Anthropic(anthropic_stream::Encoder),
    Responses(Box<openai_responses_stream::Encoder>),
    Gemini(gemini_client_stream::Encoder),
    /// Same format: the provider's events go through untouched, except the usage-only chunk
    /// an OpenAI client did not ask for.
    PassOpenAi {
        include_usage: bool,
    },
    PassAnthropic,
    /// Gemini's events (server-sent) go through untouched.
    PassGemini,
}

/// Called once when the stream ends, with the usage the provider reported, the generated text
/// (for an estimate when it reported none) and why the answer stopped.
pub type OnDone = Box<dyn FnOnce(Option<Usage>, &str, Option<&StopReason>) + Send>;

/// Generated text kept for estimating usage; more than this is not needed for an estimate.
const MAX_KEPT_TEXT: usize = 1 << 20;

/// One provider event: its name (SSE `event:`, or the event-stream `:event-type`) and data.
type RawEvent = Result<(String, String), String>;

struct State {
    events: Pin<Box<dyn Stream<Item = RawEvent> + Send>>,
    decode: Decode,
    encode: Encode,
    usage: Option<Usage>,
    /// Why the answer stopped, as the provider said.
    stop: Option<StopReason>,
    ended: bool,
    on_done: Option<OnDone>,
    scratch: Vec<StreamEvent>,
    text: String,
    /// Keep the generated text for an estimate: only for providers that may report no usage.
    keep_text: bool,
    /// Where signed thinking is remembered (for the provider's format), and the thinking of
    /// the block under way.
    signatures: Option<(Arc<Signatures>, WireFormat)>,
    thinking: String,
    /// The route's output guards.
    guard: Option<StreamGuard>,
    /// Same-format OpenAI chunks that carry only deltas go on without a JSON parse: the
    /// gateway keeps none of their text (no guard reads it, no estimate needs it). Usage, the
    /// stop reason and the end are always decoded.
    skim_deltas: bool,
}

impl State {
    /// Handles one provider event; returns the text to send (possibly empty).
    fn step(&mut self, name: &str, data: &str) -> String {
        self.scratch.clear();
        if !(self.skim_deltas && openai_stream::only_deltas(data)) {
            self.decode.decode(name, data, &mut self.scratch);
        }
        self.render(name, data)
    }

    /// The provider's stream ended: what a format without an end marker (Gemini) still has to
    /// say.
    fn eof(&mut self) -> String {
        self.scratch.clear();
        self.decode.finish(&mut self.scratch);
        if let Some(g) = &mut self.guard {
            self.scratch.extend(g.finish());
        }
        if self.scratch.is_empty() {
            return String::new();
        }
        self.render("", "")
    }

    /// Notes what the decoded events say (usage, text, the end) and encodes them; same-format
    /// encoders pass the raw event (`name`, `data`) on instead.
    fn render(&mut self, name: &str, data: &str) -> String {
        if let Some(g) = &mut self.guard {
            g.apply(&mut self.scratch);
        }
        // A chunk that decodes to nothing but usage (OpenAI's extra chunk when usage was asked
        // for): decided from the decoded events, not from the chunk's spelling.
        let usage_only = !self.scratch.is_empty() && self.scratch.iter().all(|e| matches!(e, StreamEvent::Usage(_)));
        for ev in &self.scratch {
            match ev {
                StreamEvent::TextDelta(t)
                | StreamEvent::ThinkingDelta(t)
                | StreamEvent::ToolCallDelta { arguments: t, .. }
                    if self.keep_text && self.usage.is_none() && self.text.len() < MAX_KEPT_TEXT =>
                {
                    self.text.push_str(t);
                }
                StreamEvent::ThinkingDelta(t)
                    if self.signatures.is_some() && self.thinking.len() + t.len() <= signatures::MAX_TEXT =>
                {
                    self.thinking.push_str(t);
                }
                StreamEvent::SignatureDelta(s) => {
                    if let Some((memory, format)) = &self.signatures {
                        memory.remember(*format, &self.thinking, s);
                    }
                    self.thinking.clear();
                }
                StreamEvent::Usage(u) => self.usage = Some(*u),
                StreamEvent::Stop(r) => self.stop = Some(r.clone()),
                StreamEvent::End => self.ended = true,
                _ => {}
            }
        }
        let mut out = String::new();
        match &mut self.encode {
            Encode::OpenAi(e) => self.scratch.iter().for_each(|ev| e.encode(ev, &mut out)),
            Encode::Anthropic(e) => self.scratch.iter().for_each(|ev| e.encode(ev, &mut out)),
            Encode::Responses(e) => self.scratch.iter().for_each(|ev| e.encode(ev, &mut out)),
            Encode::Gemini(e) => self.scratch.iter().for_each(|ev| e.encode(ev, &mut out)),
            Encode::PassOpenAi { .. } | Encode::PassAnthropic | Encode::PassGemini if data.is_empty() => {}
            Encode::PassGemini => sse::write(&mut out, None, None, data),
            Encode::PassOpenAi { include_usage } => {
                // The chunk that carries only usage is ours when the client did not ask for it.
                if !usage_only || *include_usage {
                    sse::write(&mut out, None, None, data);
                }
            }
            Encode::PassAnthropic => {
                let name = Some(name).filter(|n| !n.is_empty() && *n != "message");
                sse::write(&mut out, name, None, data);
            }
        }
        out
    }

    /// The closing text when the provider's stream ended (or broke) without its end marker.
    fn close(&mut self, broke: Option<String>) -> String {
        let mut out = String::new();
        if !self.ended {
            let message =
                broke.unwrap_or_else(|| "the provider's stream ended before the response was complete".into());
            let events = [StreamEvent::Error { kind: ErrorKind::Upstream, message }, StreamEvent::End];
            match &mut self.encode {
                Encode::OpenAi(e) => events.iter().for_each(|ev| e.encode(ev, &mut out)),
                Encode::Anthropic(e) => events.iter().for_each(|ev| e.encode(ev, &mut out)),
                Encode::Responses(e) => events.iter().for_each(|ev| e.encode(ev, &mut out)),
                Encode::Gemini(e) => events.iter().for_each(|ev| e.encode(ev, &mut out)),
                Encode::PassGemini => {
                    let mut e = gemini_client_stream::Encoder::new("", true);
                    e.encode(&events[0], &mut out);
                }
                Encode::PassOpenAi { .. } => {
                    let mut e = openai_stream::Encoder::new("", 0, false);
                    events.iter().for_each(|ev| e.encode(ev, &mut out));
                }
                Encode::PassAnthropic => {
                    let mut e = anthropic_stream::Encoder::new("");
                    e.encode(&events[0], &mut out);
                }
            }
            self.ended = true;
        }
        if let Some(done) = self.on_done.take() {
            done(self.usage, &self.text, self.stop.as_ref());
        }
        out
    }
}

/// The downstream body for a provider's SSE response.
/// `keep_text`: the provider may not report usage, so keep the generated text to estimate it.
/// What a translated stream notes besides the answer: the generated text, for a usage estimate
/// (only for providers that may report no usage), and signed thinking.
pub struct Notes {
    pub keep_text: bool,
    pub signatures: Option<(Arc<Signatures>, WireFormat)>,
    /// Output guards: events are masked (and never passed through raw).
    pub guard: Option<StreamGuard>,
}

/// A provider's body, as the bytes it sends (an error ends it).
pub type Upstream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// A provider's HTTP body as [`Upstream`] bytes, given up when it sends nothing for `idle`.
pub fn upstream_of(body: Incoming, idle: Option<std::time::Duration>) -> Upstream {
    let body = crate::httpkit::idle::bounded(crate::httpkit::body::from_incoming(body), idle);
    Box::pin(body.into_data_stream().map(|r| r.map_err(|e| e.to_string())))
}

/// The provider's events, framed as its format frames them.
fn raw_events(upstream: Upstream, decode: &Decode) -> Pin<Box<dyn Stream<Item = RawEvent> + Send>> {
    match decode {
        Decode::Bedrock(_) => Box::pin(aws_events(upstream)),
        Decode::OpenAi(_) | Decode::Anthropic(_) | Decode::Gemini(_) => Box::pin(
            sse_bounds::bounded(upstream)
                .eventsource()
                .map(|r| r.map(|e| (e.event, e.data)).map_err(|e| e.to_string())),
        ),
    }
}

/// The provider's whole stream as canonical events, for guards that decide on a whole answer
/// before any of it is sent. More than `limit` bytes of events is an error, as is a broken
/// stream.
pub async fn collect(upstream: Upstream, mut decode: Decode, limit: usize) -> Result<Vec<StreamEvent>, String> {
    let mut events = raw_events(upstream, &decode);
    let (mut out, mut size) = (Vec::new(), 0);
    while let Some(ev) = events.next().await {
        let (name, data) = ev.map_err(|e| format!("the provider's stream broke: {e}"))?;
        size += name.len() + data.len();
        if size > limit {
            return Err(format!("the answer is longer than the {limit} bytes held for the guards"));
        }
        decode.decode(&name, &data, &mut out);
        if matches!(out.last(), Some(StreamEvent::End)) {
            return Ok(out);
        }
    }
    decode.finish(&mut out);
    Ok(out)
}

pub fn translate(upstream: Upstream, decode: Decode, encode: Encode, on_done: OnDone, notes: Notes) -> ProxyBody {
    let events = raw_events(upstream, &decode);
    let skim_deltas = matches!(encode, Encode::PassOpenAi { .. }) && notes.guard.is_none() && !notes.keep_text;
    let state = State {
        events,
        decode,
        encode,
        usage: None,
        stop: None,
        ended: false,
        on_done: Some(on_done),
        scratch: Vec::new(),
        text: String::new(),
        keep_text: notes.keep_text,
        signatures: notes.signatures,
        thinking: String::new(),
        guard: notes.guard,
        skim_deltas,
    };
    let stream = futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            match state.events.next().await {
                Some(Ok((name, data))) => {
                    let out = state.step(&name, &data);
                    if !out.is_empty() {
                        return Some((Ok::<_, BoxError>(Frame::data(Bytes::from(out))), Some(state)));
                    }
                    if state.ended {
                        let tail = state.close(None);
                        return (!tail.is_empty()).then(|| (Ok(Frame::data(Bytes::from(tail))), None));
                    }
                }
                Some(Err(e)) => {
                    let tail = state.close(Some(format!("the provider's stream broke: {e}")));
                    return Some((Ok(Frame::data(Bytes::from(tail))), None));
                }
                None => {
                    let mut tail = state.eof();
                    tail.push_str(&state.close(None));
                    return (!tail.is_empty()).then(|| (Ok(Frame::data(Bytes::from(tail))), None));
                }
            }
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

/// The messages of an AWS event-stream body as (event type, payload) pairs; an exception
/// message is named `exception:<type>`. A message must be UTF-8 JSON to be read.
fn aws_events(upstream: Upstream) -> impl Stream<Item = RawEvent> + Send {
    let body = upstream;
    futures_util::stream::unfold(
        (body, eventstream::Decoder::default(), false),
        |(mut body, mut dec, done)| async move {
            if done {
                return None;
            }
            loop {
                match dec.next_message() {
                    Err(e) => return Some((Err(e), (body, dec, true))),
                    Ok(Some(m)) => {
                        let name = match (m.header(":message-type"), m.header(":event-type")) {
                            (Some("exception"), _) => format!(
                                "{}{}",
                                bedrock_stream::EXCEPTION_PREFIX,
                                m.header(":exception-type").unwrap_or("exception")
                            ),
                            (Some("error"), _) => {
                                let code = m.header(":error-code").unwrap_or("error");
                                let msg = m.header(":error-message").unwrap_or_default();
                                return Some((Err(format!("{code}: {msg}")), (body, dec, true)));
                            }
                            (_, Some(t)) => t.to_string(),
                            (_, None) => continue,
                        };
                        let data = String::from_utf8_lossy(&m.payload).into_owned();
                        return Some((Ok((name, data)), (body, dec, false)));
                    }
                    Ok(None) => match body.next().await {
                        Some(Ok(bytes)) => dec.push(&bytes),
                        Some(Err(e)) => return Some((Err(e), (body, dec, true))),
                        None if dec.has_partial() => {
                            return Some((Err("the stream ended inside a message".into()), (body, dec, true)));
                        }
                        None => return None,
                    },
                }
            }
        },
    )
}

/// A body from canonical events known whole (the mock provider's, or an answer held for the
/// guards), paced by `interval`.
pub fn from_events(events: Vec<StreamEvent>, encode: Encode, interval: Duration, on_done: OnDone) -> ProxyBody {
    let usage = events.iter().find_map(|e| match e {
        StreamEvent::Usage(u) => Some(*u),
        _ => None,
    });
    let stop = events.iter().find_map(|e| match e {
        StreamEvent::Stop(r) => Some(r.clone()),
        _ => None,
    });
    // Without usage, the text is what an estimate counts.
    let text: String = match usage {
        Some(_) => String::new(),
        None => events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::TextDelta(t) | StreamEvent::ThinkingDelta(t) => Some(t.as_str()),
                StreamEvent::ToolCallDelta { arguments, .. } => Some(arguments.as_str()),
                _ => None,
            })
            .collect(),
    };
    // Usage is reported when the stream ends, as a provider's would be.
    let text = Arc::new(text);
    let state = (events.into_iter(), encode, true, Some(on_done));
    let stream = futures_util::stream::unfold(state, move |(mut it, mut enc, first, mut done)| {
        let (text, stop) = (text.clone(), stop.clone());
        async move {
            let Some(ev) = it.next() else {
                if let Some(done) = done.take() {
                    done(usage, &text, stop.as_ref());
                }
                return None;
            };
            if !first && matches!(ev, StreamEvent::TextDelta(_)) && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            let mut out = String::new();
            match &mut enc {
                Encode::OpenAi(e) => e.encode(&ev, &mut out),
                Encode::Anthropic(e) => e.encode(&ev, &mut out),
                Encode::Responses(e) => e.encode(&ev, &mut out),
                Encode::Gemini(e) => e.encode(&ev, &mut out),
                Encode::PassOpenAi { .. } | Encode::PassAnthropic | Encode::PassGemini => {}
            }
            Some((Ok::<_, BoxError>(Frame::data(Bytes::from(out))), (it, enc, false, done)))
        }
    });
    StreamBody::new(stream).boxed_unsync()
}
