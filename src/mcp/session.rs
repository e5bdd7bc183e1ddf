//! Downstream sessions: the `Mcp-Session-Id` handed out at `initialize`, bound to the route's
//! backends, with idle expiry and a cap on how many live at once.
//!
//! With a session key ([`SessionKey`]) the id is sealed (see `session_token`): a process that
//! does not hold the session (a second replica, or this one after a restart) opens the id and
//! takes the session up, for at most [`MAX_AGE`] after it was issued. Without a key ids are
//! random and live only in the process that issued them. Ending a session (DELETE) is known to
//! the process that received the DELETE: replicas share no state.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// Tokio's clock, so that tests can run expiry on paused time.
use tokio::time::Instant;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::federation::{ListKind, Owner};
use super::jsonrpc::RpcError;
use super::session_token::{Claims, Seal, SessionKey};
use crate::httpkit::sse;

/// Live sessions per process, and per route (the backends a session is bound to).
pub const MAX_SESSIONS: usize = 10_000;
pub const MAX_SESSIONS_PER_ROUTE: usize = 2_500;
/// Live sessions per client (its identity when it authenticated, else its address): one client
/// cannot take a route's every session. Clients behind one address (a NAT) share this.
pub const MAX_SESSIONS_PER_CLIENT: usize = 500;
/// Ended sealed ids remembered (so that no replica takes them up again); beyond, the oldest
/// is forgotten (its holder could take it up again until its [`MAX_AGE`]: it is theirs).
pub const MAX_ENDED: usize = 100_000;
pub const IDLE_EXPIRY: Duration = Duration::from_secs(30 * 60);
/// How long after it was issued a sealed session id is taken up by a process that does not
/// hold the session.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Events of a session's GET stream kept for a client that reconnects with `Last-Event-ID`.
pub const REPLAY_EVENTS: usize = 256;

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub struct Session {
    pub id: String,
    /// The backends the session was opened on (`ns/name,…`); another route cannot use it.
    pub owner: String,
    /// Who opened it (or took it up here), for the per-client cap.
    client: String,
    pub protocol_version: String,
    /// The owners of the tool and prompt names of the client's last listings (every page of
    /// them): calls are routed by the names they gave.
    routes: Mutex<HashMap<ListKind, HashMap<String, Owner>>>,
    last_used: Mutex<Instant>,
    /// Whether the client declared at `initialize` that it answers server requests (sampling,
    /// elicitation or roots).
    takes_requests: AtomicBool,
    /// Requests relayed to the client and not yet answered, by the id Sluice gave them.
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, RpcError>>>>,
    /// The GET stream and what was sent on it.
    outbox: Mutex<Outbox>,
    /// The client's requests under way, each with what tells it the client cancelled it.
    running: Mutex<HashMap<String, oneshot::Sender<()>>>,
}

/// The session's GET stream: the target's messages between calls, numbered, the last
/// [`REPLAY_EVENTS`] kept for a reconnecting client — once the client has opened a stream (a
/// client that never did cannot name an event to resume after, and keeps no memory here).
#[derive(Default)]
struct Outbox {
    stream: Option<mpsc::Sender<Bytes>>,
    opened: bool,
    kept: VecDeque<(u64, Bytes)>,
    last_id: u64,
}

/// Whether client capabilities declare that it answers server requests.
pub fn declares_requests(capabilities: Option<&Value>) -> bool {
    ["sampling", "elicitation", "roots"]
        .iter()
        .any(|c| capabilities.and_then(|caps| caps.get(c)).is_some_and(Value::is_object))
}

impl Session {
    /// A session kept outside the table (the stateless era's per-route memory of names).
    fn new(id: String, owner: &str, client: &str, protocol_version: &str, takes_requests: bool) -> Session {
        Session {
            id,
            owner: owner.to_string(),
            client: client.to_string(),
            protocol_version: protocol_version.to_string(),
            routes: Mutex::new(HashMap::new()),
            last_used: Mutex::new(Instant::now()),
            takes_requests: AtomicBool::new(takes_requests),
            pending: Mutex::new(HashMap::new()),
            outbox: Mutex::new(Outbox::default()),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Runs the client's request `id`; `None` if the client cancelled it first (`work` is then
    /// dropped, and with it the call to the target, which is told).
    pub async fn cancellable<T>(&self, id: &Value, work: impl std::future::Future<Output = T>) -> Option<T> {
        let (tx, cancelled) = oneshot::channel();
        {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running.retain(|_, s| !s.is_closed());
            running.insert(id.to_string(), tx);
        }
        let out = tokio::select! {
            out = work => Some(out),
            Ok(()) = cancelled => None,
        };
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id.to_string());
        out
    }

    /// The client's `notifications/cancelled`: the request it names stops.
    pub fn cancel_request(&self, params: Option<&serde_json::Map<String, Value>>) {
        let Some(id) = params.and_then(|p| p.get("requestId")) else { return };
        if let Some(stop) = self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id.to_string()) {
            let _ = stop.send(());
        }
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens the GET stream (the one open before ends), first replaying the kept events after
    /// `last_event_id`.
    pub fn open_stream(&self, last_event_id: Option<u64>) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(REPLAY_EVENTS + 64);
        let mut out = self.outbox();
        if let Some(last) = last_event_id {
            for (_, event) in out.kept.iter().filter(|(id, _)| *id > last) {
                let _ = tx.try_send(event.clone());
            }
        }
        out.stream = Some(tx);
        out.opened = true;
        rx
    }

    /// Whether a GET stream is open.
    pub fn has_stream(&self) -> bool {
        self.outbox().stream.as_ref().is_some_and(|s| !s.is_closed())
    }

    /// Sends a message down the GET stream as a numbered event, kept for replay.
    pub fn push(&self, message: &Value) {
        let mut out = self.outbox();
        if !out.opened {
            return;
        }
        out.last_id += 1;
        let event = sse::event(Some("message"), Some(&out.last_id.to_string()), &message.to_string());
        let id = out.last_id;
        out.kept.push_back((id, event.clone()));
        if out.kept.len() > REPLAY_EVENTS {
            out.kept.pop_front();
        }
        if let Some(stream) = &out.stream
            && stream.try_send(event).is_err()
            && stream.is_closed()
        {
            out.stream = None;
        }
    }

    pub fn detached(owner: &str, protocol_version: &str) -> Arc<Session> {
        Arc::new(Session::new(String::new(), owner, "", protocol_version, false))
    }

    pub fn takes_requests(&self) -> bool {
        self.takes_requests.load(Ordering::Relaxed)
    }

    /// Set at `initialize` when the session exists before it (legacy HTTP+SSE).
    pub fn set_takes_requests(&self, yes: bool) {
        self.takes_requests.store(yes, Ordering::Relaxed);
    }

    /// Waits for the client's answer to the request Sluice sends it as `id`.
    pub fn expect(&self, id: &Value) -> oneshot::Receiver<Result<Value, RpcError>> {
        let (tx, rx) = oneshot::channel();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, s| !s.is_closed());
        pending.insert(id.to_string(), tx);
        rx
    }

    /// Hands the client's answer to whoever waits for it; `false` when nobody does.
    pub fn answer(&self, id: &Value, outcome: Result<Value, RpcError>) -> bool {
        let waiting = self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id.to_string());
        waiting.is_some_and(|w| w.send(outcome).is_ok())
    }

    /// The owner of the name `name` of `kind` as the client's listings gave it.
    pub fn route(&self, kind: ListKind, name: &str) -> Option<Owner> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner()).get(&kind).and_then(|r| r.get(name)).cloned()
    }

    /// Records the owners of one page of a listing: the first page (`fresh`) replaces what the
    /// previous listing gave, later pages add to it.
    pub fn remember(&self, kind: ListKind, owners: HashMap<String, Owner>, fresh: bool) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let r = routes.entry(kind).or_default();
        if fresh {
            *r = owners;
        } else {
            r.extend(owners);
        }
    }

    fn idle(&self) -> Duration {
        self.last_used.lock().unwrap_or_else(|p| p.into_inner()).elapsed()
    }
}

#[derive(Default)]
struct Table {
    live: HashMap<String, Arc<Session>>,
    /// Live sessions by route (owner), and by client.
    per_route: HashMap<String, usize>,
    per_client: HashMap<String, usize>,
    /// Sealed ids ended here (DELETE) or expired, which must not be taken up again, oldest
    /// first in `ended_order`; at most [`MAX_ENDED`].
    ended: HashMap<String, Instant>,
    ended_order: VecDeque<String>,
}

impl Table {
    fn end(&mut self, id: &str, sealed: bool) {
        if let Some(s) = self.live.remove(id) {
            uncount(&mut self.per_route, &s.owner);
            uncount(&mut self.per_client, &s.client);
        }
        // A random id (no key) is known to this process only: nothing can take it up again.
        if !sealed || self.ended.contains_key(id) {
            return;
        }
        while self.ended_order.len() >= MAX_ENDED {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
            }
        }
        self.ended.insert(id.to_string(), Instant::now());
        self.ended_order.push_back(id.to_string());
    }

    fn forget_old_ends(&mut self) {
        while let Some(old) = self.ended_order.front() {
            match self.ended.get(old) {
                Some(at) if at.elapsed() < MAX_AGE => break,
                _ => {
                    let old = self.ended_order.pop_front().unwrap_or_default();
                    self.ended.remove(&old);
                }
            }
        }
    }
}

fn uncount(counts: &mut HashMap<String, usize>, k: &str) {
    if let Some(n) = counts.get_mut(k) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(k);
        }
    }
}

#[derive(Default)]
pub struct Sessions {
    table: Mutex<Table>,
}

impl Sessions {
    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.lock().live.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(
        t: &mut Table,
        id: String,
        (owner, client): (&str, &str),
        protocol_version: &str,
        (takes_requests, sealed): (bool, bool),
    ) -> Option<Arc<Session>> {
        let full = |t: &Table| {
            t.live.len() >= MAX_SESSIONS
                || t.per_route.get(owner).copied().unwrap_or(0) >= MAX_SESSIONS_PER_ROUTE
                || t.per_client.get(client).copied().unwrap_or(0) >= MAX_SESSIONS_PER_CLIENT
        };
        if full(t) {
            let expired: Vec<String> =
                t.live.iter().filter(|(_, s)| s.idle() >= IDLE_EXPIRY).map(|(k, _)| k.clone()).collect();
            for k in expired {
                t.end(&k, sealed);
            }
            if full(t) {
                return None;
            }
        }
        t.forget_old_ends();
        let session = Arc::new(Session::new(id.clone(), owner, client, protocol_version, takes_requests));
        t.live.insert(id, session.clone());
        *t.per_route.entry(owner.to_string()).or_default() += 1;
        *t.per_client.entry(client.to_string()).or_default() += 1;
        Some(session)
    }

    /// A new session of `client` on `owner`, its id sealed with `key` when there is one; `None`
    /// when too many are live (in the process, on the route or of the client).
    pub fn create(
        &self,
        (owner, client): (&str, &str),
        protocol_version: &str,
        takes_requests: bool,
        key: Option<&SessionKey>,
    ) -> Option<Arc<Session>> {
        let id = match key {
            Some(k) => k.seal(&Claims {
                owner: owner.to_string(),
                protocol_version: protocol_version.to_string(),
                issued: unix_now(),
                nonce: rand::random(),
                takes_requests,
            })?,
            None => format!("{:032x}", rand::random::<u128>()),
        };
        Sessions::insert(&mut self.lock(), id, (owner, client), protocol_version, (takes_requests, key.is_some()))
    }

    /// The session `id` of `owner`, marked as used: a live one, or one sealed with `key` that
    /// this process takes up (counted as `client`'s).
    pub fn get(&self, id: &str, (owner, client): (&str, &str), key: Option<&SessionKey>) -> Option<Arc<Session>> {
        let mut t = self.lock();
        if let Some(s) = t.live.get(id).cloned() {
            if s.idle() >= IDLE_EXPIRY {
                t.end(id, key.is_some());
                return None;
            }
            if s.owner != owner {
                return None;
            }
            *s.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            return Some(s);
        }
        if t.ended.contains_key(id) {
            return None;
        }
        let claims = key?.open(id)?;
        let young = unix_now().saturating_sub(claims.issued) < MAX_AGE.as_secs();
        if claims.owner != owner || !young {
            return None;
        }
        Sessions::insert(
            &mut t,
            id.to_string(),
            (owner, client),
            &claims.protocol_version,
            (claims.takes_requests, true),
        )
    }

    /// The live sessions of the routes that include `backend` (a backend key).
    pub fn of_backend(&self, backend: &str) -> Vec<Arc<Session>> {
        self.lock().live.values().filter(|s| s.owner.split(',').any(|k| k == backend)).cloned().collect()
    }

    /// Ends a session; whether it existed (for `owner`).
    pub fn remove(&self, id: &str, owner: &str, key: Option<&SessionKey>) -> bool {
        let mut t = self.lock();
        let live = t.live.get(id).is_some_and(|s| s.owner == owner);
        let sealed =
            !live && !t.ended.contains_key(id) && key.and_then(|k| k.open(id)).is_some_and(|c| c.owner == owner);
        if live || sealed {
            t.end(id, key.is_some());
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_route_has_its_own_cap() {
        let sessions = Sessions::default();
        // Many clients (each under its own cap) fill route a.
        let a: Vec<_> = (0..MAX_SESSIONS_PER_ROUTE)
            .map(|i| sessions.create(("ns/a", &format!("c{}", i % 10)), "2025-11-25", false, None).expect("a"))
            .collect();
        assert!(sessions.create(("ns/a", "z"), "2025-11-25", false, None).is_none(), "route a is full");
        assert!(sessions.create(("ns/b", "z"), "2025-11-25", false, None).is_some(), "route b is not");
        assert!(sessions.remove(&a[0].id, "ns/a", None));
        assert!(sessions.create(("ns/a", "z"), "2025-11-25", false, None).is_some(), "a slot of route a freed");
        // Idle sessions make room when a route is full.
        tokio::time::advance(IDLE_EXPIRY).await;
        assert!(sessions.create(("ns/a", "z"), "2025-11-25", false, None).is_some());
        assert_eq!(sessions.lock().per_route.get("ns/a"), Some(&1), "the idle ones were ended");
    }

    #[tokio::test(start_paused = true)]
    async fn one_client_cannot_take_a_routes_every_session() {
        let sessions = Sessions::default();
        let mine: Vec<_> = (0..MAX_SESSIONS_PER_CLIENT)
            .map(|_| sessions.create(("ns/a", "ip:203.0.113.7"), "2025-11-25", false, None).expect("mine"))
            .collect();
        assert!(sessions.create(("ns/a", "ip:203.0.113.7"), "2025-11-25", false, None).is_none(), "its cap");
        assert!(sessions.create(("ns/b", "ip:203.0.113.7"), "2025-11-25", false, None).is_none(), "on any route");
        assert!(sessions.create(("ns/a", "ip:198.51.100.1"), "2025-11-25", false, None).is_some(), "others open");
        // Ending one frees one.
        assert!(sessions.remove(&mine[0].id, "ns/a", None));
        assert!(sessions.create(("ns/a", "ip:203.0.113.7"), "2025-11-25", false, None).is_some());
        assert_eq!(sessions.lock().per_client.get("ip:203.0.113.7"), Some(&MAX_SESSIONS_PER_CLIENT));
    }

    #[test]
    fn ended_ids_are_bounded_and_only_sealed_ones_are_kept() {
        let mut t = Table::default();
        t.end("random", false);
        assert!(t.ended.is_empty(), "a random id cannot be taken up anywhere: not remembered");
        for i in 0..MAX_ENDED + 10 {
            t.end(&format!("sealed-{i}"), true);
        }
        assert_eq!((t.ended.len(), t.ended_order.len()), (MAX_ENDED, MAX_ENDED));
        assert!(!t.ended.contains_key("sealed-0") && t.ended.contains_key(&format!("sealed-{}", MAX_ENDED + 9)));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_sessions_expire_and_are_not_taken_up_again() {
        let key = SessionKey::new(b"a key shared by every replica!!!").expect("key");
        let sessions = Sessions::default();
        let s = sessions.create(("default/tools", "c"), "2025-11-25", false, Some(&key)).expect("created");
        for _ in 0..3 {
            tokio::time::advance(IDLE_EXPIRY - Duration::from_secs(1)).await;
            assert!(sessions.get(&s.id, ("default/tools", "c"), Some(&key)).is_some(), "each use keeps it alive");
        }
        tokio::time::advance(IDLE_EXPIRY).await;
        assert!(sessions.get(&s.id, ("default/tools", "c"), Some(&key)).is_none(), "idle for the whole expiry: gone");
        assert!(
            sessions.get(&s.id, ("default/tools", "c"), Some(&key)).is_none(),
            "its sealed id still opens, but an expired session is not taken up again"
        );
    }

    #[test]
    fn sessions_belong_to_their_route() {
        let sessions = Sessions::default();
        let Some(s) = sessions.create(("default/tools", "c"), "2025-11-25", false, None) else { panic!("created") };
        assert_eq!(s.id.len(), 32);
        assert!(sessions.get(&s.id, ("default/tools", "c"), None).is_some());
        assert!(sessions.get(&s.id, ("default/other", "c"), None).is_none());
        assert!(sessions.get("nope", ("default/tools", "c"), None).is_none());
        assert!(!sessions.remove(&s.id, "default/other", None));
        assert!(sessions.remove(&s.id, "default/tools", None));
        assert!(sessions.get(&s.id, ("default/tools", "c"), None).is_none());
    }

    #[test]
    fn the_get_stream_replays_what_followed_the_last_event_seen() {
        let s = Session::detached("default/tools", "2025-11-25");
        s.push(&serde_json::json!({"n": 0}));
        assert!(s.open_stream(Some(0)).try_recv().is_err(), "nothing is kept before a stream was opened");
        let mut first = s.open_stream(None);
        s.push(&serde_json::json!({"n": 1}));
        assert!(first.try_recv().is_ok(), "live");
        drop(first);
        let mut first = s.open_stream(None);
        assert!(first.try_recv().is_err(), "a fresh stream replays nothing");
        s.push(&serde_json::json!({"n": 2}));
        s.push(&serde_json::json!({"n": 3}));
        let got = first.try_recv().expect("live event");
        assert!(String::from_utf8_lossy(&got).starts_with("id: 2\n"), "{got:?}");
        drop(first);
        s.push(&serde_json::json!({"n": 4}));
        let mut again = s.open_stream(Some(2));
        let replayed: Vec<String> =
            std::iter::from_fn(|| again.try_recv().ok()).map(|b| String::from_utf8_lossy(&b).into_owned()).collect();
        assert_eq!(replayed.len(), 2, "{replayed:?}");
        assert!(replayed[0].starts_with("id: 3\n") && replayed[0].contains(r#"{"n":3}"#), "{replayed:?}");
        assert!(replayed[1].starts_with("id: 4\n"), "{replayed:?}");
        for n in 0..REPLAY_EVENTS + 10 {
            s.push(&serde_json::json!({"n": n}));
        }
        let mut late = s.open_stream(Some(0));
        assert_eq!(std::iter::from_fn(|| late.try_recv().ok()).count(), REPLAY_EVENTS, "only the last are kept");
    }

    #[test]
    fn sealed_sessions_are_taken_up_by_another_process() {
        let key = SessionKey::new(b"a key shared by every replica!!!").expect("key");
        let first = Sessions::default();
        let Some(s) = first.create(("default/tools", "c"), "2025-06-18", true, Some(&key)) else { panic!("created") };
        // A second process: no state, the same key.
        let second = Sessions::default();
        let taken = second.get(&s.id, ("default/tools", "c"), Some(&key)).expect("taken up");
        assert_eq!(taken.protocol_version, "2025-06-18");
        assert!(taken.takes_requests(), "what the client declared travels with the id");
        assert!(second.get(&s.id, ("default/other", "c"), Some(&key)).is_none(), "bound to its route");
        let other_key = SessionKey::new(b"a key of another deployment!!!!!").expect("key");
        assert!(Sessions::default().get(&s.id, ("default/tools", "c"), Some(&other_key)).is_none());
        assert!(Sessions::default().get(&s.id, ("default/tools", "c"), None).is_none(), "no key, no take-up");
        // Ended where the DELETE arrived: not taken up there again.
        let third = Sessions::default();
        assert!(third.remove(&s.id, "default/tools", Some(&key)));
        assert!(third.get(&s.id, ("default/tools", "c"), Some(&key)).is_none());
        assert!(!third.remove(&s.id, "default/tools", Some(&key)));
    }
}
