//! One upstream session per target, kept outside the snapshot and keyed by the target's stable
//! id (`namespace/backend/target`), so that it outlives reloads that leave the target as it was.
//!
//! A session found closed is replaced at once, transparently; a target that cannot be reached
//! is retried no sooner than after a back-off (1 s, doubling to 30 s), and fails fast meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{Connector, McpUpstream, UpstreamError};
use crate::ir::mcp::McpTargetIr;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

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

pub struct UpstreamPool {
    connector: Arc<dyn Connector>,
    timeouts: Timeouts,
    slots: Mutex<HashMap<Arc<str>, Arc<Slot>>>,
}

struct Slot {
    fingerprint: String,
    state: tokio::sync::Mutex<SlotState>,
    /// The tool names of the last successful listing (after the target's filters): keeps
    /// `OnConflict` naming stable while the target is down.
    known_tools: Mutex<Vec<String>>,
}

#[derive(Default)]
struct SlotState {
    session: Option<Arc<dyn McpUpstream>>,
    /// When the last attempt failed, why, and how long to wait before the next.
    failure: Option<(Instant, String, Duration)>,
}

impl UpstreamPool {
    pub fn new(connector: Arc<dyn Connector>, timeouts: Timeouts) -> Self {
        UpstreamPool { connector, timeouts, slots: Mutex::new(HashMap::new()) }
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
                    known_tools: Mutex::new(Vec::new()),
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
        let connect = self.connector.connect(target.clone());
        let result = match tokio::time::timeout(self.timeouts.connect, connect).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout(self.timeouts.connect)),
        };
        match result {
            Ok(s) => {
                tracing::info!(target = %target.id, "MCP target session started");
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

    pub async fn list_tools(&self, target: &Arc<McpTargetIr>) -> Result<Vec<Value>, UpstreamError> {
        let session = self.session(target).await?;
        let result = match tokio::time::timeout(self.timeouts.list, session.list_tools()).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout(self.timeouts.list)),
        };
        if let Err(e) = &result {
            self.failed(target, &session, e).await;
        }
        result
    }

    pub async fn call_tool(
        &self,
        target: &Arc<McpTargetIr>,
        name: String,
        arguments: Option<Map<String, Value>>,
    ) -> Result<Value, UpstreamError> {
        let session = self.session(target).await?;
        let result = match tokio::time::timeout(self.timeouts.call, session.call_tool(name, arguments)).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout(self.timeouts.call)),
        };
        if let Err(e) = &result {
            self.failed(target, &session, e).await;
        }
        result
    }

    pub fn known_tools(&self, target: &McpTargetIr) -> Vec<String> {
        self.slot(target).known_tools.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn remember_tools(&self, target: &McpTargetIr, names: Vec<String>) {
        *self.slot(target).known_tools.lock().unwrap_or_else(|p| p.into_inner()) = names;
    }

    /// Ends the sessions of targets no longer configured (their processes stop).
    pub fn retain(&self, live: &dyn Fn(&str, &str) -> bool) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|id, slot| live(id, &slot.fingerprint));
    }
}
