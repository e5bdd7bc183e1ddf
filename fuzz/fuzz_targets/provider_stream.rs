//! `sluice::fuzzing::provider_stream` on the fuzzer's bytes (see src/fuzzing.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::provider_stream(data));
