//! The route's guards on AI requests and answers, over the canonical model: prompts before
//! they go to a provider (system, user text, tool inputs, tool results, each as the guard's
//! scope says), and answers (text, thinking, tool-call arguments) whole or as they stream.

use std::collections::HashMap;
use std::sync::Arc;

use http::StatusCode;

use super::canonical::{ChatRequest, ChatResponse, Message, Part, Role, StreamEvent};
use super::errors::{AiError, ErrorKind};
use crate::ir::policy::{GuardIr, GuardScope};
use crate::policy::guards::stream::Masker;
use crate::policy::guards::{Rejection, scan};

/// A refusal in the client's format.
pub fn rejected(r: &Rejection) -> AiError {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    let kind = match r.status {
        401 => ErrorKind::Authentication,
        403 => ErrorKind::Permission,
        413 => ErrorKind::TooLarge,
        429 => ErrorKind::RateLimit,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Internal,
    };
    AiError::new(kind, status, r.message.clone())
}

fn mask_text(
    guards: &[GuardIr],
    applies: fn(&GuardScope) -> bool,
    text: &mut String,
    fired: &mut Vec<String>,
) -> Result<(), Rejection> {
    let s = scan(guards, applies, text)?;
    if let Some(m) = s.masked {
        *text = m;
        fired.extend(s.guards);
    }
    Ok(())
}

/// Whether a guard's scope covers a text.
pub type Applies = fn(&GuardScope) -> bool;

/// The scope that covers a message's text, by who wrote it, and the scope's name.
fn text_scope(role: Role) -> (Applies, &'static str) {
    match role {
        Role::User => (|s| s.user, "user"),
        Role::System => (|s| s.system, "system"),
        // Earlier answers sent back: the model's output, but written by the client (who could
        // move a user's text there to pass a user guard).
        Role::Assistant => (|s| s.output || s.user, "assistant"),
    }
}

/// Every text of a prompt a guard may look at, in order, with the scope that covers it and the
/// scope's name; written once for shared and for unique borrows.
macro_rules! prompt_texts {
    ($(#[$doc:meta])* $name:ident, $($mutability:ident)?) => {
        $(#[$doc])*
        pub fn $name(req: &$($mutability)? ChatRequest) -> Vec<(Applies, &'static str, &$($mutability)? String)> {
            let mut out: Vec<(Applies, &'static str, &$($mutability)? String)> = Vec::new();
            for s in &$($mutability)? req.system {
                out.push((|s| s.system, "system", s));
            }
            for Message { role, parts } in &$($mutability)? req.messages {
                let (text_scope, text_name) = text_scope(*role);
                for p in parts {
                    match p {
                        Part::Text(t) => out.push((text_scope, text_name, t)),
                        Part::ToolCall { arguments, .. } => out.push((|s| s.tool_inputs, "toolInputs", arguments)),
                        Part::ToolResult { content, .. } => {
                            for c in content {
                                if let Part::Text(t) = c {
                                    out.push((|s| s.tool_results, "toolResults", t));
                                }
                            }
                        }
                        Part::Thinking { .. } | Part::Image(_) => {}
                    }
                }
            }
            out
        }
    };
}

prompt_texts!(
    /// A prompt's texts, to read.
    prompt_texts,
);
prompt_texts!(
    /// A prompt's texts, to change.
    prompt_texts_mut, mut
);

/// Every text of an answer (text, thinking, tool-call arguments), in order.
pub fn answer_texts(r: &mut ChatResponse) -> impl Iterator<Item = &mut String> {
    r.parts.iter_mut().filter_map(|p| match p {
        Part::Text(t) | Part::Thinking { text: t, .. } | Part::ToolCall { arguments: t, .. } => Some(t),
        Part::ToolResult { .. } | Part::Image(_) => None,
    })
}

/// The request with the guards applied, in place; the guards that masked something. The request
/// is copied (when shared) only once a text in it is masked: most prompts hold nothing to mask.
pub fn guard_request(guards: &[GuardIr], req: &mut Arc<ChatRequest>) -> Result<Vec<String>, Rejection> {
    // Earlier answers sent back are output (and user text); nothing else is in an output-only
    // guard's scope.
    let answers_back = req.messages.iter().any(|m| m.role == Role::Assistant);
    if !guards.iter().any(|g| g.remote.is_none() && (g.scope.reads_prompt() || (answers_back && g.scope.output))) {
        return Ok(Vec::new());
    }
    let mut fired = Vec::new();
    let texts = prompt_texts(req);
    for (i, (applies, _, text)) in texts.iter().enumerate() {
        let s = scan(guards, applies, text)?;
        if let Some(first) = s.masked {
            fired.extend(s.guards);
            // From the first masked text on, in a request of our own.
            let mut own = prompt_texts_mut(Arc::make_mut(req)).into_iter().skip(i);
            if let Some((_, _, t)) = own.next() {
                *t = first;
            }
            for (applies, _, t) in own {
                mask_text(guards, applies, t, &mut fired)?;
            }
            break;
        }
    }
    Ok(fired)
}

/// A whole answer with the output guards applied.
pub fn guard_response(guards: &[GuardIr], r: &mut ChatResponse) -> Result<Vec<String>, Rejection> {
    let mut fired = Vec::new();
    for t in answer_texts(r) {
        mask_text(guards, |s| s.output, t, &mut fired)?;
    }
    Ok(fired)
}

/// The output guards over a stream of canonical events: one masker per channel (text,
/// thinking, each tool call's arguments), flushed before any other event so that order holds.
pub struct StreamGuard {
    guards: Arc<[GuardIr]>,
    text: Option<Masker>,
    thinking: Option<Masker>,
    tools: HashMap<usize, Masker>,
    refused: bool,
    pub fired: Vec<String>,
}

impl StreamGuard {
    pub fn new(guards: &Arc<[GuardIr]>) -> Option<StreamGuard> {
        Masker::for_output(guards)?;
        Some(StreamGuard {
            guards: guards.clone(),
            text: None,
            thinking: None,
            tools: HashMap::new(),
            refused: false,
            fired: vec![],
        })
    }

    fn masker<'a>(guards: &Arc<[GuardIr]>, slot: &'a mut Option<Masker>) -> Option<&'a mut Masker> {
        if slot.is_none() {
            *slot = Masker::for_output(guards);
        }
        slot.as_mut()
    }

    /// Flushes every channel, pushing what they held to `out`.
    fn flush(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), Rejection> {
        if let Some(mut m) = self.thinking.take() {
            let t = m.finish()?;
            self.fired.append(&mut m.fired);
            if !t.is_empty() {
                out.push(StreamEvent::ThinkingDelta(t));
            }
        }
        if let Some(mut m) = self.text.take() {
            let t = m.finish()?;
            self.fired.append(&mut m.fired);
            if !t.is_empty() {
                out.push(StreamEvent::TextDelta(t));
            }
        }
        let mut tools: Vec<(usize, Masker)> = self.tools.drain().collect();
        tools.sort_by_key(|(i, _)| *i);
        for (index, mut m) in tools {
            let t = m.finish()?;
            self.fired.append(&mut m.fired);
            if !t.is_empty() {
                out.push(StreamEvent::ToolCallDelta { index, arguments: t });
            }
        }
        Ok(())
    }

    fn step(&mut self, ev: StreamEvent, out: &mut Vec<StreamEvent>) -> Result<(), Rejection> {
        match ev {
            StreamEvent::TextDelta(t) => {
                if let Some(m) = Self::masker(&self.guards, &mut self.text) {
                    let safe = m.push(&t)?;
                    if !safe.is_empty() {
                        out.push(StreamEvent::TextDelta(safe));
                    }
                }
            }
            StreamEvent::ThinkingDelta(t) => {
                if let Some(m) = Self::masker(&self.guards, &mut self.thinking) {
                    let safe = m.push(&t)?;
                    if !safe.is_empty() {
                        out.push(StreamEvent::ThinkingDelta(safe));
                    }
                }
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                let mut slot = self.tools.remove(&index);
                if let Some(m) = Self::masker(&self.guards, &mut slot) {
                    let safe = m.push(&arguments)?;
                    if !safe.is_empty() {
                        out.push(StreamEvent::ToolCallDelta { index, arguments: safe });
                    }
                }
                if let Some(m) = slot {
                    self.tools.insert(index, m);
                }
            }
            // A signature belongs to the thinking before it, as the provider wrote it.
            other @ (StreamEvent::SignatureDelta(_) | StreamEvent::Usage(_)) => out.push(other),
            other => {
                self.flush(out)?;
                out.push(other);
            }
        }
        Ok(())
    }

    /// The events to send for `events`; a reject guard ends the stream with an error.
    pub fn apply(&mut self, events: &mut Vec<StreamEvent>) {
        if self.refused {
            events.clear();
            return;
        }
        let mut out = Vec::with_capacity(events.len());
        for ev in events.drain(..) {
            if let Err(r) = self.step(ev, &mut out) {
                self.refused = true;
                out.clear();
                out.push(StreamEvent::Error { kind: ErrorKind::InvalidRequest, message: r.message });
                out.push(StreamEvent::End);
                break;
            }
        }
        *events = out;
    }

    /// The provider's stream ended without its end marker: what the channels still hold.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if !self.refused && self.flush(&mut out).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guards(yaml: &str) -> Arc<[GuardIr]> {
        let g: Vec<crate::api::Guard> = serde_saphyr::from_str(yaml).expect("guards");
        crate::ir::translate::policy_guards(&g).expect("compile").into()
    }

    fn chat(turns: &[(Role, &str)]) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: turns
                .iter()
                .map(|(role, t)| Message { role: *role, parts: vec![Part::Text(t.to_string())] })
                .collect(),
            ..ChatRequest::default()
        }
    }

    fn texts(r: &ChatRequest) -> Vec<String> {
        r.messages
            .iter()
            .flat_map(|m| &m.parts)
            .filter_map(|p| if let Part::Text(t) = p { Some(t.clone()) } else { None })
            .collect()
    }

    #[test]
    fn assistant_turns_sent_back_are_checked_by_user_and_output_guards() {
        let card = "4111 1111 1111 1111";
        let req = chat(&[(Role::User, "hi"), (Role::Assistant, card), (Role::User, "ok")]);
        for scope in ["user", "output"] {
            let g = guards(&format!("[{{name: cards, detect: [creditCard], scope: [{scope}]}}]"));
            let mut masked = Arc::new(req.clone());
            let fired = guard_request(&g, &mut masked).expect("masks");
            assert_eq!(texts(&masked), ["hi", "[REDACTED]", "ok"], "{scope}");
            assert_eq!(fired, ["cards"]);
        }
        let mut shared = Arc::new(req.clone());
        let other = Arc::clone(&shared);
        let both = guards("[{name: cards, detect: [creditCard], scope: [user, output]}]");
        let fired = guard_request(&both, &mut shared).expect("masks");
        assert_eq!(
            (texts(&shared), fired),
            (vec!["hi".to_string(), "[REDACTED]".into(), "ok".into()], vec!["cards".to_string()])
        );
        assert_eq!(texts(&other), ["hi", card, "ok"], "a shared request is copied, not changed");
        let system_only = guards("[{name: cards, detect: [creditCard], scope: [system]}]");
        let mut unmasked = Arc::new(req.clone());
        let kept = Arc::clone(&unmasked);
        assert!(guard_request(&system_only, &mut unmasked).expect("no refusal").is_empty());
        assert!(Arc::ptr_eq(&unmasked, &kept), "nothing masked: nothing copied");
        // Nothing but answers in scope and no answer sent back: nothing to look at.
        let output = guards("[{name: cards, detect: [creditCard], scope: [output]}]");
        assert!(guard_request(&output, &mut Arc::new(chat(&[(Role::User, card)]))).expect("no refusal").is_empty());
    }
}
