//! Any bytes to the SOCKS server reader and to the client's answer reader, in
//! pieces of a size the input chooses: no panic; once the server has a
//! request, what it gives back is input after it, never more than came.
#![no_main]

use proxy_core::socks::{Answer, Client, Read, Server};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let mut server = Server::default();
    let mut answer = Vec::new();
    let mut fed = 0;
    for piece in rest.chunks(1 + split as usize) {
        fed += piece.len();
        match server.feed(piece, &mut answer) {
            Ok(Read::More) => {}
            Ok(Read::Done(r, after)) => {
                assert!(r.version == 4 || r.version == 5);
                assert!(after.len() < fed);
                break;
            }
            Err(_) => break,
        }
    }
    let mut client = Client::default();
    for piece in rest.chunks(1 + split as usize) {
        match client.feed(piece) {
            Ok(Answer::Granted(after)) => {
                assert!(after.len() < rest.len());
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
});
