//! Headless Chromium (Debian's `chromium` package) driven over the Chrome DevTools Protocol: one
//! WebSocket to the browser, pages attached as flattened sessions. Enough for a page test: go to
//! a URL, evaluate JavaScript, take a screenshot, and collect what the console reported as an
//! error. Every wait has a deadline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

const CALL_DEADLINE: Duration = Duration::from_secs(20);

/// A running headless Chromium with its own empty profile; killed when dropped.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    socket: Socket,
    next_id: u64,
    /// Events received, in order.
    pub events: Vec<Value>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A page: the session id of a target attached to the browser.
pub struct Page {
    pub session: String,
}

impl Browser {
    /// Starts `chromium` (fails with what to install when it is missing).
    pub async fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("a profile folder");
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1400,1600",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromium cannot be started ({e}): install it (Debian: apt-get install chromium)")
            });
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split_once("DevTools listening on ").map(|(_, u)| u.trim().to_string()) {
                    let _ = tx.send(url);
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(30)).expect("chromium printed its DevTools address");
        let host = url.trim_start_matches("ws://").split('/').next().expect("host").to_string();
        let tcp = tokio::net::TcpStream::connect(&host).await.expect("connect to DevTools");
        let req = url.as_str().into_client_request().expect("a WebSocket request");
        let (socket, _) = tokio_tungstenite::client_async(req, tcp).await.expect("DevTools handshake");
        Browser { child, _profile: profile, socket, next_id: 0, events: Vec::new() }
    }

    /// Calls `method` (on `page` when given) and returns its result; events that arrive
    /// meanwhile are kept in [`Browser::events`].
    pub async fn call(&mut self, page: Option<&Page>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(p) = page {
            msg["sessionId"] = json!(p.session);
        }
        self.socket.send(Message::text(msg.to_string())).await.expect("send to DevTools");
        let wait = async {
            loop {
                let frame = self.socket.next().await.expect("DevTools closed").expect("DevTools frame");
                let Message::Text(text) = frame else { continue };
                let v: Value = serde_json::from_str(&text).expect("DevTools JSON");
                if v["id"] == json!(id) {
                    if let Some(e) = v.get("error") {
                        panic!("{method} failed: {e}");
                    }
                    return v["result"].clone();
                }
                self.events.push(v);
            }
        };
        tokio::time::timeout(CALL_DEADLINE, wait).await.unwrap_or_else(|_| panic!("{method}: no answer in time"))
    }

    /// A new page, with its runtime, log and page events on.
    pub async fn page(&mut self) -> Page {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"})).await;
        let attached =
            self.call(None, "Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true})).await;
        let page = Page { session: attached["sessionId"].as_str().expect("a session").to_string() };
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            self.call(Some(&page), domain, json!({})).await;
        }
        page
    }

    pub async fn goto(&mut self, page: &Page, url: &str) {
        self.call(Some(page), "Page.navigate", json!({"url": url})).await;
    }

    /// The value of `expression` (awaited when it is a promise).
    pub async fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let r = self
            .call(
                Some(page),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression} threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is `true`, every 200 ms, for `within` at most.
    pub async fn wait_for(&mut self, page: &Page, expression: &str, within: Duration) -> bool {
        let until = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < until {
            if self.eval(page, expression).await == json!(true) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }

    /// A PNG of the page as laid out (the whole page, not only the window).
    pub async fn screenshot(&mut self, page: &Page) -> Vec<u8> {
        let shot = self
            .call(Some(page), "Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}))
            .await;
        base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().expect("data")).expect("base64 PNG")
    }

    /// What the pages reported as errors: uncaught exceptions, `console.error`, and log
    /// entries of level `error` (failed loads among them).
    pub fn console_errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e["method"].as_str() {
                Some("Runtime.exceptionThrown") => Some(e["params"]["exceptionDetails"].to_string()),
                Some("Runtime.consoleAPICalled") if e["params"]["type"] == "error" => {
                    Some(e["params"]["args"].to_string())
                }
                Some("Log.entryAdded") if e["params"]["entry"]["level"] == "error" => {
                    Some(e["params"]["entry"].to_string())
                }
                _ => None,
            })
            .collect()
    }
}
