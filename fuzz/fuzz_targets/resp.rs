//! `decodeRESP` of any bytes, cut in two at a place the input picks: values
//! or a ProtocolError, never a panic, and the same values however it is cut.
#![no_main]

use proxy_core::resp::{Decoder, Found};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let cut = cut as usize % (bytes.len() + 1);
    let run = |pieces: &[&[u8]]| {
        let mut d = Decoder::new(1 << 20);
        let mut values = Vec::new();
        for p in pieces {
            let r = d.feed(p, &mut |f| {
                if let Found::Value(v) = f {
                    values.push(v)
                }
            });
            if r.is_err() {
                return (values, true);
            }
        }
        (values, false)
    };
    let whole = run(&[bytes]);
    let split = run(&[&bytes[..cut], &bytes[cut..]]);
    assert_eq!(whole, split);
    // What decodes encodes to bytes that decode to the same values.
    if !whole.1 {
        let mut out = Vec::new();
        for v in &whole.0 {
            proxy_core::resp::encode(v, &mut out);
        }
        assert_eq!(run(&[&out]).0, whole.0);
    }
});
