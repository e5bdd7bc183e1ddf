//! The environment of the Gemini and Azure OpenAI scenarios: a fake Gemini, the fake OpenAI
//! playing an Azure OpenAI resource, and Sluice in front of both.

use std::sync::Arc;

use serde_json::Value;
use sluice::runtime::Runtime;

use super::support::fake_llm::RecordedRequest;
use super::support::fake_llm::gemini::{self, FakeGemini};
use super::support::fake_llm::openai::{self, Azure, FakeOpenAi};
use super::support::yaml::gateway_route;
use super::{CLIENT_KEY, Sdk, require_sdks, run_script, start_sluice};

pub const GEMINI_UPSTREAM_KEY: &str = "AIza-fake-upstream-gemini-89";
pub const AZURE_UPSTREAM_KEY: &str = "azure-fake-upstream-key-0123";

pub const GEMINI: &str = "gemini-2.5-flash";
/// A Gemini 3 model: the fake checks thought signatures on its function calls.
pub const GEMINI_3: &str = "gemini-3-pro-preview";
pub const GEMINI_EMBEDDING: &str = "gemini-embedding-001";
/// The Azure chat model the client asks for, and the deployment it is an alias of.
pub const AZURE_MODEL: &str = "gpt-4o";
pub const AZURE_DEPLOYMENT: &str = "my-gpt4o";
pub const AZURE_EMBEDDING_MODEL: &str = "text-embedding-3-small";
pub const AZURE_EMBEDDING_DEPLOYMENT: &str = "my-embeddings";
/// Served by a second Azure backend whose `settings.deployment` is fixed (and no api-version).
pub const AZURE_FIXED_MODEL: &str = "azure-fixed";

fn config(gemini_port: u16, azure_port: u16) -> String {
    let refs = [
        "{group: sluice.dev, kind: AIBackend, name: gemini}",
        "{group: sluice.dev, kind: AIBackend, name: azure}",
        "{group: sluice.dev, kind: AIBackend, name: azure-fixed}",
    ];
    gateway_route(80, "llm", &refs)
        + &format!(
            r#"---
apiVersion: v1
kind: Secret
metadata: {{name: gemini-key, namespace: default}}
stringData: {{apiKey: {GEMINI_UPSTREAM_KEY}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: azure-key, namespace: default}}
stringData: {{apiKey: {AZURE_UPSTREAM_KEY}}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: gemini, namespace: default}}
spec:
  provider:
    type: gemini
    baseURL: http://127.0.0.1:{gemini_port}/v1beta
    auth: {{secretRef: {{name: gemini-key}}}}
  models: [{{name: gemini-*}}]
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: azure, namespace: default}}
spec:
  provider:
    type: azure-openai
    baseURL: http://127.0.0.1:{azure_port}/openai/v1
    auth: {{secretRef: {{name: azure-key}}}}
    settings: {{resource: sluice-test, apiVersion: preview}}
  models:
    - {{name: {AZURE_MODEL}, target: {AZURE_DEPLOYMENT}}}
    - {{name: {AZURE_EMBEDDING_MODEL}, target: {AZURE_EMBEDDING_DEPLOYMENT}}}
---
apiVersion: sluice.dev/v1alpha1
kind: AIBackend
metadata: {{name: azure-fixed, namespace: default}}
spec:
  provider:
    type: azure-openai
    baseURL: http://127.0.0.1:{azure_port}/openai/v1
    auth: {{secretRef: {{name: azure-key}}}}
    settings: {{deployment: {AZURE_DEPLOYMENT}}}
  models: [{{name: {AZURE_FIXED_MODEL}}}]
"#
        )
}

/// The fakes and Sluice; `None` when the scenario cannot run here (see `Env::start` in
/// ai_sdk.rs).
pub struct Providers {
    pub gemini: FakeGemini,
    pub azure: FakeOpenAi,
    url: String,
    _rt: Arc<Runtime>,
}

impl Providers {
    pub async fn start(gemini: gemini::Script, azure: openai::Script) -> Providers {
        require_sdks();
        let gemini = FakeGemini::start(gemini.api_key(GEMINI_UPSTREAM_KEY)).await;
        let azure = FakeOpenAi::start(
            azure
                .api_key(AZURE_UPSTREAM_KEY)
                .azure(Azure::deployments(&[AZURE_DEPLOYMENT, AZURE_EMBEDDING_DEPLOYMENT])),
        )
        .await;
        let (rt, url) = start_sluice(&config(gemini.port(), azure.port())).await;
        Providers { gemini, azure, url, _rt: rt }
    }

    pub async fn gemini(script: gemini::Script) -> Providers {
        Providers::start(script, openai::Script::default()).await
    }

    pub async fn azure(script: openai::Script) -> Providers {
        Providers::start(gemini::Script::default(), script).await
    }

    pub async fn run(&self, sdk: Sdk, scenario: &str, model: &str) -> Value {
        let out = run_script(sdk, scenario, &self.url, CLIENT_KEY, model).await;
        eprintln!("{sdk:?} {scenario} via Sluice: {out}");
        out
    }

    /// The one request the fake Gemini received, with Sluice's key and not the client's.
    pub fn gemini_request(&self) -> RecordedRequest {
        let reqs = self.gemini.requests();
        assert_eq!(reqs.len(), 1, "one upstream request: {reqs:#?}");
        let req = reqs.into_iter().next().expect("one request");
        assert_eq!(req.header("x-goog-api-key"), Some(GEMINI_UPSTREAM_KEY));
        for name in ["authorization", "x-api-key"] {
            assert!(req.header(name).is_none(), "no {name} goes to Gemini: {:?}", req.headers);
        }
        assert!(self.azure.requests().is_empty(), "the model picked the Gemini backend");
        req
    }

    /// The one request the Azure fake received, with Sluice's key in `api-key`.
    pub fn azure_request(&self) -> RecordedRequest {
        let reqs = self.azure.requests();
        assert_eq!(reqs.len(), 1, "one upstream request: {reqs:#?}");
        let req = reqs.into_iter().next().expect("one request");
        assert_eq!(req.header("api-key"), Some(AZURE_UPSTREAM_KEY));
        for name in ["authorization", "x-api-key"] {
            assert!(req.header(name).is_none_or(|v| !v.contains(CLIENT_KEY)), "the client's key stays home");
        }
        assert!(self.gemini.requests().is_empty(), "the model picked the Azure backend");
        req
    }
}

#[test]
fn the_configuration_loads() {
    let loaded = sluice::config::parse_text("ai.yaml", &config(1, 2));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
}
