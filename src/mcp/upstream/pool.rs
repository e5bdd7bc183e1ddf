//! One upstream session per target, kept outside the snapshot and keyed by the target's stable
//! id (`namespace/backend/target`), so that it outlives reloads that leave the target as it was.
//!
//! A session found closed is replaced at once, transparently; a target that cannot be reached
//! is retried no sooner than after a back-off (1 s, doubling to 30 s), and fails fast meanwhile.
//!
//! A call whose client takes server requests (sampling, elicitation, roots, progress) holds a
//! session of its own for its length instead (see [`super::relay`]): at most
//! [`EXCLUSIVE_PER_TARGET`] at once per target, each kept afterwards for the same client's next
//! such call while idle for less than [`SPARE_IDLE`] (at most [`EXCLUSIVE_PER_TARGET`] kept). A
//! stdio target thus runs at most `1 + 2 × EXCLUSIVE_PER_TARGET` processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use serde_json::{Map, Value};

use super::relay::{ClientPeer, Relay};
use super::{Connector, ListKind, McpUpstream, Page, UpstreamError};
use crate::httpkit::deadline;
use crate::ir::mcp::McpTargetIr;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Sessions held by calls that take server requests, at most, per target.
pub const EXCLUSIVE_PER_TARGET: usize = 8;
/// How long such a session is kept for the next such call.
pub const SPARE_IDLE: Duration = Duration::from_secs(300);

/// How long each kind of exchange may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub list: Duration,
    pub call: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(30), list: Duration::from_secs(30), call: Duration::from_secs(120) }
    }
}

/// Where what a shared session's target sends goes, per target (no client is attached to it).
pub type Background = Arc<dyn Fn(&McpTargetIr) -> Arc<dyn ClientPeer> + Send + Sync>;

pub struct UpstreamPool {
    connector: Arc<dyn Connector>,
    timeouts: Timeouts,
    background: Option<Background>,
    slots: Mutex<HashMap<Arc<str>, Arc<Slot>>>,
}

struct Slot {
    fingerprint: String,
    state: tokio::sync::Mutex<SlotState>,
    /// Per listing, the names seen (after the target's filters): keeps `OnConflict` naming
    /// stable while the target is down and across pages.
    known: Mutex<HashMap<ListKind, Known>>,
    /// The capabilities of the last session (what the target offers while it is down).
    capabilities: Mutex<Option<Value>>,
    /// Permits for sessions held by one call each.
    exclusive: Arc<tokio::sync::Semaphore>,
    /// Such sessions between calls.
    spare: Mutex<Vec<Spare>>,
}

/// A session held by one call. When the call ends, also when it is dropped midway (its client
/// cancelled or hung up: the target is told), the session goes back among the spares of its
/// client, unless it was found unfit or its caller was stateless: stateless callers cannot be
/// told apart, and what one told the target in the session (roots, a log level) must not reach
/// another, so their sessions end with their calls.
struct Held<'a> {
    slot: &'a Slot,
    session: Option<Arc<dyn McpUpstream>>,
    relay: Arc<Relay>,
    affinity: String,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.relay.detach();
        let Some(session) = self.session.take().filter(|s| !s.is_closed()) else { return };
        if self.affinity.is_empty() {
            return;
        }
        let mut spares = self.slot.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spares.len() >= EXCLUSIVE_PER_TARGET
            && let Some(oldest) = spares.iter().enumerate().min_by_key(|(_, s)| s.since).map(|(i, _)| i)
        {
            spares.swap_remove(oldest);
        }
        let affinity = std::mem::take(&mut self.affinity);
        spares.push(Spare { affinity, session, relay: self.relay.clone(), since: Instant::now() });
    }
}

struct Spare {
    /// The client it served ([`ClientPeer::affinity`]).
    affinity: String,
    session: Arc<dyn McpUpstream>,
    relay: Arc<Relay>,
    since: Instant,
}

/// The names of one listing of one target.
#[derive(Default)]
struct Known {
    /// The last complete pass over every page.
    complete: Vec<String>,
    /// The pass under way (from the first page to the page last fetched).
    current: Vec<String>,
}

/// A target's state, for `/status`, the metrics and the dashboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetHealth {
    pub target: Arc<str>,
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Default)]
struct SlotState {
    session: Option<Arc<dyn McpUpstream>>,
    /// When the last attempt failed, why, and how long to wait before the next.
    failure: Option<(Instant, String, Duration)>,
}

impl UpstreamPool {
    pub fn new(connector: Arc<dyn Connector>, timeouts: Timeouts) -> Self {
        UpstreamPool { connector, timeouts, background: None, slots: Mutex::new(HashMap::new()) }
    }

    /// Every target a request has reached since it was configured, with its state: `up` (a
    /// live session), `down` (the last attempt failed; the reason), `connecting`, or `idle`
    /// (no session yet, or it ended and is started again on the next request).
    pub fn health(&self) -> Vec<TargetHealth> {
        let slots: Vec<(Arc<str>, Arc<Slot>)> =
            self.slots.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut out: Vec<TargetHealth> = slots
            .into_iter()
            .map(|(target, slot)| {
                let (state, detail) = match slot.state.try_lock() {
                    Err(_) => ("connecting", None),
                    Ok(st) => match (&st.session, &st.failure) {
                        (Some(s), _) if !s.is_closed() => ("up", None),
                        (_, Some((_, why, _))) => ("down", Some(why.clone())),
                        _ => ("idle", None),
                    },
                };
                TargetHealth { target, state, detail }
            })
            .collect();
        out.sort_by(|a, b| a.target.cmp(&b.target));
        out
    }

    /// Sends what the targets' shared sessions send to `background`.
    pub fn with_background(mut self, background: Background) -> Self {
        self.background = Some(background);
        self
    }

    fn slot(&self, target: &McpTargetIr) -> Arc<Slot> {
        let fingerprint = target.fingerprint();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        match slots.get(&target.id) {
            Some(s) if s.fingerprint == fingerprint => s.clone(),
            _ => {
                let slot = Arc::new(Slot {
                    fingerprint,
                    state: tokio::sync::Mutex::new(SlotState::default()),
                    known: Mutex::new(HashMap::new()),
                    capabilities: Mutex::new(None),
                    exclusive: Arc::new(tokio::sync::Semaphore::new(EXCLUSIVE_PER_TARGET)),
                    spare: Mutex::new(Vec::new()),
                });
                // A changed target replaces the old slot; its session ends with the last user.
                slots.insert(target.id.clone(), slot.clone());
                slot
            }
        }
    }

    /// The target's live session, started (or restarted) when needed.
    pub async fn session(&self, target: &Arc<McpTargetIr>) -> Result<Arc<dyn McpUpstream>, UpstreamError> {
        let slot = self.slot(target);
        let mut state = slot.state.lock().await;
        if let Some(s) = &state.session {
            if !s.is_closed() {
                return Ok(s.clone());
            }
            tracing::warn!(target = %target.id, "MCP target session ended; reconnecting");
            state.session = None;
        }
        if let Some((at, why, wait)) = &state.failure
            && at.elapsed() < *wait
        {
            return Err(UpstreamError::Unavailable(why.clone()));
        }
        // No call's client answers this session's requests: its calls are those of clients that
        // take none. What it sends between calls goes to the background, if any.
        let relay = match &self.background {
            Some(b) => Relay::with_background(b(target)),
            None => Relay::default(),
        };
        let connect = self.connector.connect(target.clone(), Arc::new(relay));
        let result = deadline::within(self.timeouts.connect, connect, UpstreamError::Timeout).await;
        match result {
            Ok(s) => {
                tracing::info!(target = %target.id, "MCP target session started");
                *slot.capabilities.lock().unwrap_or_else(|p| p.into_inner()) = Some(s.capabilities());
                state.failure = None;
                state.session = Some(s.clone());
                Ok(s)
            }
            Err(e) => {
                let wait = state.failure.as_ref().map_or(FIRST_BACKOFF, |(_, _, w)| (*w * 2).min(MAX_BACKOFF));
                let why = format!("cannot connect: {e}");
                tracing::warn!(target = %target.id, error = %why, retry_in = ?wait, "MCP target unavailable");
                state.failure = Some((Instant::now(), why.clone(), wait));
                Err(UpstreamError::Unavailable(why))
            }
        }
    }

    /// Records a failure of a session in use: a broken one is dropped, to be replaced.
    async fn failed(&self, target: &McpTargetIr, session: &Arc<dyn McpUpstream>, err: &UpstreamError) {
        if !err.breaks_session() {
            return;
        }
        let slot = self.slot(target);
        let mut state = slot.state.lock().await;
        if state.session.as_ref().is_some_and(|s| Arc::ptr_eq(s, session)) {
            tracing::warn!(target = %target.id, error = %err, "MCP target session failed");
            state.session = None;
        }
    }

    /// Runs one exchange on the target's session within `limit`; a session broken by it is
    /// dropped, to be replaced next time.
    async fn exchange<T>(
        &self,
        target: &Arc<McpTargetIr>,
        (method, name): (&'static str, Option<&str>),
        (limit, client): (Duration, Option<Arc<dyn ClientPeer>>),
        f: impl FnOnce(Arc<dyn McpUpstream>) -> super::BoxFuture<'static, Result<T, UpstreamError>>,
    ) -> Result<T, UpstreamError> {
        super::trace::call(&target.id, method, name, self.exchange_untraced(target, limit, client, f)).await
    }

    async fn exchange_untraced<T>(
        &self,
        target: &Arc<McpTargetIr>,
        limit: Duration,
        client: Option<Arc<dyn ClientPeer>>,
        f: impl FnOnce(Arc<dyn McpUpstream>) -> super::BoxFuture<'static, Result<T, UpstreamError>>,
    ) -> Result<T, UpstreamError> {
        if let Some(client) = client {
            return self.exclusive(target, limit, client, f).await;
        }
        let session = self.session(target).await?;
        let result = deadline::within(limit, f(session.clone()), UpstreamError::Timeout).await;
        if let Err(e) = &result {
            self.failed(target, &session, e).await;
        }
        result
    }

    /// Runs one exchange on a session held for it alone, its requests relayed to `client`.
    async fn exclusive<T>(
        &self,
        target: &Arc<McpTargetIr>,
        limit: Duration,
        client: Arc<dyn ClientPeer>,
        f: impl FnOnce(Arc<dyn McpUpstream>) -> super::BoxFuture<'static, Result<T, UpstreamError>>,
    ) -> Result<T, UpstreamError> {
        let slot = self.slot(target);
        let Ok(Ok(_permit)) = tokio::time::timeout(limit, slot.exclusive.clone().acquire_owned()).await else {
            return Err(UpstreamError::Unavailable(format!(
                "all {EXCLUSIVE_PER_TARGET} sessions for calls that take server requests are busy"
            )));
        };
        if let Some((at, why, wait)) = &slot.state.lock().await.failure
            && at.elapsed() < *wait
        {
            return Err(UpstreamError::Unavailable(why.clone()));
        }
        let spare = {
            let mut spares = slot.spare.lock().unwrap_or_else(|p| p.into_inner());
            spares.retain(|s| !s.session.is_closed() && s.since.elapsed() < SPARE_IDLE);
            let mine = spares.iter().position(|s| s.affinity == client.affinity());
            mine.map(|i| spares.swap_remove(i))
        };
        let (session, relay) = match spare {
            Some(s) => (s.session, s.relay),
            None => {
                let relay = Arc::new(Relay::default());
                let connect = self.connector.connect(target.clone(), relay.clone());
                let connect =
                    async { connect.await.map_err(|e| UpstreamError::Unavailable(format!("cannot connect: {e}"))) };
                (deadline::within(self.timeouts.connect, connect, UpstreamError::Timeout).await?, relay)
            }
        };
        let affinity = client.affinity().to_string();
        relay.attach(client);
        let mut held = Held { slot: &slot, session: Some(session.clone()), relay, affinity };
        let result = deadline::within(limit, f(session), UpstreamError::Timeout).await;
        // Every notification the target sent before its answer has reached the client by now:
        // transports relay them as they read them, in order (rmcp_client::ordered, sse_client).
        // A session whose call timed out may be stuck on it: not reused (a stdio target's
        // process ends with it).
        let reusable = match &result {
            Ok(_) => true,
            Err(e) => !e.breaks_session() && !matches!(e, UpstreamError::Timeout(_)),
        };
        if !reusable {
            held.session = None;
        }
        result
    }

    /// One page of a listing. A target that does not offer the capability (or answers
    /// "method not found") has an empty listing.
    pub async fn list_page(
        &self,
        target: &Arc<McpTargetIr>,
        kind: ListKind,
        cursor: Option<String>,
    ) -> Result<Page, UpstreamError> {
        let result = self
            .exchange(target, (kind.method(), None), (self.timeouts.list, None), |s| {
                Box::pin(async move {
                    if s.capabilities().get(kind.capability()).is_none_or(Value::is_null) {
                        return Ok(Page::default());
                    }
                    s.list_page(kind, cursor).await
                })
            })
            .await;
        match result {
            Err(UpstreamError::Rpc { code, .. }) if code == crate::mcp::jsonrpc::METHOD_NOT_FOUND => {
                Ok(Page::default())
            }
            other => other,
        }
    }

    pub async fn call_tool(
        &self,
        target: &Arc<McpTargetIr>,
        name: String,
        arguments: Option<Map<String, Value>>,
        client: Option<Arc<dyn ClientPeer>>,
    ) -> Result<Value, UpstreamError> {
        let traced = super::trace::active().then(|| name.clone());
        self.exchange(target, ("tools/call", traced.as_deref()), (self.timeouts.call, client), |s| {
            Box::pin(async move { s.call_tool(name, arguments).await })
        })
        .await
    }

    pub async fn read_resource(
        &self,
        target: &Arc<McpTargetIr>,
        uri: String,
        client: Option<Arc<dyn ClientPeer>>,
    ) -> Result<Value, UpstreamError> {
        let traced = super::trace::active().then(|| uri.clone());
        self.exchange(target, ("resources/read", traced.as_deref()), (self.timeouts.call, client), |s| {
            Box::pin(async move { s.read_resource(uri).await })
        })
        .await
    }

    pub async fn get_prompt(
        &self,
        target: &Arc<McpTargetIr>,
        name: String,
        arguments: Option<Map<String, Value>>,
        client: Option<Arc<dyn ClientPeer>>,
    ) -> Result<Value, UpstreamError> {
        let traced = super::trace::active().then(|| name.clone());
        self.exchange(target, ("prompts/get", traced.as_deref()), (self.timeouts.call, client), |s| {
            Box::pin(async move { s.get_prompt(name, arguments).await })
        })
        .await
    }

    pub async fn complete(
        &self,
        target: &Arc<McpTargetIr>,
        params: Map<String, Value>,
    ) -> Result<Value, UpstreamError> {
        self.exchange(target, ("completion/complete", None), (self.timeouts.list, None), |s| {
            Box::pin(async move { s.complete(params).await })
        })
        .await
    }

    /// The target's capabilities: its live session's (started when needed), else those of its
    /// last session, else an error.
    pub async fn capabilities(&self, target: &Arc<McpTargetIr>) -> Result<Value, UpstreamError> {
        match self.session(target).await {
            Ok(s) => Ok(s.capabilities()),
            Err(e) => self.slot(target).capabilities.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or(e),
        }
    }

    /// The last known capabilities of the target, without starting it.
    pub fn known_capabilities(&self, target: &McpTargetIr) -> Option<Value> {
        self.slot(target).capabilities.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The names of `kind` the target is known to have: its last complete listing and the pass
    /// under way.
    pub fn known_names(&self, target: &McpTargetIr, kind: ListKind) -> Vec<String> {
        let slot = self.slot(target);
        let known = slot.known.lock().unwrap_or_else(|p| p.into_inner());
        let Some(k) = known.get(&kind) else { return Vec::new() };
        let mut out = k.complete.clone();
        out.extend(k.current.iter().filter(|n| !k.complete.contains(n)).cloned());
        out
    }

    /// Records the names of one page: `first` starts a pass, `last` completes it.
    pub fn remember_names(&self, target: &McpTargetIr, kind: ListKind, names: Vec<String>, first: bool, last: bool) {
        let slot = self.slot(target);
        let mut known = slot.known.lock().unwrap_or_else(|p| p.into_inner());
        let k = known.entry(kind).or_default();
        if first {
            k.current = names;
        } else {
            k.current.extend(names);
        }
        if last {
            k.complete = std::mem::take(&mut k.current);
        }
    }

    /// Ends every session (a stop): stdio targets' processes are told to exit and waited for, up
    /// to `within`.
    pub async fn end_all(&self, within: Duration) {
        let slots: Vec<Arc<Slot>> =
            std::mem::take(&mut *self.slots.lock().unwrap_or_else(|p| p.into_inner())).into_values().collect();
        let mut sessions = Vec::new();
        for slot in &slots {
            sessions.extend(slot.state.lock().await.session.take());
            sessions.extend(slot.spare.lock().unwrap_or_else(|p| p.into_inner()).drain(..).map(|s| s.session));
        }
        let ending = futures_util::future::join_all(sessions.iter().map(|s| s.close()));
        if tokio::time::timeout(within, ending).await.is_err() {
            tracing::warn!("MCP targets still ending after {within:?}: leaving them");
        }
    }

    /// Ends the sessions of targets no longer configured (their processes stop).
    pub fn retain(&self, live: &dyn Fn(&str, &str) -> bool) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|id, slot| live(id, &slot.fingerprint));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;
    use crate::ir::mcp::{McpTransport, ToolRules};
    use crate::mcp::jsonrpc::RpcError;
    use crate::mcp::upstream::BoxFuture;

    /// Counts the sessions it opens; a session's `ask` tool asks the client for sampling
    /// through its relay, `slow` never answers, anything else echoes its name.
    #[derive(Default)]
    struct Counting {
        opened: Arc<AtomicUsize>,
    }

    struct Asking {
        relay: Arc<Relay>,
    }

    impl Connector for Counting {
        fn connect(
            &self,
            _: Arc<McpTargetIr>,
            relay: Arc<Relay>,
        ) -> BoxFuture<'static, Result<Arc<dyn McpUpstream>, UpstreamError>> {
            self.opened.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move { Ok(Arc::new(Asking { relay }) as Arc<dyn McpUpstream>) })
        }
    }

    impl McpUpstream for Asking {
        fn capabilities(&self) -> Value {
            json!({"tools": {}})
        }
        fn list_page(&self, _: ListKind, _: Option<String>) -> BoxFuture<'_, Result<Page, UpstreamError>> {
            Box::pin(async { Ok(Page::default()) })
        }
        fn call_tool(
            &self,
            name: String,
            _: Option<Map<String, Value>>,
        ) -> BoxFuture<'_, Result<Value, UpstreamError>> {
            Box::pin(async move {
                match name.as_str() {
                    "ask" => self
                        .relay
                        .request("sampling/createMessage", json!({}))
                        .await
                        .map_err(|e| UpstreamError::Rpc { code: e.code, message: e.message, data: None }),
                    "slow" => std::future::pending().await,
                    _ => Ok(json!(name)),
                }
            })
        }
        fn read_resource(&self, _: String) -> BoxFuture<'_, Result<Value, UpstreamError>> {
            Box::pin(async { Ok(json!({})) })
        }
        fn get_prompt(&self, _: String, _: Option<Map<String, Value>>) -> BoxFuture<'_, Result<Value, UpstreamError>> {
            Box::pin(async { Ok(json!({})) })
        }
        fn complete(&self, _: Map<String, Value>) -> BoxFuture<'_, Result<Value, UpstreamError>> {
            Box::pin(async { Ok(json!({})) })
        }
        fn is_closed(&self) -> bool {
            false
        }
    }

    /// A client that answers every request with its own name; a stateless one (`true`) has no
    /// affinity.
    struct Client(&'static str, bool);

    impl ClientPeer for Client {
        fn affinity(&self) -> &str {
            if self.1 { "" } else { self.0 }
        }
        fn request(&self, _: &str, _: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
            let me = self.0;
            Box::pin(async move { Ok(json!(format!("answered by {me}"))) })
        }
        fn notify(&self, _: &str, _: Value) {}
    }

    fn target() -> Arc<McpTargetIr> {
        Arc::new(McpTargetIr {
            name: "t".into(),
            id: Arc::from("ns/b/t"),
            transport: McpTransport::Stdio { command: "x".into(), args: vec![], env: vec![] },
            headers: vec![],
            tools: ToolRules::default(),
            tls: None,
        })
    }

    #[tokio::test]
    async fn calls_that_take_requests_hold_a_session_kept_for_their_client() {
        let connector = Counting::default();
        let opened = connector.opened.clone();
        let pool = UpstreamPool::new(Arc::new(connector), Timeouts::default());
        let t = target();
        let a: Arc<dyn ClientPeer> = Arc::new(Client("a", false));
        let b: Arc<dyn ClientPeer> = Arc::new(Client("b", false));

        let got = pool.call_tool(&t, "ask".into(), None, Some(a.clone())).await;
        assert_eq!(got, Ok(json!("answered by a")), "the target's request reached the call's client");
        assert_eq!(opened.load(Ordering::Relaxed), 1);
        let got = pool.call_tool(&t, "ask".into(), None, Some(a.clone())).await;
        assert_eq!(got, Ok(json!("answered by a")));
        assert_eq!(opened.load(Ordering::Relaxed), 1, "a's session is kept for a");
        let got = pool.call_tool(&t, "ask".into(), None, Some(b.clone())).await;
        assert_eq!(got, Ok(json!("answered by b")));
        assert_eq!(opened.load(Ordering::Relaxed), 2, "b gets a session of its own");

        // A client that takes no requests: the shared session, where nobody answers.
        let got = pool.call_tool(&t, "ask".into(), None, None).await;
        assert!(matches!(got, Err(UpstreamError::Rpc { code: -32601, .. })), "{got:?}");
        assert_eq!(opened.load(Ordering::Relaxed), 3);

        // A call dropped midway (its client cancelled): the session goes back to a's spares.
        let dropped =
            tokio::time::timeout(Duration::from_millis(50), pool.call_tool(&t, "slow".into(), None, Some(a.clone())))
                .await;
        assert!(dropped.is_err(), "the slow call never answers");
        let got = pool.call_tool(&t, "echo".into(), None, Some(a)).await;
        assert_eq!(got, Ok(json!("echo")));
        assert_eq!(opened.load(Ordering::Relaxed), 3, "the cancelled call's session was kept");
    }

    #[tokio::test]
    async fn stateless_callers_never_share_a_held_session() {
        let connector = Counting::default();
        let opened = connector.opened.clone();
        let pool = UpstreamPool::new(Arc::new(connector), Timeouts::default());
        let t = target();
        // Two stateless callers (no session id): each call gets a session of its own, ended
        // with the call, so nothing one told the target reaches the other.
        for (i, who) in ["first", "second"].into_iter().enumerate() {
            let caller: Arc<dyn ClientPeer> = Arc::new(Client(who, true));
            let got = pool.call_tool(&t, "ask".into(), None, Some(caller)).await;
            assert_eq!(got, Ok(json!(format!("answered by {who}"))));
            assert_eq!(opened.load(Ordering::Relaxed), i + 1, "the {who} caller got a session of its own");
        }
    }
}
