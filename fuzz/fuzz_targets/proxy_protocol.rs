//! Any bytes to the PROXY protocol header reader, in pieces of a size the
//! input chooses: no panic; once it has decided (a header, or not one), what
//! it gives back is the input after the header, never more than came.
#![no_main]

use proxy_core::proxy_protocol::{Read, Reader};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let mut r = Reader::default();
    let mut fed = 0;
    for piece in rest.chunks(1 + split as usize) {
        fed += piece.len();
        match r.feed(piece) {
            Ok(Read::More) => {}
            Ok(Read::Done(h, after)) => {
                assert!(h.version == 1 || h.version == 2);
                assert!(after.len() < fed, "the header took some bytes");
                return;
            }
            Err(_) => return,
        }
    }
});
