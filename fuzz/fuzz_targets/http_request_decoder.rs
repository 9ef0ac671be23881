//! The HTTP/1 request decoder, taking tunnels, on any bytes, split anywhere.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::decode(proxy_core::http::Decoder::requests(4096).tunnels(true), data);
});
