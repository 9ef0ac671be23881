//! `new crypto.JWT(token)` and `verify` of any text as a script would call
//! them on an `Authorization` header: a value or an exception, never a crash.
#![no_main]

mod script_decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| script_decode::run(
    "(b => { var j = new crypto.JWT(b.toString()); return j.isValid && [j.header, j.payload, j.verify('secret')] })",
    data
));
