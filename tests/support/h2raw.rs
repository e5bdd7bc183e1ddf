//! Raw HTTP/2 frames (RFC 9113) on a blocking socket, for tests that must send what a well-
//! behaved client library never would: unanswered pings, floods of resets or CONTINUATION
//! frames. Header blocks use HPACK literals without indexing and without Huffman coding
//! (RFC 7541 §6.2.2), which every decoder must take.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;

#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A SETTINGS frame's values.
    pub fn settings(&self) -> Vec<(u16, u32)> {
        self.payload
            .chunks_exact(6)
            .map(|c| (u16::from_be_bytes([c[0], c[1]]), u32::from_be_bytes([c[2], c[3], c[4], c[5]])))
            .collect()
    }

    /// A GOAWAY frame's error code.
    pub fn goaway_code(&self) -> Option<u32> {
        (self.kind == GOAWAY && self.payload.len() >= 8)
            .then(|| u32::from_be_bytes([self.payload[4], self.payload[5], self.payload[6], self.payload[7]]))
    }
}

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), the first byte's high bits zero.
fn integer(mut v: usize, n: u32, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(v as u8);
        return;
    }
    out.push(max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A header block of literals without indexing, new names (RFC 7541 §6.2.2).
pub fn header_block(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.push(0x00);
        integer(name.len(), 7, &mut out);
        out.extend_from_slice(name.as_bytes());
        integer(value.len(), 7, &mut out);
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// The headers of a GET of `path` on stream `stream`.
pub fn get(stream: u32, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut headers = vec![(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", path)];
    headers.extend_from_slice(extra);
    frame(HEADERS, END_HEADERS | END_STREAM, stream, &header_block(&headers))
}

/// A prior-knowledge h2c connection: the preface and empty SETTINGS sent, reads bounded by
/// `read_timeout`.
pub fn connect(addr: SocketAddr, read_timeout: Duration) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(read_timeout)).expect("read timeout");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(PREFACE).expect("preface");
    s.write_all(&frame(SETTINGS, 0, 0, &[])).expect("settings");
    s
}

/// The next frame; an error at EOF or when the read timeout passes.
pub fn read_frame(s: &mut TcpStream) -> io::Result<Frame> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head)?;
    let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload)?;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    Ok(Frame { kind: head[3], flags: head[4], stream, payload })
}

/// The server's first SETTINGS frame (not an ACK).
pub fn server_settings(s: &mut TcpStream) -> Vec<(u16, u32)> {
    for _ in 0..16 {
        let f = read_frame(s).expect("a frame from the server");
        if f.kind == SETTINGS && f.flags & ACK == 0 {
            return f.settings();
        }
    }
    panic!("no SETTINGS from the server in its first 16 frames");
}

/// The `:status` of a response HEADERS frame the server sent (it sends `:status` as an indexed
/// field of HPACK's static table for the common codes, or as a literal with an indexed name).
pub fn status_of(block: &[u8]) -> Option<u16> {
    match block.first()? {
        0x88 => Some(200),
        0x89 => Some(204),
        0x8a => Some(206),
        0x8b => Some(304),
        0x8c => Some(400),
        0x8d => Some(404),
        0x8e => Some(500),
        // Literal with the name `:status` (static index 8), not Huffman-coded.
        b if b & 0x0f == 8 && block.get(1).is_some_and(|l| l & 0x80 == 0) => {
            let len = usize::from(block[1]);
            std::str::from_utf8(block.get(2..2 + len)?).ok()?.parse().ok()
        }
        _ => None,
    }
}
