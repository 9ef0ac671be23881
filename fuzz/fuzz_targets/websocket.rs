//! Any bytes to the WebSocket frame decoder, in pieces of a size the input
//! chooses, masks required or not: no panic; messages balanced (never one
//! inside another); no more payload out than bytes in; nothing after an error.
#![no_main]

use proxy_core::websocket::{Decoder, Limits};
use proxy_core::{Data, Event};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let limits = Limits { require_mask: split & 0x80 != 0, max_message_size: 1 << 16 };
    let mut d = Decoder::new(limits);
    let (mut open, mut payload, mut failed) = (false, 0usize, false);
    for piece in rest.chunks(1 + (split & 0x7f) as usize) {
        let result = d.input(Data::from(piece.to_vec()), &mut |ev| {
            assert!(!failed, "output after an error");
            match ev {
                Event::MessageStart(_) => {
                    assert!(!open, "a message inside a message");
                    open = true;
                }
                Event::MessageEnd(_) => {
                    assert!(open, "an end with no message");
                    open = false;
                }
                Event::Data(b) => payload += b.len(),
                Event::StreamEnd(_) => panic!("the decoder does not end streams"),
            }
        });
        assert!(payload <= rest.len());
        if result.is_err() {
            failed = true;
        }
    }
});
