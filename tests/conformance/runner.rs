//! One case from start to verdict.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::case::{Case, Custom, ReqCase};
use super::setup::Env;
use super::{custom, judge, status, traffic, ws};
use crate::support::tls::TlsMaterial;

pub enum Outcome {
    Pass,
    Fail(String),
    NotRun(String),
}

const KNOWN: &[&str] = &[
    "observed-generation-bump",
    "delete-resource-then-request",
    "backend-header-matches-pod",
    "mirror-request-id",
    "mirror-percentage",
    "retry-uuid",
    "manual-endpointslices",
    "timeout-status-equivalence",
    "weights",
    "infrastructure-propagation",
    "tls-client",
    "tls-request-must-fail",
    "patch-gateway-then-status",
    "gateway-address-assigned",
    "static-addresses-overlay",
    "static-addresses-steps",
    "needs-secret",
    "needs-ca-configmap",
    "no-accepted-parents",
    "gateway-zero-routes",
    "gateway-listeners-exact",
    "namespace-ready",
    "h2c",
    "websocket",
    "response-header-alternatives",
    "cors-preflight-not-forwarded",
    "listener-port-selection",
];

pub async fn run_case(dir: &Path, case: &Case, tls: Arc<TlsMaterial>) -> Outcome {
    if let Some(c) = case.custom.iter().find(|c| !KNOWN.contains(&c.kind.as_str())) {
        return Outcome::NotRun(format!("unknown custom kind {}", c.kind));
    }
    let mut unclaimed = Vec::new();
    match run(dir, case, tls, &mut unclaimed).await {
        Err(e) if unclaimed.is_empty() => Outcome::Fail(e),
        Err(e) => Outcome::Fail(format!("{e} [note: features not in GatewayClass supportedFeatures: {}]", unclaimed.join(", "))),
        Ok(()) if has(case, "infrastructure-propagation") => Outcome::NotRun(
            "status checked and passed, but the procedure needs the labels/annotations of a generated ServiceAccount, Pod \
             or Service, which a standalone in-process gateway does not create"
                .into(),
        ),
        Ok(()) => Outcome::Pass,
    }
}

fn has(case: &Case, kind: &str) -> bool {
    case.custom.iter().any(|c| c.kind == kind)
}

fn customs<'a>(case: &'a Case, kind: &'a str) -> impl Iterator<Item = &'a Custom> + 'a {
    case.custom.iter().filter(move |c| c.kind == kind)
}

fn label(i: usize, rc: &ReqCase) -> String {
    let m = if rc.request.method.is_empty() { "GET" } else { &rc.request.method };
    let host = if rc.request.host.is_empty() { String::new() } else { format!(" host {}", rc.request.host) };
    let name = if rc.test_case_name.is_empty() { String::new() } else { format!(" [{}]", rc.test_case_name) };
    format!("request #{} ({m} {}{host}{name})", i + 1, rc.request.path)
}

async fn run(dir: &Path, case: &Case, tls: Arc<TlsMaterial>, unclaimed: &mut Vec<String>) -> Result<(), String> {
    for c in customs(case, "needs-secret").chain(customs(case, "needs-ca-configmap")) {
        let key = (
            c.params["namespace"].as_str().unwrap_or("").to_owned(),
            c.params["name"].as_str().unwrap_or("").to_owned(),
        );
        let present = if c.kind == "needs-secret" { tls.secrets.contains_key(&key) } else { tls.ca.contains_key(&key) };
        if !present {
            return Err(format!("harness: generated TLS material lacks {} {}/{}", c.kind, key.0, key.1));
        }
    }
    let env = Env::new(dir, case, tls).await?;
    let mut docs = env.docs();
    if has(case, "static-addresses-overlay") {
        custom::static_overlay(&mut docs);
    }
    env.apply(docs).await?;
    let st = env.status();
    if let Ok(class) = status::find(&st, "GatewayClass", "", super::setup::CLASS_NAME) {
        let claimed: Vec<&str> = class.status["supportedFeatures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["name"].as_str().or(f.as_str()))
            .collect();
        unclaimed.extend(case.features.iter().filter(|f| !claimed.contains(&f.as_str())).cloned());
    }

    for c in customs(case, "static-addresses-steps") {
        custom::static_steps(&env, &c.params).await?;
    }
    for c in customs(case, "observed-generation-bump") {
        custom::generation_bump(&env, &c.params).await?;
    }
    for c in customs(case, "patch-gateway-then-status") {
        custom::patch_gateway(&env, &c.params).await?;
    }
    for c in customs(case, "namespace-ready") {
        let ns: Vec<String> = serde_json::from_value(c.params["namespaces"].clone()).unwrap_or_default();
        status::namespaces_ready(&env, &ns).await?;
    }
    let mut exps = case.status.clone();
    if has(case, "gateway-listeners-exact") {
        // The listed Gateway is the one whose every listener gives attachedRoutes.
        if let Some(e) = exps.iter_mut().find(|e| {
            e.kind == "Gateway" && e.listeners.as_ref().is_some_and(|l| l.iter().all(|l| l.attached_routes.is_some()))
        }) {
            e.listeners_exact = true;
        }
    }
    status::expect_all(&env, &exps).await?;
    for c in customs(case, "no-accepted-parents") {
        custom::no_accepted_parents(&env, &c.params).await?;
    }
    for c in customs(case, "gateway-zero-routes") {
        custom::zero_routes(&env, &c.params).await?;
    }
    for c in customs(case, "gateway-address-assigned") {
        custom::address_assigned(&env, &c.params).await?;
    }
    for c in customs(case, "manual-endpointslices") {
        custom::manual_endpointslices(&env, &c.params).await?;
    }

    let must_fail: Vec<&Custom> = customs(case, "tls-request-must-fail").collect();
    let futures = case.requests.iter().enumerate().map(|(i, rc)| {
        let env = &env;
        let must_fail = &must_fail;
        async move {
            let r = entry(env, case, rc).await.map_err(|e| format!("{}: {e}", label(i, rc)));
            r?;
            for c in must_fail
                .iter()
                .filter(|c| !rc.test_case_name.is_empty() && c.params["testCaseName"] == rc.test_case_name.as_str())
            {
                traffic::tls_must_fail(env, &c.params)
                    .await
                    .map_err(|e| format!("tls-request-must-fail after {}: {e}", label(i, rc)))?;
            }
            Ok::<(), String>(())
        }
    });
    for r in futures_util::future::join_all(futures).await {
        r?;
    }
    let names: Vec<&str> = case.requests.iter().map(|r| r.test_case_name.as_str()).collect();
    for c in must_fail.iter().filter(|c| !names.contains(&c.params["testCaseName"].as_str().unwrap_or(""))) {
        traffic::tls_must_fail(&env, &c.params).await.map_err(|e| format!("tls-request-must-fail: {e}"))?;
    }

    let first = case.requests.first();
    for c in customs(case, "weights") {
        traffic::weights(&env, first.ok_or("harness: weights without a request")?, &c.params).await?;
    }
    for c in customs(case, "backend-header-matches-pod") {
        traffic::header_matches_pod(&env, first.ok_or("harness: no request")?, &c.params).await?;
    }
    for c in customs(case, "delete-resource-then-request") {
        traffic::delete_then_request(&env, &c.params).await?;
    }
    for c in customs(case, "websocket") {
        ws::websocket(&env, &c.params).await.map_err(|e| format!("websocket: {e}"))?;
    }
    Ok(())
}

/// One request entry with the per-entry procedures that apply to it.
async fn entry(env: &Env, case: &Case, rc: &ReqCase) -> Result<(), String> {
    let param = |kind: &str| customs(case, kind).next().map(|c| c.params.clone()).unwrap_or(Value::Null);
    if has(case, "retry-uuid") {
        return traffic::retry_entry(env, rc, &param("retry-uuid")).await;
    }
    if has(case, "mirror-request-id") && !rc.mirrored_to.is_empty() {
        return traffic::mirror_request(env, rc, &param("mirror-request-id")).await;
    }
    judge::expect_consistent(env, rc).await?;
    if has(case, "mirror-percentage") && !rc.mirrored_to.is_empty() {
        traffic::mirror_percentage(env, rc, &param("mirror-percentage")).await?;
    }
    Ok(())
}
