//! Resource status as it would be written to Kubernetes: conditions with observedGeneration.

use serde::Serialize;

pub const CONTROLLER_NAME: &str = "sluice.dev/gateway-controller";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub observed_generation: i64,
    pub last_transition_time: String,
}

/// Builds conditions for one object generation at one time.
#[derive(Debug, Clone)]
pub struct Conditions {
    generation: i64,
    now: String,
}

impl Conditions {
    pub fn new(generation: i64, now: &str) -> Self {
        Self { generation, now: now.to_string() }
    }

    pub fn make(&self, type_: &str, ok: bool, reason: &str, message: impl Into<String>) -> Condition {
        Condition {
            type_: type_.to_string(),
            status: if ok { "True" } else { "False" }.to_string(),
            reason: reason.to_string(),
            message: message.into(),
            observed_generation: self.generation,
            last_transition_time: self.now.clone(),
        }
    }
}

/// One resource's status, ready to print or serve on `/status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    pub api_version: String,
    pub kind: String,
    pub metadata: StatusMeta,
    pub status: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusMeta {
    pub name: String,
    pub namespace: Option<String>,
    pub generation: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StatusReport {
    pub resources: Vec<ResourceStatus>,
}

impl StatusReport {
    pub fn find(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&ResourceStatus> {
        self.resources.iter().find(|r| {
            r.kind == kind
                && r.metadata.name == name
                && (namespace.is_none() || r.metadata.namespace.as_deref() == namespace)
        })
    }

    /// Every condition that is not healthy, as `Kind ns/name: Type=False (Reason): message` lines.
    /// Healthy means Accepted, ResolvedRefs and Programmed are not False and Conflicted is not True.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.resources {
            let who = match &r.metadata.namespace {
                Some(ns) => format!("{} {}/{}", r.kind, ns, r.metadata.name),
                None => format!("{} {}", r.kind, r.metadata.name),
            };
            collect_problems(&who, &r.status, &mut out);
        }
        out
    }
}

fn collect_problems(who: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Array(conds)) = map.get("conditions") {
                let scope = map
                    .get("name")
                    .and_then(|n| n.as_str())
                    .map(|n| format!(" listener {n}"))
                    .or_else(|| {
                        map.get("parentRef")
                            .or_else(|| map.get("ancestorRef"))
                            .and_then(|p| p.get("name"))
                            .and_then(|n| n.as_str())
                            .map(|n| format!(" parent {n}"))
                    })
                    .unwrap_or_default();
                for c in conds {
                    let t = c.get("type").and_then(|x| x.as_str()).unwrap_or("");
                    let s = c.get("status").and_then(|x| x.as_str()).unwrap_or("");
                    let bad = match t {
                        "Conflicted" => s == "True",
                        "Accepted" | "ResolvedRefs" | "Programmed" => s == "False",
                        _ => false,
                    };
                    if bad {
                        let reason = c.get("reason").and_then(|x| x.as_str()).unwrap_or("");
                        let msg = c.get("message").and_then(|x| x.as_str()).unwrap_or("");
                        out.push(format!("{who}{scope}: {t}={s} ({reason}): {msg}"));
                    }
                }
            }
            for (k, child) in map {
                if k != "conditions" {
                    collect_problems(who, child, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_problems(who, i, out)),
        _ => {}
    }
}

/// Seconds since the epoch as RFC 3339 (UTC), without a date library.
pub fn rfc3339(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil-from-days, after Howard Hinnant's public-domain algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
