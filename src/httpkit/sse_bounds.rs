//! Bounds on an SSE byte stream read from a peer (an LLM provider, an MCP target): a line longer
//! than [`MAX_LINE`] or an event longer than [`MAX_EVENT`] ends the stream with an error, so a
//! peer that never sends a newline cannot grow a decoder's buffer without limit.

use futures_util::{Stream, StreamExt};

use super::body::BoxError;

/// The longest SSE line read from a peer.
pub const MAX_LINE: usize = 1 << 20;
/// The longest SSE event (its lines together) read from a peer.
pub const MAX_EVENT: usize = 8 << 20;

/// Line and event lengths so far; fed chunk by chunk.
#[derive(Debug, Default)]
pub struct Bounds {
    line: usize,
    event: usize,
    /// The last byte fed was `\r` (a `\n` right after it ends the same line).
    after_cr: bool,
    max_line: usize,
    max_event: usize,
}

impl Bounds {
    pub fn new() -> Bounds {
        Bounds::with(MAX_LINE, MAX_EVENT)
    }

    fn with(max_line: usize, max_event: usize) -> Bounds {
        Bounds { max_line, max_event, ..Bounds::default() }
    }

    fn end_line(&mut self) {
        if self.line == 0 {
            // A blank line ends the event.
            self.event = 0;
        }
        self.line = 0;
    }

    /// Takes the next chunk; an error once a line or an event is past its bound.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        let mut at = 0;
        if chunk.contains(&b'\r') || self.after_cr {
            // CR and CRLF line ends: byte by byte.
            for &b in chunk {
                match b {
                    b'\n' if self.after_cr => {}
                    b'\n' | b'\r' => self.end_line(),
                    _ => {
                        self.line += 1;
                        self.event += 1;
                    }
                }
                self.after_cr = b == b'\r';
                self.check()?;
            }
            return Ok(());
        }
        for nl in memchr::memchr_iter(b'\n', chunk) {
            let n = nl - at;
            self.line += n;
            self.event += n;
            self.check()?;
            self.end_line();
            at = nl + 1;
        }
        let rest = chunk.len() - at;
        self.line += rest;
        self.event += rest;
        self.check()
    }

    fn check(&self) -> Result<(), String> {
        if self.line > self.max_line {
            return Err(format!("an SSE line longer than {} bytes", self.max_line));
        }
        if self.event > self.max_event {
            return Err(format!("an SSE event longer than {} bytes", self.max_event));
        }
        Ok(())
    }
}

/// `body` with [`Bounds`]: past a bound, one error and the end.
pub fn bounded<S, B, E>(body: S) -> impl Stream<Item = Result<B, BoxError>> + Send
where
    S: Stream<Item = Result<B, E>> + Send,
    B: AsRef<[u8]> + Send,
    E: Into<BoxError> + Send,
{
    body.scan((Bounds::new(), false), |(bounds, failed), item| {
        if *failed {
            return std::future::ready(None);
        }
        let out = match item {
            Ok(chunk) => match bounds.feed(chunk.as_ref()) {
                Ok(()) => Ok(chunk),
                Err(e) => {
                    *failed = true;
                    Err(e.into())
                }
            },
            Err(e) => Err(e.into()),
        };
        std::future::ready(Some(out))
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn long_lines_and_long_events_are_refused_whatever_the_line_ends() {
        for nl in ["\n", "\r\n", "\r"] {
            let mut b = Bounds::with(12, 20);
            let ok = format!("data: a{nl}data: b{nl}{nl}data: cdefg{nl}");
            assert_eq!(b.feed(ok.as_bytes()), Ok(()), "{nl:?}");
            // An event of many short lines.
            let mut b = Bounds::with(12, 20);
            let long_event = format!("data: a{nl}").repeat(4);
            assert!(b.feed(long_event.as_bytes()).is_err(), "{nl:?}: an event past 20 bytes");
            // A line split over chunks.
            let mut b = Bounds::with(12, 20);
            assert_eq!(b.feed(b"data:"), Ok(()));
            assert!(b.feed(b" 12345678").is_err(), "{nl:?}: a line past 12 bytes across chunks");
        }
        // Blank lines reset the event, however they are split.
        let mut b = Bounds::with(8, 12);
        for _ in 0..100 {
            assert_eq!(b.feed(b"data: 1\r"), Ok(()));
            assert_eq!(b.feed(b"\n\r\n"), Ok(()));
        }
    }

    #[tokio::test]
    async fn the_stream_ends_with_one_error_past_a_bound() {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            vec![Ok(Bytes::from_static(b"data: ok\n\n")), Ok(Bytes::from(vec![b'x'; MAX_LINE + 1])), Ok(Bytes::new())];
        let out: Vec<_> = bounded(futures_util::stream::iter(chunks)).collect().await;
        assert_eq!(out.len(), 2, "the chunk after the error is not read");
        assert!(out[0].is_ok());
        assert!(out[1].as_ref().is_err_and(|e| e.to_string().contains("SSE line")));
    }
}
