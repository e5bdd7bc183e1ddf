//! What rmcp's client asks of Sluice as a client: the introduction at `initialize`, and the
//! target's requests, handed to the session's [`Relay`]. Its notifications reach the relay as
//! they are read, in order ([`super::ordered`]), not through this handler.
#![allow(deprecated)] // sampling, roots and logging: deprecated by SEP-2577, still spoken by targets we relay

use std::sync::Arc;

use rmcp::ClientHandler;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    ClientConfig, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, ErrorCode,
    Implementation, ListRootsResult,
};
use rmcp::service::{RequestContext, RoleClient};
use serde_json::json;

use crate::mcp::upstream::relay::Relay;

/// Introduces Sluice at `initialize`, declaring what a client of Sluice may answer (sampling,
/// elicitation, roots), and hands whatever the target asks or tells the client to the session's
/// [`Relay`].
pub(super) struct Handler {
    pub(super) relay: Arc<Relay>,
}

impl Handler {
    async fn relay<P: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: P,
    ) -> Result<R, McpError> {
        let params = serde_json::to_value(params).map_err(|e| McpError::internal_error(e.to_string(), None))?;
        let result = self.relay.request(method, params).await.map_err(|e| {
            let code = i32::try_from(e.code).unwrap_or(crate::mcp::jsonrpc::INTERNAL_ERROR as i32);
            McpError::new(ErrorCode(code), e.message, e.data)
        })?;
        serde_json::from_value(result).map_err(|e| {
            McpError::invalid_params(format!("the client's answer to {method} is not a valid result: {e}"), None)
        })
    }
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("sluice", env!("CARGO_PKG_VERSION"));
        info.capabilities = serde_json::from_value(crate::mcp::upstream::client_capabilities()).unwrap_or_default();
        info
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        self.relay("sampling/createMessage", params).await
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        self.relay("elicitation/create", params).await
    }

    async fn list_roots(&self, _: RequestContext<RoleClient>) -> Result<ListRootsResult, McpError> {
        self.relay("roots/list", json!({})).await
    }
}
