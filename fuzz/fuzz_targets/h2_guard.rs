//! Any bytes, in any pieces, into the HTTP/2 frame-header guard: it never
//! panics, and reading in pieces finds a flood exactly when reading whole does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_core::http::h2::guard::Guard;
use std::time::Instant;

fuzz_target!(|input: &[u8]| {
    let Some((&cut, bytes)) = input.split_first() else { return };
    let now = Instant::now();
    let whole = Guard::new(24).scan(bytes, now).is_ok();
    let at = (cut as usize).min(bytes.len());
    let mut g = Guard::new(24);
    let first = g.scan(&bytes[..at], now).is_ok();
    let second = g.scan(&bytes[at..], now).is_ok();
    assert_eq!(whole, first && second);
});
