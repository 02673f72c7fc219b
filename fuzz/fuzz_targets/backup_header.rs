#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hiqlite::fuzzing::backup_header(data));
