//! AIBackend resources resolved into [`AiBackendIr`]: base URLs to upstreams, Secrets to
//! credentials, model lists to rules.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::backend::RefFailure;
use super::duration;
use super::index::Index;
use super::tls;
use crate::ai::catalog;
use crate::api::{AiBackend, AiProvider};
use crate::ir::ai::{AiAuth, AiBackendIr, AiEndpoint, AiProviderIr, MockSettings, ModelRule, ProviderKind};
use crate::ir::backend::Upstream;
use crate::ir::{Endpoint, ObjectKey, UpstreamProtocol, UpstreamTls};

fn invalid(msg: impl Into<String>) -> RefFailure {
    ("UnsupportedValue".to_string(), msg.into())
}

pub fn resolve(ix: &Index<'_>, ns: &str, name: &str) -> Result<Arc<AiBackendIr>, RefFailure> {
    let b = ix
        .ai_backend(ns, name)
        .ok_or_else(|| ("BackendNotFound".to_string(), format!("AIBackend {ns}/{name} not found")))?;
    build(ix, b).map(Arc::new).map_err(|(r, m)| (r, format!("AIBackend {ns}/{name}: {m}")))
}

fn build(ix: &Index<'_>, b: &AiBackend) -> Result<AiBackendIr, RefFailure> {
    let ns = b.metadata.namespace();
    let name = b.metadata.name();
    let groups: Vec<Vec<&AiProvider>> = match (&b.spec.provider, b.spec.groups.as_slice()) {
        (Some(p), []) => vec![vec![p]],
        (None, groups) if !groups.is_empty() => groups.iter().map(|g| g.providers.iter().collect()).collect(),
        (Some(_), _) => return Err(invalid("set either spec.provider or spec.groups, not both")),
        (None, _) => return Err(invalid("spec.provider or spec.groups is required")),
    };
    let mut out_groups = Vec::new();
    for (gi, group) in groups.into_iter().enumerate() {
        if group.is_empty() {
            return Err(invalid(format!("spec.groups[{gi}] has no provider")));
        }
        let mut providers = Vec::new();
        for (pi, p) in group.into_iter().enumerate() {
            let pname = p.name.clone().unwrap_or_else(|| p.r#type.clone());
            let provider =
                provider(ix, ns, name, &pname, p).map_err(|(r, m)| (r, format!("provider {pname:?}: {m}")))?;
            if providers.iter().any(|x: &Arc<AiProviderIr>| x.id == provider.id) {
                return Err(invalid(format!(
                    "spec.groups[{gi}].providers[{pi}]: provider name {pname:?} is used twice"
                )));
            }
            providers.push(Arc::new(provider));
        }
        out_groups.push(providers);
    }
    let f = b.spec.failover.clone().unwrap_or_default();
    let parse = |s: Option<&str>, default: Option<Duration>| -> Result<Option<Duration>, RefFailure> {
        match s {
            None => Ok(default),
            Some(s) => duration::parse(s).map(Some).map_err(invalid),
        }
    };
    Ok(AiBackendIr {
        key: ObjectKey::new(ns, name),
        groups: out_groups,
        models: b.spec.models.iter().map(|m| ModelRule { pattern: m.name.clone(), target: m.target.clone() }).collect(),
        consecutive_failures: f.consecutive_failures.unwrap_or(3).max(1),
        ejection: parse(f.ejection.as_deref(), Some(Duration::from_secs(30)))?.unwrap_or_default(),
        first_byte_timeout: parse(f.first_byte_timeout.as_deref(), None)?,
    })
}

/// What a provider type means: its wire kind, default base URL, how the key is sent, and the
/// chat path (relative to the base URL). Native types and the catalog's providers alike come
/// from `providers/*.yaml`; `mock` needs no entry.
struct TypeDefaults {
    kind: ProviderKind,
    base_url: String,
    key_header: Option<String>,
    chat_path: Option<String>,
}

fn defaults(ty: &str) -> Result<TypeDefaults, RefFailure> {
    if ty == "mock" {
        return Ok(TypeDefaults {
            kind: ProviderKind::Mock,
            base_url: String::new(),
            key_header: None,
            chat_path: None,
        });
    }
    let entry = catalog::catalog().provider(ty).ok_or_else(|| {
        let known: Vec<&str> = catalog::catalog().providers().map(|p| p.name.as_str()).collect();
        invalid(format!("unknown provider type {ty:?}; known: mock, {}", known.join(", ")))
    })?;
    let kind = match entry.wire_format {
        catalog::WireFormat::Openai => ProviderKind::OpenAi,
        catalog::WireFormat::Anthropic => ProviderKind::Anthropic,
        other @ (catalog::WireFormat::AzureOpenai
        | catalog::WireFormat::Gemini
        | catalog::WireFormat::Vertex
        | catalog::WireFormat::Bedrock) => {
            return Err(invalid(format!("the {} wire format is not supported yet", other.as_str())));
        }
    };
    let key_header = match entry.auth.style {
        catalog::AuthStyle::Header => Some(entry.auth.header.clone().unwrap_or_else(|| "x-api-key".to_string())),
        catalog::AuthStyle::Bearer | catalog::AuthStyle::None => None,
        catalog::AuthStyle::AwsSigv4 | catalog::AuthStyle::GcpOauth => {
            return Err(invalid(format!("{ty}: this authentication style is not supported yet")));
        }
    };
    Ok(TypeDefaults {
        kind,
        base_url: entry.base_url.clone(),
        key_header,
        chat_path: entry.endpoints.chat_completions.clone(),
    })
}

fn provider(ix: &Index<'_>, ns: &str, backend: &str, pname: &str, p: &AiProvider) -> Result<AiProviderIr, RefFailure> {
    let d = defaults(&p.r#type)?;
    let kind = d.kind;
    let id: Arc<str> = Arc::from(format!("{ns}/{backend}/{pname}"));
    let endpoint = match kind {
        ProviderKind::Mock => None,
        ProviderKind::OpenAi | ProviderKind::Anthropic => {
            let base = p.base_url.as_deref().unwrap_or(&d.base_url);
            Some(endpoint(&id, base)?)
        }
    };
    let auth = match &p.auth {
        None => AiAuth::None,
        Some(a) if a.passthrough == Some(true) => AiAuth::Passthrough,
        Some(a) => match &a.secret_ref {
            None => AiAuth::None,
            Some(r) => {
                let key_name = r.key.as_deref().unwrap_or("apiKey");
                let secret = ix
                    .secret(ns, &r.name)
                    .ok_or_else(|| ("BackendNotFound".to_string(), format!("Secret {ns}/{} not found", r.name)))?;
                let key = secret
                    .get(key_name)
                    .map_err(|e| invalid(format!("Secret {ns}/{}: {e:?}", r.name)))?
                    .ok_or_else(|| invalid(format!("Secret {ns}/{} has no key {key_name:?}", r.name)))?;
                let key = String::from_utf8(key).map_err(|_| invalid("the API key is not UTF-8"))?;
                let key = key.trim();
                match &d.key_header {
                    None => AiAuth::Bearer(
                        HeaderValue::from_str(&format!("Bearer {key}"))
                            .map_err(|_| invalid("the API key is not a valid header value"))?,
                    ),
                    Some(h) => AiAuth::Header(
                        HeaderName::from_bytes(h.as_bytes())
                            .map_err(|_| invalid(format!("invalid header name {h:?}")))?,
                        HeaderValue::from_str(key).map_err(|_| invalid("the API key is not a valid header value"))?,
                    ),
                }
            }
        },
    };
    let mock = p.mock.clone().unwrap_or_default();
    Ok(AiProviderIr {
        id,
        kind,
        catalog: p.r#type.clone(),
        weight: p.weight.unwrap_or(1),
        model: p.model.clone(),
        force_model: p.force_model.unwrap_or(false),
        chat_path: d.chat_path,
        endpoint,
        auth,
        mock: MockSettings {
            content: mock.content,
            chunks: mock.chunks.unwrap_or(4).max(1),
            interval: match mock.interval.as_deref() {
                None => Duration::ZERO,
                Some(s) => duration::parse(s).map_err(invalid)?,
            },
        },
    })
}

fn endpoint(id: &str, base: &str) -> Result<AiEndpoint, RefFailure> {
    let uri: http::Uri = base.parse().map_err(|e| invalid(format!("baseURL {base:?} is not a URL: {e}")))?;
    let scheme = match uri.scheme_str() {
        Some("http") => "http",
        Some("https") => "https",
        _ => return Err(invalid(format!("baseURL {base:?} must start with http:// or https://"))),
    };
    let authority = uri.authority().ok_or_else(|| invalid(format!("baseURL {base:?} has no host")))?;
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
    let ep = match host.parse::<IpAddr>() {
        Ok(ip) => Endpoint::Addr(SocketAddr::new(ip, port)),
        Err(_) => Endpoint::Dns { host: host.to_string(), port },
    };
    let tls = if scheme == "https" {
        let config = tls::client_config(tls::system_roots(), None).map_err(invalid)?;
        let server_name = rustls_pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| invalid(format!("host {host:?}: {e}")))?;
        Some(Arc::new(UpstreamTls { server_name, config: Arc::new(config), fingerprint: "system".into() }))
    } else {
        None
    };
    let pool_key = format!("ai:{id}:{scheme}://{authority}");
    Ok(AiEndpoint {
        upstream: Arc::new(Upstream::new(pool_key, vec![ep], UpstreamProtocol::Http1, tls)),
        scheme,
        authority: authority.as_str().to_string(),
        path_prefix: uri.path().trim_end_matches('/').to_string(),
    })
}
