//! The HTTP client of HTTP targets (streamable HTTP through rmcp, legacy SSE through ours).

use std::sync::Arc;

use super::UpstreamError;
use crate::ir::mcp::McpTargetIr;

/// The target's configured headers.
pub fn header_map(headers: &[(String, String)]) -> Result<http::HeaderMap, UpstreamError> {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| UpstreamError::Unavailable(format!("header {k:?}: {e}")))?;
        let value =
            http::HeaderValue::from_str(v).map_err(|e| UpstreamError::Unavailable(format!("header {k:?}: {e}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// The target's HTTP client: no proxy from the environment; for `https://`, rustls as the
/// target's TLS settings say.
pub fn reqwest_client(target: &McpTargetIr) -> Result<reqwest::Client, UpstreamError> {
    // reqwest wants a TLS setup even for plain HTTP; ours is rustls on ring, never a
    // process-wide default provider.
    static PLAIN: std::sync::OnceLock<Option<Arc<rustls::ClientConfig>>> = std::sync::OnceLock::new();
    let config = match &target.tls {
        Some(tls) => Some(tls.config.clone()),
        None => PLAIN
            .get_or_init(|| {
                let roots = crate::ir::translate::tls::system_roots();
                crate::ir::translate::tls::client_config(roots, None).ok().map(Arc::new)
            })
            .clone(),
    };
    let config = config.ok_or_else(|| UpstreamError::Unavailable("no TLS configuration".into()))?;
    reqwest::Client::builder()
        .no_proxy()
        // A redirect would carry the target's headers (keys from Secrets) to another host.
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured((*config).clone())
        .build()
        .map_err(|e| UpstreamError::Unavailable(format!("HTTP client: {e}")))
}
