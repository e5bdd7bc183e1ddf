//! Prompt shaping on AI routes (the TrafficPolicy `shaping` section): messages put before and
//! after the conversation, and request fields defaulted (when the client set none) or
//! overridden (always), applied to the canonical request before it is translated.

use super::canonical::{ChatRequest, Effort, Message, Part, Reasoning, Role};
use crate::ir::policy::{RequestFields, Shaping, ShapingMessage};

fn message(m: &ShapingMessage) -> Message {
    let role = if m.role == "system" { Role::System } else { Role::User };
    Message { role, parts: vec![Part::Text(m.content.clone())] }
}

fn fields(req: &mut ChatRequest, f: &RequestFields, overwrite: bool) {
    fn set<T: Clone>(slot: &mut Option<T>, value: &Option<T>, overwrite: bool) {
        if value.is_some() && (overwrite || slot.is_none()) {
            slot.clone_from(value);
        }
    }
    set(&mut req.temperature, &f.temperature, overwrite);
    set(&mut req.top_p, &f.top_p, overwrite);
    set(&mut req.max_tokens, &f.max_tokens, overwrite);
    if let Some(e) = &f.reasoning_effort
        && (overwrite || req.reasoning.is_none())
    {
        req.reasoning = Some(Reasoning { effort: Some(Effort::parse(e)), budget_tokens: None });
    }
}

/// The request as the route's shaping wants it.
pub fn shape(s: &Shaping, req: &ChatRequest) -> ChatRequest {
    let mut out = req.clone();
    let (systems, users): (Vec<&ShapingMessage>, Vec<&ShapingMessage>) =
        s.prepend.iter().partition(|m| m.role == "system");
    out.system.splice(0..0, systems.iter().map(|m| m.content.clone()));
    out.messages.splice(0..0, users.iter().map(|m| message(m)));
    out.messages.extend(s.append.iter().map(message));
    if let Some(d) = &s.defaults {
        fields(&mut out, d, false);
    }
    if let Some(o) = &s.overrides {
        fields(&mut out, o, true);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fields_are_shaped() {
        let s: Shaping = serde_saphyr::from_str(
            "{prepend: [{role: system, content: Be brief.}], append: [{role: user, content: Answer in French.}], \
             defaults: {temperature: 0.2, maxTokens: 100}, overrides: {reasoningEffort: low}}",
        )
        .expect("shaping");
        let req = ChatRequest {
            system: vec!["You are a bot.".into()],
            messages: vec![Message { role: Role::User, parts: vec![Part::Text("Hi".into())] }],
            max_tokens: Some(5),
            ..ChatRequest::default()
        };
        let out = shape(&s, &req);
        assert_eq!(out.system, ["Be brief.", "You are a bot."]);
        assert_eq!(out.messages.len(), 2);
        assert_eq!(out.messages[1].role, Role::User);
        assert_eq!((out.temperature, out.max_tokens), (Some(0.2), Some(5)), "a default never replaces the client's");
        assert_eq!(out.reasoning.and_then(|r| r.effort), Some(Effort::Low));
    }
}
