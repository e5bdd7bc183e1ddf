//! The stateless era's way for a call to ask the client something (SEP-2322): instead of a
//! server→client request, the call is answered `resultType: "input_required"` with the
//! `inputRequests` and an opaque `requestState`; the client fulfils them and retries the call
//! with `inputResponses` and the `requestState`.
//!
//! Targets speak the session era to Sluice and send real requests mid-call, so the bridge
//! keeps the target's call running: the call goes on in a task, its first request parks it
//! under a fresh random `requestState` and becomes the `input_required` answer; the retry
//! hands the client's responses to the waiting target and answers with what comes next (the
//! result, or the next request). A parked call waits [`PARK_LIMIT`] for its retry; the state
//! lives in this process only (a retry reaching another replica is told it is unknown).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use super::Ctx;
use super::jsonrpc::{INTERNAL_ERROR, INVALID_PARAMS, RpcError};
use super::session::Session;
use super::upstream::BoxFuture;
use super::upstream::relay::ClientPeer;

/// How long a parked call waits for the client's retry.
pub const PARK_LIMIT: Duration = Duration::from_secs(300);
/// Parked calls at most, per process.
pub const MAX_PARKED: usize = 10_000;

type Reply = oneshot::Sender<Result<Value, RpcError>>;

enum Event {
    /// The target asks the client something.
    Ask { method: String, params: Value, reply: Reply },
    /// The target tells the client something (progress, logging).
    Note { method: String, params: Value },
    /// The call is over.
    Done(Result<Value, RpcError>),
}

struct Parked {
    events: mpsc::Receiver<Event>,
    /// The waiting requests, by the key the client sees in `inputRequests`.
    replies: HashMap<String, Reply>,
    /// The method of the call, which the retry must repeat.
    method: String,
    /// The route the call came on (its backends' keys): a retry on another route is refused.
    owner: Arc<str>,
    since: Instant,
}

/// The parked calls of this process, by `requestState`.
#[derive(Default)]
pub struct Parking {
    map: Mutex<HashMap<String, Parked>>,
}

impl Parking {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Parked>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn park(&self, parked: Parked) -> Result<String, RpcError> {
        let mut map = self.lock();
        map.retain(|_, p| p.since.elapsed() < PARK_LIMIT);
        if map.len() >= MAX_PARKED {
            return Err(RpcError::new(INTERNAL_ERROR, "too many calls are waiting for client input; try again later"));
        }
        let state = format!("{:032x}", rand::random::<u128>());
        map.insert(state.clone(), parked);
        Ok(state)
    }

    /// The call parked under `state` on the route `owner` (left parked when asked for from
    /// another route).
    fn take(&self, state: &str, owner: &str) -> Option<Parked> {
        let mut map = self.lock();
        if map.get(state).is_none_or(|p| &*p.owner != owner) {
            return None;
        }
        map.remove(state).filter(|p| p.since.elapsed() < PARK_LIMIT)
    }
}

/// The client end of a call in this era: what the target asks or tells becomes an event of
/// the call.
struct InputPeer {
    events: mpsc::Sender<Event>,
}

impl ClientPeer for InputPeer {
    /// Stateless callers cannot be told apart: the sessions held for their calls end with them.
    fn affinity(&self) -> &str {
        ""
    }

    fn request(&self, method: &str, params: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
        let events = self.events.clone();
        let method = method.to_string();
        Box::pin(async move {
            let gone = || RpcError::new(INTERNAL_ERROR, format!("{method}: the client did not retry the call in time"));
            let (reply, answer) = oneshot::channel();
            events.send(Event::Ask { method: method.clone(), params, reply }).await.map_err(|_| gone())?;
            answer.await.map_err(|_| gone())?
        })
    }

    /// Goes down the answer under way if it is a stream; missed otherwise (or when the client
    /// is slow to read).
    fn notify(&self, method: &str, params: Value) {
        let _ = self.events.try_send(Event::Note { method: method.to_string(), params });
    }
}

/// Whether a request's params carry a `requestState` (a retry).
pub fn is_retry(params: Option<&Map<String, Value>>) -> bool {
    params.is_some_and(|p| p.contains_key("requestState"))
}

/// Where a round's notifications go: the SSE answer of the request under way.
pub struct Notes {
    pub stream: mpsc::Sender<Bytes>,
    /// The request's progress token (none: progress is not sent).
    pub progress_token: Option<Value>,
}

/// A call in progress, between two of its rounds.
pub struct Call {
    events: mpsc::Receiver<Event>,
    method: String,
}

/// Starts a call whose target may ask the client for input.
pub fn start(ctx: &Ctx, session: Arc<Session>, method: &str, params: Option<Map<String, Value>>) -> Call {
    let (tx, rx) = mpsc::channel(16);
    let task_ctx = ctx.clone();
    let task_method = method.to_string();
    tokio::spawn(async move {
        let peer = Arc::new(InputPeer { events: tx.clone() });
        tokio::select! {
            outcome = super::http::request(&task_ctx, &session, &task_method, params, Some(peer)) => {
                let _ = tx.send(Event::Done(outcome)).await;
            }
            // Nobody waits for the call any more (the client hung up, or never retried in
            // time): it is dropped, and the target told.
            () = tx.closed() => {}
        }
    });
    Call { events: rx, method: method.to_string() }
}

/// A retry: the client's responses go to the waiting target; the call goes on.
pub fn resume(ctx: &Ctx, method: &str, params: Option<&Map<String, Value>>) -> Result<Call, RpcError> {
    let invalid = || {
        RpcError::new(INVALID_PARAMS, "Invalid or expired requestState")
            .with_data(json!({"reason": "invalid_request_state"}))
    };
    let state = params.and_then(|p| p.get("requestState")).and_then(Value::as_str).ok_or_else(invalid)?;
    let parked = ctx.state.parking.take(state, &ctx.owner).ok_or_else(invalid)?;
    if parked.method != method {
        return Err(invalid());
    }
    let responses = params.and_then(|p| p.get("inputResponses")).and_then(Value::as_object);
    for (key, reply) in parked.replies {
        let answer = match responses.and_then(|r| r.get(&key)) {
            Some(v) => Ok(v.clone()),
            None => Err(RpcError::new(INVALID_PARAMS, format!("the client sent no input response for {key:?}"))),
        };
        let _ = reply.send(answer);
    }
    Ok(Call { events: parked.events, method: parked.method })
}

impl Call {
    /// What the call does next: its result, or a request for the client (the call parked).
    pub async fn next(mut self, ctx: &Ctx, notes: Option<&Notes>) -> Result<Value, RpcError> {
        loop {
            match self.events.recv().await {
                None => return Err(RpcError::new(INTERNAL_ERROR, "the call ended without an answer")),
                Some(Event::Done(outcome)) => return outcome,
                Some(Event::Note { method, mut params }) => {
                    let Some(notes) = notes else { continue };
                    if method == "notifications/progress" {
                        let Some(token) = &notes.progress_token else { continue };
                        // A target's progress without an object of params: dropped.
                        let Some(p) = super::jsonrpc::params_object(&mut params) else { continue };
                        p.insert("progressToken".into(), token.clone());
                    }
                    let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
                    let _ = notes.stream.try_send(super::stream_peer::event(&message));
                }
                Some(Event::Ask { method: asked, params, reply }) => {
                    let key = "input-1".to_string();
                    let request = json!({"method": asked, "params": params});
                    let replies = HashMap::from([(key.clone(), reply)]);
                    let state = ctx.state.parking.park(Parked {
                        events: self.events,
                        replies,
                        method: self.method,
                        owner: ctx.owner.clone(),
                        since: Instant::now(),
                    })?;
                    return Ok(json!({
                        "resultType": "input_required",
                        "inputRequests": {key: request},
                        "requestState": state,
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parked(owner: &str) -> Parked {
        let (_tx, events) = mpsc::channel(1);
        Parked {
            events,
            replies: HashMap::new(),
            method: "tools/call".into(),
            owner: owner.into(),
            since: Instant::now(),
        }
    }

    #[test]
    fn a_request_state_resumes_only_on_its_route() {
        let parking = Parking::default();
        let state = parking.park(parked("ns/tools")).expect("parked");
        assert!(parking.take(&state, "ns/other").is_none(), "another route cannot resume it");
        assert!(parking.take(&state, "ns/tools").is_some(), "and it is still there for its own");
        assert!(parking.take(&state, "ns/tools").is_none(), "once");
    }
}
