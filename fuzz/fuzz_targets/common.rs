//! Shared by the HTTP decoder targets: the input is split at points the fuzzer
//! chooses (its first byte says how), so every byte boundary gets explored.

use proxy_core::http::Decoder;
use proxy_core::{Data, Event};

/// Feeds `data` to `dec` in pieces; checks that events stay bounded by the input
/// and that a decoder that failed stays failed. A request decoder holding what
/// follows a tunnel request is told, by the split byte's top bit, that the
/// answer opened the tunnel or did not.
pub fn decode(mut dec: Decoder, data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else { return };
    let step = 1 + split as usize;
    let mut events = 0usize;
    for piece in rest.chunks(step) {
        let mut count = |ev: Event| {
            if let Event::Data(d) = &ev {
                assert!(!d.is_empty() || d.is_empty());
            }
            events += 1;
        };
        let mut result = dec.input(Data::from(piece.to_vec()), &mut count);
        if result.is_ok() && dec.holding() {
            if split & 0x80 != 0 {
                dec.open_tunnel(&mut count);
                assert!(dec.in_tunnel());
            } else {
                result = dec.resume(&mut count);
            }
        }
        if result.is_err() {
            // A failed decoder takes no more input and makes no more events.
            let mut after = 0;
            let _ = dec.input(Data::from(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n".to_vec()), &mut |_| after += 1);
            assert_eq!(after, 0, "a failed decoder went on");
            return;
        }
    }
    let _ = dec.end(&mut |_| events += 1);
    assert!(events <= rest.len() * 3 + 3, "{events} events from {} bytes", rest.len());
}
