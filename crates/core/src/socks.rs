//! SOCKS, versions 4, 4a and 5 (RFC 1928), `CONNECT` only and without
//! authentication: `Server` reads a client's request from bytes as they come
//! (answering a version 5 greeting on the way) and says when it has the
//! target; `Request::reply` is the answer that accepts or refuses it. `Client`
//! is the other side: the greeting and the request it sends, and the server's
//! answers read as they come. Written by hand: the crates that speak SOCKS
//! drive a socket themselves, and here bytes come as events.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest user id or domain name taken (both are at most 255 in version 5).
const MAX_NAME: usize = 255;

/// The target a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// 4 (4a included) or 5.
    pub version: u8,
    /// The user id of a version 4 request (empty when none).
    pub id: String,
    /// An address, when the client gave one.
    pub ip: Option<IpAddr>,
    /// A name to resolve, when the client gave one (4a, or version 5's domain form).
    pub domain: Option<String>,
    /// The port.
    pub port: u16,
}

impl Request {
    /// The answer to this request: granted or refused.
    pub fn reply(&self, granted: bool) -> Vec<u8> {
        if self.version == 4 {
            reply4(if granted { 0x5a } else { 0x5b })
        } else {
            reply5(if granted { 0x00 } else { 0x02 })
        }
    }

    /// `host:port` (an IPv6 address in brackets).
    pub fn target(&self) -> String {
        match (&self.domain, self.ip) {
            (Some(d), _) => format!("{d}:{}", self.port),
            (None, Some(IpAddr::V6(ip))) => format!("[{ip}]:{}", self.port),
            (None, Some(ip)) => format!("{ip}:{}", self.port),
            (None, None) => format!(":{}", self.port),
        }
    }
}

/// A version 4 answer with `code` (0x5a granted, 0x5b refused).
fn reply4(code: u8) -> Vec<u8> {
    vec![0, code, 0, 0, 0, 0, 0, 0]
}

/// A version 5 answer with `code`, and an unspecified bound address.
fn reply5(code: u8) -> Vec<u8> {
    vec![5, code, 0, 1, 0, 0, 0, 0, 0, 0]
}

/// Why a request cannot be served, and what to answer before closing (if the
/// protocol has an answer for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What was wrong, for the log.
    pub why: &'static str,
    /// The bytes to send before closing (empty: none).
    pub reply: Vec<u8>,
}

fn refuse(why: &'static str, reply: Vec<u8>) -> Refusal {
    Refusal { why, reply }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The first bytes: a version 4 request, or a version 5 greeting.
    First,
    /// Version 5, after the greeting: the request.
    Request5,
    /// Done (a request was read, or refused).
    Done,
}

/// Reads a client's request as bytes come.
pub struct Server {
    held: Vec<u8>,
    phase: Phase,
}

impl Default for Server {
    fn default() -> Self {
        Server { held: Vec::new(), phase: Phase::First }
    }
}

/// What `Server::feed` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// More bytes are needed.
    More,
    /// The request, and the bytes that came after it (the stream's own).
    Done(Request, Vec<u8>),
}

impl Server {
    /// Takes `bytes`; what to answer on the way (a version 5 method choice) is
    /// appended to `answer`. The request once whole, or why there is none.
    pub fn feed(&mut self, bytes: &[u8], answer: &mut Vec<u8>) -> Result<Read, Refusal> {
        if self.phase == Phase::Done {
            return Ok(Read::More);
        }
        self.held.extend_from_slice(bytes);
        let result = self.step(answer);
        if !matches!(result, Ok(Read::More)) {
            self.phase = Phase::Done;
        }
        result
    }

    fn step(&mut self, answer: &mut Vec<u8>) -> Result<Read, Refusal> {
        if self.phase == Phase::First {
            match self.held.first() {
                None => return Ok(Read::More),
                Some(4) => return self.request4(),
                Some(5) => {
                    let Some(&n) = self.held.get(1) else { return Ok(Read::More) };
                    let n = n as usize;
                    if n == 0 {
                        return Err(refuse("a SOCKS5 greeting offering no method", vec![5, 0xff]));
                    }
                    if self.held.len() < 2 + n {
                        return Ok(Read::More);
                    }
                    if !self.held[2..2 + n].contains(&0) {
                        return Err(refuse("a SOCKS5 client that will not go without authentication", vec![5, 0xff]));
                    }
                    answer.extend_from_slice(&[5, 0]);
                    self.held.drain(..2 + n);
                    self.phase = Phase::Request5;
                }
                Some(_) => return Err(refuse("not a SOCKS request (the version is not 4 or 5)", Vec::new())),
            }
        }
        self.request5()
    }

    /// `VER CMD PORT(2) IP(4) USERID NUL [DOMAIN NUL]`.
    fn request4(&mut self) -> Result<Read, Refusal> {
        let h = &self.held;
        if h.len() < 8 {
            return Ok(Read::More);
        }
        if h[1] != 1 {
            return Err(refuse("a SOCKS4 command other than CONNECT", reply4(0x5b)));
        }
        let port = u16::from_be_bytes([h[2], h[3]]);
        let ip = Ipv4Addr::new(h[4], h[5], h[6], h[7]);
        let Some(id_end) = nul_within(&h[8..]) else {
            return if h.len() - 8 > MAX_NAME {
                Err(refuse("a SOCKS4 user id over 255 bytes", reply4(0x5b)))
            } else {
                Ok(Read::More)
            };
        };
        let id = String::from_utf8_lossy(&h[8..8 + id_end]).into_owned();
        let mut end = 8 + id_end + 1;
        // 4a: 0.0.0.x (x not 0) says a name follows.
        let named = ip.octets()[..3] == [0, 0, 0] && ip.octets()[3] != 0;
        let mut domain = None;
        if named {
            let Some(name_end) = nul_within(&h[end..]) else {
                return if h.len() - end > MAX_NAME {
                    Err(refuse("a SOCKS4a domain over 255 bytes", reply4(0x5b)))
                } else {
                    Ok(Read::More)
                };
            };
            let name = &h[end..end + name_end];
            if name.is_empty() || !name.iter().all(|&b| host_byte(b)) {
                return Err(refuse("a SOCKS4a domain that is not a host name", reply4(0x5b)));
            }
            domain = Some(String::from_utf8_lossy(name).into_owned());
            end += name_end + 1;
        }
        if port == 0 {
            return Err(refuse("a SOCKS request for port 0", reply4(0x5b)));
        }
        let rest = h[end..].to_vec();
        let ip = if named { None } else { Some(IpAddr::V4(ip)) };
        Ok(Read::Done(Request { version: 4, id, ip, domain, port }, rest))
    }

    /// `VER CMD RSV ATYP ADDR PORT(2)`.
    fn request5(&mut self) -> Result<Read, Refusal> {
        let h = &self.held;
        if h.len() < 4 {
            return Ok(Read::More);
        }
        if h[0] != 5 {
            return Err(refuse("a SOCKS5 request with another version", reply5(0x01)));
        }
        if h[1] != 1 {
            return Err(refuse("a SOCKS5 command other than CONNECT", reply5(0x07)));
        }
        let (addr_len, start) = match h[3] {
            1 => (4, 4),
            4 => (16, 4),
            3 => match h.get(4) {
                None => return Ok(Read::More),
                Some(0) => return Err(refuse("a SOCKS5 domain of length 0", reply5(0x01))),
                Some(&n) => (n as usize, 5),
            },
            _ => return Err(refuse("a SOCKS5 address of unknown type", reply5(0x08))),
        };
        let end = start + addr_len + 2;
        if h.len() < end {
            return Ok(Read::More);
        }
        let addr = &h[start..start + addr_len];
        let (ip, domain) = match h[3] {
            1 => (Some(IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))), None),
            4 => {
                let octets: [u8; 16] = addr.try_into().expect("16 bytes");
                (Some(IpAddr::V6(Ipv6Addr::from(octets))), None)
            }
            _ => {
                if !addr.iter().all(|&b| host_byte(b)) {
                    return Err(refuse("a SOCKS5 domain that is not a host name", reply5(0x01)));
                }
                (None, Some(String::from_utf8_lossy(addr).into_owned()))
            }
        };
        let port = u16::from_be_bytes([h[end - 2], h[end - 1]]);
        if port == 0 {
            return Err(refuse("a SOCKS request for port 0", reply5(0x01)));
        }
        let rest = h[end..].to_vec();
        Ok(Read::Done(Request { version: 5, id: String::new(), ip, domain, port }, rest))
    }
}

/// Where the first NUL of `b` is, if it is within the first `MAX_NAME + 1` bytes.
fn nul_within(b: &[u8]) -> Option<usize> {
    b.iter().take(MAX_NAME + 1).position(|&c| c == 0)
}

/// A byte a host name may hold.
fn host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'
}

/// The greeting a client sends first: version 5, one method, no authentication.
pub const GREETING: [u8; 3] = [5, 1, 0];

/// A version 5 `CONNECT` request for `host:port`: an IPv4 or IPv6 address as
/// one, anything else as a domain; None if the target is not `host:port` or
/// its name is over 255 bytes.
pub fn connect_request(target: &str) -> Option<Vec<u8>> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let mut b = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            b.push(1);
            b.extend(ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            b.push(4);
            b.extend(ip.octets());
        }
        Err(_) => {
            if host.is_empty() || host.len() > MAX_NAME {
                return None;
            }
            b.push(3);
            b.push(host.len() as u8);
            b.extend(host.as_bytes());
        }
    }
    b.extend(port.to_be_bytes());
    Some(b)
}

/// What a server's answers said, read as they come by `Client`.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// More bytes are needed.
    More,
    /// The method choice came: send the request now.
    SendRequest,
    /// The request was granted; the bytes after the answer are the stream's.
    Granted(Vec<u8>),
}

/// Why a server's answers end the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The proxy said no (it wants authentication, or answered with a
    /// failure code): why, for the log.
    Refused(&'static str),
    /// What came is not SOCKS 5.
    Garbled(&'static str),
}

impl Failure {
    /// What was wrong, for the log.
    pub fn why(self) -> &'static str {
        match self {
            Failure::Refused(why) | Failure::Garbled(why) => why,
        }
    }
}

/// Reads a version 5 server's answers to `GREETING` and to a request.
#[derive(Default)]
pub struct Client {
    held: Vec<u8>,
    chose_method: bool,
    done: bool,
}

impl Client {
    /// Takes `bytes` of the server's answers.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Answer, Failure> {
        if self.done {
            return Ok(Answer::More);
        }
        self.held.extend_from_slice(bytes);
        let result = self.step();
        if result.is_err() {
            self.done = true;
        }
        result
    }

    fn step(&mut self) -> Result<Answer, Failure> {
        if !self.chose_method {
            if self.held.len() < 2 {
                return Ok(Answer::More);
            }
            if self.held[0] != 5 {
                return Err(Failure::Garbled("the proxy does not speak SOCKS5"));
            }
            if self.held[1] != 0 {
                return Err(Failure::Refused("the proxy wants authentication"));
            }
            self.held.drain(..2);
            self.chose_method = true;
            return Ok(Answer::SendRequest);
        }
        let h = &self.held;
        if h.len() < 2 {
            return Ok(Answer::More);
        }
        if h[0] != 5 {
            return Err(Failure::Garbled("a SOCKS5 answer with another version"));
        }
        if h[1] != 0 {
            return Err(Failure::Refused(match h[1] {
                1 => "the proxy failed (general failure)",
                2 => "the proxy's rules do not allow the connection",
                3 => "the proxy says the network is unreachable",
                4 => "the proxy says the host is unreachable",
                5 => "the proxy says the connection was refused",
                6 => "the proxy says the TTL expired",
                7 => "the proxy does not support CONNECT",
                8 => "the proxy does not support the address type",
                _ => "the proxy refused with an unknown code",
            }));
        }
        if h.len() < 5 {
            return Ok(Answer::More);
        }
        let len = match h[3] {
            1 => 4 + 4 + 2,
            4 => 4 + 16 + 2,
            3 => 5 + h[4] as usize + 2,
            _ => return Err(Failure::Garbled("a SOCKS5 answer with an unknown address type")),
        };
        if h.len() < len {
            return Ok(Answer::More);
        }
        self.done = true;
        Ok(Answer::Granted(h[len..].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `size`, collecting what is answered on the way.
    fn read(input: &[u8], size: usize) -> (Result<Read, Refusal>, Vec<u8>) {
        let mut s = Server::default();
        let mut answer = Vec::new();
        let mut last = Ok(Read::More);
        for piece in input.chunks(size.max(1)) {
            last = s.feed(piece, &mut answer);
            if !matches!(last, Ok(Read::More)) {
                break;
            }
        }
        (last, answer)
    }

    fn request(version: u8, ip: Option<&str>, domain: Option<&str>, port: u16, id: &str) -> Request {
        Request { version, id: id.into(), ip: ip.map(|i| i.parse().unwrap()), domain: domain.map(Into::into), port }
    }

    #[test]
    fn every_version_is_read_in_any_pieces_with_the_bytes_after_it_kept() {
        let cases: Vec<(Vec<u8>, Request, Vec<u8>)> = vec![
            (
                b"\x04\x01\x1f\x90\x7f\x00\x00\x01bob\0GET".to_vec(),
                request(4, Some("127.0.0.1"), None, 8080, "bob"),
                vec![],
            ),
            (
                b"\x04\x01\x00\x50\x00\x00\x00\x01\0example.com\0GET".to_vec(),
                request(4, None, Some("example.com"), 80, ""),
                vec![],
            ),
            (
                b"\x05\x02\x02\x00\x05\x01\x00\x03\x0bexample.com\x01\xbbGET".to_vec(),
                request(5, None, Some("example.com"), 443, ""),
                vec![5, 0],
            ),
            (
                b"\x05\x01\x00\x05\x01\x00\x01\x0a\x00\x00\x02\x00\x16GET".to_vec(),
                request(5, Some("10.0.0.2"), None, 22, ""),
                vec![5, 0],
            ),
            (
                [&b"\x05\x01\x00\x05\x01\x00\x04"[..], &[0; 15], &[1], &[0, 80], b"GET"].concat(),
                request(5, Some("::1"), None, 80, ""),
                vec![5, 0],
            ),
        ];
        for (input, want, answered) in cases {
            for size in 1..=input.len() {
                let (got, answer) = read(&input, size);
                match got {
                    Ok(Read::Done(r, rest)) => {
                        assert_eq!(r, want, "size {size}");
                        // The bytes after the request may have come in the same piece, or later.
                        assert!(b"GET".starts_with(&rest), "size {size}: {rest:?}");
                    }
                    other => panic!("size {size}: {other:?}"),
                }
                assert_eq!(answer, answered, "size {size}");
            }
        }
        assert_eq!(request(5, Some("::1"), None, 80, "").target(), "[::1]:80");
        assert_eq!(request(4, None, Some("db"), 5432, "").target(), "db:5432");
    }

    #[test]
    fn bad_requests_are_refused_with_the_protocol_s_own_answer() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"\x03\x01", b""),
            (b"GET / HTTP/1.1\r\n", b""),
            (b"\x04\x02\x00\x50\x7f\x00\x00\x01\0", &[0, 0x5b, 0, 0, 0, 0, 0, 0]),
            (b"\x04\x01\x00\x00\x7f\x00\x00\x01\0", &[0, 0x5b, 0, 0, 0, 0, 0, 0]),
            (b"\x05\x00", &[5, 0xff]),
            (b"\x05\x01\x02", &[5, 0xff]),
            (b"\x05\x01\x00\x05\x02\x00\x01", &[5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0]),
            (b"\x05\x01\x00\x05\x01\x00\x09", &[5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0]),
            (b"\x05\x01\x00\x04\x01\x00\x01", &[5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0]),
            (b"\x05\x01\x00\x05\x01\x00\x03\x00", &[5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0]),
            (b"\x05\x01\x00\x05\x01\x00\x03\x03a/b\x00\x50", &[5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0]),
        ];
        for (input, want) in cases {
            let (got, answer) = read(input, 1);
            let Err(refusal) = got else { panic!("{input:?}: {got:?}") };
            let sent = [answer, refusal.reply].concat();
            assert_eq!(&sent[..], *want, "{input:?}: {}", refusal.why);
        }
        // A user id without its NUL is cut off at 255 bytes, not held for ever.
        let mut long = b"\x04\x01\x00\x50\x7f\x00\x00\x01".to_vec();
        long.extend([b'a'; 300]);
        assert!(read(&long, 7).0.is_err());
    }

    #[test]
    fn random_bytes_never_panic_and_never_give_back_more_than_came() {
        let mut rng = crate::testing::Rng::new(0x50c5);
        for _ in 0..20_000 {
            let len = rng.below(40);
            let mut input: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            if len > 0 && rng.below(2) == 0 {
                input[0] = 4 + rng.below(2) as u8;
            }
            let (got, _) = read(&input, 1 + rng.below(8));
            if let Ok(Read::Done(_, rest)) = got {
                assert!(rest.len() < input.len());
            }
        }
    }

    #[test]
    fn the_client_sends_its_request_after_the_method_choice_and_is_granted_in_any_pieces() {
        assert_eq!(connect_request("10.0.0.1:80").unwrap(), b"\x05\x01\x00\x01\x0a\x00\x00\x01\x00\x50");
        assert_eq!(connect_request("db:5432").unwrap(), b"\x05\x01\x00\x03\x02db\x15\x38");
        assert_eq!(connect_request("[::1]:1").unwrap()[3], 4);
        for bad in ["db", "db:0", "db:x", ":80"] {
            assert_eq!(connect_request(bad), None, "{bad}");
        }
        let answers = b"\x05\x00\x05\x00\x00\x03\x02db\x15\x38hello";
        for size in 1..answers.len() {
            let mut c = Client::default();
            let (mut requested, mut granted, mut after) = (false, false, Vec::new());
            for piece in answers.chunks(size) {
                if granted {
                    // Once granted, the bytes are the caller's to pass on.
                    after.extend_from_slice(piece);
                    continue;
                }
                let mut answer = c.feed(piece).unwrap();
                if answer == Answer::SendRequest {
                    requested = true;
                    answer = c.feed(&[]).unwrap();
                }
                if let Answer::Granted(rest) = answer {
                    assert!(requested, "size {size}");
                    granted = true;
                    after.extend(rest);
                }
            }
            assert!(granted, "size {size}");
            assert_eq!(after, b"hello", "size {size}");
        }
        let mut c = Client::default();
        assert_eq!(c.feed(b"\x05\x00"), Ok(Answer::SendRequest));
        assert_eq!(c.feed(b"\x05\x05\x00\x01"), Err(Failure::Refused("the proxy says the connection was refused")));
        assert_eq!(Client::default().feed(b"\x05\x02"), Err(Failure::Refused("the proxy wants authentication")));
        assert_eq!(Client::default().feed(b"\x04\x00"), Err(Failure::Garbled("the proxy does not speak SOCKS5")));
    }
}
