//! A Protocol Buffers message from any bytes: a message or none, never a
//! panic; a message re-encodes to bytes that decode to it, and every kind of
//! number reads its packed runs without panicking.
#![no_main]

use proxy_core::protobuf::{Message, KINDS};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(m) = Message::decode(data) else { return };
    let mut out = Vec::new();
    m.encode(&mut out);
    assert_eq!(Message::decode(&out).as_ref(), Some(&m));
    for field in 1..8 {
        for (kind, _) in KINDS {
            let _ = kind.values(m.records(field));
        }
        for r in m.records(field) {
            let _ = Message::decode(&r.bytes);
        }
    }
});
