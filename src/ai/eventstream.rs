//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`), which Bedrock's
//! ConverseStream uses instead of server-sent events.
//!
//! A message is: total length (u32, big-endian, the whole message), headers length (u32), a
//! CRC-32 of those 8 bytes, the headers, the payload, and a CRC-32 of everything before it.
//! A header is a name (u8 length + bytes), a type byte and a value whose size the type fixes
//! (strings and byte arrays carry a u16 length). Both checksums are verified: a corrupt frame
//! ends the stream with an error rather than a guess.

use bytes::{Buf, Bytes, BytesMut};

/// Messages larger than this are refused (the format's own limit is 16 MiB).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;
const PRELUDE: usize = 12;
const MIN_MESSAGE: usize = PRELUDE + 4;

/// One decoded message: its string headers and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
}

impl Message {
    /// The value of the string header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reassembles messages from the bytes of a body, whatever the chunking.
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// True when part of a message is still waiting for its rest.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, String> {
        if self.buf.len() < PRELUDE {
            return Ok(None);
        }
        let total = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        let headers_len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        let prelude_crc = u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]]);
        if crc32fast::hash(&self.buf[..8]) != prelude_crc {
            return Err("event-stream prelude checksum mismatch".into());
        }
        if !(MIN_MESSAGE..=MAX_MESSAGE).contains(&total) || headers_len > total - MIN_MESSAGE {
            return Err(format!("event-stream message of {total} bytes with {headers_len} bytes of headers"));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let mut frame = self.buf.split_to(total).freeze();
        let body_end = total - 4;
        let message_crc =
            u32::from_be_bytes([frame[body_end], frame[body_end + 1], frame[body_end + 2], frame[body_end + 3]]);
        if crc32fast::hash(&frame[..body_end]) != message_crc {
            return Err("event-stream message checksum mismatch".into());
        }
        frame.truncate(body_end);
        frame.advance(PRELUDE);
        let headers = parse_headers(&frame[..headers_len])?;
        frame.advance(headers_len);
        Ok(Some(Message { headers, payload: frame }))
    }
}

/// The headers block; values that are not strings are skipped (none that Sluice reads are).
fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, String)>, String> {
    let truncated = || "event-stream header truncated".to_string();
    let mut out = Vec::new();
    while !b.is_empty() {
        let name_len = usize::from(b[0]);
        let name = b.get(1..1 + name_len).ok_or_else(truncated)?;
        let name = String::from_utf8_lossy(name).into_owned();
        b = &b[1 + name_len..];
        let (&ty, rest) = b.split_first().ok_or_else(truncated)?;
        b = rest;
        let fixed = match ty {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            other => return Err(format!("event-stream header {name:?} has unknown type {other}")),
        };
        match fixed {
            Some(n) => {
                b = b.get(n..).ok_or_else(truncated)?;
            }
            None => {
                let len = usize::from(u16::from_be_bytes([
                    *b.first().ok_or_else(truncated)?,
                    *b.get(1).ok_or_else(truncated)?,
                ]));
                let value = b.get(2..2 + len).ok_or_else(truncated)?;
                if ty == 7 {
                    out.push((name, String::from_utf8_lossy(value).into_owned()));
                }
                b = &b[2 + len..];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message built by hand from the format's description.
    fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        for (n, v) in headers {
            h.push(n.len() as u8);
            h.extend_from_slice(n.as_bytes());
            h.push(7);
            h.extend_from_slice(&(v.len() as u16).to_be_bytes());
            h.extend_from_slice(v.as_bytes());
        }
        let total = PRELUDE + h.len() + payload.len() + 4;
        let mut m = Vec::new();
        m.extend_from_slice(&(total as u32).to_be_bytes());
        m.extend_from_slice(&(h.len() as u32).to_be_bytes());
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_be_bytes());
        m.extend_from_slice(&h);
        m.extend_from_slice(payload);
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_be_bytes());
        m
    }

    #[test]
    fn messages_split_anywhere_are_reassembled() {
        let a = frame(&[(":event-type", "messageStart"), (":message-type", "event")], br#"{"role":"assistant"}"#);
        let b = frame(&[(":event-type", "messageStop")], br#"{"stopReason":"end_turn"}"#);
        let all: Vec<u8> = [a.clone(), b].concat();
        for cut in 0..all.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for part in [&all[..cut], &all[cut..]] {
                d.push(part);
                while let Some(m) = d.next_message().expect("valid") {
                    got.push(m);
                }
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(got[0].header(":event-type"), Some("messageStart"));
            assert_eq!(&got[0].payload[..], br#"{"role":"assistant"}"#);
            assert_eq!(got[1].header(":event-type"), Some("messageStop"));
            assert!(!d.has_partial());
        }
    }

    #[test]
    fn corruption_is_an_error() {
        let mut m = frame(&[(":event-type", "x")], b"{}");
        let last = m.len() - 5;
        m[last] ^= 1;
        let mut d = Decoder::default();
        d.push(&m);
        assert!(d.next_message().expect_err("bad crc").contains("checksum"));
        let mut d = Decoder::default();
        d.push(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(d.next_message().is_err(), "prelude checksum");
    }
}
