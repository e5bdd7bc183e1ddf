//! The websocket procedure (golang.org/x/net/websocket Dial, one text and one binary echo).

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use super::case::ObjRef;
use super::judge;
use super::setup::Env;

const ORIGIN: &str =
    "ws://gateway/TestConformance/HTTPRouteBackendProtocolWebSocket/websocket_connection_should_reach_backend";

pub async fn websocket(env: &Env, p: &Value) -> Result<(), String> {
    let gw: ObjRef = serde_json::from_value(p["gateway"].clone()).map_err(|e| format!("harness: {e}"))?;
    let path = p["path"].as_str().unwrap_or("/ws").to_owned();
    let text = p["textMessage"].as_str().unwrap_or("Websocket Support!").to_owned();
    let binary: Vec<u8> =
        serde_json::from_value(p["binaryMessage"].clone()).unwrap_or_else(|_| vec![1, 2, 3, 4, 5, 6, 7]);
    let threshold = p["consecutiveSuccesses"].as_u64().unwrap_or(3) as usize;
    judge::eventually(threshold, || {
        let (gw, path, text, binary) = (gw.clone(), path.clone(), text.clone(), binary.clone());
        async move {
            let attempt = once(env, &gw, &path, &text, &binary);
            tokio::time::timeout(super::client::REQUEST_TIMEOUT, attempt)
                .await
                .map_err(|_| "websocket attempt timed out".to_owned())?
        }
    })
    .await
}

async fn once(env: &Env, gw: &ObjRef, path: &str, text: &str, binary: &[u8]) -> Result<(), String> {
    let (ip, port, sock) = env.gateway_target(gw, None)?;
    let host = if port == 80 { ip } else { format!("{ip}:{port}") };
    let mut req = format!("ws://{host}{path}").into_client_request().map_err(|e| e.to_string())?;
    req.headers_mut().insert("origin", ORIGIN.parse().map_err(|_| "origin")?);
    let tcp = TcpStream::connect(sock).await.map_err(|e| format!("dial {sock}: {e}"))?;
    let (mut ws, _) =
        tokio_tungstenite::client_async(req, tcp).await.map_err(|e| format!("websocket handshake: {e}"))?;
    ws.send(Message::text(text)).await.map_err(|e| format!("send text: {e}"))?;
    match next_data(&mut ws).await? {
        Message::Text(t) if t.as_str() == text => {}
        other => return Err(format!("expected text echo {text:?}, got {other:?}")),
    }
    ws.send(Message::binary(binary.to_vec())).await.map_err(|e| format!("send binary: {e}"))?;
    match next_data(&mut ws).await? {
        Message::Binary(b) if b.as_ref() == binary => {}
        other => return Err(format!("expected binary echo {binary:?}, got {other:?}")),
    }
    let _ = ws.close(None).await;
    Ok(())
}

async fn next_data<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Result<Message, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(m)) => return Ok(m),
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("connection closed before the echo".into()),
        }
    }
}
