//! The `custom:` procedures that send many requests or check more than one request.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::Value;

use super::case::ReqCase;
use super::custom::{doc_is, obj, uuid, with_query};
use super::judge::{self, eventually};
use super::setup::Env;
use super::status::poll;

/// Runs `n` copies of a probe with at most `conc` in flight; returns each outcome.
async fn fan_out<F, Fut, T>(n: usize, conc: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    futures_util::stream::iter(0..n).map(f).buffer_unordered(conc).collect().await
}

/// weights.
pub async fn weights(env: &Env, rc: &ReqCase, p: &Value) -> Result<(), String> {
    let total = p["totalRequests"].as_u64().unwrap_or(500) as usize;
    let conc = p["concurrentRequests"].as_u64().unwrap_or(10) as usize;
    let tol = p["tolerance"].as_f64().unwrap_or(0.05);
    let max = p["maxAttempts"].as_u64().unwrap_or(10);
    let want: BTreeMap<String, f64> =
        serde_json::from_value(p["weights"].clone()).map_err(|e| format!("harness: {e}"))?;
    let mut last = String::new();
    for _ in 0..max {
        let results = fan_out(total, conc, |_| async {
            let mut rc = rc.clone();
            if rand::random::<bool>() {
                let jitter = rand::random_range(0..10000).to_string();
                rc.request.headers.insert("X-Jitter".into(), jitter);
            }
            judge::probe(env, &rc).await.map(|e| e.str("pod"))
        })
        .await;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut bad = None;
        for r in results {
            match r {
                Ok(pod) => {
                    let parts: Vec<&str> = pod.split('-').collect();
                    let backend = parts[..parts.len().saturating_sub(2)].join("-");
                    *counts.entry(backend).or_default() += 1;
                }
                Err(e) => bad = Some(e),
            }
        }
        last = match bad {
            Some(e) => format!("a request failed: {e}"),
            None => weights_mismatch(&counts, &want, total, tol).unwrap_or_default(),
        };
        if last.is_empty() {
            return Ok(());
        }
    }
    Err(format!("weights: all {max} attempts failed; last: {last}"))
}

fn weights_mismatch(
    counts: &BTreeMap<String, usize>,
    want: &BTreeMap<String, f64>,
    total: usize,
    tol: f64,
) -> Option<String> {
    for (b, n) in counts {
        if !want.contains_key(b) {
            return Some(format!("backend {b} got {n} requests but is not in the weights {want:?}"));
        }
    }
    for (b, w) in want {
        let n = counts.get(b).copied().unwrap_or(0);
        let share = n as f64 / total as f64;
        if (*w > 0.0) != (n > 0) || (share - w).abs() > tol {
            return Some(format!("backend {b}: share {share:.3} vs weight {w} (counts {counts:?})"));
        }
    }
    None
}

/// backend-header-matches-pod.
pub async fn header_matches_pod(env: &Env, rc: &ReqCase, p: &Value) -> Result<(), String> {
    let n = p["requests"].as_u64().unwrap_or(100);
    let header = p["header"].as_str().unwrap_or("Backend");
    for i in 0..n {
        let c = judge::send(env, rc).await.map_err(|e| format!("request {i}: {e}"))?;
        let echo = judge::compare(
            env,
            &ReqCase {
                response: super::case::RespExp { status_codes: vec![c.status], ..Default::default() },
                ..rc.clone()
            },
            &c,
        )
        .map_err(|e| format!("request {i}: {e}"))?;
        let values = echo.header(header).unwrap_or_default();
        let pod = echo.str("pod");
        match values.as_slice() {
            [v] if pod.starts_with(v.as_str()) => {}
            _ => {
                return Err(format!(
                    "request {i}: {header} header {values:?} does not match pod {pod:?} (status {})",
                    c.status
                ));
            }
        }
    }
    Ok(())
}

/// The mirror pods' RequestURI count for `uri` since `marks`.
fn mirror_count(env: &Env, ns: &str, dep: &str, uri: &str, marks: &[usize]) -> usize {
    env.pods_of(ns, dep).iter().zip(marks.iter().chain(std::iter::repeat(&0))).map(|(p, m)| p.log_count(uri, *m)).sum()
}

/// mirror-request-id for one entry: main check, then each mirror backend must log the request.
pub async fn mirror_request(env: &Env, rc: &ReqCase, p: &Value) -> Result<(), String> {
    let key = p["queryParam"].as_str().unwrap_or("gateway-api-conformance-request-id");
    let id = uuid();
    let mut rc = rc.clone();
    rc.request.path = with_query(&rc.request.path, key, &id);
    if let Some(e) = &mut rc.expected_request {
        e.path = with_query(&e.path, key, &id);
    }
    judge::expect_consistent(env, &rc).await?;
    for m in &rc.mirrored_to {
        let ns = if m.namespace.is_empty() { &rc.namespace } else { &m.namespace };
        poll(super::client::REQUEST_TIMEOUT, Duration::from_millis(100), || {
            if mirror_count(env, ns, &m.name, &rc.request.path, &[]) > 0 {
                Ok(())
            } else {
                Err(format!("mirror backend {ns}/{} never received {}", m.name, rc.request.path))
            }
        })
        .await?;
    }
    Ok(())
}

/// mirror-percentage for one entry (after its plain check passed).
pub async fn mirror_percentage(env: &Env, rc: &ReqCase, p: &Value) -> Result<(), String> {
    let n = p["totalRequests"].as_u64().unwrap_or(500) as usize;
    let conc = p["concurrentRequests"].as_u64().unwrap_or(10) as usize;
    let sd = p["toleranceStdDevs"].as_f64().unwrap_or(3.0);
    let tries = p["numDistributionChecks"].as_u64().unwrap_or(5);
    let m = rc.mirrored_to.first().ok_or("harness: mirror-percentage entry without mirroredTo")?;
    let ns = if m.namespace.is_empty() { rc.namespace.clone() } else { m.namespace.clone() };
    let pr = f64::from(m.percent) / 100.0;
    let (mean, dev) = (n as f64 * pr, sd * (n as f64 * pr * (1.0 - pr)).sqrt());
    let mut last = String::new();
    for attempt in 0..tries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let id = uuid();
        let mut rc = rc.clone();
        rc.request.path = with_query(&rc.request.path, "gateway-api-conformance-request-id", &id);
        if let Some(e) = &mut rc.expected_request {
            e.path = with_query(&e.path, "gateway-api-conformance-request-id", &id);
        }
        let marks: Vec<usize> = env.pods_of(&ns, &m.name).iter().map(|p| p.log_len()).collect();
        let results = fan_out(n, conc, |_| eventually(1, || async { judge::probe(env, &rc).await.map(|_| ()) })).await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            return Err(format!("{}: a request failed: {e}", rc.request.path));
        }
        // Mirrors are sent asynchronously: let the count settle.
        let mut count = mirror_count(env, &ns, &m.name, &rc.request.path, &marks);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let again = mirror_count(env, &ns, &m.name, &rc.request.path, &marks);
            if again == count {
                break;
            }
            count = again;
        }
        if (count as f64 - mean).abs() <= dev {
            return Ok(());
        }
        last = format!("{} mirrored {count} of {n} (expected {mean:.0} ± {dev:.1})", rc.request.path);
    }
    Err(format!("mirror percentage: {tries} attempts failed; last: {last}"))
}

/// retry-uuid: a fresh `uuid` query parameter on every probe.
pub async fn retry_entry(env: &Env, rc: &ReqCase, p: &Value) -> Result<(), String> {
    let key = p["queryParam"].as_str().unwrap_or("uuid").to_owned();
    eventually(judge::CONSECUTIVE_SUCCESSES, || {
        let mut rc = rc.clone();
        rc.request.path = with_query(&rc.request.path, &key, &uuid());
        async move { judge::probe(env, &rc).await.map(|_| ()) }
    })
    .await
}

/// tls-request-must-fail: one HTTPS request whose round trip must error.
pub async fn tls_must_fail(env: &Env, p: &Value) -> Result<(), String> {
    let rc = ReqCase {
        gateway: obj(&p["gateway"])?,
        listener_port: p["listenerPort"].as_u64().and_then(|n| u16::try_from(n).ok()),
        scheme: Some("https".into()),
        server_name: p["serverName"].as_str().map(str::to_owned),
        client_cert_from_secret: if p["clientCertFromSecret"].is_null() {
            None
        } else {
            Some(obj(&p["clientCertFromSecret"])?)
        },
        request: serde_json::from_value(p["request"].clone()).map_err(|e| format!("harness: {e}"))?,
        ..Default::default()
    };
    match judge::send(env, &rc).await {
        Ok(c) => Err(format!(
            "{}: expected the HTTPS round trip (SNI {}) to fail, got HTTP {}",
            p["testCaseName"].as_str().unwrap_or(""),
            rc.server_name.as_deref().unwrap_or(""),
            c.status
        )),
        Err(e) if rc.client_cert_from_secret.is_some() && !e.ends_with(super::client::CERT_REQUESTED) => {
            Err(format!("the request failed ({e}) but the server never requested a client certificate"))
        }
        Err(_) => Ok(()),
    }
}

/// delete-resource-then-request.
pub async fn delete_then_request(env: &Env, p: &Value) -> Result<(), String> {
    let kind = p["delete"]["kind"].as_str().unwrap_or("");
    let r = obj(&p["delete"])?;
    let mut docs = env.docs();
    let before = docs.len();
    docs.retain(|d| !doc_is(d, kind, &r.namespace, &r.name));
    if docs.len() == before {
        return Err(format!("harness: no {kind} {r} to delete"));
    }
    env.apply(docs).await?;
    let reqs: Vec<ReqCase> = serde_json::from_value(p["thenRequests"].clone()).map_err(|e| format!("harness: {e}"))?;
    for rc in &reqs {
        judge::expect_consistent(env, rc).await.map_err(|e| format!("after deleting {kind} {r}: {e}"))?;
    }
    Ok(())
}
