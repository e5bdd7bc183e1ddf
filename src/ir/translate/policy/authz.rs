//! The authorization section of a TrafficPolicy: CEL rules compiled at translation, so that a
//! syntax error is a condition on the policy, never a failure at request time.

use std::sync::Arc;

use super::super::refs::{RefFailure, invalid};
use crate::api::{Authorization, RuleAction};
use crate::ir::policy::{AuthzIr, AuthzRuleIr};

/// Longest expression accepted.
const MAX_EXPRESSION: usize = 4096;

pub fn compile(a: &Authorization) -> Result<AuthzIr, RefFailure> {
    let mut rules = Vec::new();
    for (i, r) in a.rules.iter().enumerate() {
        let field = format!("spec.authorization.rules[{i}].when");
        if r.when.len() > MAX_EXPRESSION {
            return Err(invalid(format!("{field}: longer than {MAX_EXPRESSION} characters")));
        }
        let program = cel::Program::compile(&r.when).map_err(|e| invalid(format!("{field}: {e}")))?;
        let refs = program.references();
        let reads_mcp = refs.has_variable("mcp");
        let reads_model = refs.has_variable("request") && r.when.contains(".model");
        rules.push(AuthzRuleIr {
            name: r.name.clone().unwrap_or_else(|| format!("rules[{i}]")),
            allow: r.action == RuleAction::Allow,
            source: r.when.clone(),
            program: Arc::new(program),
            reads_mcp,
            reads_model,
        });
    }
    let default_allow = match a.default_action {
        Some(RuleAction::Allow) => true,
        Some(RuleAction::Deny) => false,
        None => !rules.iter().any(|r| r.allow),
    };
    Ok(AuthzIr { rules, default_allow })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AuthorizationRule;

    fn rule(action: RuleAction, when: &str) -> AuthorizationRule {
        AuthorizationRule { name: None, action, when: when.into() }
    }

    #[test]
    fn rules_compile_or_name_the_field() {
        let ok = Authorization {
            rules: vec![
                rule(RuleAction::Deny, r#"mcp.tool.name == "delete""#),
                rule(RuleAction::Allow, r#"request.model.startsWith("gpt-4o")"#),
            ],
            default_action: None,
        };
        let c = compile(&ok).expect("compiles");
        assert!(c.rules[0].reads_mcp && !c.rules[0].reads_model);
        assert!(c.rules[1].reads_model && !c.rules[1].reads_mcp);
        assert!(!c.default_allow, "an allow rule makes the default deny");
        let bad = Authorization { rules: vec![rule(RuleAction::Allow, "identity.name ==")], default_action: None };
        let (reason, message) = compile(&bad).expect_err("a syntax error");
        assert_eq!(reason, "UnsupportedValue");
        assert!(message.starts_with("spec.authorization.rules[0].when:"), "{message}");
    }
}
