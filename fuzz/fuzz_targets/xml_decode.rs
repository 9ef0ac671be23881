//! `XML.decode` of any bytes as a script would call it on a request body, and
//! `XML.stringify` of what it gives: a tree, null or an exception, never the
//! process down (nesting past 256 levels is refused while it is read).
#![no_main]

mod script_decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    script_decode::run("(d => { var n = XML.decode(d); return n && XML.parse(XML.stringify(n, 1)) })", data)
});
