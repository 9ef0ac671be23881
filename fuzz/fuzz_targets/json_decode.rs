//! `JSON.decode` of any bytes as a script would call it on a request body: it
//! returns a value or throws, and never takes the process down (deep nesting
//! hits the script stack limit, not the thread's).
#![no_main]

mod script_decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| script_decode::run("JSON.decode", data));
