//! `sluice::fuzzing::chat_request` on the fuzzer's bytes (see src/fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::chat_request(data));
