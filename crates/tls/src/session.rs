//! `Tls`: one rustls connection pumped with `Data`. Ciphertext goes in with
//! `receive` and plaintext comes out; plaintext goes in with `send` and ciphertext
//! comes out. rustls' buffers are drained on every call, so what a connection holds
//! is bounded by rustls' own limits (one record being read, one handshake flight),
//! whatever the peer sends.

use bytes::{Bytes, BytesMut};
use proxy_core::Data;
use rustls::Connection;
use rustls_pki_types::CertificateDer;
use std::io::{Read, Write};

/// Plaintext is encrypted this much at a time, so rustls' send buffer stays small.
const SEND_STEP: usize = 16 * 1024;

/// One TLS connection, client or server side.
pub struct Tls {
    conn: Connection,
    /// The peer sent close_notify.
    peer_closed: bool,
}

impl Tls {
    /// Pumps `conn`.
    pub fn new(conn: impl Into<Connection>) -> Tls {
        Tls { conn: conn.into(), peer_closed: false }
    }

    /// Takes ciphertext in. Plaintext that comes of it is added to `plain`, and
    /// what the connection has to send (handshake messages, alerts) to `wire`. On
    /// an error, `wire` has the alert that tells the peer. Bytes after the peer's
    /// close_notify are dropped.
    pub fn receive(&mut self, mut input: &[u8], plain: &mut Data, wire: &mut Data) -> Result<(), rustls::Error> {
        // At least once: bytes an Acceptor read are in the connection already.
        loop {
            if self.peer_closed {
                // Nothing counts after close_notify (and rustls reads no more).
                return Ok(());
            }
            if !input.is_empty() {
                match self.conn.read_tls(&mut input) {
                    Ok(0) => input = &[],
                    Ok(_) => {}
                    Err(e) => return Err(rustls::Error::General(e.to_string())),
                }
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    self.flush(wire);
                    return Err(e);
                }
            };
            let ready = state.plaintext_bytes_to_read();
            if ready > 0 {
                let mut buf = BytesMut::zeroed(ready);
                match self.conn.reader().read_exact(&mut buf) {
                    Ok(()) => plain.push_bytes(buf.freeze()),
                    Err(e) => return Err(rustls::Error::General(e.to_string())),
                }
            }
            if state.peer_has_closed() {
                self.peer_closed = true;
            }
            self.flush(wire);
            if input.is_empty() {
                return Ok(());
            }
        }
    }

    /// Encrypts `plain` into `wire`.
    pub fn send(&mut self, plain: &Data, wire: &mut Data) {
        for chunk in plain.chunks() {
            for step in chunk.chunks(SEND_STEP) {
                let mut rest = step;
                while !rest.is_empty() {
                    match self.conn.writer().write(rest) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => rest = &rest[n..],
                    }
                    self.flush(wire);
                }
            }
        }
        self.flush(wire);
    }

    /// Says close_notify into `wire`.
    pub fn close(&mut self, wire: &mut Data) {
        self.conn.send_close_notify();
        self.flush(wire);
    }

    /// Moves what rustls has to send into `wire`.
    pub fn flush(&mut self, wire: &mut Data) {
        while self.conn.wants_write() {
            let mut out = Vec::new();
            match self.conn.write_tls(&mut out) {
                Ok(0) | Err(_) => break,
                Ok(_) => wire.push_bytes(Bytes::from(out)),
            }
        }
    }

    /// Still in the handshake.
    pub fn handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The peer said close_notify.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The protocol ALPN agreed on.
    pub fn alpn(&self) -> Option<String> {
        self.conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned())
    }

    /// The peer's certificates, leaf first.
    pub fn peer_certificates(&self) -> Vec<CertificateDer<'static>> {
        self.conn.peer_certificates().map(|c| c.iter().map(|c| c.clone().into_owned()).collect()).unwrap_or_default()
    }

    /// The peer's own certificate, parsed for scripts.
    pub fn peer(&self) -> Option<std::rc::Rc<crate::keys::Certificate>> {
        let leaf = self.conn.peer_certificates()?.first()?.clone().into_owned();
        crate::keys::Certificate::from_der(leaf).ok().map(std::rc::Rc::new)
    }

    /// The server name the client asked for (server side).
    pub fn server_name(&self) -> Option<String> {
        match &self.conn {
            Connection::Server(s) => s.server_name().map(str::to_string),
            Connection::Client(_) => None,
        }
    }

    /// The TLS version agreed on (`TLSv1.3`).
    pub fn version(&self) -> Option<&'static str> {
        self.conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            _ => "TLS",
        })
    }
}

/// For the fuzz target: a server session after a real handshake with a client,
/// fed `data` (the client's records, close_notify, garbage, as the fuzzer makes
/// them) in pieces of the size its first byte says. Returns the plaintext read.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_server_input(data: &[u8]) -> usize {
    use rustls::{ClientConnection, ServerConnection};
    use std::sync::{Arc, OnceLock};
    static CONFIGS: OnceLock<(Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>)> = OnceLock::new();
    let (server_config, client_config) = CONFIGS.get_or_init(|| {
        let (server, roots) = crate::testing::server_config("localhost");
        (Arc::new(server), Arc::new(crate::testing::client_config(roots)))
    });
    let mut client = Tls::new(ClientConnection::new(client_config.clone(), "localhost".try_into().unwrap()).unwrap());
    let mut server = Tls::new(ServerConnection::new(server_config.clone()).unwrap());
    let (mut to_server, mut to_client, mut plain) = (Data::new(), Data::new(), Data::new());
    client.flush(&mut to_server);
    for _ in 0..4 {
        for chunk in std::mem::take(&mut to_server).chunks() {
            server.receive(chunk, &mut plain, &mut to_client).unwrap();
        }
        for chunk in std::mem::take(&mut to_client).chunks() {
            client.receive(chunk, &mut plain, &mut to_server).unwrap();
        }
    }
    let Some((&split, rest)) = data.split_first() else { return 0 };
    // Each piece is a record the client sealed, its close_notify, or raw bytes.
    for piece in rest.chunks(1 + split as usize) {
        let mut wire = Data::new();
        match piece[0] % 4 {
            0 => client.close(&mut wire),
            1 | 2 => client.send(&Data::from(piece.to_vec()), &mut wire),
            _ => wire.push(Data::from(piece.to_vec())),
        }
        for chunk in wire.chunks() {
            if server.receive(chunk, &mut plain, &mut to_client).is_err() {
                return plain.len();
            }
        }
        assert!(plain.len() <= data.len() * 2, "more plaintext than was sent");
    }
    plain.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{client_config, server_config};
    use rustls::{ClientConnection, ServerConnection};
    use std::sync::Arc;

    /// Hands every byte of `wire` to `to`, `step` bytes at a time.
    fn deliver(to: &mut Tls, wire: Data, step: usize, plain: &mut Data, back: &mut Data) -> Result<(), rustls::Error> {
        let bytes = wire.to_vec();
        for piece in bytes.chunks(step.max(1)) {
            to.receive(piece, plain, back)?;
        }
        Ok(())
    }

    fn pair() -> (Tls, Tls) {
        let (server, roots) = server_config("localhost");
        let client = client_config(roots);
        let c = ClientConnection::new(Arc::new(client), "localhost".try_into().unwrap()).unwrap();
        let s = ServerConnection::new(Arc::new(server)).unwrap();
        (Tls::new(c), Tls::new(s))
    }

    /// A whole exchange, every flight cut into `step`-byte pieces.
    fn exchange(step: usize) {
        let (mut client, mut server) = pair();
        let (mut to_server, mut to_client) = (Data::new(), Data::new());
        client.flush(&mut to_server);
        let (mut plain_c, mut plain_s) = (Data::new(), Data::new());
        for _ in 0..10 {
            if !client.handshaking() && !server.handshaking() {
                break;
            }
            let w = std::mem::take(&mut to_server);
            deliver(&mut server, w, step, &mut plain_s, &mut to_client).unwrap();
            let w = std::mem::take(&mut to_client);
            deliver(&mut client, w, step, &mut plain_c, &mut to_server).unwrap();
        }
        assert!(!client.handshaking());
        client.send(&Data::from("GET / HTTP/1.1\r\n\r\n"), &mut to_server);
        let w = std::mem::take(&mut to_server);
        deliver(&mut server, w, step, &mut plain_s, &mut to_client).unwrap();
        assert!(!server.handshaking());
        assert_eq!(plain_s.to_vec(), b"GET / HTTP/1.1\r\n\r\n");
        let big = Data::from(vec![7u8; 100_000]);
        server.send(&big, &mut to_client);
        server.close(&mut to_client);
        let w = std::mem::take(&mut to_client);
        deliver(&mut client, w, step, &mut plain_c, &mut to_server).unwrap();
        assert_eq!(plain_c.len(), 100_000);
        assert!(client.peer_closed());
    }

    #[test]
    fn an_exchange_survives_any_split_of_its_bytes() {
        for step in [1, 2, 3, 5, 7, 64, 1000, 1 << 20] {
            exchange(step);
        }
    }

    #[test]
    fn bytes_after_close_notify_are_dropped_not_looped_on() {
        for step in [1, 7, 100_000] {
            let (mut client, mut server) = pair();
            let (mut to_server, mut to_client) = (Data::new(), Data::new());
            let (mut plain_c, mut plain_s) = (Data::new(), Data::new());
            client.flush(&mut to_server);
            for _ in 0..10 {
                let w = std::mem::take(&mut to_server);
                deliver(&mut server, w, step, &mut plain_s, &mut to_client).unwrap();
                let w = std::mem::take(&mut to_client);
                deliver(&mut client, w, step, &mut plain_c, &mut to_server).unwrap();
            }
            client.send(&Data::from("last words"), &mut to_server);
            client.close(&mut to_server);
            to_server.push(Data::from(vec![0x17u8; 6000]));
            let w = std::mem::take(&mut to_server);
            deliver(&mut server, w, step, &mut plain_s, &mut to_client).unwrap();
            assert!(server.peer_closed());
            assert_eq!(plain_s.to_vec(), b"last words");
        }
    }

    #[test]
    fn random_mixes_of_records_close_notify_and_garbage_end() {
        let mut rng = proxy_core::testing::Rng::new(5);
        for _ in 0..300 {
            let bytes: Vec<u8> = (0..rng.below(400) + 1).map(|_| rng.below(256) as u8).collect();
            fuzz_server_input(&bytes);
        }
    }

    #[test]
    fn garbage_is_an_error_with_an_alert_not_a_panic() {
        let (_, mut server) = pair();
        let (mut plain, mut wire) = (Data::new(), Data::new());
        let e = server.receive(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", &mut plain, &mut wire);
        assert!(e.is_err());
        assert!(plain.is_empty());
        let mut rng = proxy_core::testing::Rng::new(7);
        for _ in 0..200 {
            let (_, mut server) = pair();
            let len = rng.below(300) + 1;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            if rng.below(2) == 0 {
                bytes[0] = 0x16;
            }
            let _ = server.receive(&bytes, &mut plain, &mut wire);
        }
    }
}
