//! Finding the line and column of a field error.
//!
//! Resources are checked as JSON values, which carry no positions. When a document
//! fails, it is parsed once more straight from its YAML into the typed struct,
//! whose error knows where it happened. That position is used only when it is
//! plainly about the same problem.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::yaml_options;
use crate::api::{
    BackendTlsPolicy, ConfigMap, EndpointSlice, Gateway, GatewayClass, HttpRoute, Namespace, ReferenceGrant,
    ResourceKind, Secret, Service,
};

/// Line and column (1-based, within `text`) of the error described by `path` and
/// `message`, if the YAML parser agrees that is where it is.
pub(super) fn field_error(kind: &str, text: &str, path: &str, message: &str) -> Option<(usize, usize)> {
    let kind = ResourceKind::from_kind(kind)?;
    let err = match kind {
        ResourceKind::GatewayClass => typed_error::<GatewayClass>(text),
        ResourceKind::Gateway => typed_error::<Gateway>(text),
        ResourceKind::HttpRoute => typed_error::<HttpRoute>(text),
        ResourceKind::TlsRoute => typed_error::<crate::api::TlsRoute>(text),
        ResourceKind::ReferenceGrant => typed_error::<ReferenceGrant>(text),
        ResourceKind::BackendTlsPolicy => typed_error::<BackendTlsPolicy>(text),
        ResourceKind::Namespace => typed_error::<Namespace>(text),
        ResourceKind::Service => typed_error::<Service>(text),
        ResourceKind::Secret => typed_error::<Secret>(text),
        ResourceKind::ConfigMap => typed_error::<ConfigMap>(text),
        ResourceKind::EndpointSlice => typed_error::<EndpointSlice>(text),
        ResourceKind::AiBackend => typed_error::<crate::api::AiBackend>(text),
        ResourceKind::McpBackend => typed_error::<crate::api::McpBackend>(text),
        ResourceKind::TrafficPolicy => typed_error::<crate::api::TrafficPolicy>(text),
    }?;
    let location = err.location()?;
    let line = usize::try_from(location.line()).ok()?;
    let column = usize::try_from(location.column()).ok()?;
    let typed_message = err.without_snippet().to_string();
    let same_token = first_quoted(message).is_some_and(|token| typed_message.contains(&format!("`{token}`")));
    let line_text = line.checked_sub(1).and_then(|i| text.lines().nth(i));
    let same_key = match (last_key(path), line_text) {
        (Some(key), Some(line_text)) => line_text.contains(key),
        _ => false,
    };
    (line > 0 && (same_token || same_key)).then_some((line, column))
}

fn typed_error<T: DeserializeOwned>(text: &str) -> Option<serde_saphyr::Error> {
    serde_saphyr::from_str_with_options::<T>(text, yaml_options()).err()
}

/// The first `backquoted` word of a message.
fn first_quoted(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    let (token, _) = rest.split_once('`')?;
    Some(token).filter(|t| !t.is_empty())
}

/// The last mapping key of a path such as `spec.rules[0].matches[1].path`.
fn last_key(path: &str) -> Option<&str> {
    let last = path.rsplit('.').next()?;
    let key = last.split('[').next()?;
    Some(key).filter(|k| !k.is_empty())
}

/// Whether any mapping holds an explicit null. Such documents are not re-parsed:
/// nulls count as absent for the value check but not for the typed parser, whose
/// errors would then point elsewhere.
pub(super) fn has_nulls(value: &Value) -> bool {
    match value {
        Value::Object(object) => object.values().any(|v| v.is_null() || has_nulls(v)),
        Value::Array(items) => items.iter().any(has_nulls),
        _ => false,
    }
}
