//! Remote guards (webhook, moderation) on AI requests and answers: the texts in a guard's
//! scope go to the service in one call per guard, guards in their order; a mask replaces the
//! texts it names, a reject refuses in the client's format. A streamed answer is held whole
//! while a remote guard reads output (a service decides on whole texts), then sent at once.

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::canonical::{ChatRequest, ChatResponse, StreamEvent};
use super::guards::{answer_texts, prompt_texts_mut};
use super::{Ctx, providers};
use crate::ir::policy::{GuardActionIr, GuardIr, RemoteGuardIr};
use crate::policy::guards::Rejection;
use crate::policy::guards::remote::{self, Asker, Item, Verdict};

/// Whether a remote guard reads prompts.
pub fn reads_prompts(guards: &[GuardIr]) -> bool {
    guards.iter().any(|g| g.remote.is_some() && (g.scope.reads_prompt() || g.scope.output))
}

/// Whether a remote guard reads answers.
pub fn reads_answers(guards: &[GuardIr]) -> bool {
    guards.iter().any(|g| g.remote.is_some() && g.scope.output)
}

/// The guard's refusal, with what the service said or else the guard's own status and message.
fn refusal(g: &GuardIr, status: Option<u16>, message: Option<String>) -> Rejection {
    let (own_status, own_message) = match &g.action {
        GuardActionIr::Reject { status, message } => (*status, message.clone()),
        GuardActionIr::Mask { .. } => (400, format!("the request was refused by guard {:?}", g.name)),
    };
    Rejection { guard: g.name.clone(), status: status.unwrap_or(own_status), message: message.unwrap_or(own_message) }
}

/// Asks the guard's service; a service that cannot decide fails open or closed (503).
async fn decide(ctx: &Ctx<'_>, g: &GuardIr, phase: &'static str, items: &[Item<'_>]) -> Result<Verdict, Rejection> {
    let (asked, fail_open) = match &g.remote {
        None => return Ok(Verdict::Pass),
        Some(RemoteGuardIr::Webhook { upstream, authority, path, timeout, fail_open }) => {
            let a = ctx.admitted;
            let who = Asker {
                guard: &g.name,
                phase,
                identity: a.map_or("", |a| a.identity.name.as_str()),
                route: a.map_or("", |a| &*a.route),
            };
            (remote::webhook(upstream, authority, path, *timeout, who, items).await, *fail_open)
        }
        Some(RemoteGuardIr::Moderation { backend, model, thresholds, timeout, fail_open, .. }) => {
            let ask = async {
                let p = backend.groups.first().and_then(|g| g.first()).ok_or("its AIBackend has no provider")?;
                let body = Bytes::from(remote::moderation_request(model.as_deref(), items).to_string());
                let format = super::ClientFormat::OpenAi;
                let resp = providers::call(ctx.pipe, p, Method::POST, "/moderations", body, &HeaderMap::new(), format)
                    .await
                    .map_err(|e| e.message)?;
                let bytes =
                    providers::read_limited(resp.into_body(), providers::MAX_RESPONSE).await.map_err(|e| e.message)?;
                let answer = serde_json::from_slice(&bytes).map_err(|e| format!("its answer is not JSON: {e}"))?;
                remote::moderation_verdict(&answer, thresholds)
            };
            let decided = crate::httpkit::deadline::within(*timeout, ask, |d| format!("no answer within {d:?}")).await;
            let verdict = decided.map(|flagged| match flagged {
                None => Verdict::Pass,
                Some(category) => Verdict::Reject {
                    status: None,
                    message: match &g.action {
                        GuardActionIr::Reject { message, .. } => Some(message.clone()),
                        GuardActionIr::Mask { .. } => {
                            Some(format!("the request was refused by guard {:?} (category: {category})", g.name))
                        }
                    },
                },
            });
            (verdict, *fail_open)
        }
    };
    match asked {
        Ok(Verdict::Reject { status, message }) => Err(refusal(g, status, message)),
        Ok(v) => Ok(v),
        Err(why) if fail_open => {
            tracing::warn!(guard = %g.name, error = %why, "a guard could not decide: the texts pass (failOpen)");
            Ok(Verdict::Pass)
        }
        Err(why) => {
            tracing::warn!(guard = %g.name, error = %why, "a guard could not decide: refused");
            Err(refusal(g, Some(503), Some(format!("guard {:?} could not decide: {why}", g.name))))
        }
    }
}

/// Runs the remote guards over `slots` (scope name, text), replacing masked texts in place;
/// `true` when one masked.
async fn apply(
    ctx: &Ctx<'_>,
    g: &GuardIr,
    phase: &'static str,
    slots: &mut [(&'static str, &mut String)],
) -> Result<bool, Rejection> {
    if slots.is_empty() {
        return Ok(false);
    }
    let verdict = {
        let items: Vec<Item<'_>> = slots.iter().map(|(scope, t)| Item { scope, text: t.as_str() }).collect();
        decide(ctx, g, phase, &items).await?
    };
    let Verdict::Mask(texts) = verdict else { return Ok(false) };
    for (i, text) in texts {
        *slots[i].1 = text;
    }
    Ok(true)
}

/// The request with the remote guards applied: `Ok(None)` when nothing was masked.
pub async fn check_prompt(
    ctx: &Ctx<'_>,
    guards: &[GuardIr],
    req: &ChatRequest,
) -> Result<Option<(ChatRequest, Vec<String>)>, Rejection> {
    let mut out = req.clone();
    let mut fired = Vec::new();
    for g in guards.iter().filter(|g| g.remote.is_some()) {
        let mut slots: Vec<(&'static str, &mut String)> = prompt_texts_mut(&mut out)
            .into_iter()
            .filter(|(applies, _, _)| applies(&g.scope))
            .map(|(_, scope, t)| (scope, t))
            .collect();
        if apply(ctx, g, "prompt", &mut slots).await? {
            fired.push(g.name.clone());
        }
    }
    Ok((!fired.is_empty()).then_some((out, fired)))
}

/// A whole answer with the remote output guards applied; the guards that masked.
pub async fn check_answer(ctx: &Ctx<'_>, guards: &[GuardIr], r: &mut ChatResponse) -> Result<Vec<String>, Rejection> {
    let mut fired = Vec::new();
    for g in guards.iter().filter(|g| g.remote.is_some() && g.scope.output) {
        let mut slots: Vec<(&'static str, &mut String)> = answer_texts(r).map(|t| ("output", t)).collect();
        if apply(ctx, g, "answer", &mut slots).await? {
            fired.push(g.name.clone());
        }
    }
    Ok(fired)
}

/// Which stream a delta belongs to: the text, the thinking, or one tool call's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Channel {
    Text,
    Thinking,
    Tool(usize),
}

fn channel(ev: &mut StreamEvent) -> Option<(Channel, &mut String)> {
    match ev {
        StreamEvent::TextDelta(t) => Some((Channel::Text, t)),
        StreamEvent::ThinkingDelta(t) => Some((Channel::Thinking, t)),
        StreamEvent::ToolCallDelta { index, arguments } => Some((Channel::Tool(*index), arguments)),
        _ => None,
    }
}

/// A held stream's events with the remote output guards applied: each channel's deltas are
/// one text to the guards; a masked channel is sent as one delta where its first one was.
pub async fn check_events(
    ctx: &Ctx<'_>,
    guards: &[GuardIr],
    mut events: Vec<StreamEvent>,
    fired: &mut Vec<String>,
) -> Result<Vec<StreamEvent>, Rejection> {
    let mut order: Vec<Channel> = Vec::new();
    let mut whole: HashMap<Channel, String> = HashMap::new();
    for ev in &mut events {
        if let Some((c, t)) = channel(ev) {
            if !whole.contains_key(&c) {
                order.push(c);
            }
            whole.entry(c).or_default().push_str(t);
        }
    }
    let mut texts: Vec<String> = order.iter().map(|c| whole.remove(c).unwrap_or_default()).collect();
    let mut masked = false;
    for g in guards.iter().filter(|g| g.remote.is_some() && g.scope.output) {
        let mut slots: Vec<(&'static str, &mut String)> = texts.iter_mut().map(|t| ("output", t)).collect();
        if apply(ctx, g, "answer", &mut slots).await? {
            fired.push(g.name.clone());
            masked = true;
        }
    }
    if !masked {
        return Ok(events);
    }
    let mut replaced: HashMap<Channel, Option<String>> = order.into_iter().zip(texts.into_iter().map(Some)).collect();
    events.retain_mut(|ev| {
        let Some((c, t)) = channel(ev) else { return true };
        match replaced.get_mut(&c).and_then(Option::take) {
            Some(text) => {
                *t = text;
                true
            }
            None => false,
        }
    });
    Ok(events)
}
