//! The suite's HTTP client (`roundtripper.DefaultRoundTripper`): a new connection per request,
//! HTTP/1.1, HTTP/2 over TLS (ALPN h2) or h2c with prior knowledge; redirects followed like Go's
//! http.Client unless told not to.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::gotls;

/// Appended to errors of TLS exchanges in which the server asked for a client certificate.
pub const CERT_REQUESTED: &str = " [client certificate requested]";

pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS settings of an HTTPS request.
#[derive(Clone)]
pub struct TlsOpts {
    pub server_name: String,
    pub roots_pem: String,
    pub client: Option<(String, String)>,
}

/// Where a request goes: the URL's scheme and host (as a client sees it) and the real socket.
#[derive(Clone)]
pub struct Target {
    pub scheme: String,
    /// `ip` or `ip:port` (port dropped when it is the scheme's default).
    pub url_host: String,
    pub connect: SocketAddr,
    pub tls: Option<TlsOpts>,
}

/// One request as the Go suite would build it.
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    pub method: String,
    pub path: String,
    pub host: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub protocol: String,
    pub unfollow_redirect: bool,
}

#[derive(Debug)]
pub struct Captured {
    pub status: u16,
    pub proto: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The URL of the request that got this response: (scheme, host, path).
    pub url: (String, String, String),
    /// Whether the TLS server asked for a client certificate.
    pub cert_requested: bool,
}

/// Sends the request (following redirects unless `unfollow_redirect`), within the 10s timeout.
/// `resolve(scheme, host, port)` maps a redirect target to a socket, if it is this gateway.
pub async fn round_trip(
    target: &Target,
    out: &Outgoing,
    resolve: &(dyn Fn(&str, &str, u16) -> Option<SocketAddr> + Sync),
) -> Result<Captured, String> {
    match tokio::time::timeout(REQUEST_TIMEOUT, follow(target, out, resolve)).await {
        Ok(r) => r,
        Err(_) => Err(format!("request timed out after {REQUEST_TIMEOUT:?}")),
    }
}

async fn follow(
    target: &Target,
    out: &Outgoing,
    resolve: &(dyn Fn(&str, &str, u16) -> Option<SocketAddr> + Sync),
) -> Result<Captured, String> {
    let mut target = target.clone();
    let mut out = out.clone();
    for _ in 0..=10 {
        let resp = once(&target, &out).await?;
        let redirect = matches!(resp.status, 301 | 302 | 303 | 307 | 308);
        let location = resp.headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (true, false, Some(loc)) = (redirect, out.unfollow_redirect, location) else {
            return Ok(resp);
        };
        let (scheme, host, port, path) = parse_location(&loc, &resp.url);
        let default = if scheme == "https" { 443 } else { 80 };
        let port_n: u16 =
            if port.is_empty() { default } else { port.parse().map_err(|_| format!("bad redirect port in {loc}"))? };
        if scheme != target.scheme {
            return Err(format!("redirect to {loc} changes scheme; not followed"));
        }
        let connect = resolve(&scheme, &host, port_n)
            .ok_or_else(|| format!("redirect to {loc}: not this gateway (no network access), not followed"))?;
        let relative = !loc.contains("://");
        target.connect = connect;
        target.url_host = if port.is_empty() || port_n == default { host.clone() } else { format!("{host}:{port}") };
        if !relative {
            out.host = String::new();
        }
        out.path = path;
        if matches!(resp.status, 301..=303) && out.method != "HEAD" {
            out.method = "GET".into();
            out.body.clear();
        }
    }
    Err("stopped after 10 redirects".into())
}

/// Go's `resp.Location()` split into scheme, hostname, port and path (with query).
pub fn parse_location(loc: &str, base: &(String, String, String)) -> (String, String, String, String) {
    let (scheme, rest) = match loc.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r.to_owned()),
        None if loc.starts_with("//") => (base.0.clone(), loc[2..].to_owned()),
        None => {
            let path = if loc.starts_with('/') {
                loc.to_owned()
            } else {
                let dir = base.2.rsplit_once('/').map_or("", |(d, _)| d);
                format!("{dir}/{loc}")
            };
            return split_host(&base.0, &base.1, &path);
        }
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
        None => (rest, String::new()),
    };
    split_host(&scheme, &authority, &path)
}

fn split_host(scheme: &str, authority: &str, path: &str) -> (String, String, String, String) {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, p) = rest.split_once(']').unwrap_or((rest, ""));
        (h.to_owned(), p.trim_start_matches(':').to_owned())
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.to_owned()),
            None => (authority.to_owned(), String::new()),
        }
    };
    (scheme.to_owned(), host, port, path.to_owned())
}

/// One request on a new connection.
pub async fn once(target: &Target, out: &Outgoing) -> Result<Captured, String> {
    let tcp = TcpStream::connect(target.connect).await.map_err(|e| format!("dial {}: {e}", target.connect))?;
    let _ = tcp.set_nodelay(true);
    let authority = if out.host.is_empty() { target.url_host.clone() } else { out.host.clone() };
    let method = if out.method.is_empty() { "GET" } else { &out.method };
    let url = (target.scheme.clone(), target.url_host.clone(), out.path.clone());
    let h2 = out.protocol == "H2C_PRIOR_KNOWLEDGE" || out.protocol == "H2";
    let mut b = Request::builder().method(method);
    b = if h2 {
        let scheme = if target.tls.is_some() { "https" } else { "http" };
        b.uri(format!("{scheme}://{authority}{}", out.path)).header("user-agent", "Go-http-client/2.0")
    } else {
        b.uri(if out.path.is_empty() { "/" } else { &out.path })
            .header("host", header_value(&authority)?)
            .header("user-agent", "Go-http-client/1.1")
    };
    for (k, v) in &out.headers {
        b = b.header(k.as_str(), header_value(v)?);
    }
    if !h2 {
        b = b.header("connection", "close");
    }
    if out.body.is_empty() && matches!(method, "POST" | "PUT" | "PATCH") {
        b = b.header("content-length", "0");
    }
    let req = b.body(Full::new(Bytes::from(out.body.clone()))).map_err(|e| format!("build request: {e}"))?;
    match &target.tls {
        None if out.protocol == "H2C_PRIOR_KNOWLEDGE" => send(TokioIo::new(tcp), req, true, url, false).await,
        None => send(TokioIo::new(tcp), req, false, url, false).await,
        Some(tls) => {
            let (cfg, cert) = gotls::client_config(&tls.roots_pem, tls.client.as_ref(), out.protocol == "H2")?;
            let name = ServerName::try_from(tls.server_name.clone()).map_err(|e| format!("server name: {e}"))?;
            let stream = TlsConnector::from(cfg).connect(name, tcp).await.map_err(|e| {
                let mark = if cert.requested() { CERT_REQUESTED } else { "" };
                format!("TLS handshake: {e}{mark}")
            })?;
            if out.protocol == "H2" && stream.get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err("http2: unexpected ALPN protocol (h2 not negotiated)".into());
            }
            let mut resp = send(TokioIo::new(stream), req, out.protocol == "H2", url, false).await;
            match &mut resp {
                Ok(r) => r.cert_requested = cert.requested(),
                Err(e) if cert.requested() => e.push_str(CERT_REQUESTED),
                Err(_) => {}
            }
            resp
        }
    }
}

fn header_value(v: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(v).map_err(|e| format!("header value {v:?}: {e}"))
}

async fn send<I>(
    io: I,
    req: Request<Full<Bytes>>,
    h2: bool,
    url: (String, String, String),
    cert_requested: bool,
) -> Result<Captured, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let resp = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("h2 handshake: {e}"))?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(|e| format!("round trip: {e}"))?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            .handshake(io)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(|e| format!("round trip: {e}"))?
    };
    let status = resp.status().as_u16();
    let proto = match resp.version() {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
    .to_owned();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.map_err(|e| format!("read body: {e}"))?.to_bytes();
    Ok(Captured { status, proto, headers, body, url, cert_requested })
}
