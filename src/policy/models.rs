//! Model access: the models a rule's policy and a virtual key allow, each a list of exact
//! names or `prefix-*` patterns. A request must pass both.

/// Whether `model` matches one of `patterns` (empty: any).
pub fn allows(patterns: &[String], model: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => model.starts_with(prefix),
            None => p == model,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_and_prefixes() {
        let p = vec!["gpt-4o*".to_string(), "claude-sonnet-4-5".to_string()];
        for (model, ok) in [
            ("gpt-4o", true),
            ("gpt-4o-mini", true),
            ("gpt-4", false),
            ("claude-sonnet-4-5", true),
            ("claude-sonnet-4-5x", false),
        ] {
            assert_eq!(allows(&p, model), ok, "{model}");
        }
        assert!(allows(&[], "anything"));
    }
}
