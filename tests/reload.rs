//! Hot reload under load: a request loop runs against a route while the config file is
//! replaced 20 times, valid and invalid alternately. No request may fail, each valid config
//! must take effect, and each invalid one must show in /status and in the reload metric.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{echo, process};

fn valid_config(port: u16, echo_port: u16, version: usize) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: sluice}}
spec: {{controllerName: sluice.dev/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  gatewayClassName: sluice
  listeners: [{{name: http, protocol: HTTP, port: {port}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: default}}
spec:
  ports: [{{name: http, port: 80, targetPort: 3000}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: default
  labels: {{kubernetes.io/service-name: echo}}
addressType: IPv4
endpoints: [{{addresses: ["127.0.0.1"]}}]
ports: [{{name: http, port: {echo_port}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: route, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
    - filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set: [{{name: X-Config-Version, value: "v{version}"}}]
      backendRefs: [{{name: echo, port: 80}}]
"#
    )
}

/// Three kinds of broken config, in turn: a YAML syntax error, an unknown kind, a bad field.
fn invalid_config(valid: &str, i: usize) -> String {
    match i % 3 {
        0 => format!("{valid}---\nkind: [unclosed\n"),
        1 => format!("{valid}---\napiVersion: example.com/v1\nkind: Frobnicator\nmetadata: {{name: x}}\n"),
        _ => valid.replace("backendRefs:", "backendRefz:"),
    }
}

/// Replaces the config file atomically (write aside, then rename).
fn write_config(dir: &Path, text: &str) {
    let tmp = dir.parent().expect("parent").join("sluice-next.yaml");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::rename(&tmp, dir.join("config.yaml")).expect("rename config");
}

fn status(gw: &process::Gateway) -> serde_json::Value {
    let (code, text) = gw.admin_get("/status");
    assert_eq!(code, 200);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("status is not JSON ({e}): {body}"))
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_lose_no_request() {
    let backend = echo::start(echo::EchoConfig {
        namespace: "default".into(),
        pod: "echo-0-0".into(),
        service: "echo".into(),
        bind_ip: "127.0.0.1".parse().expect("ip"),
        tls: None,
    })
    .await
    .expect("start echo");
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("config");
    std::fs::create_dir(&dir).expect("mkdir");
    let port = process::free_port();
    write_config(&dir, &valid_config(port, backend.http_port, 0));

    tokio::task::spawn_blocking(move || {
        let gw = process::Gateway::start(&dir);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::<String>::new()));
        let last_version = Arc::new(Mutex::new(String::new()));
        let looper = {
            let (stop, sent, failures, last_version) =
                (stop.clone(), sent.clone(), failures.clone(), last_version.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    sent.fetch_add(1, Ordering::Relaxed);
                    match process::http_get(addr, "/") {
                        Some((200, text)) => {
                            let v = text.lines().find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("x-config-version: ").map(str::to_string)
                            });
                            *last_version.lock().expect("lock") = v.unwrap_or_default();
                        }
                        Some((code, text)) => failures.lock().expect("lock").push(format!("status {code}: {text}")),
                        None => failures.lock().expect("lock").push("no answer".into()),
                    }
                }
            })
        };

        let mut valid_text = valid_config(port, backend.http_port, 0);
        let mut expected_failures = 0;
        for i in 1..=20 {
            let before = status(&gw);
            let version = before["config"]["version"].as_u64().expect("version");
            if i % 2 == 0 {
                valid_text = valid_config(port, backend.http_port, i);
                write_config(&dir, &valid_text);
                wait_for("the valid config to be served", || {
                    status(&gw)["config"]["version"].as_u64() == Some(version + 1)
                });
                wait_for("responses from the new config", || *last_version.lock().expect("lock") == format!("v{i}"));
            } else {
                expected_failures += 1;
                write_config(&dir, &invalid_config(&valid_text, i));
                wait_for("the invalid config to be reported", || {
                    let s = status(&gw);
                    s["config"]["lastAttemptOk"] == false
                        && !s["config"]["lastErrors"].as_array().is_none_or(Vec::is_empty)
                });
                let s = status(&gw);
                assert_eq!(s["config"]["version"].as_u64(), Some(version), "an invalid config replaced the good one");
                let errors = s["config"]["lastErrors"].to_string();
                let expected = ["invalid YAML", "Frobnicator", "backendRefz"][i % 3];
                assert!(errors.contains(expected), "the error should name the problem ({expected}): {errors}");
                let (_, metrics) = gw.admin_get("/metrics");
                let line = format!("sluice_config_reloads_total{{result=\"failure\"}} {expected_failures}");
                assert!(metrics.contains(&line), "metric missing {line}:\n{metrics}");
            }
        }
        // Let the loop run a little on the last config, then stop it.
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        looper.join().expect("request loop");
        let failures = failures.lock().expect("lock");
        let total = sent.load(Ordering::Relaxed);
        assert!(
            failures.is_empty(),
            "{} of {total} requests failed: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert!(total > 100, "the request loop only sent {total} requests");
        eprintln!("reload test: {total} requests, 0 failed, 10 valid and 10 invalid reloads");
    })
    .await
    .expect("test body");
    drop(backend);
}

/// The count of successful reloads the gateway reports.
fn reloads(gw: &process::Gateway) -> u64 {
    let (_, metrics) = gw.admin_get("/metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("sluice_config_reloads_total{result=\"success\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no reload metric:\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_beside_the_config_reload_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("config");
    std::fs::create_dir(&dir).expect("mkdir");
    let port = process::free_port();
    write_config(&dir, &valid_config(port, process::free_port(), 0));
    let file = dir.join("config.yaml");
    tokio::task::spawn_blocking(move || {
        let gw = process::Gateway::start(&file);
        let before = reloads(&gw);
        // A log written beside the named file, every 100 ms for 1.5 s.
        for i in 0..15 {
            std::fs::write(dir.join("gateway.log"), format!("line {i}\n")).expect("write log");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(reloads(&gw), before, "a log file beside the config reloaded it");
        // The file itself still reloads.
        write_config(&dir, &valid_config(port, process::free_port(), 1));
        wait_for("the changed config to load", || reloads(&gw) == before + 1);
    })
    .await
    .expect("join");
}
