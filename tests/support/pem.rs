//! PEM encoding laid out like Go's `pem.EncodeToMemory`: 64-column base64 lines, `\n` line
//! endings, trailing newline. The echo backend reports peer certificates in this form and the
//! conformance client compares them byte for byte with a Secret's `tls.crt`, so both sides use it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Encodes `der` as one PEM block with the given label (e.g. `CERTIFICATE`).
pub fn encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is pure ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
