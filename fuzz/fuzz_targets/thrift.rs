//! Thrift messages from any bytes, cut in two at a place the input picks: the
//! same messages however it is cut, or an error, never a panic; and what a
//! message decodes to encodes to bytes that decode to the same message.
#![no_main]

use proxy_core::thrift::{encode, Decoder, Message};
use proxy_core::Data;

fn messages(pieces: &[&[u8]]) -> (Vec<Message>, bool) {
    let mut d = Decoder::new(1 << 16);
    let mut found = Vec::new();
    for piece in pieces {
        d.push(&Data::from(piece.to_vec()));
        loop {
            match d.next_message() {
                Ok(Some(m)) => found.push(m),
                Ok(None) => break,
                Err(_) => return (found, true),
            }
        }
    }
    (found, false)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let cut = cut as usize % (bytes.len() + 1);
    let whole = messages(&[bytes]);
    // Compared as text: a NaN double is the same NaN however it was cut.
    let text = |m: &(Vec<Message>, bool)| format!("{m:?}");
    assert_eq!(text(&whole), text(&messages(&[&bytes[..cut], &bytes[cut..]])));
    for m in &whole.0 {
        let mut out = Vec::new();
        encode(&m.message, &mut out);
        let (again, failed) = messages(&[&out]);
        assert!(!failed && again.len() == 1, "{m:?} encodes to {out:?}, which does not decode");
        assert_eq!(format!("{:?}", again[0].message), format!("{:?}", m.message));
    }
});
