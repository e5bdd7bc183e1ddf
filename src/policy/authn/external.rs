//! External authorization over HTTP (the Gateway API `ExternalAuth` filter's HTTP protocol):
//! the request's method, path and selected headers go to the service; a 2xx answer lets the
//! request through with the listed answer headers copied onto it, any other answer is given to
//! the client as the service gave it. A service that cannot answer in time fails the request
//! closed (503), or open when configured.

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::ir::policy::ExternalAuthIr;
use crate::policy::Denial;
use crate::policy::identity::Identity;

/// Largest answer body passed back to a refused client.
const MAX_DENIAL_BODY: usize = 64 * 1024;
/// Headers always sent, besides the configured ones.
const ALWAYS: [&str; 1] = ["authorization"];

/// Asks the service about the request. `Ok`: let through, with the headers to add and the
/// identity the service named (if configured).
pub async fn check(e: &ExternalAuthIr, parts: &Parts) -> Result<(HeaderMap, Option<Identity>), Denial> {
    let unavailable = |why: String| {
        if e.fail_open {
            tracing::warn!(error = %why, "external authorization failed open");
            Ok((HeaderMap::new(), None))
        } else {
            Err(Denial::unavailable(format!("the authorization service cannot be reached: {why}")))
        }
    };
    let Some(client) = crate::policy::services::client() else { return unavailable("no HTTP client".into()) };
    let Some(origin) = crate::policy::services::origin(&e.upstream) else {
        return unavailable("its Service has no ready endpoint".into());
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{origin}{}{path}", e.path_prefix);
    let mut headers = HeaderMap::new();
    for name in ALWAYS.iter().map(|h| http::HeaderName::from_static(h)).chain(e.allowed_headers.iter().cloned()) {
        for v in parts.headers.get_all(&name) {
            headers.append(name.clone(), v.clone());
        }
    }
    headers.insert(http::header::HOST, HeaderValue::from_str(&e.authority).unwrap_or(HeaderValue::from_static("auth")));
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let ask = async {
        let resp = client.request(method, &url).headers(headers).send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let answer_headers = resp.headers().clone();
        let mut body = Vec::new();
        let mut resp = resp;
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_DENIAL_BODY {
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<_, String>((status, answer_headers, Bytes::from(body)))
    };
    let (status, answer, body) =
        match crate::httpkit::deadline::within(e.timeout, ask, |d| format!("no answer within {d:?}")).await {
            Ok(r) => r,
            Err(why) => return unavailable(why),
        };
    if !status.is_success() {
        let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::FORBIDDEN);
        let content_type = answer.get(http::header::CONTENT_TYPE).cloned();
        let challenge = answer.get(http::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_string);
        return Err(Denial::from_service(status, content_type, body, challenge));
    }
    let mut add = HeaderMap::new();
    for name in &e.allowed_response_headers {
        for v in answer.get_all(name) {
            add.append(name.clone(), v.clone());
        }
    }
    let identity = e
        .identity_header
        .as_ref()
        .and_then(|h| answer.get(h))
        .and_then(|v| v.to_str().ok())
        .map(|name| Identity { name: name.to_string(), method: "external", ..Identity::default() });
    Ok((add, identity))
}
