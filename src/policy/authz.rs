//! Authorization: the policy's CEL rules over `identity`, `request` and `mcp`, in order; the
//! first rule whose expression is true decides. Rules are asked at the point where what they
//! read is known: rules reading neither `request.model` nor `mcp` when the request arrives
//! (every route), rules reading `request.model` once an AI request is read, rules reading
//! `mcp` for each MCP tool, prompt and resource (listed or used). A rule whose expression fails
//! (a missing field) does not match.

use http::request::Parts;
use serde_json::{Map, Value, json};

use super::Denial;
use super::identity::Identity;
use crate::ir::policy::{AuthzIr, AuthzRuleIr};

/// Where in a request rules are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The request has arrived: rules that read neither the model nor MCP items.
    Request,
    /// An AI request's model is known: every rule but those reading `mcp`.
    Model,
    /// One MCP tool, prompt or resource: every rule.
    McpItem,
}

/// What rules may read besides the identity.
pub struct Facts<'a> {
    pub parts: &'a Parts,
    pub model: Option<&'a str>,
    /// `{"method", "tool": {"name"}, "prompt": {"name"}, "resource": {"uri"}}`.
    pub mcp: Option<Value>,
}

fn asked(rule: &AuthzRuleIr, point: Point) -> bool {
    match point {
        Point::Request => !rule.reads_mcp && !rule.reads_model,
        Point::Model => !rule.reads_mcp,
        Point::McpItem => true,
    }
}

/// The request as rules see it: `request.method`, `.path`, `.host`, `.headers` (lower-case
/// names, first value), `.model`.
fn request_value(parts: &Parts, model: Option<&str>) -> Value {
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            headers.entry(name.as_str().to_string()).or_insert_with(|| json!(v));
        }
    }
    let host = parts.uri.host().map(str::to_string).or_else(|| {
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.split(':').next().unwrap_or(h).to_string())
    });
    let mut v = json!({"method": parts.method.as_str(), "path": parts.uri.path(), "host": host, "headers": headers});
    if let Some(m) = model {
        v["model"] = json!(m);
    }
    v
}

/// Whether the rules let the request (or item) through at `point`.
pub fn authorize(authz: &AuthzIr, identity: &Identity, facts: &Facts<'_>, point: Point) -> Result<(), Denial> {
    let mut ctx = cel::Context::default();
    let add = |ctx: &mut cel::Context<'_, '_>, name: &str, v: Value| {
        if let Ok(v) = cel::to_value(v) {
            ctx.add_variable_from_value(name.to_string(), v);
        }
    };
    add(&mut ctx, "identity", identity.to_value());
    add(&mut ctx, "request", request_value(facts.parts, facts.model));
    if let Some(m) = &facts.mcp {
        add(&mut ctx, "mcp", m.clone());
    }
    let mut deferred = false;
    for rule in &authz.rules {
        if !asked(rule, point) {
            deferred = true;
            continue;
        }
        if matches!(rule.program.execute(&ctx), Ok(cel::Value::Bool(true))) {
            return match rule.allow {
                true => Ok(()),
                false => Err(Denial::forbidden(format!("refused by authorization rule {:?}", rule.name))),
            };
        }
    }
    // Rules still to be asked at a later point decide then.
    if deferred && point == Point::Request {
        return Ok(());
    }
    match authz.default_allow {
        true => Ok(()),
        false => Err(Denial::forbidden("no authorization rule allows this request".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Authorization, AuthorizationRule, RuleAction};

    fn compile(rules: &[(RuleAction, &str)]) -> AuthzIr {
        let a = Authorization {
            rules: rules
                .iter()
                .map(|(action, when)| AuthorizationRule { name: None, action: *action, when: when.to_string() })
                .collect(),
            default_action: None,
        };
        crate::ir::translate::policy_authz(&a).expect("compiles")
    }

    fn parts() -> Parts {
        http::Request::post("/v1/chat/completions")
            .header("host", "api.example:8080")
            .body(())
            .expect("request")
            .into_parts()
            .0
    }

    fn ml_user() -> Identity {
        let claims = json!({"groups": ["ml", "eng"], "sub": "alice"});
        Identity { name: "alice".into(), method: "jwt", claims, ..Identity::default() }
    }

    #[test]
    fn rules_decide_in_order_at_the_point_where_they_can() {
        use RuleAction::{Allow, Deny};
        let z = compile(&[
            (Deny, r#"mcp.tool.name == "delete_everything""#),
            (Allow, r#"identity.claims.groups.exists(g, g == "ml") && request.model.startsWith("gpt-4o")"#),
            (Allow, r#"has(mcp.tool) && identity.name == "alice""#),
        ]);
        let p = parts();
        let facts = |model: Option<&'static str>, mcp: Option<Value>| Facts { parts: &p, model, mcp };
        // On arrival every rule is deferred.
        assert!(authorize(&z, &ml_user(), &facts(None, None), Point::Request).is_ok());
        assert!(authorize(&z, &ml_user(), &facts(Some("gpt-4o-mini"), None), Point::Model).is_ok());
        assert!(authorize(&z, &ml_user(), &facts(Some("claude-x"), None), Point::Model).is_err(), "default deny");
        assert!(authorize(&z, &Identity::anonymous(), &facts(Some("gpt-4o"), None), Point::Model).is_err());
        let tool = |name: &str| Some(json!({"method": "tools/call", "tool": {"name": name}}));
        assert!(authorize(&z, &ml_user(), &facts(None, tool("time_now")), Point::McpItem).is_ok());
        let denied =
            authorize(&z, &ml_user(), &facts(None, tool("delete_everything")), Point::McpItem).expect_err("denied");
        assert_eq!(denied.status, http::StatusCode::FORBIDDEN);
        assert!(denied.message.contains("rules[0]"), "{}", denied.message);
    }

    #[test]
    fn request_rules_see_method_path_host_and_headers() {
        let z = compile(&[(
            RuleAction::Allow,
            r#"request.method == "POST" && request.host == "api.example" && request.path.startsWith("/v1/")"#,
        )]);
        let p = parts();
        assert!(
            authorize(&z, &Identity::anonymous(), &Facts { parts: &p, model: None, mcp: None }, Point::Request).is_ok()
        );
    }
}
