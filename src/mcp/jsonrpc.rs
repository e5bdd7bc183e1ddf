//! JSON-RPC 2.0 as MCP uses it: one message per POST body, ids that are strings or numbers,
//! params that are objects.

use serde_json::{Map, Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// A request the client cancelled (the code LSP and several MCP SDKs use).
pub const REQUEST_CANCELLED: i64 = -32800;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError::new(INVALID_PARAMS, message)
    }

    fn to_json(&self) -> Value {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(d) = &self.data {
            e["data"] = d.clone();
        }
        e
    }
}

/// What a client sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request {
        id: Value,
        method: String,
        params: Option<Map<String, Value>>,
    },
    Notification {
        method: String,
        params: Option<Map<String, Value>>,
    },
    /// A client's answer to a request Sluice relayed to it.
    Response {
        id: Value,
        outcome: Result<Value, RpcError>,
    },
}

/// A message that could not be read, with the id to answer when it had a usable one.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub id: Value,
    pub error: RpcError,
}

pub fn parse(body: &[u8]) -> Result<Message, Rejected> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Rejected {
        id: Value::Null,
        error: RpcError::new(PARSE_ERROR, format!("Parse error: the body is not JSON ({e})")),
    })?;
    let invalid = |id: Value, why: &str| Rejected {
        id,
        error: RpcError::new(INVALID_REQUEST, format!("Invalid Request: {why}")),
    };
    let object = match value {
        Value::Object(o) => o,
        Value::Array(_) => return Err(invalid(Value::Null, "JSON-RPC batches are not supported")),
        _ => return Err(invalid(Value::Null, "a JSON-RPC message is an object")),
    };
    let id = match object.get("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id.clone()),
        Some(_) => return Err(invalid(Value::Null, "`id` must be a string or a number")),
    };
    let answer_id = id.clone().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(answer_id, "`jsonrpc` must be \"2.0\""));
    }
    match object.get("method") {
        Some(Value::String(method)) => {
            let params = match object.get("params") {
                None => None,
                Some(Value::Object(p)) => Some(p.clone()),
                Some(_) => return Err(invalid(answer_id, "`params` must be an object")),
            };
            Ok(match id {
                Some(id) => Message::Request { id, method: method.clone(), params },
                None => Message::Notification { method: method.clone(), params },
            })
        }
        Some(_) => Err(invalid(answer_id, "`method` must be a string")),
        None => match (id, object.get("result"), object.get("error")) {
            (Some(id), Some(result), None) => Ok(Message::Response { id, outcome: Ok(result.clone()) }),
            (Some(id), None, Some(error)) => {
                let code = error.get("code").and_then(Value::as_i64);
                let message = error.get("message").and_then(Value::as_str);
                match (code, message) {
                    (Some(code), Some(message)) => {
                        let mut e = RpcError::new(code, message);
                        e.data = error.get("data").cloned();
                        Ok(Message::Response { id, outcome: Err(e) })
                    }
                    _ => Err(invalid(id, "`error` needs a numeric `code` and a string `message`")),
                }
            }
            (Some(id), Some(_), Some(_)) => Err(invalid(id, "a response has `result` or `error`, not both")),
            (id, _, _) => Err(invalid(id.unwrap_or(Value::Null), "`method` is missing")),
        },
    }
}

/// A message's params as an object to add to: absent (`null`) params become one; params of
/// another shape (an array, or what a faulty peer sends) give `None`.
pub fn params_object(params: &mut Value) -> Option<&mut Map<String, Value>> {
    if params.is_null() {
        *params = Value::Object(Map::new());
    }
    params.as_object_mut()
}

pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

pub fn error(id: &Value, error: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": error.to_json()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_of_any_shape_are_added_to_only_when_objects() {
        let mut null = Value::Null;
        assert!(params_object(&mut null).is_some());
        assert_eq!(null, json!({}));
        for mut odd in [json!([1]), json!("x"), json!(3), json!(true)] {
            assert!(params_object(&mut odd).is_none(), "{odd}");
        }
    }

    fn code(body: &str) -> i64 {
        parse(body.as_bytes()).err().map_or(0, |r| r.error.code)
    }

    #[test]
    fn reads_requests_notifications_and_responses() {
        let m = parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}"#);
        assert_eq!(m, Ok(Message::Request { id: json!(7), method: "tools/list".into(), params: Some(Map::new()) }));
        let m = parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert_eq!(m, Ok(Message::Notification { method: "notifications/initialized".into(), params: None }));
        let m = parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#);
        assert_eq!(m, Ok(Message::Response { id: json!("a"), outcome: Ok(json!({})) }));
        let m = parse(br#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no","data":[1]}}"#);
        let e = RpcError::new(-1, "no").with_data(json!([1]));
        assert_eq!(m, Ok(Message::Response { id: json!(3), outcome: Err(e) }));
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":3,"error":{"code":"x"}}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":3,"result":1,"error":{"code":1,"message":""}}"#), INVALID_REQUEST);
    }

    #[test]
    fn rejects_what_is_not_json_rpc() {
        assert_eq!(code("{not json"), PARSE_ERROR);
        assert_eq!(code("[]"), INVALID_REQUEST);
        assert_eq!(code("3"), INVALID_REQUEST);
        assert_eq!(code(r#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":5}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#), INVALID_REQUEST);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), INVALID_REQUEST);
        let r = parse(br#"{"jsonrpc":"1.0","id":"k","method":"ping"}"#).err().map(|r| r.id);
        assert_eq!(r, Some(json!("k")), "the id is echoed when it is usable");
    }
}
