//! MQTT packets from any bytes, cut in two at a place the input picks: the
//! same packets however it is cut, or an error, never a panic; and what a
//! packet decodes to encodes to a packet that decodes again.
#![no_main]

use proxy_core::mqtt::{decode, encode, Framer, Packet};
use proxy_core::Data;

/// The packets in `pieces`, read at `level` until a CONNECT says otherwise,
/// and whether they ended in an error.
fn packets(pieces: &[&[u8]], mut level: Option<u8>) -> (Vec<Packet>, bool) {
    let mut framer = Framer::new(1 << 16);
    let mut found = Vec::new();
    for piece in pieces {
        framer.push(Data::from(piece.to_vec()));
        loop {
            match framer.next_packet() {
                Ok(Some((first, rest))) => match decode(first, rest, &mut level) {
                    Ok(p) => found.push(p),
                    Err(_) => return (found, true),
                },
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
    let whole = packets(&[bytes], None);
    let split = packets(&[&bytes[..cut], &bytes[cut..]], None);
    assert_eq!(whole, split);
    for p in &whole.0 {
        let mut out = Vec::new();
        encode(&p.head, p.payload.as_ref(), &p.body, 5, &mut out);
        let level = p.head.get("protocolLevel").map(|l| l.to_i64() as u8);
        let (again, failed) = packets(&[&out], level);
        assert!(!failed && again.len() == 1, "{p:?} encodes to {out:?}, which does not decode");
    }
});
