//! Kubernetes mode end to end: `sluice run --kubernetes` against the fake API server of
//! `support::fake_kube` (no kube-apiserver can run here; the fake speaks the REST list/watch
//! protocol `kube`'s watcher uses). Objects written to the fake route traffic within seconds;
//! a watch cut mid-stream, a `410 Gone` that forces a re-list, and an API server that goes away
//! and comes back lose no update, and traffic keeps flowing on the last snapshot meanwhile.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fake_kube::FakeKube;
use support::process;

fn gateway_class() -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "sluice"}, "spec": {"controllerName": "sluice.dev/gateway-controller"}})
}

fn gateway(port: u16) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "default"},
        "spec": {"gatewayClassName": "sluice", "listeners": [{"name": "http", "protocol": "HTTP", "port": port}]}})
}

fn mock_backend() -> Value {
    json!({"apiVersion": "sluice.dev/v1alpha1", "kind": "AIBackend",
        "metadata": {"name": "mock", "namespace": "default"},
        "spec": {"provider": {"name": "m", "type": "mock"}}})
}

/// The HTTPRoute `default/llm` to the mock backend, for paths under `prefix`.
fn route(prefix: &str) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "llm", "namespace": "default"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
            "backendRefs": [{"group": "sluice.dev", "kind": "AIBackend", "name": "mock"}]}]}})
}

/// The status of a chat completion POSTed to `/v1/chat/completions`.
async fn chat(addr: SocketAddr) -> u16 {
    let body = r#"{"model": "mock-1", "messages": [{"role": "user", "content": "hi"}]}"#;
    support::gateway::request(addr, "POST", "/v1/chat/completions", &[], body).await.0
}

/// A fake API server holding `objects` (given the Gateway's port), a kubeconfig naming it, and
/// the Gateway's address.
struct World {
    fake: FakeKube,
    kubeconfig: std::path::PathBuf,
    port: u16,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new(objects: impl FnOnce(u16) -> Vec<Value>) -> World {
        let fake = FakeKube::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        fake.write_kubeconfig(&kubeconfig);
        let port = process::free_port();
        for o in objects(port) {
            fake.apply(o);
        }
        let addr = format!("127.0.0.1:{port}").parse().expect("addr");
        World { fake, kubeconfig, port, addr, _dir: dir }
    }

    /// `sluice run --kubernetes` against the fake, with `args`; ready once it serves.
    async fn gateway(&self, args: &[&str]) -> process::Gateway {
        let (kubeconfig, args) = (self.kubeconfig.clone(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            process::Gateway::start_kubernetes(&kubeconfig, &args)
        })
        .await
        .expect("start")
    }
}

/// The GatewayClass, the Gateway on `port`, the mock backend, and `more`.
fn base(port: u16, more: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut all = vec![gateway_class(), gateway(port), mock_backend()];
    all.extend(more);
    all
}

/// Waits (up to `within`) until a chat completion answers `status`; how long it took.
async fn until_chat(addr: SocketAddr, status: u16, within: Duration, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        let got = chat(addr).await;
        if got == status {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: still {got} after {within:?}, expected {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_configures_the_gateway_and_no_update_is_lost() {
    let w = World::new(|port| base(port, [route("/v1")])).await;
    let (fake, addr) = (&w.fake, w.addr);
    let gw = w.gateway(&[]).await;
    until_chat(addr, 200, Duration::from_secs(5), "the first snapshot").await;

    // A change shows within a second or so (the debounce is 150 ms).
    fake.apply(route("/elsewhere"));
    let took = until_chat(addr, 404, Duration::from_secs(5), "the route moved away").await;
    eprintln!("a route change was served after {took:?}");

    // Every watch cut mid-stream: the watches resume from where they were.
    let before = fake.watch_requests();
    fake.break_watches();
    fake.apply(route("/v1"));
    until_chat(addr, 200, Duration::from_secs(10), "a change made while the watches were cut").await;
    assert!(fake.watch_requests() > before, "the watches came back");

    // The API server goes away: traffic keeps flowing on the last snapshot.
    fake.set_down(true);
    for _ in 0..5 {
        assert_eq!(chat(addr).await, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Meanwhile the route changes and the history is compacted: the watches' resourceVersion is
    // too old when they come back, the server answers 410, and they list again.
    let expired = fake.expired_watches();
    fake.apply(route("/gone"));
    fake.compact();
    fake.set_down(false);
    let took = until_chat(addr, 404, Duration::from_secs(40), "the change made while the server was away").await;
    eprintln!("caught up {took:?} after the API server came back");
    assert!(fake.expired_watches() > expired, "the resumed watches were told 410 and listed again");

    // A deletion is an update too.
    fake.apply(route("/v1"));
    until_chat(addr, 200, Duration::from_secs(10), "the route back").await;
    fake.delete("gateway.networking.k8s.io/v1", "HTTPRoute", Some("default"), "llm");
    until_chat(addr, 404, Duration::from_secs(10), "the route deleted").await;
    let (code, body) = gw.admin_get("/readyz");
    assert_eq!(code, 200, "{body}");
    drop(gw);
}

/// An object the gateway cannot read is left out, and its own status says why (Accepted False,
/// reason Invalid): a route per parent of ours, a TrafficPolicy per target, a BackendTLSPolicy
/// per Gateway of ours whose routes send to its Service. The rest is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_that_cannot_be_read_is_left_out() {
    let mut broken = route("/broken");
    broken["metadata"]["name"] = json!("broken");
    broken["spec"]["nonsense"] = json!(true);
    let policy = json!({"apiVersion": "sluice.dev/v1alpha1", "kind": "TrafficPolicy",
        "metadata": {"name": "limits", "namespace": "default"},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "llm"}],
            "rateLimits": [{"name": "r", "requests": 5, "per": "fortnight"}]}});
    let to_service = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": "/web"}}],
            "backendRefs": [{"name": "web", "port": 443}]}]}});
    let tls = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": "web-tls", "namespace": "default"},
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "web"}],
            "validation": {"hostname": "web.example", "wellKnownCACertificates": "System", "extra": 1}}});
    let w = World::new(|port| base(port, [route("/v1"), broken, policy, to_service, tls])).await;
    let (fake, addr) = (&w.fake, w.addr);
    let gw = w.gateway(&[]).await;
    until_chat(addr, 200, Duration::from_secs(5), "the readable route").await;
    let (_, status) = gw.admin_get("/status");
    assert!(status.contains("\"llm\""), "{status}");
    assert!(!status.contains("\"broken\""), "the unreadable route is not in the snapshot: {status}");
    until(Duration::from_secs(10), "the unreadable route's status says why", || {
        fake.get("gateway.networking.k8s.io/v1", "HTTPRoute", Some("default"), "broken").is_some_and(|r| {
            let c = &r["status"]["parents"][0]["conditions"][0];
            r["status"]["parents"][0]["parentRef"]["name"] == "gw"
                && c["type"] == "Accepted"
                && c["status"] == "False"
                && c["reason"] == "Invalid"
                && c["message"].as_str().is_some_and(|m| m.contains("cannot be read") && m.contains("nonsense"))
        })
    })
    .await;
    let invalid = |s: &Value, field: &str| {
        let a = &s["status"]["ancestors"];
        let c = &a[0]["conditions"][0];
        a.as_array().is_some_and(|a| a.len() == 1)
            && c["type"] == "Accepted"
            && c["status"] == "False"
            && c["reason"] == "Invalid"
            && c["message"].as_str().is_some_and(|m| m.contains("cannot be read") && m.contains(field))
    };
    until(Duration::from_secs(10), "the unreadable TrafficPolicy's status, per target", || {
        fake.get("sluice.dev/v1alpha1", "TrafficPolicy", Some("default"), "limits").is_some_and(|p| {
            let r = &p["status"]["ancestors"][0]["ancestorRef"];
            invalid(&p, "fortnight") && r["kind"] == "HTTPRoute" && r["name"] == "llm" && r["namespace"] == "default"
        })
    })
    .await;
    until(Duration::from_secs(10), "the unreadable BackendTLSPolicy's status, per Gateway of ours", || {
        fake.get("gateway.networking.k8s.io/v1", "BackendTLSPolicy", Some("default"), "web-tls").is_some_and(|p| {
            let r = &p["status"]["ancestors"][0]["ancestorRef"];
            invalid(&p, "extra") && r["kind"] == "Gateway" && r["name"] == "gw"
        })
    })
    .await;
}

/// `value` without `lastTransitionTime` anywhere (each translation stamps its own time; the
/// cluster keeps a condition's time until it changes).
fn timeless(mut value: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("lastTransitionTime");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

/// The status written to the cluster is what `/status` shows, the entries of other controllers
/// are kept, and a status that holds is not written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_written_back_as_status_shows_it() {
    let mut llm = route("/v1");
    let foreign = json!({"parentRef": {"name": "other-gw"}, "controllerName": "example.com/other",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
            "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    llm["status"] = json!({"parents": [foreign.clone()]});
    let w = World::new(|port| base(port, [llm])).await;
    let fake = &w.fake;
    let gw = w.gateway(&[]).await;
    let (_, shown) = gw.admin_get("/status");
    let body = &shown[shown.find("\r\n\r\n").map_or(0, |i| i + 4)..];
    let shown: Value = serde_json::from_str(body).expect("/status is JSON");
    let shown_of = |kind: &str, name: &str| -> Value {
        let all = shown["resources"].as_array().expect("resources");
        let r = all.iter().find(|r| r["kind"] == kind && r["metadata"]["name"] == name);
        r.unwrap_or_else(|| panic!("{kind} {name} not on /status: {shown}"))["status"].clone()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let (route_status, gateway_status) = loop {
        let r = fake.get("gateway.networking.k8s.io/v1", "HTTPRoute", Some("default"), "llm").expect("route");
        let g = fake.get("gateway.networking.k8s.io/v1", "Gateway", Some("default"), "gw").expect("gateway");
        let ours = r["status"]["parents"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["controllerName"] == "sluice.dev/gateway-controller"));
        if ours && g["status"]["listeners"].is_array() {
            break (r["status"].clone(), g["status"].clone());
        }
        assert!(Instant::now() < deadline, "no status written: {r} {g}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(route_status["parents"][0], foreign, "the other controller's entry is kept as it was");
    let ours: Vec<Value> = route_status["parents"].as_array().expect("parents")[1..].to_vec();
    assert_eq!(timeless(json!(ours)), timeless(shown_of("HTTPRoute", "llm")["parents"].clone()));
    assert_eq!(timeless(gateway_status.clone()), timeless(shown_of("Gateway", "gw")));
    assert_eq!(gateway_status["listeners"][0]["attachedRoutes"], 1);
    let class = fake.get("gateway.networking.k8s.io/v1", "GatewayClass", None, "sluice").expect("class");
    assert_eq!(timeless(class["status"].clone()), timeless(shown_of("GatewayClass", "sluice")));

    // Written once: the status holds, and nothing is written again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let patches = fake.status_patches();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.status_patches(), patches, "a status that holds is not written again");
    eprintln!("status patches to settle: {patches}");
}

/// The holder of the Lease `default/sluice-status-writer`, as stored in the fake.
fn lease_holder(fake: &FakeKube) -> Option<String> {
    let lease = fake.get("coordination.k8s.io/v1", "Lease", Some("default"), "sluice-status-writer")?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_string)
}

/// Waits until `check` holds, up to `within`.
async fn until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "{what}: not after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two replicas: one holds the Lease and only it writes status; when it dies, the other takes
/// the Lease over once it has gone unrenewed for its duration, and writes from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_status_writer() {
    let w = World::new(|port| base(port, [route("/v1")])).await;
    let fake = &w.fake;
    let mut a = w.gateway(&["--lease-duration", "2s"]).await;
    let a_id = format!("-{}", a.child.id());
    until(Duration::from_secs(10), "the first replica holds the lease", || {
        lease_holder(fake).is_some_and(|h| h.ends_with(&a_id))
    })
    .await;
    until(Duration::from_secs(10), "status written", || fake.status_patches() > 0).await;
    // The second replica uses another admin port and, the listener being taken, serves nothing
    // of its own here: what matters is what it writes.
    let b = w.gateway(&["--lease-duration", "2s"]).await;
    let b_id = format!("-{}", b.child.id());
    // Changes while both run: only the holder writes.
    fake.apply(route("/v2"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fake.apply(route("/v1"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let writers = fake.status_writers();
    assert!(writers.iter().all(|w| w.ends_with(&a_id)), "only the holder wrote: {writers:?} (holder {a_id})");
    assert_eq!(lease_holder(fake).map(|h| h.ends_with(&a_id)), Some(true), "the holder kept the lease");

    // The holder dies: the other takes over and writes the next change.
    let _ = a.child.kill();
    let _ = a.child.wait();
    let died = Instant::now();
    until(Duration::from_secs(10), "the second replica takes the lease over", || {
        lease_holder(fake).is_some_and(|h| h.ends_with(&b_id))
    })
    .await;
    eprintln!("lease taken over {:?} after the holder died (lease duration 2 s)", died.elapsed());
    let before = fake.status_writers().len();
    fake.apply(route("/v3"));
    until(Duration::from_secs(10), "the new holder writes", || fake.status_writers().len() > before).await;
    let writers = fake.status_writers();
    assert!(writers[before..].iter().all(|w| w.ends_with(&b_id)), "{writers:?}");
    drop(b);
}

/// A holder that cannot renew its Lease stops writing status within the lease's duration (it
/// stops at two thirds of it, before anyone else may take the Lease over), keeps serving, and
/// writes again once it holds the Lease again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_cannot_renew_stops_writing() {
    let w = World::new(|port| base(port, [route("/v1")])).await;
    let fake = &w.fake;
    let gw = w.gateway(&["--lease-duration", "3s"]).await;
    let id = format!("-{}", gw.child.id());
    until(Duration::from_secs(10), "the replica holds the lease", || {
        lease_holder(fake).is_some_and(|h| h.ends_with(&id))
    })
    .await;
    until(Duration::from_secs(10), "status written", || fake.status_patches() > 0).await;

    fake.refuse_lease_writes(true);
    let refused = Instant::now();
    // Past the lease's duration, nothing more is written, whatever changes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = fake.status_patches();
    fake.apply(route("/v2"));
    until_chat(w.addr, 404, Duration::from_secs(5), "the change served without the lease").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        fake.status_patches(),
        before,
        "no status written {:?} after the lease could not be renewed",
        refused.elapsed()
    );

    // Renewals work again: the replica holds the Lease again and writes what changed.
    fake.refuse_lease_writes(false);
    until(Duration::from_secs(10), "status written again once the lease is held", || fake.status_patches() > before)
        .await;
    let route_status = fake.get("gateway.networking.k8s.io/v1", "HTTPRoute", Some("default"), "llm").expect("route");
    assert!(route_status["status"]["parents"][0]["conditions"].is_array(), "{route_status}");
    drop(gw);
}

/// `kubectl` (an independent client: Debian's `kubernetes-client`, or any other) against the fake.
fn kubectl(kubeconfig: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("kubectl is needed ({e}): install it (Debian: apt-get install kubernetes-client)"));
    if let Some(text) = stdin {
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("kubectl");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The fake driven by `kubectl` rather than by the code it serves (it serves no OpenAPI schema:
/// `--validate=false`): objects created with `kubectl create` route traffic, the status Sluice writes reads back with `kubectl get`, and a
/// `kubectl delete` stops the route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drives_the_fake_and_reads_the_status_back() {
    // Nothing in the fake yet: kubectl makes the objects.
    let w = World::new(|_| Vec::new()).await;
    let (kubeconfig, addr) = (w.kubeconfig.clone(), w.addr);
    let manifests: String = base(w.port, [route("/v1")])
        .iter()
        .map(|o| format!("---\n{}\n", serde_json::to_string(o).expect("json")))
        .collect();
    let k = kubeconfig.clone();
    let created =
        tokio::task::spawn_blocking(move || kubectl(&k, &["create", "--validate=false", "-f", "-"], Some(&manifests)))
            .await
            .expect("kubectl create");
    assert_eq!(created.lines().count(), 4, "{created}");
    let gw = w.gateway(&[]).await;
    until_chat(addr, 200, Duration::from_secs(5), "objects created by kubectl").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let k = kubeconfig.clone();
        let out = tokio::task::spawn_blocking(move || {
            kubectl(&k, &["get", "httproutes.gateway.networking.k8s.io", "llm", "-n", "default", "-o", "json"], None)
        })
        .await
        .expect("kubectl get");
        let route: Value = serde_json::from_str(&out).expect("kubectl printed JSON");
        let accepted = route["status"]["parents"].as_array().is_some_and(|p| {
            p.iter().any(|p| {
                p["controllerName"] == "sluice.dev/gateway-controller"
                    && p["conditions"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c["type"] == "Accepted" && c["status"] == "True"))
            })
        });
        if accepted {
            break;
        }
        assert!(Instant::now() < deadline, "kubectl does not see the route Accepted: {route}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let k = kubeconfig.clone();
    tokio::task::spawn_blocking(move || kubectl(&k, &["delete", "httproute", "llm", "-n", "default"], None))
        .await
        .expect("kubectl delete");
    until_chat(addr, 404, Duration::from_secs(10), "the route deleted by kubectl").await;
    drop(gw);
}

/// A Gateway that names no address reports the addresses of the Service in front of the
/// replicas (`--gateway-service`): its load balancer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_report_the_services_addresses() {
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "sluice", "namespace": "default"},
        "spec": {"ports": [{"name": "http", "port": 80}], "clusterIP": "10.96.0.10"},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}});
    let w = World::new(|port| base(port, [route("/v1"), service])).await;
    let fake = &w.fake;
    let gw = w.gateway(&["--gateway-service", "default/sluice"]).await;
    until(Duration::from_secs(10), "the Gateway reports the load balancer's address", || {
        fake.get("gateway.networking.k8s.io/v1", "Gateway", Some("default"), "gw")
            .is_some_and(|g| g["status"]["addresses"] == json!([{"type": "IPAddress", "value": "203.0.113.7"}]))
    })
    .await;
    drop(gw);
}
