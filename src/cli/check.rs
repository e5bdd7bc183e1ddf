//! `sluice check`: load, translate, and print each resource's status as `kubectl describe`
//! would show its conditions. Exit code 1 when anything failed to load or is not healthy.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use sluice::config;
use sluice::ir::status::{ResourceStatus, now_rfc3339};
use sluice::ir::translate::{Context, translate};
use sluice::runtime::Generations;

pub fn run(paths: &[PathBuf], json: bool) -> ExitCode {
    let loaded = config::load_paths(paths);
    let mut resources: Vec<_> = loaded.resources.into_iter().map(|l| l.resource).collect();
    Generations::default().assign(&mut resources);
    let ctx = Context {
        version: 1,
        now: now_rfc3339(),
        default_address: std::net::IpAddr::from([0, 0, 0, 0]),
        address_usable: Box::new(|_| true),
    };
    let snapshot = translate(&resources, &ctx);
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    let problems = snapshot.status.problems();
    if json {
        let out = serde_json::json!({"errors": errors, "problems": problems, "resources": snapshot.status.resources});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for e in &errors {
            println!("error: {e}");
        }
        for r in &snapshot.status.resources {
            print!("{}", describe(r));
        }
        if errors.is_empty() && problems.is_empty() {
            println!("OK: {} resources loaded, every status condition is healthy", resources.len());
        } else {
            println!("{} load error(s), {} unhealthy condition(s):", errors.len(), problems.len());
            for p in &problems {
                println!("  {p}");
            }
        }
    }
    if errors.is_empty() && problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn describe(r: &ResourceStatus) -> String {
    let mut out = String::new();
    let name = match &r.metadata.namespace {
        Some(ns) => format!("{ns}/{}", r.metadata.name),
        None => r.metadata.name.clone(),
    };
    let _ = writeln!(out, "{} {name} (generation {})", r.kind, r.metadata.generation);
    let s = &r.status;
    if let Some(addrs) = s.get("addresses").and_then(|a| a.as_array()) {
        let list: Vec<_> = addrs.iter().filter_map(|a| a.get("value").and_then(|v| v.as_str())).collect();
        let _ = writeln!(out, "  Addresses: {}", list.join(", "));
    }
    conditions(&mut out, "  ", s.get("conditions"));
    for l in s.get("listeners").and_then(|l| l.as_array()).into_iter().flatten() {
        let _ = writeln!(
            out,
            "  Listener {}: attachedRoutes={}",
            l.get("name").and_then(|n| n.as_str()).unwrap_or("?"),
            l.get("attachedRoutes").and_then(serde_json::Value::as_i64).unwrap_or(0)
        );
        conditions(&mut out, "    ", l.get("conditions"));
    }
    for (field, label) in [("parents", "parentRef"), ("ancestors", "ancestorRef")] {
        for p in s.get(field).and_then(|l| l.as_array()).into_iter().flatten() {
            let r = p.get(label).cloned().unwrap_or_default();
            let _ = writeln!(
                out,
                "  Parent {} {}/{}{}:",
                r.get("kind").and_then(|v| v.as_str()).unwrap_or("Gateway"),
                r.get("namespace").and_then(|v| v.as_str()).unwrap_or(""),
                r.get("name").and_then(|v| v.as_str()).unwrap_or(""),
                r.get("sectionName").and_then(|v| v.as_str()).map(|s| format!(" section {s}")).unwrap_or_default()
            );
            conditions(&mut out, "    ", p.get("conditions"));
        }
    }
    out
}

fn conditions(out: &mut String, indent: &str, conds: Option<&serde_json::Value>) {
    for c in conds.and_then(|c| c.as_array()).into_iter().flatten() {
        let get = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let _ =
            writeln!(out, "{indent}{:<14} {:<6} {:<28} {}", get("type"), get("status"), get("reason"), get("message"));
    }
}
