//! The HTTP/1 response decoder on any bytes, split anywhere, with some of the
//! responses answering HEAD requests.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut dec = proxy_core::http::Decoder::responses(4096);
    for (i, b) in data.iter().take(4).enumerate() {
        dec.expect_response(b & (1 << i) != 0);
    }
    common::decode(dec, data);
});
