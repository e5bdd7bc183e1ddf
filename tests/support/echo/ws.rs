//! `/ws`: the websocket echo, following golang.org/x/net/websocket's server handshake (including
//! its default Origin check: a missing or unparseable `Origin` is refused with 403) and
//! `io.Copy(ws, ws)`: every data message comes back unchanged (same opcode) until the peer closes.

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

type Resp = Response<Full<Bytes>>;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A handshake refusal: status line and no body, then the connection is closed.
fn refuse(status: StatusCode, extra: Option<(&'static str, &'static str)>) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONNECTION, http::HeaderValue::from_static("close"));
    if let Some((name, value)) = extra {
        resp.headers_mut().insert(name, http::HeaderValue::from_static(value));
    }
    resp
}

/// Go's `url.ParseRequestURI` accepts an absolute path or an absolute URI with a scheme.
fn origin_parses(origin: &str) -> bool {
    if origin.starts_with('/') {
        return true;
    }
    let Some((scheme, _)) = origin.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

pub fn upgrade(mut req: Request<Incoming>) -> Resp {
    let headers = req.headers();
    if req.method() != Method::GET {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, None);
    }
    if !header(headers, "upgrade").eq_ignore_ascii_case("websocket")
        || !header(headers, "connection").to_ascii_lowercase().contains("upgrade")
    {
        return refuse(StatusCode::BAD_REQUEST, None);
    }
    let key = header(headers, "sec-websocket-key").to_owned();
    if key.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, None);
    }
    if header(headers, "sec-websocket-version") != "13" {
        let version = Some(("sec-websocket-version", "13"));
        return refuse(StatusCode::BAD_REQUEST, version);
    }
    let origin = header(headers, "origin");
    if origin.is_empty() || !origin_parses(origin) {
        return refuse(StatusCode::FORBIDDEN, None);
    }
    let protocols: Vec<String> = match header(headers, "sec-websocket-protocol").trim() {
        "" => Vec::new(),
        list => list.split(',').map(|p| p.trim().to_owned()).collect(),
    };
    if protocols.len() > 1 {
        return refuse(StatusCode::BAD_REQUEST, None);
    }

    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let io = TokioIo::new(upgraded);
        let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        // Pings are answered and a Close is acknowledged by tungstenite itself; the stream
        // ends once the closing handshake is done.
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    });

    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(UPGRADE, http::HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, http::HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = derive_accept_key(key.as_bytes()).parse() {
        h.insert("sec-websocket-accept", accept);
    }
    if let Some(Ok(protocol)) = protocols.first().map(|p| p.parse()) {
        h.insert("sec-websocket-protocol", protocol);
    }
    resp
}
