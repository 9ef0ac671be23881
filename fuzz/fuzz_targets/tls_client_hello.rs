//! The ClientHello reader behind `handleTLSClientHello`: any bytes, split where the
//! fuzzer chooses (the first byte says how), never panic, and once it has decided
//! it stays decided.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_tls::{HelloParser, HelloState};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let mut parser = HelloParser::new();
    let mut decided = false;
    for piece in rest.chunks(1 + split as usize) {
        let state = parser.feed(piece);
        if decided {
            assert_eq!(state, HelloState::NotHello, "a parser that decided took more");
        }
        decided |= state != HelloState::Reading;
    }
});
