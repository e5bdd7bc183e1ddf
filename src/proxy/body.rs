//! The one body type of the data path: a boxed stream of frames, never buffered unless a feature
//! asks for it (then with a limit).

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn empty() -> ProxyBody {
    Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

pub fn from_incoming(body: hyper::body::Incoming) -> ProxyBody {
    body.map_err(|e| Box::new(e) as BoxError).boxed_unsync()
}

/// Reads a whole body when it is known to be at most `limit` bytes; used where a request must
/// be replayed (retries, mirrors). Returns `Err(body)` untouched when it may be larger.
pub async fn buffer_if_small(body: ProxyBody, limit: u64) -> Result<Result<Bytes, BoxError>, ProxyBody> {
    use hyper::body::Body;
    let hint = body.size_hint();
    match hint.upper() {
        Some(upper) if upper <= limit => Ok(body.collect().await.map(|c| c.to_bytes())),
        _ => Err(body),
    }
}
