#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hiqlite_macros_core::fuzzing::sql_lexer(data));
