//! Who made a request, as authentication established it; read by authorization, model access,
//! identity headers, and (later) rate limits, budgets and logs.

use std::collections::BTreeMap;

use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    /// The key's name, the JWT's subject (or configured claim), the basic user, or what the
    /// external service named; empty for an anonymous request.
    pub name: String,
    /// `api_key`, `jwt`, `basic`, `external` or `anonymous`.
    pub method: &'static str,
    /// A key's attributes (team, user…), or the string claims of a JWT.
    pub attributes: BTreeMap<String, String>,
    /// A JWT's claims as they came (`Null` otherwise).
    pub claims: Value,
    /// Model patterns a virtual key is limited to; empty: no limit of the key's own.
    pub models: Vec<String>,
}

impl Identity {
    pub fn anonymous() -> Identity {
        Identity { method: "anonymous", ..Identity::default() }
    }

    /// The identity as CEL sees it: `identity.name`, `identity.method`, `identity.attributes`,
    /// `identity.claims`.
    pub fn to_value(&self) -> Value {
        json!({
            "name": self.name,
            "method": self.method,
            "attributes": self.attributes,
            "claims": if self.claims.is_null() { json!({}) } else { self.claims.clone() },
        })
    }

    /// An attribute or a claim (string claims only), for identity headers.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.attributes.get(name).cloned().or_else(|| match self.claims.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
            _ => None,
        })
    }
}
