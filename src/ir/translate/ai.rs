//! AIBackend resources resolved into [`AiBackendIr`]: base URLs to upstreams, Secrets to
//! credentials, model lists to rules.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::duration;
use super::index::Index;
use super::refs::{RefFailure, invalid, secret_value};
use super::tls;
use crate::api::{AiBackend, AiProvider};
use crate::catalog;
use crate::ir::ai::{
    AiAuth, AiBackendIr, AiEndpoint, AiProviderIr, KeyPlace, MockSettings, ModelRule, PassthroughRule, WireFormat,
};
use crate::ir::backend::Upstream;
use crate::ir::creds::{self, AwsKeys};
use crate::ir::{Endpoint, ObjectKey, UpstreamProtocol, UpstreamTls};

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
        // Reasoning models may think for minutes between the head and the first event.
        stream_idle_timeout: parse(f.stream_idle_timeout.as_deref(), Some(Duration::from_secs(600)))?
            .filter(|d| !d.is_zero()),
        // Room for one slow reasoning answer after a failover or two.
        request_timeout: parse(f.request_timeout.as_deref(), Some(Duration::from_secs(900)))?.filter(|d| !d.is_zero()),
        passthrough: passthrough_rules(&b.spec.passthrough)?,
    })
}

fn passthrough_rules(rules: &[crate::api::AiPassthrough]) -> Result<Vec<PassthroughRule>, RefFailure> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if !r.path_prefix.starts_with('/') {
                return Err(invalid(format!("spec.passthrough[{i}].pathPrefix: starts with /")));
            }
            let methods: Vec<String> = match r.methods.as_slice() {
                [] => vec!["GET".into(), "POST".into()],
                m => m.iter().map(|m| m.to_ascii_uppercase()).collect(),
            };
            if let Some(m) = methods.iter().find(|m| http::Method::from_bytes(m.as_bytes()).is_err()) {
                return Err(invalid(format!("spec.passthrough[{i}].methods: {m:?} is not a method")));
            }
            Ok(PassthroughRule { path_prefix: r.path_prefix.clone(), methods })
        })
        .collect()
}

/// What a provider type means: its wire kind, default base URL, how the key is sent, and the
/// chat and stream paths (relative to the base URL). Native types and the catalog's providers
/// alike come from `providers/*.yaml`; `mock` needs no entry.
struct TypeDefaults {
    kind: WireFormat,
    base_url: String,
    key_header: Option<String>,
    /// Credentials that sign or mint rather than a key sent as it is.
    signing: Option<Signing>,
    chat_path: Option<String>,
    stream_path: Option<String>,
}

/// The catalog's signing auth styles.
#[derive(Clone, Copy)]
enum Signing {
    /// Bedrock: SigV4 with AWS keys (or a Bedrock API key as a bearer token).
    AwsSigV4,
    /// Vertex AI: OAuth tokens minted from a service-account key.
    GcpOauth,
}

fn defaults(ty: &str) -> Result<TypeDefaults, RefFailure> {
    if ty == "mock" {
        return Ok(TypeDefaults {
            kind: WireFormat::Mock,
            base_url: String::new(),
            key_header: None,
            signing: None,
            chat_path: None,
            stream_path: None,
        });
    }
    let entry = catalog::catalog().provider(ty).ok_or_else(|| {
        let known: Vec<&str> = catalog::catalog().providers().map(|p| p.name.as_str()).collect();
        invalid(format!("unknown provider type {ty:?}; known: mock, {}", known.join(", ")))
    })?;
    let kind = entry.wire_format;
    let (key_header, signing) = match entry.auth.style {
        catalog::AuthStyle::Header => {
            (Some(entry.auth.header.clone().unwrap_or_else(|| "x-api-key".to_string())), None)
        }
        // A plain key is a bearer token.
        catalog::AuthStyle::Bearer | catalog::AuthStyle::None => (None, None),
        // SigV4 and OAuth credentials are read by `signing_auth`.
        catalog::AuthStyle::AwsSigv4 => (None, Some(Signing::AwsSigV4)),
        catalog::AuthStyle::GcpOauth => (None, Some(Signing::GcpOauth)),
    };
    let e = &entry.endpoints;
    let (chat_path, stream_path) = match kind {
        WireFormat::Gemini => (e.generate_content.clone(), e.stream_generate_content.clone()),
        WireFormat::Anthropic => (e.messages.clone().or_else(|| e.chat_completions.clone()), None),
        WireFormat::Bedrock => (e.converse.clone(), e.converse_stream.clone()),
        // Vertex paths depend on the model's publisher (providers::vertex::path).
        WireFormat::Vertex => (None, None),
        WireFormat::OpenAi | WireFormat::AzureOpenAi | WireFormat::Mock => (e.chat_completions.clone(), None),
    };
    Ok(TypeDefaults { kind, base_url: entry.base_url.clone(), key_header, signing, chat_path, stream_path })
}

/// Fills the `{placeholders}` of a base URL (`{resource}`, `{region}`…) from the provider's
/// settings; each value must be a plain DNS label or path segment.
fn fill_placeholders(base: &str, settings: &BTreeMap<String, String>) -> Result<String, RefFailure> {
    let mut out = String::with_capacity(base.len());
    let mut rest = base;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('}').ok_or_else(|| invalid(format!("baseURL {base:?} has an unclosed `{{`")))?;
        let key = &after[..end];
        let value = settings
            .get(key)
            .ok_or_else(|| invalid(format!("baseURL {base:?} needs settings.{key} (or set baseURL)")))?;
        if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
            return Err(invalid(format!("settings.{key} {value:?} must be letters, digits, `-` or `.`")));
        }
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A setting used in a query string or a JSON body: printable, no spaces, no `&`, `#` or `?`.
fn plain_setting(settings: &BTreeMap<String, String>, key: &str) -> Result<Option<String>, RefFailure> {
    match settings.get(key) {
        None => Ok(None),
        Some(v) if !v.is_empty() && v.chars().all(|c| c.is_ascii_graphic() && !"&#?%".contains(c)) => {
            Ok(Some(v.clone()))
        }
        Some(v) => Err(invalid(format!("settings.{key} {v:?} is not a plain value"))),
    }
}

fn provider(ix: &Index<'_>, ns: &str, backend: &str, pname: &str, p: &AiProvider) -> Result<AiProviderIr, RefFailure> {
    let d = defaults(&p.r#type)?;
    let kind = d.kind;
    let id: Arc<str> = Arc::from(format!("{ns}/{backend}/{pname}"));
    let endpoint = match kind {
        WireFormat::Mock => None,
        WireFormat::OpenAi
        | WireFormat::AzureOpenAi
        | WireFormat::Anthropic
        | WireFormat::Gemini
        | WireFormat::Vertex
        | WireFormat::Bedrock => {
            let base = match p.base_url.as_deref() {
                Some(b) => fill_placeholders(b, &p.settings)?,
                // Vertex's `global` location has a host of its own.
                None if kind == WireFormat::Vertex
                    && p.settings.get("location").map(String::as_str) == Some("global") =>
                {
                    fill_placeholders(VERTEX_GLOBAL_BASE, &p.settings)?
                }
                None => fill_placeholders(&d.base_url, &p.settings)?,
            };
            Some(endpoint(&id, &base)?)
        }
    };
    let (deployment, api_version) = match kind {
        WireFormat::AzureOpenAi => {
            (plain_setting(&p.settings, "deployment")?, plain_setting(&p.settings, "apiVersion")?)
        }
        WireFormat::OpenAi
        | WireFormat::Anthropic
        | WireFormat::Gemini
        | WireFormat::Vertex
        | WireFormat::Bedrock
        | WireFormat::Mock => (None, None),
    };
    let passthrough = p.auth.as_ref().is_some_and(|a| a.passthrough == Some(true));
    let auth = match d.signing {
        Some(signing) if !passthrough => signing_auth(ix, ns, p, signing)?,
        Some(_) | None => plain_auth(ix, ns, p, &d)?,
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
        stream_path: d.stream_path,
        deployment,
        api_version,
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

/// The base URL of Vertex AI's `global` location.
const VERTEX_GLOBAL_BASE: &str = "https://aiplatform.googleapis.com/v1/projects/{project}/locations/global";

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, RefFailure> {
    String::from_utf8(bytes).map(|s| s.trim().to_string()).map_err(|_| invalid(format!("{what} is not UTF-8")))
}

/// Bedrock's AWS keys (or a Bedrock API key) and Vertex's service-account key, from a Secret.
fn signing_auth(ix: &Index<'_>, ns: &str, p: &AiProvider, signing: Signing) -> Result<AiAuth, RefFailure> {
    let Some(r) = p.auth.as_ref().and_then(|a| a.secret_ref.as_ref()) else { return Ok(AiAuth::None) };
    let name = r.name.as_str();
    match signing {
        Signing::AwsSigV4 => {
            let region = p
                .settings
                .get("region")
                .filter(|r| !r.is_empty())
                .ok_or_else(|| invalid("Bedrock needs settings.region (the SigV4 signing region)"))?;
            if let Some(id) = secret_value(ix, ns, name, "accessKeyId")? {
                let secret = secret_value(ix, ns, name, "secretAccessKey")?
                    .ok_or_else(|| invalid(format!("Secret {ns}/{name} has accessKeyId but no secretAccessKey")))?;
                let token = secret_value(ix, ns, name, "sessionToken")?.map(|t| utf8(t, "sessionToken")).transpose()?;
                return Ok(AiAuth::AwsSigV4(Arc::new(AwsKeys::new(
                    &utf8(id, "accessKeyId")?,
                    &utf8(secret, "secretAccessKey")?,
                    token,
                    region,
                ))));
            }
            // A Bedrock API key (bearer token) instead of AWS keys.
            let key = secret_value(ix, ns, name, r.key.as_deref().unwrap_or("apiKey"))?.ok_or_else(|| {
                invalid(format!("Secret {ns}/{name} has neither accessKeyId/secretAccessKey nor apiKey"))
            })?;
            let key = utf8(key, "the API key")?;
            Ok(AiAuth::Bearer(
                HeaderValue::from_str(&format!("Bearer {key}"))
                    .map_err(|_| invalid("the API key is not a valid header value"))?,
            ))
        }
        Signing::GcpOauth => {
            let key_name = r.key.as_deref().unwrap_or(VERTEX_KEY);
            let json = secret_value(ix, ns, name, key_name)?
                .ok_or_else(|| invalid(format!("Secret {ns}/{name} has no key {key_name:?}")))?;
            let sa = creds::service_account(&json, |uri| {
                endpoint(&format!("{ns}/{name}/token"), uri).map_err(|(_, m)| format!("token_uri: {m}"))
            })
            .map_err(|m| invalid(format!("Secret {ns}/{name} key {key_name:?}: {m}")))?;
            Ok(AiAuth::GcpServiceAccount(Arc::new(sa)))
        }
    }
}

/// The Secret key holding a Vertex service-account key file, unless `secretRef.key` says.
const VERTEX_KEY: &str = "credentials.json";

/// An API key from a Secret (as a bearer token or the provider's header), or passthrough.
fn plain_auth(ix: &Index<'_>, ns: &str, p: &AiProvider, d: &TypeDefaults) -> Result<AiAuth, RefFailure> {
    let auth = match &p.auth {
        None => AiAuth::None,
        Some(a) if a.passthrough == Some(true) => {
            let header = d.key_header.as_deref().map(|h| HeaderName::from_bytes(h.as_bytes())).transpose();
            let header = header.map_err(|_| invalid("the catalog's key header is not a header name"))?;
            AiAuth::Passthrough(KeyPlace { header, bearer_too: d.kind == WireFormat::AzureOpenAi })
        }
        Some(a) => match &a.secret_ref {
            None => AiAuth::None,
            Some(r) => {
                let key_name = r.key.as_deref().unwrap_or("apiKey");
                let key = secret_value(ix, ns, &r.name, key_name)?
                    .ok_or_else(|| invalid(format!("Secret {ns}/{} has no key {key_name:?}", r.name)))?;
                let key = utf8(key, "the API key")?;
                let key = key.as_str();
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
    Ok(auth)
}

fn endpoint(id: &str, base: &str) -> Result<AiEndpoint, RefFailure> {
    let uri: http::Uri = base.parse().map_err(|e| invalid(format!("baseURL {base:?} is not a URL: {e}")))?;
    let scheme = match uri.scheme_str() {
        Some("http") => "http",
        Some("https") => "https",
        _ => return Err(invalid(format!("baseURL {base:?} must start with http:// or https://"))),
    };
    let authority = uri.authority().ok_or_else(|| invalid(format!("baseURL {base:?} has no host")))?;
    if authority.as_str().contains('@') {
        return Err(invalid(
            "baseURL: credentials in the URL are not supported (they would go out as the Host header and show in \
             /config_dump); use auth.secretRef",
        ));
    }
    if uri.query().is_some() {
        return Err(invalid("baseURL: a query is not supported (it would be dropped); keys go in auth.secretRef"));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_and_azure_come_from_the_catalog() {
        let g = defaults("gemini").map_err(|e| e.1).expect("gemini");
        assert_eq!(g.kind, WireFormat::Gemini);
        assert_eq!(g.key_header.as_deref(), Some("x-goog-api-key"));
        assert_eq!(g.base_url, "https://generativelanguage.googleapis.com/v1beta");
        let a = defaults("azure-openai").map_err(|e| e.1).expect("azure");
        assert_eq!(a.kind, WireFormat::AzureOpenAi);
        assert_eq!(a.key_header.as_deref(), Some("api-key"));
        let b = defaults("bedrock").map_err(|e| e.1).expect("bedrock");
        assert_eq!(b.kind, WireFormat::Bedrock);
        assert_eq!(b.chat_path.as_deref(), Some("/model/{model}/converse"));
        assert_eq!(defaults("vertex").map_err(|e| e.1).expect("vertex").kind, WireFormat::Vertex);
    }

    #[test]
    fn base_url_placeholders_come_from_settings() {
        let base = "https://{resource}.openai.azure.com/openai/v1";
        let mut settings = BTreeMap::new();
        let err = fill_placeholders(base, &settings).expect_err("no resource");
        assert!(err.1.contains("settings.resource"), "{}", err.1);
        settings.insert("resource".to_string(), "contoso".to_string());
        assert_eq!(
            fill_placeholders(base, &settings).map_err(|e| e.1).as_deref(),
            Ok("https://contoso.openai.azure.com/openai/v1")
        );
        settings.insert("resource".to_string(), "evil.com/x?".to_string());
        assert!(fill_placeholders(base, &settings).is_err());
        settings.insert("apiVersion".to_string(), "preview&x=1".to_string());
        assert!(plain_setting(&settings, "apiVersion").is_err());
    }
}
