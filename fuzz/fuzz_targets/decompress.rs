//! Any bytes as a gzip, deflate or brotli body to the streaming decoder of
//! `decompressHTTP`, in pieces of a size the input chooses: it never panics,
//! and never gives more than its limit, whatever the input claims.
#![no_main]

use proxy_core::compression::{Decoder, Method};

const LIMIT: usize = 256 << 10;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else { return };
    let method = match how >> 6 {
        0 => Method::Deflate,
        1 => Method::Brotli,
        _ => Method::Gzip,
    };
    let mut d = Decoder::new(method, LIMIT);
    let mut total = 0;
    for piece in rest.chunks(1 + (how & 0x3f) as usize) {
        match d.write(piece) {
            Ok(out) => total += out.len(),
            Err(_) => {
                assert!(total <= LIMIT);
                return;
            }
        }
    }
    if let Ok(out) = d.finish() {
        total += out.len();
    }
    assert!(total <= LIMIT, "{total} bytes past the limit");
});
