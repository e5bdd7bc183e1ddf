//! Compiled HTTPRoute filters, ready to apply without further parsing.

use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

use super::backend::Backend;

#[derive(Debug, Clone, Serialize)]
pub enum Filter {
    RequestHeaders(HeaderModifier),
    ResponseHeaders(HeaderModifier),
    Redirect(Redirect),
    Rewrite(Rewrite),
    Mirror(Mirror),
    Cors(Cors),
    /// The Gateway API `ExternalAuth` filter (HTTP protocol).
    ExternalAuth(std::sync::Arc<super::policy::ExternalAuthIr>),
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HeaderModifier {
    #[serde(serialize_with = "ser_pairs")]
    pub set: Vec<(HeaderName, HeaderValue)>,
    #[serde(serialize_with = "ser_pairs")]
    pub add: Vec<(HeaderName, HeaderValue)>,
    #[serde(serialize_with = "ser_names")]
    pub remove: Vec<HeaderName>,
}

/// Header names with their values hidden: operators put keys in header modifiers.
fn ser_pairs<S: serde::Serializer>(v: &[(HeaderName, HeaderValue)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|(n, _)| (n.as_str(), "[redacted]")))
}

fn ser_names<S: serde::Serializer>(v: &[HeaderName], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(HeaderName::as_str))
}

/// Path change of a redirect or a rewrite.
#[derive(Debug, Clone, Serialize)]
pub enum PathModifier {
    Full(String),
    /// Replaces the part of the path that the rule's PathPrefix match matched.
    Prefix(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Redirect {
    pub scheme: Option<String>,
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub path: Option<PathModifier>,
    #[serde(serialize_with = "ser_status")]
    pub status: StatusCode,
}

fn ser_status<S: serde::Serializer>(c: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(c.as_u16())
}

#[derive(Debug, Clone, Serialize)]
pub struct Rewrite {
    pub hostname: Option<String>,
    pub path: Option<PathModifier>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mirror {
    pub backend: Box<Backend>,
    /// Share of requests mirrored, 0.0 to 1.0.
    pub fraction: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Cors {
    /// Origins as given; `*` alone allows any, `https://*.example.com` allows subdomains.
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<Duration>,
}
