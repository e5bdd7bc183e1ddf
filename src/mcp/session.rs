//! Downstream sessions: the `Mcp-Session-Id` handed out at `initialize`, bound to the route's
//! backends, with idle expiry and a cap on how many live at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::federation::{ListKind, Owner};

pub const MAX_SESSIONS: usize = 10_000;
pub const IDLE_EXPIRY: Duration = Duration::from_secs(30 * 60);

pub struct Session {
    pub id: String,
    /// The backends the session was opened on (`ns/name,…`); another route cannot use it.
    pub owner: String,
    pub protocol_version: String,
    /// The owners of the tool and prompt names of the client's last listings (every page of
    /// them): calls are routed by the names they gave.
    routes: Mutex<HashMap<ListKind, HashMap<String, Owner>>>,
    last_used: Mutex<Instant>,
}

impl Session {
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
            routes: Mutex::new(HashMap::new()),
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
