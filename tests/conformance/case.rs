//! The case file format (README "Case format"), as serde types.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Case {
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub manifests: Vec<String>,
    #[serde(default)]
    pub status: Vec<StatusExp>,
    #[serde(default)]
    pub requests: Vec<ReqCase>,
    #[serde(default)]
    pub custom: Vec<Custom>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, Hash)]
pub struct ObjRef {
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusExp {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    pub parent: Option<ObjRef>,
    pub ancestor: Option<ObjRef>,
    #[serde(default)]
    pub conditions: Vec<CondExp>,
    pub listeners: Option<Vec<ListenerExp>>,
    #[serde(default)]
    pub listeners_exact: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CondExp {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerExp {
    pub name: String,
    pub supported_kinds: Option<Vec<KindExp>>,
    pub attached_routes: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<CondExp>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KindExp {
    pub group: Option<String>,
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReqCase {
    pub gateway: ObjRef,
    pub listener_port: Option<u16>,
    pub scheme: Option<String>,
    pub server_name: Option<String>,
    pub client_cert_from_secret: Option<ObjRef>,
    #[serde(default)]
    pub request: Req,
    pub expected_request: Option<ExpReq>,
    pub redirect_request: Option<RedirectExp>,
    #[serde(default)]
    pub backend_set_response_headers: BTreeMap<String, String>,
    #[serde(default)]
    pub response: RespExp,
    #[serde(default)]
    pub backend: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub mirrored_to: Vec<Mirror>,
    #[serde(default)]
    pub test_case_name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Req {
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub unfollow_redirect: bool,
    #[serde(default)]
    pub protocol: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpReq {
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub absent_headers: Vec<String>,
    pub http_port: Option<String>,
    pub sni: Option<String>,
    pub client_cert_from_secret: Option<ObjRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RedirectExp {
    #[serde(default)]
    pub scheme: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: String,
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RespExp {
    pub status_code: Option<u16>,
    #[serde(default)]
    pub status_codes: Vec<u16>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub absent_headers: Vec<String>,
    #[serde(default)]
    pub valid_header_values: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    pub ignore_whitespace: bool,
    #[serde(default)]
    pub protocol: String,
}

impl RespExp {
    /// `StatusCode` appended to `StatusCodes`; `[200]` when both are empty.
    pub fn codes(&self) -> Vec<u16> {
        let mut codes = self.status_codes.clone();
        codes.extend(self.status_code);
        if codes.is_empty() {
            codes.push(200);
        }
        codes
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Mirror {
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub percent: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Custom {
    pub kind: String,
    #[serde(default)]
    pub params: Value,
}

/// Reads one case file.
pub fn load(path: &std::path::Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let docs = serde_saphyr::from_multiple_with_options::<Value>(&text, sluice::config::yaml_options())
        .map_err(|e| format!("parse {}: {e}", path.display()))?;
    let doc = docs.into_iter().find(|d| !d.is_null()).ok_or("empty case file")?;
    serde_json::from_value(doc).map_err(|e| format!("case {}: {e}", path.display()))
}
