//! Any bytes as a gzip or deflate body to the streaming decoder of
//! `decompressHTTP`, in pieces of a size the input chooses: it never panics,
//! and never gives more than its limit, whatever the input claims.
#![no_main]

use proxy_core::compression::{Decoder, Method};

const LIMIT: usize = 256 << 10;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else { return };
    let method = if how & 0x80 != 0 { Method::Gzip } else { Method::Deflate };
    let mut d = Decoder::new(method, LIMIT);
    let mut total = 0;
    for piece in rest.chunks(1 + (how & 0x7f) as usize) {
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
