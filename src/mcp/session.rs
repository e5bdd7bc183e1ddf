//! Downstream sessions: the `Mcp-Session-Id` handed out at `initialize`, bound to the route's
//! backends, with idle expiry and a cap on how many live at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::federation::Catalog;

pub const MAX_SESSIONS: usize = 10_000;
pub const IDLE_EXPIRY: Duration = Duration::from_secs(30 * 60);

pub struct Session {
    pub id: String,
    /// The backends the session was opened on (`ns/name,…`); another route cannot use it.
    pub owner: String,
    pub protocol_version: String,
    /// The last `tools/list` the client saw: calls are routed by the names it gave.
    pub catalog: Mutex<Option<Arc<Catalog>>>,
    last_used: Mutex<Instant>,
}

impl Session {
    pub fn catalog(&self) -> Option<Arc<Catalog>> {
        self.catalog.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_catalog(&self, c: Arc<Catalog>) {
        *self.catalog.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
    }

    fn idle(&self) -> Duration {
        self.last_used.lock().unwrap_or_else(|p| p.into_inner()).elapsed()
    }
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session; `None` when too many are live.
    pub fn create(&self, owner: &str, protocol_version: &str) -> Option<Arc<Session>> {
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.idle() < IDLE_EXPIRY);
            if map.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let id = format!("{:032x}", rand::random::<u128>());
        let session = Arc::new(Session {
            id: id.clone(),
            owner: owner.to_string(),
            protocol_version: protocol_version.to_string(),
            catalog: Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
        });
        map.insert(id, session.clone());
        Some(session)
    }

    /// The live session `id` of `owner`, marked as used.
    pub fn get(&self, id: &str, owner: &str) -> Option<Arc<Session>> {
        let mut map = self.lock();
        let s = map.get(id)?.clone();
        if s.idle() >= IDLE_EXPIRY {
            map.remove(id);
            return None;
        }
        if s.owner != owner {
            return None;
        }
        *s.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        Some(s)
    }

    /// Ends a session; whether it existed (for `owner`).
    pub fn remove(&self, id: &str, owner: &str) -> bool {
        let mut map = self.lock();
        if map.get(id).is_some_and(|s| s.owner == owner) {
            map.remove(id);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_belong_to_their_route() {
        let sessions = Sessions::default();
        let Some(s) = sessions.create("default/tools", "2025-11-25") else { panic!("created") };
        assert_eq!(s.id.len(), 32);
        assert!(sessions.get(&s.id, "default/tools").is_some());
        assert!(sessions.get(&s.id, "default/other").is_none());
        assert!(sessions.get("nope", "default/tools").is_none());
        assert!(!sessions.remove(&s.id, "default/other"));
        assert!(sessions.remove(&s.id, "default/tools"));
        assert!(sessions.get(&s.id, "default/tools").is_none());
    }
}
