//! Any bytes into `decodeDubbo` and on through `encodeDubbo`, in pieces of a
//! size the input chooses, through the contract harness: the output keeps the
//! filter contract, every pipeline is released, and when the input was all
//! whole frames the output is the same bytes.
#![no_main]

use proxy_core::filters::{decode_dubbo, encode_dubbo};
use proxy_core::testing::{spec, Harness};
use proxy_core::{Data, Event};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else { return };
    let h = Harness::new(vec![spec(&decode_dubbo::DEF, vec![]), spec(&encode_dubbo::DEF, vec![])]);
    for piece in rest.chunks(1 + how as usize) {
        h.input(Event::Data(Data::from(piece.to_vec())));
    }
    let failed = h.out.events().iter().any(|e| matches!(e, Event::StreamEnd(Some(_))));
    let out = h.out.bytes();
    // Whole frames only: each header's length matches what follows.
    let mut at = 0;
    while at + 16 <= rest.len() && rest[at..at + 2] == decode_dubbo::MAGIC {
        at += 16 + u32::from_be_bytes(rest[at + 12..at + 16].try_into().unwrap()) as usize;
    }
    if !failed && at == rest.len() {
        assert_eq!(out, rest);
    }
    h.input(Event::end());
    h.finish();
});
