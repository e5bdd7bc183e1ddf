//! MCPBackend resources resolved into [`McpBackendIr`]: targets checked and named, filters
//! and naming settled.

use std::collections::HashSet;
use std::sync::Arc;

use super::backend::RefFailure;
use super::index::Index;
use crate::api::{McpBackend, McpFailureMode, McpPrefixMode, McpTarget};
use crate::ir::ObjectKey;
use crate::ir::mcp::{FailureMode, McpBackendIr, McpTargetIr, McpTransport, PrefixMode, ToolRules};
use crate::mcp::session_token::SessionKey;

fn invalid(msg: impl Into<String>) -> RefFailure {
    ("UnsupportedValue".to_string(), msg.into())
}

pub fn resolve(ix: &Index<'_>, ns: &str, name: &str) -> Result<Arc<McpBackendIr>, RefFailure> {
    let b = ix
        .mcp_backend(ns, name)
        .ok_or_else(|| ("BackendNotFound".to_string(), format!("MCPBackend {ns}/{name} not found")))?;
    let mut ir = build(b).map_err(|(r, m)| (r, format!("MCPBackend {ns}/{name}: {m}")))?;
    ir.session_key = session_key(ix, b).map_err(|(r, m)| (r, format!("MCPBackend {ns}/{name}: {m}")))?;
    Ok(Arc::new(ir))
}

/// The session key from `spec.sessions.keySecretRef`, if set.
fn session_key(ix: &Index<'_>, b: &McpBackend) -> Result<Option<Arc<SessionKey>>, RefFailure> {
    let Some(r) = b.spec.sessions.as_ref().and_then(|s| s.key_secret_ref.as_ref()) else { return Ok(None) };
    let ns = b.metadata.namespace();
    let key_name = r.key.as_deref().unwrap_or("sessionKey");
    let bytes = super::ai::secret_value(ix, ns, &r.name, key_name)?
        .ok_or_else(|| invalid(format!("Secret {ns}/{} has no key {key_name:?}", r.name)))?;
    SessionKey::new(&bytes).map(|k| Some(Arc::new(k))).map_err(|e| invalid(format!("spec.sessions.keySecretRef: {e}")))
}

pub fn build(b: &McpBackend) -> Result<McpBackendIr, RefFailure> {
    let ns = b.metadata.namespace();
    let name = b.metadata.name();
    if b.spec.targets.is_empty() {
        return Err(invalid("spec.targets needs at least one target"));
    }
    let naming = b.spec.naming.clone().unwrap_or_default();
    let separator = naming.separator.unwrap_or_else(|| "_".to_string());
    if separator.is_empty() {
        return Err(invalid("spec.naming.separator must not be empty"));
    }
    let mut seen = HashSet::new();
    let mut targets = Vec::new();
    for (i, t) in b.spec.targets.iter().enumerate() {
        let target = target(ns, name, t).map_err(|(r, m)| (r, format!("spec.targets[{i}]: {m}")))?;
        if !seen.insert(target.name.clone()) {
            return Err(invalid(format!("spec.targets[{i}]: target name {:?} is used twice", target.name)));
        }
        targets.push(Arc::new(target));
    }
    Ok(McpBackendIr {
        key: ObjectKey::new(ns, name),
        targets,
        prefix: match naming.prefix.unwrap_or_default() {
            McpPrefixMode::Always => PrefixMode::Always,
            McpPrefixMode::OnConflict => PrefixMode::OnConflict,
            McpPrefixMode::Never => PrefixMode::Never,
        },
        separator,
        failure_mode: match b.spec.failure_mode.unwrap_or_default() {
            McpFailureMode::FailClosed => FailureMode::FailClosed,
            McpFailureMode::FailOpen => FailureMode::FailOpen,
        },
        session_key: None,
    })
}

fn target(ns: &str, backend: &str, t: &McpTarget) -> Result<McpTargetIr, RefFailure> {
    let name_ok = !t.name.is_empty() && t.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(invalid(format!("target name {:?} must be letters, digits, '-' or '_'", t.name)));
    }
    let transport = match (&t.stdio, &t.sse, &t.streamable_http) {
        (Some(s), None, None) => {
            if s.command.trim().is_empty() {
                return Err(invalid(format!("target {:?}: stdio.command is empty", t.name)));
            }
            McpTransport::Stdio {
                command: s.command.clone(),
                args: s.args.clone(),
                env: s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            }
        }
        (None, Some(u), None) => McpTransport::Sse { url: http_url(&t.name, &u.url)? },
        (None, None, Some(u)) => McpTransport::StreamableHttp { url: http_url(&t.name, &u.url)? },
        _ => {
            return Err(invalid(format!("target {:?} needs exactly one of stdio, sse and streamableHttp", t.name)));
        }
    };
    for (k, v) in &t.headers {
        if http::HeaderName::from_bytes(k.as_bytes()).is_err() || http::HeaderValue::from_str(v).is_err() {
            return Err(invalid(format!("target {:?}: header {k:?} is not a valid HTTP header", t.name)));
        }
    }
    let filter = t.tools.clone().unwrap_or_default();
    Ok(McpTargetIr {
        name: t.name.clone(),
        id: Arc::from(format!("{ns}/{backend}/{}", t.name)),
        transport,
        headers: t.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        tools: ToolRules { include: filter.include, exclude: filter.exclude },
    })
}

fn http_url(target: &str, url: &str) -> Result<String, RefFailure> {
    let uri: http::Uri = url.parse().map_err(|e| invalid(format!("target {target:?}: url {url:?}: {e}")))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(_)) => Ok(url.to_string()),
        (Some("https"), Some(_)) => {
            Err(invalid(format!("target {target:?}: https targets are not supported yet (url {url:?})")))
        }
        _ => Err(invalid(format!("target {target:?}: url {url:?} must be an http:// URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Resource;

    fn backend(spec: &str) -> Result<McpBackend, String> {
        let text = format!(
            "apiVersion: sluice.dev/v1alpha1\nkind: MCPBackend\nmetadata: {{name: tools, namespace: ns}}\nspec:\n{spec}"
        );
        let loaded = crate::config::parse_text("mcp.yaml", &text);
        if let Some(e) = loaded.errors.first() {
            return Err(e.to_string());
        }
        match loaded.resources.into_iter().next().map(|l| l.resource) {
            Some(Resource::McpBackend(b)) => Ok(b),
            other => Err(format!("not an MCPBackend: {other:?}")),
        }
    }

    fn built(spec: &str) -> Result<McpBackendIr, String> {
        build(&backend(spec)?).map_err(|(_, m)| m)
    }

    #[test]
    fn targets_naming_and_defaults() {
        let ir = built(
            "  targets:\n    - {name: time, stdio: {command: python3, args: [-m, mcp_server_time], env: {TZ: UTC}}}\n    \
             - {name: ev, streamableHttp: {url: \"http://127.0.0.1:3001/mcp\"}, headers: {x-k: v}, tools: {exclude: [\"get-*\"]}}\n",
        )
        .expect("valid");
        assert_eq!(ir.prefix, PrefixMode::Always);
        assert_eq!(ir.separator, "_");
        assert_eq!(ir.failure_mode, FailureMode::FailOpen);
        assert_eq!(&*ir.targets[0].id, "ns/tools/time");
        assert!(
            matches!(&ir.targets[0].transport, McpTransport::Stdio { env, .. } if env == &[("TZ".to_string(), "UTC".to_string())])
        );
        assert!(!ir.targets[1].tools.allows("get-env"));
        assert_eq!(ir.targets[1].headers, [("x-k".to_string(), "v".to_string())]);
        let ir = built(
            "  naming: {prefix: OnConflict, separator: \"__\"}\n  failureMode: FailClosed\n  targets: [{name: a, sse: {url: \"http://h/sse\"}}]\n",
        )
        .expect("valid");
        assert_eq!(
            (ir.prefix, ir.separator.as_str(), ir.failure_mode),
            (PrefixMode::OnConflict, "__", FailureMode::FailClosed)
        );
    }

    #[test]
    fn refuses_what_cannot_work() {
        let cases = [
            ("  targets: []\n", "at least one target"),
            ("  targets: [{name: a}]\n", "exactly one of"),
            ("  targets: [{name: a, stdio: {command: x}, sse: {url: \"http://h\"}}]\n", "exactly one of"),
            ("  targets: [{name: a, stdio: {command: x}}, {name: a, stdio: {command: y}}]\n", "used twice"),
            ("  targets: [{name: \"a b\", stdio: {command: x}}]\n", "letters, digits"),
            ("  targets: [{name: a, streamableHttp: {url: \"https://h/mcp\"}}]\n", "https"),
            ("  targets: [{name: a, streamableHttp: {url: \"ftp://h/mcp\"}}]\n", "http:// URL"),
            ("  naming: {separator: \"\"}\n  targets: [{name: a, stdio: {command: x}}]\n", "separator"),
        ];
        for (spec, needle) in cases {
            let err = built(spec).err().unwrap_or_default();
            assert!(err.contains(needle), "{spec}: expected {needle:?} in {err:?}");
        }
        let err = backend("  targets: [{name: a, stdio: {command: x, shell: true}}]\n").err().unwrap_or_default();
        assert!(err.contains("unknown field `shell`"), "{err}");
        let err = backend("  naming: {prefix: Sometimes}\n  targets: [{name: a, stdio: {command: x}}]\n")
            .err()
            .unwrap_or_default();
        assert!(err.contains("Sometimes"), "{err}");
    }
}
