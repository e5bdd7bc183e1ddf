//! `sluice::fuzzing::http_request` on the fuzzer's bytes (see src/fuzzing.rs): a client's bytes
//! through hyper and every request phase of the gateway.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sluice::fuzzing::http_request(data);
});
