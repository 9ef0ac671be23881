//! Reading a ClientHello without terminating TLS: the server names (SNI) and the
//! protocol names (ALPN) a client offers, from bytes arriving in any pieces. The
//! handshake message is gathered across records up to `MAX_HELLO` bytes; past
//! that, or on anything that is not a ClientHello, the parser says so and keeps
//! nothing.

/// The largest ClientHello gathered; real ones are well under 2 KiB (post-quantum
/// key shares bring them near 2 KiB), and rustls refuses ones over 64 KiB too.
pub const MAX_HELLO: usize = 64 * 1024;

/// What a ClientHello offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The host names of the server_name extension.
    pub server_names: Vec<String>,
    /// The protocols of the ALPN extension, in the client's order.
    pub protocol_names: Vec<String>,
}

/// Where a parser is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloState {
    /// More bytes are needed.
    Reading,
    /// A whole ClientHello was read.
    Done(ClientHello),
    /// The bytes are not a ClientHello (or not one this parser takes).
    NotHello,
}

/// Gathers a ClientHello from the first bytes of a connection.
#[derive(Debug, Default)]
pub struct HelloParser {
    /// The record header being read.
    header: Vec<u8>,
    /// Bytes of the current record still to come.
    record_left: usize,
    /// The handshake message so far.
    message: Vec<u8>,
    finished: bool,
}

impl HelloParser {
    /// A parser at the start of a connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes; once it says `Done` or `NotHello` it takes no more.
    pub fn feed(&mut self, mut input: &[u8]) -> HelloState {
        if self.finished {
            return HelloState::NotHello;
        }
        while !input.is_empty() {
            if self.record_left == 0 {
                let need = 5 - self.header.len();
                let take = need.min(input.len());
                self.header.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.header.len() < 5 {
                    break;
                }
                let (kind, major, len) =
                    (self.header[0], self.header[1], u16::from_be_bytes([self.header[3], self.header[4]]));
                self.header.clear();
                if kind != 22 || major != 3 || len == 0 {
                    return self.give_up();
                }
                self.record_left = len as usize;
                continue;
            }
            let take = self.record_left.min(input.len());
            if self.message.len() + take > MAX_HELLO {
                return self.give_up();
            }
            self.message.extend_from_slice(&input[..take]);
            self.record_left -= take;
            input = &input[take..];
            if let Some(state) = self.check_message() {
                return state;
            }
        }
        HelloState::Reading
    }

    fn give_up(&mut self) -> HelloState {
        self.finished = true;
        self.message = Vec::new();
        HelloState::NotHello
    }

    /// Whether the message gathered is complete, and what it is then.
    fn check_message(&mut self) -> Option<HelloState> {
        if self.message.is_empty() {
            return None;
        }
        if self.message[0] != 1 {
            return Some(self.give_up());
        }
        if self.message.len() < 4 {
            return None;
        }
        let len = u32::from_be_bytes([0, self.message[1], self.message[2], self.message[3]]) as usize;
        if len + 4 > MAX_HELLO {
            return Some(self.give_up());
        }
        if self.message.len() < len + 4 {
            return None;
        }
        let parsed = parse_body(&self.message[4..len + 4]);
        self.finished = true;
        self.message = Vec::new();
        Some(match parsed {
            Some(hello) => HelloState::Done(hello),
            None => HelloState::NotHello,
        })
    }
}

/// Reads big-endian fields off a slice, failing on any overrun.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| b[0] as usize)
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    }
    /// A field prefixed with its one-byte length.
    fn short(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    /// A field prefixed with its two-byte length.
    fn long(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn parse_body(body: &[u8]) -> Option<ClientHello> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // version, random
    r.short()?; // session id
    r.long()?; // cipher suites
    r.short()?; // compression methods
    let mut hello = ClientHello::default();
    if r.0.is_empty() {
        return Some(hello); // no extensions
    }
    let mut exts = Reader(r.long()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let mut data = Reader(exts.long()?);
        match kind {
            0 => {
                let mut list = Reader(data.long()?);
                while !list.0.is_empty() {
                    let name_type = list.u8()?;
                    let name = list.long()?;
                    if name_type == 0 {
                        hello.server_names.push(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            16 => {
                let mut list = Reader(data.long()?);
                while !list.0.is_empty() {
                    hello.protocol_names.push(String::from_utf8_lossy(list.short()?).into_owned());
                }
            }
            _ => {}
        }
    }
    Some(hello)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::client_config;
    use proxy_core::testing::Rng;
    use std::sync::Arc;

    /// The ClientHello rustls sends for `name`, offering h2 and http/1.1.
    fn hello_bytes(name: &str) -> Vec<u8> {
        let mut config = client_config(rustls::RootCertStore::empty());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name.to_string().try_into().unwrap()).unwrap();
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).unwrap();
        }
        out
    }

    fn expected() -> HelloState {
        HelloState::Done(ClientHello {
            server_names: vec!["example.com".into()],
            protocol_names: vec!["h2".into(), "http/1.1".into()],
        })
    }

    #[test]
    fn a_client_hello_split_at_every_byte_gives_its_names() {
        let bytes = hello_bytes("example.com");
        assert_eq!(HelloParser::new().feed(&bytes), expected());
        for cut in 0..=bytes.len() {
            let mut p = HelloParser::new();
            let first = p.feed(&bytes[..cut]);
            let state = if cut == bytes.len() { first } else { p.feed(&bytes[cut..]) };
            assert_eq!(state, expected(), "cut at {cut}");
        }
        let mut p = HelloParser::new();
        let mut last = HelloState::Reading;
        for b in &bytes {
            last = p.feed(std::slice::from_ref(b));
        }
        assert_eq!(last, expected());
    }

    #[test]
    fn a_hello_spread_over_several_records_is_gathered() {
        let bytes = hello_bytes("example.com");
        let body = &bytes[5..];
        let mut split = Vec::new();
        for piece in body.chunks(50) {
            split.extend_from_slice(&[22, 3, 1]);
            split.extend_from_slice(&(piece.len() as u16).to_be_bytes());
            split.extend_from_slice(piece);
        }
        assert_eq!(HelloParser::new().feed(&split), expected());
    }

    #[test]
    fn what_is_not_a_hello_is_said_at_once() {
        assert_eq!(HelloParser::new().feed(b"GET / HTTP/1.1\r\n"), HelloState::NotHello);
        assert_eq!(HelloParser::new().feed(&[22, 3, 1, 0, 5, 2, 0, 0, 1, 0]), HelloState::NotHello);
        assert_eq!(HelloParser::new().feed(&[22, 3, 1, 0, 0]), HelloState::NotHello);
        // A message claiming to be larger than MAX_HELLO is refused before it is gathered.
        assert_eq!(HelloParser::new().feed(&[22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]), HelloState::NotHello);
        assert_eq!(HelloParser::new().feed(&[22, 3]), HelloState::Reading);
    }

    #[test]
    fn random_bytes_and_mutated_hellos_never_panic_or_hold_more_than_the_bound() {
        let good = hello_bytes("example.com");
        let mut rng = Rng::new(11);
        for _ in 0..3000 {
            let mut bytes = if rng.below(2) == 0 {
                good.clone()
            } else {
                (0..rng.below(600)).map(|_| rng.below(256) as u8).collect()
            };
            for _ in 0..rng.below(4) {
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.below(256) as u8;
                }
            }
            let mut p = HelloParser::new();
            for piece in rng.pieces(&bytes) {
                p.feed(piece);
                assert!(p.message.len() <= MAX_HELLO);
            }
        }
    }
}
