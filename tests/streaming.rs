//! Bodies stream through the proxy in both directions: a chunk reaches the other side before
//! the sender has produced the next one (nothing is buffered to the end).

mod support;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sluice::runtime::{BindMode, Runtime};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Chunks = StreamBody<tokio_stream_shim::Receiver>;

/// A tiny channel-backed body stream (avoids a dependency on tokio-stream).
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use hyper::body::Frame;

    pub struct Receiver(pub tokio::sync::mpsc::Receiver<Bytes>);

    impl futures_util::Stream for Receiver {
        type Item = Result<Frame<Bytes>, std::convert::Infallible>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
        }
    }
}

fn config(upstream_port: u16) -> String {
    support::yaml::gateway_route(80, "r", &["{name: up, port: 80}"])
        + &format!(
            r#"---
apiVersion: v1
kind: Service
metadata: {{name: up, namespace: default}}
spec: {{ports: [{{name: http, port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: up-1, namespace: default, labels: {{kubernetes.io/service-name: up}}}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"]}}]
ports: [{{name: http, port: {upstream_port}}}]
"#
        )
}

/// An upstream that forwards each request-body chunk to `seen` as it arrives, and answers with
/// a body whose chunks come from `chunks`.
async fn upstream(seen: mpsc::Sender<Bytes>, chunks: mpsc::Receiver<Bytes>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let chunks = std::sync::Mutex::new(Some(chunks));
    let chunks = std::sync::Arc::new(chunks);
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let seen = seen.clone();
            let chunks = chunks.lock().expect("lock").take().expect("one request");
            async move {
                let mut body = req.into_body();
                tokio::spawn(async move {
                    while let Some(Ok(frame)) = body.frame().await {
                        if let Ok(data) = frame.into_data() {
                            let _ = seen.send(data).await;
                        }
                    }
                });
                let body: Chunks = StreamBody::new(tokio_stream_shim::Receiver(chunks));
                Ok::<_, Infallible>(hyper::Response::new(body))
            }
        });
        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });
    port
}

async fn next_within(rx: &mut mpsc::Receiver<Bytes>, what: &str) -> Bytes {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{what} did not arrive while the sender waited: the proxy buffered it"))
        .expect("channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_response_bodies_stream() {
    let (seen_tx, mut seen_rx) = mpsc::channel(8);
    let (resp_tx, resp_rx) = mpsc::channel(8);
    let port = upstream(seen_tx, resp_rx).await;
    let rt = Runtime::new(BindMode::Ephemeral("127.0.0.1".parse().expect("ip")));
    let loaded = sluice::config::parse_text("s.yaml", &config(port));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    rt.apply(loaded.resources.into_iter().map(|l| l.resource).collect()).await;
    let addr = rt.listener_addr("default", "gw", 80).expect("bound");

    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
    tokio::spawn(conn);
    let (req_tx, req_rx) = mpsc::channel::<Bytes>(8);
    let req = hyper::Request::post("/upload")
        .header("host", "example.com")
        .body(StreamBody::new(tokio_stream_shim::Receiver(req_rx)))
        .expect("request");
    let response = tokio::spawn(async move { sender.send_request(req).await });

    // Request direction: each chunk reaches the upstream before the next is written.
    for part in ["first ", "second ", "third"] {
        req_tx.send(Bytes::from(part)).await.expect("send");
        assert_eq!(next_within(&mut seen_rx, "a request chunk").await, part);
    }
    drop(req_tx);

    // Response direction: the client gets each chunk while the upstream holds the next.
    resp_tx.send(Bytes::from("alpha")).await.expect("send");
    let resp = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("response headers before the body ends")
        .expect("join")
        .expect("response");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    for (i, part) in ["alpha", "beta", "gamma"].into_iter().enumerate() {
        if i > 0 {
            resp_tx.send(Bytes::from(part)).await.expect("send");
        }
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("a response chunk arrived while the upstream waited")
            .expect("frame")
            .expect("ok frame");
        assert_eq!(frame.into_data().expect("data"), part);
    }
    drop(resp_tx);
    assert!(body.frame().await.is_none(), "the body ends when the upstream's does");
}
