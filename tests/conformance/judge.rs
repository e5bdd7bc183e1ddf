//! Building requests from case entries (contract 3), judging responses (contract 4, Go's
//! `CompareRoundTrip`) and the convergence loop (contract 5).

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::case::{ObjRef, ReqCase};
use super::client::{self, Captured, Outgoing, Target, TlsOpts};
use super::setup::Env;

pub const MAX_TIME_TO_CONSISTENCY: Duration = Duration::from_secs(30);
pub const CONSECUTIVE_SUCCESSES: usize = 3;
const INFRA: &str = "gateway-conformance-infra";

/// The Secret whose tls.crt HTTPS requests trust.
pub fn ca_secret() -> ObjRef {
    ObjRef { namespace: INFRA.into(), name: "tls-validity-checks-certificate".into() }
}

/// The request the Go suite would send for `rc`, and where to.
pub fn prepare(env: &Env, rc: &ReqCase) -> Result<(Target, Outgoing), String> {
    let (ip, port, connect) = env.gateway_target(&rc.gateway, rc.listener_port)?;
    let scheme = rc.scheme.clone().unwrap_or_else(|| "http".into());
    let default = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
    let host = if ip.contains(':') { format!("[{ip}]") } else { ip };
    let url_host = if default { host } else { format!("{host}:{port}") };
    let tls = if scheme == "https" {
        let server_name = rc.server_name.clone().ok_or("https request without serverName")?;
        let client = match &rc.client_cert_from_secret {
            Some(r) => Some(env.secret(r)?),
            None => None,
        };
        Some(TlsOpts { server_name, roots_pem: env.secret(&ca_secret())?.0, client })
    } else {
        None
    };
    let mut headers: Vec<(String, String)> = rc.request.headers.clone().into_iter().collect();
    let set: Vec<String> = rc.backend_set_response_headers.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    headers.push(("X-Echo-Set-Header".into(), set.join(",")));
    let out = Outgoing {
        method: rc.request.method.clone(),
        path: rc.request.path.clone(),
        host: rc.request.host.clone(),
        headers,
        body: rc.request.body.clone(),
        protocol: rc.request.protocol.clone(),
        unfollow_redirect: rc.request.unfollow_redirect,
    };
    Ok((Target { scheme, url_host, connect, tls }, out))
}

/// Sends `rc` once (following redirects as Go would) and returns the raw answer.
pub async fn send(env: &Env, rc: &ReqCase) -> Result<Captured, String> {
    let (target, out) = prepare(env, rc)?;
    let (ip, _, _) = env.gateway_target(&rc.gateway, rc.listener_port)?;
    let gw = rc.gateway.clone();
    let resolve = move |_: &str, host: &str, port: u16| {
        (host == ip).then(|| env.rt.listener_addr(&gw.namespace, &gw.name, port)).flatten()
    };
    client::round_trip(&target, &out, &resolve).await
}

/// One probe: send and judge.
pub async fn probe(env: &Env, rc: &ReqCase) -> Result<Echo, String> {
    let c = send(env, rc).await?;
    let echo = compare(env, rc, &c)?;
    if rc.client_cert_from_secret.is_some() && !c.cert_requested {
        return Err("the server did not request a client certificate".into());
    }
    Ok(echo)
}

/// What the echo backend reported (empty unless the answer was `application/json`).
#[derive(Debug, Default, Clone)]
pub struct Echo {
    pub json: Option<Value>,
}

impl Echo {
    pub fn str(&self, key: &str) -> String {
        self.json.as_ref().and_then(|j| j[key].as_str()).unwrap_or("").to_owned()
    }

    /// Request header values as the echo saw them (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<Vec<String>> {
        let obj = self.json.as_ref()?["headers"].as_object()?;
        let (_, v) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
        Some(v.as_array()?.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
    }
}

fn snippet(c: &Captured) -> String {
    let s = String::from_utf8_lossy(&c.body);
    let s: String = s.chars().take(120).collect();
    s.replace('\n', " ")
}

/// Go's `CompareRoundTrip`.
pub fn compare(env: &Env, rc: &ReqCase, c: &Captured) -> Result<Echo, String> {
    let codes = rc.response.codes();
    let timeout = |s: u16| s == 408 || s == 504;
    let mut echo = Echo { json: None };
    let ct = c.headers.get_all("content-type").iter().map(|v| v.to_str().unwrap_or("")).collect::<Vec<_>>();
    if ct.first() == Some(&"application/json") {
        echo.json = Some(serde_json::from_slice(&c.body).map_err(|e| format!("unreadable echo JSON: {e}"))?);
    }
    if timeout(c.status) && codes.iter().any(|s| timeout(*s)) {
        return Ok(echo);
    }
    if !codes.contains(&c.status) {
        return Err(format!(
            "{} {}: expected status code to be one of {codes:?}, got {} (body: {:?})",
            method_of(rc),
            rc.request.path,
            c.status,
            snippet(c)
        ));
    }
    if !rc.response.protocol.is_empty() && rc.response.protocol != c.proto {
        return Err(format!("expected protocol {}, got {}", rc.response.protocol, c.proto));
    }
    if c.status == 200 || c.status == 204 {
        check_ok(env, rc, c, &echo)?;
    } else if matches!(c.status, 300..=305 | 307 | 308) {
        check_redirect(rc, c)?;
    }
    Ok(echo)
}

fn method_of(rc: &ReqCase) -> &str {
    if rc.request.method.is_empty() { "GET" } else { &rc.request.method }
}

fn check_ok(env: &Env, rc: &ReqCase, c: &Captured, echo: &Echo) -> Result<(), String> {
    let exp = match &rc.expected_request {
        Some(e) => e.clone(),
        None => super::case::ExpReq {
            host: rc.request.host.clone(),
            method: rc.request.method.clone(),
            path: rc.request.path.clone(),
            headers: Some(rc.request.headers.clone()),
            ..Default::default()
        },
    };
    let exp_method = if exp.method.is_empty() { "GET" } else { &exp.method };
    let got_method = match &echo.json {
        Some(_) => echo.str("method"),
        None => method_of(rc).to_owned(),
    };
    let p = &rc.request.path;
    if !exp.host.is_empty() && exp.host != echo.str("host") {
        return Err(format!("{p}: expected host to be {}, got {:?}", exp.host, echo.str("host")));
    }
    if exp.path != echo.str("path") {
        return Err(format!(
            "{p}: expected path to be {:?}, got {:?} (status {}, body: {:?})",
            exp.path,
            echo.str("path"),
            c.status,
            snippet(c)
        ));
    }
    if exp_method != got_method {
        return Err(format!("{p}: expected method to be {exp_method}, got {got_method}"));
    }
    if rc.namespace != echo.str("namespace") {
        return Err(format!(
            "{p}: expected namespace to be {:?}, got {:?} (status {}, body: {:?})",
            rc.namespace,
            echo.str("namespace"),
            c.status,
            snippet(c)
        ));
    }
    if let Some(headers) = exp.headers.as_ref().filter(|h| !h.is_empty()) {
        if echo.json.as_ref().is_none_or(|j| !j["headers"].is_object()) {
            return Err(format!("{p}: no headers captured, expected {}", headers.len()));
        }
        for (name, want) in headers {
            match echo.header(name) {
                None => {
                    return Err(format!(
                        "{p}: expected {name} header to be set, actual headers: {}",
                        echo.json.as_ref().map(|j| j["headers"].to_string()).unwrap_or_default()
                    ));
                }
                Some(v) if v.join(",") != *want => {
                    return Err(format!("{p}: expected {name} header to be set to {want:?}, got {:?}", v.join(",")));
                }
                _ => {}
            }
        }
    }
    if let Some(port) = &exp.http_port
        && *port != echo.str("httpPort")
    {
        return Err(format!("{p}: expected httpPort {port}, got {:?}", echo.str("httpPort")));
    }
    let ws = |s: &str| if rc.response.ignore_whitespace { s.replace(' ', "") } else { s.to_owned() };
    let resp_header = |name: &str| -> Option<String> {
        let vals: Vec<&str> = c.headers.get_all(name).iter().map(|v| v.to_str().unwrap_or("")).collect();
        (!vals.is_empty()).then(|| vals.join(","))
    };
    for (name, want) in rc.response.headers.iter().flatten() {
        match resp_header(name) {
            None => return Err(format!("{p}: expected response header {name} to be set")),
            Some(got) if ws(&got) != ws(want) => {
                return Err(format!("{p}: expected response header {name} to be {want:?}, got {got:?}"));
            }
            _ => {}
        }
    }
    for (name, valid) in rc.response.valid_header_values.iter().flatten() {
        match resp_header(name) {
            None => return Err(format!("{p}: expected response header {name} (one of {valid:?}) to be set")),
            Some(got) if !valid.iter().any(|v| ws(v) == ws(&got)) => {
                return Err(format!("{p}: response header {name}: {got:?} is not one of {valid:?}"));
            }
            _ => {}
        }
    }
    for name in &rc.response.absent_headers {
        if let Some(got) = resp_header(name) {
            return Err(format!("{p}: expected response header {name} to be absent, got {got:?}"));
        }
    }
    for name in &exp.absent_headers {
        if let Some(got) = echo.header(name) {
            return Err(format!("{p}: expected request header {name} to be absent at the backend, got {got:?}"));
        }
    }
    let pod = echo.str("pod");
    if !pod.starts_with(&rc.backend) {
        return Err(format!("{p}: expected pod name to start with {:?}, got {pod:?}", rc.backend));
    }
    let tls = echo.json.as_ref().map(|j| j["tls"].clone()).unwrap_or_default();
    if let Some(sni) = &exp.sni {
        let got = tls["serverName"].as_str().unwrap_or("");
        if got != sni {
            return Err(format!("{p}: expected backend to see SNI {sni:?}, got {got:?}"));
        }
    }
    if let Some(secret) = &exp.client_cert_from_secret {
        let want = env.secret(secret)?.0;
        let peers: Vec<&str> =
            tls["peerCertificates"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        if !peers.iter().any(|pc| pc.trim() == want.trim()) {
            return Err(format!(
                "{p}: backend peer certificates ({} seen) do not include Secret {secret}'s tls.crt",
                peers.len()
            ));
        }
    }
    Ok(())
}

fn check_redirect(rc: &ReqCase, c: &Captured) -> Result<(), String> {
    let Some(exp) = &rc.redirect_request else {
        return Ok(());
    };
    let loc = c.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("");
    if loc.is_empty() {
        return Err(format!("{}: redirect {} without Location", rc.request.path, c.status));
    }
    let (scheme, host, port, path) = client::parse_location(loc, &c.url);
    let path = path.split(['?', '#']).next().unwrap_or("").to_owned();
    let orig_path = rc.request.path.split('?').next().unwrap_or("").to_owned();
    let want_scheme = if exp.scheme.is_empty() { c.url.0.clone() } else { exp.scheme.clone() };
    let want_host = if exp.host.is_empty() { host.clone() } else { exp.host.clone() };
    let want_path = if exp.path.is_empty() { orig_path } else { exp.path.clone() };
    let p = &rc.request.path;
    if want_host != host {
        return Err(format!("{p}: expected redirect host {want_host:?}, got {host:?} (Location {loc})"));
    }
    if want_scheme != scheme {
        return Err(format!("{p}: expected redirect scheme {want_scheme:?}, got {scheme:?} (Location {loc})"));
    }
    if want_path != path {
        return Err(format!("{p}: expected redirect path {want_path:?}, got {path:?} (Location {loc})"));
    }
    let port_ok = if exp.port.is_empty() {
        match want_scheme.as_str() {
            "http" => port.is_empty() || port == "80",
            "https" => port.is_empty() || port == "443",
            _ => true,
        }
    } else {
        exp.port == port
    };
    if !port_ok {
        return Err(format!("{p}: expected redirect port {:?}, got {port:?} (Location {loc})", exp.port));
    }
    Ok(())
}

/// `http.AwaitConvergence`: `CONSECUTIVE_SUCCESSES` in a row within `MAX_TIME_TO_CONSISTENCY`,
/// 1s pause after a failure.
pub async fn eventually<F, Fut>(threshold: usize, mut attempt: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    let max = max_time();
    let (mut ok, mut tries) = (0, 0);
    let mut last = String::new();
    loop {
        if start.elapsed() > max {
            return Err(format!("not consistent within {max:?} ({tries} attempts): {last}"));
        }
        tries += 1;
        match attempt().await {
            Ok(()) => {
                ok += 1;
                if ok >= threshold {
                    return Ok(());
                }
            }
            Err(e) => {
                ok = 0;
                last = e;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// `MaxTimeToConsistency`, shortened with SLUICE_CONFORMANCE_MAX_SECS for quick iterations.
pub fn max_time() -> Duration {
    std::env::var("SLUICE_CONFORMANCE_MAX_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(MAX_TIME_TO_CONSISTENCY, Duration::from_secs)
}

/// `MakeRequestAndExpectEventuallyConsistentResponse`.
pub async fn expect_consistent(env: &Env, rc: &ReqCase) -> Result<(), String> {
    eventually(CONSECUTIVE_SUCCESSES, || async { probe(env, rc).await.map(|_| ()) }).await
}
