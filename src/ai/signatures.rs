//! A bounded memory of the thinking signatures providers issued (Anthropic's, also on Bedrock
//! and Vertex), keyed by the wire format that issued them and the thinking text they sign.
//! Clients of formats with no place for a signature (or that drop it) send the thinking of a
//! turn back without one; Anthropic refuses a tool loop with thinking on unless the turn before
//! the tool results starts with its signed thinking. What Sluice forwarded, it can sign again.
//!
//! The memory is in the process, and written through to the store of stored Responses (the
//! state file, or Redis when replicas share it): a replica that did not forward the thinking
//! reads its signature there ([`Signatures::fetch`]) before restoring.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use super::canonical::{ChatRequest, Part};
use crate::ir::ai::WireFormat;
use crate::store::documents::Documents;

/// Signatures kept; the oldest go first.
const CAPACITY: usize = 4096;
/// Longest thinking text remembered (longer thinking is not signed again).
pub const MAX_TEXT: usize = 256 * 1024;

#[derive(Default)]
pub struct Signatures {
    inner: Mutex<Inner>,
    /// Where every replica finds what any of them remembered.
    shared: Option<Arc<dyn Documents>>,
}

#[derive(Default)]
struct Inner {
    by_text: HashMap<u64, String>,
    order: VecDeque<u64>,
}

/// A signature is only good at the kind of provider that issued it.
fn key(format: WireFormat, text: &str) -> u64 {
    // A fixed-key hasher: the same text has the same key in every process.
    let mut h = DefaultHasher::new();
    format.as_str().hash(&mut h);
    text.hash(&mut h);
    h.finish()
}

/// The key of a signature in the shared store: the issuer and a digest of the text.
fn shared_key(format: WireFormat, text: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(format.as_str().as_bytes());
    ctx.update(b"\0");
    ctx.update(text.as_bytes());
    let hex: String = ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sig|{hex}")
}

impl Signatures {
    /// A memory written through to `docs`, which every replica reads.
    pub fn shared(docs: Arc<dyn Documents>) -> Self {
        Signatures { inner: Mutex::default(), shared: Some(docs) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers the signature a provider gave `text`.
    pub fn remember(&self, format: WireFormat, text: &str, signature: &str) {
        if text.is_empty() || signature.is_empty() || text.len() > MAX_TEXT {
            return;
        }
        if self.keep(key(format, text), signature)
            && let Some(docs) = &self.shared
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let (docs, k, s) = (docs.clone(), shared_key(format, text), signature.to_string());
            rt.spawn(async move {
                if let Err(e) = docs.put(&k, s).await {
                    tracing::debug!(error = %e, "a thinking signature could not be shared");
                }
            });
        }
    }

    /// Keeps a signature in the process; whether it is new.
    fn keep(&self, k: u64, signature: &str) -> bool {
        let mut inner = self.lock();
        let new = inner.by_text.insert(k, signature.to_string()).is_none();
        if new {
            inner.order.push_back(k);
        }
        while inner.order.len() > CAPACITY {
            if let Some(old) = inner.order.pop_front() {
                inner.by_text.remove(&old);
            }
        }
        new
    }

    /// Reads from the shared store the signatures of `req`'s unsigned thinking that this
    /// process does not hold (another replica forwarded it).
    pub async fn fetch(&self, format: WireFormat, req: &ChatRequest) {
        let Some(docs) = &self.shared else { return };
        let missing: Vec<&str> = req
            .messages
            .iter()
            .flat_map(|m| m.parts.iter())
            .filter_map(|p| match p {
                Part::Thinking { text, signature: None } if !text.is_empty() && text.len() <= MAX_TEXT => {
                    Some(text.as_str())
                }
                _ => None,
            })
            .filter(|t| !self.lock().by_text.contains_key(&key(format, t)))
            .collect();
        for text in missing {
            match docs.get(&shared_key(format, text)).await {
                Ok(Some(signature)) => {
                    self.keep(key(format, text), &signature);
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "the shared thinking signatures could not be read"),
            }
        }
    }

    /// Remembers the signed thinking of an answer.
    pub fn remember_parts(&self, format: WireFormat, parts: &[Part]) {
        for p in parts {
            if let Part::Thinking { text, signature: Some(s) } = p {
                self.remember(format, text, s);
            }
        }
    }

    /// The request with the signatures of its unsigned thinking restored where remembered;
    /// `None` when nothing was restored.
    pub fn restore(&self, format: WireFormat, req: &ChatRequest) -> Option<ChatRequest> {
        let unsigned = |p: &Part| matches!(p, Part::Thinking { text, signature: None } if !text.is_empty());
        if !req.messages.iter().any(|m| m.parts.iter().any(unsigned)) {
            return None;
        }
        let inner = self.lock();
        let mut restored = req.clone();
        let mut any = false;
        for part in restored.messages.iter_mut().flat_map(|m| m.parts.iter_mut()) {
            if let Part::Thinking { text, signature: signature @ None } = part
                && let Some(s) = inner.by_text.get(&key(format, text))
            {
                *signature = Some(s.clone());
                any = true;
            }
        }
        any.then_some(restored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::canonical::{Message, Role};

    fn thinking(text: &str, signature: Option<&str>) -> ChatRequest {
        let part = Part::Thinking { text: text.into(), signature: signature.map(str::to_string) };
        ChatRequest { messages: vec![Message { role: Role::Assistant, parts: vec![part] }], ..ChatRequest::default() }
    }

    #[test]
    fn remembered_signatures_are_restored_and_the_memory_is_bounded() {
        let s = Signatures::default();
        let a = WireFormat::Anthropic;
        s.remember(a, "I should call the tool", "sig-1");
        let restored = s.restore(a, &thinking("I should call the tool", None)).expect("restored");
        assert_eq!(restored, thinking("I should call the tool", Some("sig-1")));
        assert!(s.restore(WireFormat::Bedrock, &thinking("I should call the tool", None)).is_none(), "another issuer");
        assert!(s.restore(a, &thinking("something else", None)).is_none());
        assert!(s.restore(a, &thinking("I should call the tool", Some("own"))).is_none(), "a signature sent is kept");
        for i in 0..CAPACITY + 10 {
            s.remember(a, &format!("t{i}"), "x");
        }
        assert!(s.restore(a, &thinking("I should call the tool", None)).is_none(), "the oldest went first");
        assert!(s.lock().by_text.len() <= CAPACITY);
    }

    #[tokio::test]
    async fn a_replica_restores_what_another_remembered() {
        let docs: Arc<dyn Documents> = Arc::new(crate::store::documents::MemoryDocs::default());
        let (one, two) = (Signatures::shared(docs.clone()), Signatures::shared(docs));
        let a = WireFormat::Anthropic;
        one.remember(a, "I should call the tool", "sig-1");
        // The write-through runs on the runtime: let it.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let req = thinking("I should call the tool", None);
        assert!(two.restore(a, &req).is_none(), "not in the second process yet");
        two.fetch(a, &req).await;
        assert_eq!(two.restore(a, &req), Some(thinking("I should call the tool", Some("sig-1"))));
        two.fetch(WireFormat::Bedrock, &req).await;
        assert!(two.restore(WireFormat::Bedrock, &req).is_none(), "another issuer's key");
    }
}
