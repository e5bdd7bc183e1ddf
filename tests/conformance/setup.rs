//! One case's world: a fresh Runtime, echo pods for the Deployments, EndpointSlices for the
//! Services that select them, the suite's TLS material, and the manifests.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use serde_json::{Value, json};
use sluice::api::Resource;
use sluice::ir::status::ResourceStatus;
use sluice::runtime::{BindMode, Runtime};

use super::case::{Case, ObjRef};
use crate::support::echo::{self, EchoConfig, EchoHandle, EchoTls};
use crate::support::tls::TlsMaterial;

pub const CLASS_NAME: &str = "sluice";
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One echo pod.
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub deployment: String,
    pub labels: BTreeMap<String, String>,
    pub echo: EchoHandle,
}

impl Pod {
    /// The echo listener behind a container port (3000 http, 3001 h2c, 8443 https).
    pub fn port(&self, container_port: i64) -> Option<u16> {
        match container_port {
            3000 => Some(self.echo.http_port),
            3001 => Some(self.echo.h2c_port),
            8443 => self.echo.https_port,
            _ => None,
        }
    }

    /// How many logged RequestURIs equal `uri`, from index `from` on.
    pub fn log_count(&self, uri: &str, from: usize) -> usize {
        let log = self.echo.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().skip(from).filter(|l| *l == uri).count()
    }

    pub fn log_len(&self) -> usize {
        self.echo.log.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

pub struct Env {
    pub rt: Arc<Runtime>,
    /// In Kubernetes mode: the fake API server that feeds `rt` and holds the status.
    cluster: Option<super::kube_mode::Cluster>,
    pub tls: Arc<TlsMaterial>,
    pub pods: Vec<Pod>,
    /// The applied manifests (without Deployments and generated EndpointSlices).
    docs: Mutex<Vec<Value>>,
}

impl Env {
    /// Loads base + case manifests, starts the echo pods and applies everything.
    pub async fn new(dir: &Path, case: &Case, tls: Arc<TlsMaterial>) -> Result<Env, String> {
        let mut files = vec![dir.join("base/manifests.yaml")];
        files.extend(case.manifests.iter().map(|m| dir.join("manifests").join(m)));
        let mut docs = vec![json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": CLASS_NAME},
            "spec": {"controllerName": sluice::ir::status::CONTROLLER_NAME},
        })];
        docs.extend(parse_yaml("tls-material", &tls.yaml)?);
        for f in &files {
            let text = std::fs::read_to_string(f).map_err(|e| format!("read {}: {e}", f.display()))?;
            let text = text
                .replace("{GATEWAY_CLASS_NAME}", CLASS_NAME)
                .replace("{GATEWAY_CONTROLLER_NAME}", sluice::ir::status::CONTROLLER_NAME);
            docs.extend(parse_yaml(&f.display().to_string(), &text)?);
        }
        let (deployments, mut docs): (Vec<Value>, Vec<Value>) =
            docs.into_iter().partition(|d| d["kind"] == "Deployment");
        for d in docs.iter_mut().filter(|d| d["kind"] == "Gateway") {
            d["spec"]["gatewayClassName"] = json!(CLASS_NAME);
        }
        let docs = dedupe(docs);
        let mut pods = Vec::new();
        for d in &deployments {
            pods.extend(start_pods(d, &docs).await?);
        }
        let rt = Runtime::new(BindMode::Ephemeral(LOOPBACK));
        let cluster =
            if super::kube_mode::selected() { Some(super::kube_mode::Cluster::start(rt.clone()).await?) } else { None };
        let env = Env { rt, cluster, tls, pods, docs: Mutex::new(Vec::new()) };
        Ok(env.with_docs(docs))
    }

    fn with_docs(self, docs: Vec<Value>) -> Self {
        *self.docs.lock().unwrap_or_else(PoisonError::into_inner) = docs;
        self
    }

    pub fn docs(&self) -> Vec<Value> {
        self.docs.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the whole resource set with `docs` (+ generated EndpointSlices) and applies it.
    pub async fn apply(&self, docs: Vec<Value>) -> Result<(), String> {
        *self.docs.lock().unwrap_or_else(PoisonError::into_inner) = docs.clone();
        let mut all = docs;
        all.extend(self.endpoint_slices(&all));
        if let Some(cluster) = &self.cluster {
            return cluster.apply(&all).await;
        }
        let mut resources = Vec::new();
        let mut errors = Vec::new();
        for v in all {
            let what = format!("{} {}/{}", v["kind"], v["metadata"]["namespace"], v["metadata"]["name"]);
            match Resource::from_value(v) {
                Ok(r) => resources.push(r),
                Err(e) => errors.push(format!("{what}: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(format!("Sluice could not load manifests: {}", errors.join("; ")));
        }
        self.rt.apply(resources).await;
        Ok(())
    }

    pub fn status(&self) -> Vec<ResourceStatus> {
        match &self.cluster {
            Some(cluster) => cluster.status(),
            None => self.rt.snapshot().status.resources.clone(),
        }
    }

    pub fn pods_of(&self, namespace: &str, deployment: &str) -> Vec<&Pod> {
        self.pods.iter().filter(|p| p.namespace == namespace && p.deployment == deployment).collect()
    }

    /// One EndpointSlice per (Service, selected pod), ports mapped to the pod's echo listeners.
    fn endpoint_slices(&self, docs: &[Value]) -> Vec<Value> {
        let mut out = Vec::new();
        for svc in docs.iter().filter(|d| d["kind"] == "Service") {
            let Some(selector) = svc["spec"]["selector"].as_object().filter(|s| !s.is_empty()) else {
                continue;
            };
            let ns = svc["metadata"]["namespace"].as_str().unwrap_or("default");
            let name = svc["metadata"]["name"].as_str().unwrap_or("");
            for pod in self.pods.iter().filter(|p| {
                p.namespace == ns && selector.iter().all(|(k, v)| p.labels.get(k).map(String::as_str) == v.as_str())
            }) {
                let ports: Vec<Value> = svc["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|sp| {
                        let target = sp["targetPort"].as_i64().or(sp["port"].as_i64())?;
                        let mut p = json!({"port": pod.port(target)?, "protocol": "TCP"});
                        if let Some(n) = sp["name"].as_str() {
                            p["name"] = json!(n);
                        }
                        if let Some(a) = sp["appProtocol"].as_str() {
                            p["appProtocol"] = json!(a);
                        }
                        Some(p)
                    })
                    .collect();
                out.push(slice_doc(&format!("{name}-{}", pod.name), ns, name, pod, ports));
            }
        }
        out
    }

    /// The address a client uses for a Gateway: (status address, logical port, real socket).
    pub fn gateway_target(&self, gw: &ObjRef, port: Option<u16>) -> Result<(String, u16, SocketAddr), String> {
        let port = match port {
            Some(p) => p,
            None => self
                .docs()
                .iter()
                .find(|d| {
                    d["kind"] == "Gateway"
                        && d["metadata"]["name"] == gw.name.as_str()
                        && d["metadata"]["namespace"] == gw.namespace.as_str()
                })
                .and_then(|d| d["spec"]["listeners"][0]["port"].as_u64())
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("Gateway {gw} has no first listener port"))?,
        };
        let status = self.status();
        let addr = status
            .iter()
            .find(|r| {
                r.kind == "Gateway"
                    && r.metadata.name == gw.name
                    && r.metadata.namespace.as_deref() == Some(&gw.namespace)
            })
            .and_then(|r| r.status["addresses"].as_array().cloned())
            .into_iter()
            .flatten()
            .find(|a| a["type"].as_str().is_some_and(|t| !t.is_empty()))
            .and_then(|a| a["value"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("Gateway {gw} has no status.addresses entry with a type"))?;
        let sock = self
            .rt
            .listener_addr(&gw.namespace, &gw.name, port)
            .ok_or_else(|| format!("Gateway {gw} has no socket bound for port {port}"))?;
        Ok((addr, port, sock))
    }

    /// A Secret's (tls.crt, tls.key) PEM from the suite's generated material.
    pub fn secret(&self, r: &ObjRef) -> Result<(String, String), String> {
        self.tls
            .secrets
            .get(&(r.namespace.clone(), r.name.clone()))
            .cloned()
            .ok_or_else(|| format!("harness: no generated Secret {r}"))
    }
}

pub fn slice_doc(name: &str, ns: &str, service: &str, pod: &Pod, ports: Vec<Value>) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": [{
            "addresses": [LOOPBACK.to_string()],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "targetRef": {"kind": "Pod", "name": pod.name, "namespace": pod.namespace},
        }],
        "ports": ports,
    })
}

pub fn parse_yaml(name: &str, text: &str) -> Result<Vec<Value>, String> {
    let docs = serde_saphyr::from_multiple_with_options::<Value>(text, sluice::config::yaml_options())
        .map_err(|e| format!("parse {name}: {e}"))?;
    Ok(docs.into_iter().filter(|d| d.is_object()).collect())
}

/// Later documents replace earlier ones with the same kind, namespace and name.
fn dedupe(docs: Vec<Value>) -> Vec<Value> {
    let key = |d: &Value| format!("{}/{}/{}", d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]);
    let mut out: Vec<Value> = Vec::new();
    for d in docs {
        match out.iter_mut().find(|o| key(o) == key(&d)) {
            Some(o) => *o = d,
            None => out.push(d),
        }
    }
    out
}

fn random_name(len: usize) -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..len).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

/// Starts the echo pods of an echo-basic HTTP Deployment (others have no pods here).
async fn start_pods(d: &Value, docs: &[Value]) -> Result<Vec<Pod>, String> {
    let ns = d["metadata"]["namespace"].as_str().unwrap_or("default").to_owned();
    let name = d["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    let env: BTreeMap<String, String> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["name"].as_str()?.to_owned(), e["value"].as_str()?.to_owned())))
        .collect();
    let image = container["image"].as_str().unwrap_or("");
    let other_mode = ["GRPC_ECHO_SERVER", "TCP_ECHO_SERVER", "UDP_ECHO_SERVER"]
        .iter()
        .any(|k| env.get(*k).is_some_and(|v| !v.is_empty()));
    if !image.contains("gateway-api/echo-basic") || other_mode {
        return Ok(Vec::new());
    }
    let file = |var: &str| -> Result<Option<String>, String> {
        match env.get(var) {
            Some(path) => mounted_file(d, path, &ns, docs).map(Some),
            None => Ok(None),
        }
    };
    let labels: BTreeMap<String, String> = d["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    let replicas = d["spec"]["replicas"].as_u64().unwrap_or(1);
    let hash = random_name(10);
    let mut pods = Vec::new();
    for _ in 0..replicas {
        let tls = match (file("TLS_SERVER_CERT")?, file("TLS_SERVER_PRIVKEY")?) {
            (Some(cert_pem), Some(key_pem)) => {
                Some(EchoTls { cert_pem, key_pem, client_ca_pem: file("TLS_CLIENT_CACERTS")? })
            }
            _ => None,
        };
        let pod = format!("{name}-{hash}-{}", random_name(5));
        let echo = echo::start(EchoConfig {
            namespace: ns.clone(),
            pod: pod.clone(),
            service: String::new(),
            bind_ip: LOOPBACK,
            tls,
        })
        .await
        .map_err(|e| format!("start echo {ns}/{pod}: {e}"))?;
        pods.push(Pod { name: pod, namespace: ns.clone(), deployment: name.clone(), labels: labels.clone(), echo });
    }
    Ok(pods)
}

/// The content of a file a Deployment mounts from a Secret or ConfigMap volume.
fn mounted_file(d: &Value, path: &str, ns: &str, docs: &[Value]) -> Result<String, String> {
    let spec = &d["spec"]["template"]["spec"];
    let err = || format!("Deployment {ns}/{}: cannot resolve mounted file {path}", d["metadata"]["name"]);
    let (mount, rest) = spec["containers"][0]["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|m| {
            let mp = m["mountPath"].as_str()?;
            let rest = path.strip_prefix(mp)?.trim_start_matches('/');
            Some((m["name"].as_str()?, rest))
        })
        .ok_or_else(err)?;
    let vol = spec["volumes"].as_array().into_iter().flatten().find(|v| v["name"] == mount).ok_or_else(err)?;
    let (kind, obj) = if vol["secret"].is_object() {
        ("Secret", vol["secret"]["secretName"].as_str())
    } else {
        ("ConfigMap", vol["configMap"]["name"].as_str())
    };
    let source = if kind == "Secret" { &vol["secret"] } else { &vol["configMap"] };
    let key = source["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["path"] == rest)
        .and_then(|i| i["key"].as_str())
        .unwrap_or(rest);
    let doc = docs
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["namespace"] == ns && o["metadata"]["name"].as_str() == obj)
        .ok_or_else(err)?;
    if let Some(s) = doc["stringData"][key].as_str() {
        return Ok(s.to_owned());
    }
    let data = doc["data"][key].as_str().ok_or_else(err)?;
    if kind == "ConfigMap" {
        return Ok(data.to_owned());
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| err())?;
    String::from_utf8(bytes).map_err(|_| err())
}
