//! `YAML.decode` of any bytes as a script would call it on a request body: it
//! returns a value or throws, and never takes the process down (deep nesting
//! and nested aliases are refused before they are built).
#![no_main]

mod script_decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| script_decode::run("YAML.decode", data));
