//! Status expectations (README "Conventions" and contract 5).

use std::time::{Duration, Instant};

use serde_json::Value;
use sluice::ir::status::{CONTROLLER_NAME, ResourceStatus};

use super::case::{CondExp, ObjRef, StatusExp};
use super::setup::Env;

const GROUP: &str = "gateway.networking.k8s.io";

/// How long status polls run. Status is computed synchronously by `Runtime::apply`, so a wrong
/// status cannot heal while nothing is re-applied; the cluster timeouts (60s) would only slow
/// failing runs down. SLUICE_CONFORMANCE_STATUS_SECS overrides.
pub fn status_timeout() -> Duration {
    std::env::var("SLUICE_CONFORMANCE_STATUS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_secs)
}

/// Polls `check` every `interval` until it passes or `timeout` elapses (last error returned).
pub async fn poll<F>(timeout: Duration, interval: Duration, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Result<(), String>,
{
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return Ok(()),
            Err(e) if start.elapsed() >= timeout => return Err(e),
            Err(_) => tokio::time::sleep(interval).await,
        }
    }
}

pub fn find<'a>(st: &'a [ResourceStatus], kind: &str, ns: &str, name: &str) -> Result<&'a ResourceStatus, String> {
    st.iter()
        .find(|r| {
            r.kind == kind
                && r.metadata.name == name
                && (ns.is_empty() || r.metadata.namespace.as_deref().unwrap_or("") == ns)
        })
        .ok_or_else(|| format!("no status for {kind} {ns}/{name}"))
}

fn show(c: &Value) -> String {
    format!(
        "{}={} ({}, observedGeneration {})",
        c["type"].as_str().unwrap_or("?"),
        c["status"].as_str().unwrap_or("?"),
        c["reason"].as_str().unwrap_or(""),
        c["observedGeneration"]
    )
}

/// Every expected condition present with its status, reason (if given) and current generation.
pub fn conditions(what: &str, conds: &Value, exp: &[CondExp], generation: i64) -> Result<(), String> {
    let list: Vec<&Value> = conds.as_array().into_iter().flatten().collect();
    for e in exp {
        let Some(c) = list.iter().find(|c| c["type"] == e.type_.as_str()) else {
            let have: Vec<String> = list.iter().map(|c| show(c)).collect();
            return Err(format!("{what}: condition {} missing (have {have:?})", e.type_));
        };
        let want = format!(
            "{}={}{}",
            e.type_,
            e.status.as_deref().unwrap_or("<any>"),
            e.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
        );
        let status_ok = e.status.as_deref().is_none_or(|s| c["status"] == s);
        let reason_ok = e.reason.as_deref().is_none_or(|r| c["reason"] == r);
        if !status_ok || !reason_ok {
            return Err(format!("{what}: expected {want}, got {}", show(c)));
        }
        if c["observedGeneration"].as_i64() != Some(generation) {
            return Err(format!(
                "{what}: {} observedGeneration is {}, metadata.generation is {generation}",
                e.type_, c["observedGeneration"]
            ));
        }
    }
    Ok(())
}

/// Whether every condition in `conds` is at `generation`.
pub fn all_current(conds: &Value, generation: i64) -> bool {
    conds.as_array().into_iter().flatten().all(|c| c["observedGeneration"].as_i64() == Some(generation))
}

/// The `status.parents` entry of a route for a Gateway (controllerName, group/kind/name/namespace).
pub fn route_parent<'a>(r: &'a ResourceStatus, parent: &ObjRef) -> Option<&'a Value> {
    let route_ns = r.metadata.namespace.clone().unwrap_or_default();
    r.status["parents"].as_array()?.iter().find(|p| {
        let pr = &p["parentRef"];
        p["controllerName"] == CONTROLLER_NAME
            && pr["group"].as_str().unwrap_or(GROUP) == GROUP
            && pr["kind"].as_str().unwrap_or("Gateway") == "Gateway"
            && pr["name"] == parent.name.as_str()
            && pr["namespace"].as_str().unwrap_or(&route_ns) == parent.namespace
    })
}

/// Checks one status expectation once.
pub fn check(st: &[ResourceStatus], e: &StatusExp) -> Result<(), String> {
    let r = find(st, &e.kind, &e.namespace, &e.name)?;
    let generation = r.metadata.generation;
    let who = format!("{} {}/{}", e.kind, e.namespace, e.name);
    match e.kind.as_str() {
        "HTTPRoute" => {
            let parent = e.parent.as_ref().ok_or("HTTPRoute expectation without parent")?;
            let p = route_parent(r, parent).ok_or_else(|| {
                format!("{who}: no status.parents entry for Gateway {parent} (parents: {})", r.status["parents"])
            })?;
            conditions(&format!("{who} parent {}", parent.name), &p["conditions"], &e.conditions, generation)
        }
        "BackendTLSPolicy" => {
            let anc = e.ancestor.as_ref().ok_or("BackendTLSPolicy expectation without ancestor")?;
            let a = r.status["ancestors"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| {
                    let ar = &a["ancestorRef"];
                    ar["name"] == anc.name.as_str() && ar["namespace"].as_str().unwrap_or(&e.namespace) == anc.namespace
                })
                .ok_or_else(|| {
                    format!("{who}: no status.ancestors entry for {anc} (ancestors: {})", r.status["ancestors"])
                })?;
            conditions(&format!("{who} ancestor {}", anc.name), &a["conditions"], &e.conditions, generation)
        }
        _ => {
            conditions(&who, &r.status["conditions"], &e.conditions, generation)?;
            if let Some(ls) = &e.listeners {
                listeners(&who, r, ls, e.listeners_exact)?;
            }
            Ok(())
        }
    }
}

fn listeners(who: &str, r: &ResourceStatus, exp: &[super::case::ListenerExp], exact: bool) -> Result<(), String> {
    let actual: Vec<&Value> = r.status["listeners"].as_array().into_iter().flatten().collect();
    let names: Vec<&str> = actual.iter().filter_map(|l| l["name"].as_str()).collect();
    if exact && actual.len() != exp.len() {
        let want: Vec<&str> = exp.iter().map(|l| l.name.as_str()).collect();
        return Err(format!("{who}: expected exactly listeners {want:?}, got {names:?}"));
    }
    for l in exp {
        let what = format!("{who} listener {}", l.name);
        let a = actual
            .iter()
            .find(|a| a["name"] == l.name.as_str())
            .ok_or_else(|| format!("{what}: missing from status.listeners (have {names:?})"))?;
        if let Some(n) = l.attached_routes
            && a["attachedRoutes"].as_i64() != Some(n)
        {
            return Err(format!("{what}: expected attachedRoutes {n}, got {}", a["attachedRoutes"]));
        }
        if let Some(kinds) = &l.supported_kinds {
            let got: Vec<(String, String)> = a["supportedKinds"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| (k["group"].as_str().unwrap_or(GROUP).to_owned(), k["kind"].as_str().unwrap_or("").to_owned()))
                .collect();
            if kinds.is_empty() && !got.is_empty() {
                return Err(format!("{what}: expected no supportedKinds, got {got:?}"));
            }
            for k in kinds {
                let g = k.group.clone().unwrap_or_else(|| GROUP.into());
                if !got.iter().any(|(gg, kk)| *gg == g && *kk == k.kind) {
                    return Err(format!("{what}: supportedKinds {got:?} lacks {g}/{}", k.kind));
                }
            }
        }
        conditions(&what, &a["conditions"], &l.conditions, r.metadata.generation)?;
    }
    Ok(())
}

/// Polls all of `exps` until they hold together.
pub async fn expect_all(env: &Env, exps: &[StatusExp]) -> Result<(), String> {
    poll(status_timeout(), Duration::from_millis(100), || {
        let st = env.status();
        exps.iter().try_for_each(|e| check(&st, e))
    })
    .await
}

/// `NamespacesMustBeReady`: every Gateway in the namespaces (except those annotated
/// `gateway-api/skip-this-for-readiness: "true"`) Accepted=True and Programmed=True at the
/// current generation. Echo pods are ready once started.
pub async fn namespaces_ready(env: &Env, namespaces: &[String]) -> Result<(), String> {
    let docs = env.docs();
    let gateways: Vec<(String, String)> = docs
        .iter()
        .filter(|d| d["kind"] == "Gateway")
        .filter(|d| namespaces.iter().any(|n| d["metadata"]["namespace"] == n.as_str()))
        .filter(|d| d["metadata"]["annotations"]["gateway-api/skip-this-for-readiness"] != "true")
        .map(|d| {
            (
                d["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                d["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let exp = [
        CondExp { type_: "Accepted".into(), status: Some("True".into()), reason: None },
        CondExp { type_: "Programmed".into(), status: Some("True".into()), reason: None },
    ];
    poll(status_timeout(), Duration::from_millis(100), || {
        let st = env.status();
        gateways.iter().try_for_each(|(ns, name)| {
            let r = find(&st, "Gateway", ns, name)?;
            conditions(
                &format!("namespace readiness: Gateway {ns}/{name}"),
                &r.status["conditions"],
                &exp,
                r.metadata.generation,
            )
        })
    })
    .await
}
