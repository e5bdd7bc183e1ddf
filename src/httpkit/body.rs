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

/// `body`, ending with an error once more than `limit` bytes came (whatever its declared length
/// said); [`over_limit`] tells that error apart.
pub fn limited(body: ProxyBody, limit: u64) -> ProxyBody {
    http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).boxed_unsync()
}

/// Whether an error (or one of its causes) is a [`limited`] body's.
pub fn over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
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

/// Why a whole body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the body failed: {0}")]
    Failed(BoxError),
}

/// Reads a whole body, refusing one larger than `limit` bytes (counted as it arrives, whatever
/// the declared length says). The one limited read of the data path: every caller maps
/// [`ReadError`] to its own protocol's error.
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ReadError::TooLarge { limit }),
        Err(e) => Err(ReadError::Failed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_limited_body_passes_what_fits_and_ends_in_an_error_past_it() {
        assert_eq!(limited(full("abcd"), 4).collect().await.expect("fits").to_bytes().as_ref(), b"abcd");
        let e = limited(full("abcde"), 4).collect().await.expect_err("too large");
        assert!(over_limit(e.as_ref()), "{e}");
        let other: BoxError = "something else".into();
        assert!(!over_limit(other.as_ref()));
    }

    #[tokio::test]
    async fn limited_reads_take_up_to_the_limit_and_refuse_more() {
        assert_eq!(read_limited(full("abcd"), 4).await.expect("fits").as_ref(), b"abcd");
        assert!(matches!(read_limited(full("abcde"), 4).await, Err(ReadError::TooLarge { limit: 4 })));
        assert!(read_limited(empty(), 0).await.expect("empty fits").is_empty());
    }
}
