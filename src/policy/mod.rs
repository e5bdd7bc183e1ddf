//! The policy layer every pipeline passes through: authentication, authorization and model
//! access, configured by TrafficPolicies (docs/policies.md). The proxy admits each request to
//! a rule with a policy before its filters run ([`PolicyLayer::admit`]); pipelines ask again
//! where they learn more (an AI request's model, each MCP item) through [`authz::authorize`]
//! and [`models::allows`], reading the request's [`Admitted`] from its extensions. A refusal
//! is a [`Denial`], which each pipeline writes in its clients' own format.

pub mod authn;
pub mod authz;
pub mod budgets;
pub mod guards;
pub mod identity;
pub mod jwks;
pub mod limits;
pub mod models;
pub(crate) mod services;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, StatusCode};

use self::identity::Identity;
use crate::ir::policy::PolicyIr;

/// What admission established, kept in the request's extensions for the pipelines.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub identity: Arc<Identity>,
    /// Where the request came from.
    pub peer: Peer,
    pub policy: Arc<PolicyIr>,
    /// The rule's metric label (`namespace/route/rule`), for limits keyed by route.
    pub route: Arc<str>,
}

impl Admitted {
    /// The models the request may ask for: the rule's policy and the identity's key both.
    pub fn allows_model(&self, model: &str) -> bool {
        self.policy.models.as_deref().is_none_or(|m| models::allows(m, model))
            && models::allows(&self.identity.models, model)
    }
}

/// A refused request: who refused it and why, for the pipeline to write in its clients' format.
#[derive(Debug, Clone)]
pub struct Denial {
    pub status: StatusCode,
    pub message: String,
    /// `WWW-Authenticate`, for a 401.
    pub challenge: Option<String>,
    /// An external authorization service's own answer body (and its content type), passed to
    /// the client as it came.
    pub body: Option<Box<(Option<HeaderValue>, Bytes)>>,
    /// For a 429: when to come back.
    pub retry_after: Option<std::time::Duration>,
    /// Headers of the answer (the rate-limit headers of a 429).
    pub headers: Option<Box<http::HeaderMap>>,
}

impl Denial {
    fn new(status: StatusCode, message: String) -> Denial {
        Denial { status, message, challenge: None, body: None, retry_after: None, headers: None }
    }

    /// A rate limit refused the request: 429, with when to come back.
    pub fn rate_limited(message: String, retry_after: std::time::Duration) -> Denial {
        Denial { retry_after: Some(retry_after), ..Denial::new(StatusCode::TOO_MANY_REQUESTS, message) }
    }

    pub fn unauthenticated(challenge: String, message: String) -> Denial {
        Denial { challenge: Some(challenge), ..Denial::new(StatusCode::UNAUTHORIZED, message) }
    }

    pub fn forbidden(message: String) -> Denial {
        Denial::new(StatusCode::FORBIDDEN, message)
    }

    /// A policy service failed (not the client): 503, which a client may retry.
    pub fn unavailable(message: String) -> Denial {
        Denial::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    pub fn from_service(
        status: StatusCode,
        content_type: Option<HeaderValue>,
        body: Bytes,
        challenge: Option<String>,
    ) -> Denial {
        let message = String::from_utf8_lossy(&body).chars().take(500).collect::<String>();
        let message = if message.trim().is_empty() {
            format!("refused by the authorization service ({status})")
        } else {
            message
        };
        Denial { challenge, body: Some(Box::new((content_type, body))), ..Denial::new(status, message) }
    }

    /// The denial as a plain JSON answer (`{"error": {"message", "type"}}`), for routes whose
    /// pipeline has no format of its own.
    pub fn to_response(&self) -> http::Response<crate::httpkit::body::ProxyBody> {
        use crate::httpkit::body;
        let mut resp = match &self.body {
            Some(b) => {
                let (content_type, bytes) = &**b;
                let mut r = http::Response::new(body::full(bytes.clone()));
                if let Some(ct) = content_type {
                    r.headers_mut().insert(http::header::CONTENT_TYPE, ct.clone());
                }
                r
            }
            None => {
                let kind = match self.status {
                    StatusCode::UNAUTHORIZED => "authentication_error",
                    StatusCode::FORBIDDEN => "permission_error",
                    _ => "unavailable",
                };
                let v = serde_json::json!({"error": {"message": self.message, "type": kind}});
                let mut r = http::Response::new(body::full(v.to_string()));
                r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
        };
        *resp.status_mut() = self.status;
        self.challenge_into(resp.headers_mut());
        resp
    }

    /// The decision as the metrics name it.
    pub fn outcome(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "unauthenticated",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            StatusCode::TOO_MANY_REQUESTS => "rate_limited",
            _ => "refused",
        }
    }

    /// The denial's own headers: `WWW-Authenticate`, `Retry-After`, rate-limit headers.
    pub fn challenge_into(&self, headers: &mut http::HeaderMap) {
        if let Some(c) = self.challenge.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
            headers.insert(http::header::WWW_AUTHENTICATE, c);
        }
        if let Some(d) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&d.as_secs_f64().ceil().max(1.0).to_string())
        {
            headers.insert(http::header::RETRY_AFTER, v);
        }
        for (name, value) in self.headers.iter().flat_map(|m| m.iter()) {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// The policy layer and the state it keeps across reloads (fetched JWKS, limiters, the store
/// of budget spend).
pub struct PolicyLayer {
    pub jwks: jwks::JwksCache,
    pub limits: limits::Limiters,
    pub store: Arc<dyn crate::store::Store>,
}

impl Default for PolicyLayer {
    /// Spend kept in the process only.
    fn default() -> Self {
        PolicyLayer::with_store(Arc::new(crate::store::Memory::default()))
    }
}

impl PolicyLayer {
    pub fn with_store(store: Arc<dyn crate::store::Store>) -> Self {
        PolicyLayer::new(store, limits::Limiters::default())
    }

    pub fn new(store: Arc<dyn crate::store::Store>, limits: limits::Limiters) -> Self {
        PolicyLayer { jwks: jwks::JwksCache::default(), limits, store }
    }
}

impl PolicyLayer {
    /// Admission of a request to a rule with a policy: its identity (credentials removed from
    /// the request), the rules that can be asked on arrival, and the identity headers set.
    /// The rate-limit headers of the limits asked on arrival go with the answer.
    pub async fn admit(
        &self,
        policy: &Arc<PolicyIr>,
        route: &Arc<str>,
        parts: &mut Parts,
        peer: Peer,
    ) -> Result<(Admitted, limits::RateHeaders), Denial> {
        // No authentication: the one anonymous identity, shared (not allocated per request).
        static ANONYMOUS: std::sync::LazyLock<Arc<Identity>> =
            std::sync::LazyLock::new(|| Arc::new(Identity::anonymous()));
        let identity = match &policy.authentication {
            Some(a) => Arc::new(authn::authenticate(self, a, parts).await?),
            None => ANONYMOUS.clone(),
        };
        if let Some(m) = &policy.mcp_authorization
            && identity.method == "jwt"
        {
            // RFC 8707: a token for another resource is not a token for this one.
            let resource =
                m.resource.clone().or_else(|| origin(parts, peer.scheme).map(|o| format!("{o}{}", parts.uri.path())));
            let aud = &identity.claims["aud"];
            let for_us = resource.is_some_and(|r| {
                aud.as_str() == Some(r.as_str())
                    || aud.as_array().is_some_and(|a| a.iter().any(|v| v.as_str() == Some(r.as_str())))
            });
            if !for_us {
                return Err(Denial::unauthenticated(
                    "Bearer error=\"invalid_token\"".into(),
                    "the token was not issued for this resource (its audience does not name it)".into(),
                ));
            }
        }
        if let Some(z) = &policy.authorization {
            let facts = authz::Facts { parts, model: None, mcp: None };
            authz::authorize(z, &identity, &facts, authz::Point::Request)?;
        }
        if let Some(h) = &policy.identity_headers {
            // Client-sent copies of the identity headers never reach the upstream.
            if let Some(name) = &h.name {
                parts.headers.remove(name);
                if let Ok(v) = HeaderValue::from_str(&identity.name)
                    && !identity.name.is_empty()
                {
                    parts.headers.insert(name.clone(), v);
                }
            }
            for (attr, header) in &h.attributes {
                parts.headers.remove(header);
                if let Some(v) = identity.attribute(attr).and_then(|v| HeaderValue::from_str(&v).ok()) {
                    parts.headers.insert(header.clone(), v);
                }
            }
        }
        let mut limit_headers = limits::RateHeaders::default();
        if let Some(limits) = &policy.rate_limits {
            let subject = limits::Subject { parts, peer, identity: &identity, route, model: None, tool: None };
            limit_headers = self.limits.check(limits, limits::Stage::Arrival, &subject, None).await?.headers;
        }
        Ok((Admitted { identity, peer, policy: policy.clone(), route: route.clone() }, limit_headers))
    }
}

/// Where a request came from: the client's address and the scheme it came in on (`http`,
/// `https`). The proxy hands it to the policy layer and the pipelines as an argument, not in
/// the request's extensions (each of those costs allocations, on every request).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub ip: std::net::IpAddr,
    pub scheme: &'static str,
}

/// Where protected-resource metadata (RFC 9728) lives: the well-known prefix before the
/// resource's path.
pub const RESOURCE_METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// `scheme://authority` of a request that came in on `scheme`.
fn origin(parts: &Parts, scheme: &str) -> Option<String> {
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| parts.headers.get(http::header::HOST)?.to_str().ok().map(str::to_string))?;
    Some(format!("{scheme}://{authority}"))
}

/// The URL of the protected-resource metadata of the resource a request is for.
pub fn resource_metadata_url(parts: &Parts, peer: Peer) -> Option<String> {
    let path = parts.uri.path();
    Some(format!("{}{RESOURCE_METADATA_PREFIX}{}", origin(parts, peer.scheme)?, if path == "/" { "" } else { path }))
}

/// The protected-resource metadata of the MCP resource at `path` (RFC 9728 §2).
pub fn resource_metadata(m: &crate::ir::policy::McpAuthIr, parts: &Parts, peer: Peer, path: &str) -> serde_json::Value {
    let resource =
        m.resource.clone().or_else(|| origin(parts, peer.scheme).map(|o| format!("{o}{path}"))).unwrap_or_default();
    let mut doc = serde_json::json!({
        "resource": resource,
        "authorization_servers": m.authorization_servers,
        "bearer_methods_supported": ["header"],
    });
    if !m.scopes_supported.is_empty() {
        doc["scopes_supported"] = serde_json::json!(m.scopes_supported);
    }
    doc
}
