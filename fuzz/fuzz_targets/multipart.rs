//! A multipart body of any bytes, cut in two at a place the input picks: the
//! same parts however it is cut, every part started is ended, never a panic.
#![no_main]

use bytes::Bytes;
use proxy_core::multipart::Parser;
use proxy_core::Event;

/// Each part as its header fields and its whole body; `None` if the body failed.
fn parts(pieces: &[&[u8]]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut p = Parser::new("b=1");
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut open = false;
    let mut take = |e: Event| match e {
        Event::MessageStart(h) => {
            assert!(!open, "a part starts inside another");
            open = true;
            out.push((format!("{:?}", h.headers().map(|h| h.iter().collect::<Vec<_>>())), Vec::new()))
        }
        Event::Data(d) => {
            assert!(open, "part data outside a part");
            out.last_mut().unwrap().1.extend_from_slice(&d.to_vec())
        }
        Event::MessageEnd(_) => {
            assert!(open, "a part ends that did not start");
            open = false
        }
        Event::StreamEnd(_) => panic!("a parser does not end streams"),
    };
    for piece in pieces {
        p.feed(Bytes::copy_from_slice(piece), &mut take).ok()?;
    }
    p.end(&mut take).ok()?;
    assert!(!open, "every part started is ended");
    Some(out)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let cut = cut as usize % (bytes.len() + 1);
    assert_eq!(parts(&[bytes]), parts(&[&bytes[..cut], &bytes[cut..]]));
});
