//! The `custom:` procedures that change resources mid-test or wait on status.

use std::time::Duration;

use serde_json::{Value, json};

use super::case::{CondExp, ObjRef, StatusExp};
use super::setup::Env;
use super::status::{self, find, poll, status_timeout};

pub fn obj(v: &Value) -> Result<ObjRef, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("harness: bad params {v}: {e}"))
}

fn conds(v: &Value) -> Result<Vec<CondExp>, String> {
    serde_json::from_value(if v.is_null() { json!([]) } else { v.clone() })
        .map_err(|e| format!("harness: bad conditions: {e}"))
}

pub fn uuid() -> String {
    use rand::Rng as _;
    let n: u128 = rand::rng().random();
    let h = format!("{n:032x}");
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

/// Adds `key=value` to a path's query (Go `url.Values.Encode` keeps keys sorted; every use here
/// adds a key that sorts last or to an empty query).
pub fn with_query(path: &str, key: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{key}={value}")
}

pub fn doc_is(d: &Value, kind: &str, ns: &str, name: &str) -> bool {
    d["kind"] == kind && d["metadata"]["name"] == name && (ns.is_empty() || d["metadata"]["namespace"] == ns)
}

/// Sets `value` at a dotted path such as `spec.rules[0].backendRefs[0].name`.
fn set_path(v: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut cur = v;
    for seg in path.split('.') {
        let (name, idx) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        cur = &mut cur[name];
        if let Some(i) = idx {
            cur = cur.get_mut(i).ok_or_else(|| format!("harness: patch path {path}: no index {i}"))?;
        }
    }
    *cur = value;
    Ok(())
}

/// Applies `edit` to the one document `kind ns/name` and re-applies the whole set.
async fn patch(
    env: &Env,
    kind: &str,
    ns: &str,
    name: &str,
    edit: impl FnOnce(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let mut docs = env.docs();
    let d = docs
        .iter_mut()
        .find(|d| doc_is(d, kind, ns, name))
        .ok_or_else(|| format!("harness: no {kind} {ns}/{name} to patch"))?;
    edit(d)?;
    env.apply(docs).await
}

fn generation(env: &Env, kind: &str, ns: &str, name: &str) -> Result<i64, String> {
    Ok(find(&env.status(), kind, ns, name)?.metadata.generation)
}

/// Polls until `kind ns/name`'s conditions (route: every parent's) are at the current generation
/// and the expected ones hold.
async fn current_with(
    env: &Env,
    kind: &str,
    ns: &str,
    name: &str,
    exp: &[CondExp],
    parent: Option<&ObjRef>,
) -> Result<(), String> {
    poll(status_timeout(), Duration::from_millis(100), || {
        let st = env.status();
        let r = find(&st, kind, ns, name)?;
        let g = r.metadata.generation;
        let what = format!("{kind} {ns}/{name}");
        if let Some(p) = parent {
            let entry = status::route_parent(r, p).ok_or_else(|| format!("{what}: no parent entry for {p}"))?;
            status::conditions(&what, &entry["conditions"], exp, g)?;
            for e in r.status["parents"].as_array().into_iter().flatten() {
                if !status::all_current(&e["conditions"], g) {
                    return Err(format!("{what}: parent conditions not at generation {g}: {}", e["conditions"]));
                }
            }
            return Ok(());
        }
        status::conditions(&what, &r.status["conditions"], exp, g)?;
        if status::all_current(&r.status["conditions"], g) {
            Ok(())
        } else {
            Err(format!("{what}: conditions not at generation {g}: {}", r.status["conditions"]))
        }
    })
    .await
}

fn accepted_any() -> Vec<CondExp> {
    vec![CondExp { type_: "Accepted".into(), status: None, reason: None }]
}

/// observed-generation-bump (GatewayClass, Gateway or HTTPRoute variant).
pub async fn generation_bump(env: &Env, p: &Value) -> Result<(), String> {
    let after = conds(&p["conditionsAfter"])?;
    let (kind, ns, name, parent) = if !p["gatewayClass"].is_null() {
        ("GatewayClass", String::new(), obj(&p["gatewayClass"])?.name, None)
    } else if !p["route"].is_null() {
        let r = obj(&p["route"])?;
        ("HTTPRoute", r.namespace, r.name, Some(obj(&p["gateway"])?))
    } else {
        let g = obj(&p["gateway"])?;
        ("Gateway", g.namespace, g.name, None)
    };
    let infra = vec!["gateway-conformance-infra".to_owned()];
    if kind != "GatewayClass" {
        status::namespaces_ready(env, &infra).await?;
    }
    let before_exp = if kind == "GatewayClass" { accepted_any() } else { vec![] };
    current_with(env, kind, &ns, &name, &before_exp, parent.as_ref())
        .await
        .map_err(|e| format!("before patch: {e}"))?;
    let before = generation(env, kind, &ns, &name)?;
    patch(env, kind, &ns, &name, |d| {
        if let Some(l) = p.get("appendListener").filter(|l| !l.is_null()) {
            d["spec"]["listeners"].as_array_mut().ok_or("no listeners")?.push(l.clone());
            Ok(())
        } else {
            set_path(d, p["patch"]["path"].as_str().unwrap_or(""), p["patch"]["value"].clone())
        }
    })
    .await?;
    if kind == "Gateway" {
        status::namespaces_ready(env, &infra).await.map_err(|e| format!("after patch: {e}"))?;
    }
    current_with(env, kind, &ns, &name, &after, parent.as_ref()).await.map_err(|e| format!("after patch: {e}"))?;
    let now = generation(env, kind, &ns, &name)?;
    if now == before {
        return Err(format!("{kind} {ns}/{name}: metadata.generation stayed {before} after the spec patch"));
    }
    Ok(())
}

/// patch-gateway-then-status.
pub async fn patch_gateway(env: &Env, p: &Value) -> Result<(), String> {
    let gw = obj(&p["gateway"])?;
    let infra = vec![gw.namespace.clone()];
    status::namespaces_ready(env, &infra).await.map_err(|e| format!("before patch: {e}"))?;
    current_with(env, "Gateway", &gw.namespace, &gw.name, &[], None).await?;
    let before = generation(env, "Gateway", &gw.namespace, &gw.name)?;
    patch(env, "Gateway", &gw.namespace, &gw.name, |d| {
        let ls = d["spec"]["listeners"].as_array_mut().ok_or("no listeners")?;
        if let Some(l) = p.get("appendListener") {
            ls.push(l.clone());
        }
        for r in p["removeListeners"].as_array().into_iter().flatten() {
            ls.retain(|l| l["name"] != *r);
        }
        Ok(())
    })
    .await?;
    status::namespaces_ready(env, &infra).await.map_err(|e| format!("after patch: {e}"))?;
    let exps: Vec<StatusExp> =
        serde_json::from_value(p["expectStatus"].clone()).map_err(|e| format!("harness: {e}"))?;
    status::expect_all(env, &exps).await.map_err(|e| format!("after patch: {e}"))?;
    current_with(env, "Gateway", &gw.namespace, &gw.name, &[], None).await?;
    if generation(env, "Gateway", &gw.namespace, &gw.name)? == before {
        return Err(format!("Gateway {gw}: metadata.generation stayed {before} after the patch"));
    }
    Ok(())
}

/// no-accepted-parents (`HTTPRouteMustHaveNoAcceptedParents`).
pub async fn no_accepted_parents(env: &Env, p: &Value) -> Result<(), String> {
    let r = obj(&p["route"])?;
    let mut empty_before = false;
    poll(status_timeout(), Duration::from_secs(1), || {
        let st = env.status();
        let s = find(&st, "HTTPRoute", &r.namespace, &r.name)?;
        let parents: Vec<&Value> = s.status["parents"].as_array().into_iter().flatten().collect();
        if parents.is_empty() {
            let ok = empty_before;
            empty_before = true;
            return if ok { Ok(()) } else { Err(format!("HTTPRoute {r}: no parents yet")) };
        }
        empty_before = false;
        let g = s.metadata.generation;
        let [only] = parents.as_slice() else {
            return Err(format!("HTTPRoute {r}: expected at most one parent, got {}", parents.len()));
        };
        let accepted = only["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Accepted");
        match accepted {
            Some(c) if c["status"] == "False" && status::all_current(&only["conditions"], g) => Ok(()),
            _ => Err(format!("HTTPRoute {r}: parent is not Accepted=False at generation {g}: {}", only["conditions"])),
        }
    })
    .await
}

/// gateway-zero-routes (`GatewayMustHaveZeroRoutes`).
pub async fn zero_routes(env: &Env, p: &Value) -> Result<(), String> {
    let g = obj(&p["gateway"])?;
    poll(status_timeout(), Duration::from_millis(100), || {
        let st = env.status();
        let s = find(&st, "Gateway", &g.namespace, &g.name)?;
        if !status::all_current(&s.status["conditions"], s.metadata.generation) {
            return Err(format!("Gateway {g}: conditions not at generation {}", s.metadata.generation));
        }
        let ls: Vec<&Value> = s.status["listeners"].as_array().into_iter().flatten().collect();
        match ls.as_slice() {
            [] => Ok(()),
            [l] if l["attachedRoutes"] == 0 => Ok(()),
            _ => Err(format!("Gateway {g}: expected zero attached routes, listeners: {}", s.status["listeners"])),
        }
    })
    .await
}

/// gateway-address-assigned.
pub async fn address_assigned(env: &Env, p: &Value) -> Result<(), String> {
    let g = obj(&p["gateway"])?;
    status::namespaces_ready(env, std::slice::from_ref(&g.namespace)).await?;
    current_with(env, "Gateway", &g.namespace, &g.name, &[], None).await?;
    poll(status_timeout(), Duration::from_millis(100), || {
        let st = env.status();
        let s = find(&st, "Gateway", &g.namespace, &g.name)?;
        let ok = s.status["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["type"].as_str().is_some_and(|t| !t.is_empty()));
        if ok {
            Ok(())
        } else {
            Err(format!("Gateway {g}: no status.addresses entry with a type: {}", s.status["addresses"]))
        }
    })
    .await
}

pub const USABLE_ADDRESS: &str = "127.0.0.2";
pub const UNUSABLE_ADDRESS: &str = "192.0.2.1";

/// static-addresses-overlay: the operator pools are one spare loopback address (usable) and a
/// documentation address that is not on this host (unusable; Sluice only tries to bind it).
pub fn static_overlay(docs: &mut [Value]) {
    for d in docs.iter_mut().filter(|d| d["kind"] == "Gateway") {
        let Some(addrs) = d["spec"]["addresses"].as_array_mut() else { continue };
        for a in addrs.iter_mut() {
            match a["value"].as_str() {
                Some("PLACEHOLDER_UNUSABLE_ADDRS") => *a = json!({"type": "IPAddress", "value": UNUSABLE_ADDRESS}),
                Some("PLACEHOLDER_USABLE_ADDRS") => *a = json!({"type": "IPAddress", "value": USABLE_ADDRESS}),
                _ => {}
            }
        }
    }
}

/// static-addresses-steps.
pub async fn static_steps(env: &Env, p: &Value) -> Result<(), String> {
    let g = obj(&p["gateway"])?;
    let (ns, name) = (g.namespace.as_str(), g.name.as_str());
    current_with(env, "Gateway", ns, name, &conds(&p["step1Conditions"])?, None)
        .await
        .map_err(|e| format!("step 1: {e}"))?;
    let drop_value = |v: &'static str| {
        move |d: &mut Value| -> Result<(), String> {
            d["spec"]["addresses"].as_array_mut().ok_or("no addresses")?.retain(|a| a["value"] != v);
            Ok(())
        }
    };
    patch(env, "Gateway", ns, name, drop_value("fake address teehee!")).await?;
    current_with(env, "Gateway", ns, name, &conds(&p["step2Conditions"])?, None)
        .await
        .map_err(|e| format!("step 2: {e}"))?;
    patch(env, "Gateway", ns, name, drop_value(UNUSABLE_ADDRESS)).await?;
    current_with(env, "Gateway", ns, name, &conds(&p["step3Conditions"])?, None)
        .await
        .map_err(|e| format!("step 3: {e}"))?;
    let exps: Vec<StatusExp> = serde_json::from_value(p["step3Status"].clone()).map_err(|e| format!("harness: {e}"))?;
    status::expect_all(env, &exps).await.map_err(|e| format!("step 3: {e}"))?;
    poll(status_timeout(), Duration::from_millis(100), || {
        let st = env.status();
        let s = find(&st, "Gateway", ns, name)?;
        let addrs: Vec<&Value> = s.status["addresses"].as_array().into_iter().flatten().collect();
        match addrs.as_slice() {
            [a] if a["value"] == USABLE_ADDRESS && a["type"] == "IPAddress" => Ok(()),
            _ => Err(format!(
                "step 4: expected status.addresses [IPAddress {USABLE_ADDRESS}], got {}",
                s.status["addresses"]
            )),
        }
    })
    .await
}

/// manual-endpointslices: fill the selector-less IPv4 slices with the Deployment's pods (one
/// slice per pod, because each echo pod listens on its own ports); IPv6 slices stay empty.
pub async fn manual_endpointslices(env: &Env, p: &Value) -> Result<(), String> {
    let dep = obj(&p["deployment"])?;
    let pods = env.pods_of(&dep.namespace, &dep.name);
    if pods.is_empty() {
        return Err(format!("harness: no pods for Deployment {dep}"));
    }
    let names: Vec<&str> = p["endpointSlices"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut docs = env.docs();
    let mut extra = Vec::new();
    for d in docs.iter_mut() {
        let is_target = d["kind"] == "EndpointSlice"
            && names.iter().any(|n| d["metadata"]["name"] == *n)
            && d["metadata"]["namespace"] == dep.namespace.as_str();
        if !is_target || d["addressType"] != "IPv4" {
            continue;
        }
        let service = d["metadata"]["labels"]["kubernetes.io/service-name"].as_str().unwrap_or("").to_owned();
        let name = d["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let original = d["ports"].clone();
        for (i, pod) in pods.iter().enumerate() {
            let ports: Vec<Value> = original
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|sp| {
                    let mut sp = sp.clone();
                    sp["port"] = json!(pod.port(sp["port"].as_i64()?)?);
                    Some(sp)
                })
                .collect();
            let slice_name = if i == 0 { name.clone() } else { format!("{name}-{}", pod.name) };
            let slice = super::setup::slice_doc(&slice_name, &dep.namespace, &service, pod, ports);
            if i == 0 {
                *d = slice;
            } else {
                extra.push(slice);
            }
        }
    }
    docs.extend(extra);
    env.apply(docs).await
}
