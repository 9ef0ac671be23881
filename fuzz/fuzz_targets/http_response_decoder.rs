//! The HTTP/1 response decoder on any bytes, split anywhere, with some of the
//! responses answering HEAD requests and some asking for tunnels.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut dec = proxy_core::http::Decoder::responses(4096);
    for (i, b) in data.iter().take(4).enumerate() {
        let tunnel = match (b >> 4) & 3 {
            1 => proxy_core::http::tunnel::Tunnel::Connect,
            2 => proxy_core::http::tunnel::Tunnel::Upgrade,
            _ => proxy_core::http::tunnel::Tunnel::No,
        };
        dec.expect_response(b & (1 << i) != 0, tunnel);
    }
    common::decode(dec, data);
});
