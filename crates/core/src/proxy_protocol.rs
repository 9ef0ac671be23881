//! The PROXY protocol (haproxy's `proxy-protocol.txt`, versions 1 and 2): the
//! header a load balancer puts before a connection's bytes to say whom the
//! connection is really from. `Reader` takes bytes as they come and says when
//! it has a whole header (and where the connection's own bytes start), or that
//! what came is not one; `encode_v1` / `encode_v2` write one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The signature a version 2 header starts with.
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// A version 1 header is one line of at most this many bytes, CRLF included.
const V1_MAX: usize = 107;

/// Largest address block of a version 2 header this reader takes (TLVs
/// included); the format allows 65,535, real ones are a few hundred.
const V2_MAX_BLOCK: usize = 4096;

/// What a header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// 1 or 2.
    pub version: u8,
    /// `PROXY`, or `LOCAL` (version 2: a health check from the balancer itself).
    pub command: &'static str,
    /// `TCP4`, `TCP6`, `UDP4`, `UDP6`, `UNIX`, `UNIX_DGRAM` or `UNKNOWN`.
    pub protocol: &'static str,
    /// Whom the connection is from, and to (absent for `UNKNOWN`, `LOCAL`, `UNIX`).
    pub source: Option<SocketAddr>,
    /// Where the connection was made to.
    pub target: Option<SocketAddr>,
}

/// Why bytes are not a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a PROXY protocol header: {}", self.0)
    }
}

fn bad(why: impl Into<String>) -> Invalid {
    Invalid(why.into())
}

/// Reads a header from bytes as they come.
#[derive(Default)]
pub struct Reader {
    held: Vec<u8>,
}

/// What `Reader::feed` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// More bytes are needed.
    More,
    /// A whole header; the connection's own bytes are what was held after it.
    Done(Header, Vec<u8>),
}

impl Reader {
    /// Takes `bytes`; a header once whole, or why what came is not one.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Read, Invalid> {
        self.held.extend_from_slice(bytes);
        let h = &self.held;
        let n = h.len();
        // Which version the first bytes can still be.
        let v1 = b"PROXY "[..n.min(6)] == h[..n.min(6)];
        let v2 = V2_SIGNATURE[..n.min(12)] == h[..n.min(12)];
        if !v1 && !v2 {
            return Err(bad("it starts with neither \"PROXY \" nor the version 2 signature"));
        }
        if v1 && n >= 6 {
            let Some(end) = h.windows(2).position(|w| w == b"\r\n") else {
                if n >= V1_MAX {
                    return Err(bad("a version 1 line longer than 107 bytes"));
                }
                return Ok(Read::More);
            };
            if end + 2 > V1_MAX {
                return Err(bad("a version 1 line longer than 107 bytes"));
            }
            let header = parse_v1(&h[6..end])?;
            let rest = h[end + 2..].to_vec();
            return Ok(Read::Done(header, rest));
        }
        if v2 && n >= 13 && h[12] >> 4 != 2 {
            return Err(bad(format!("version {} after the version 2 signature", h[12] >> 4)));
        }
        if v2 && n >= 16 {
            let len = u16::from_be_bytes([h[14], h[15]]) as usize;
            if len > V2_MAX_BLOCK {
                return Err(bad(format!("a version 2 address block of {len} bytes")));
            }
            if n < 16 + len {
                return Ok(Read::More);
            }
            let header = parse_v2(h[12], h[13], &h[16..16 + len])?;
            let rest = h[16 + len..].to_vec();
            return Ok(Read::Done(header, rest));
        }
        Ok(Read::More)
    }
}

fn parse_v1(line: &[u8]) -> Result<Header, Invalid> {
    let line = std::str::from_utf8(line).map_err(|_| bad("a version 1 line that is not text"))?;
    let mut parts = line.split(' ');
    let protocol = match parts.next() {
        Some("TCP4") => "TCP4",
        Some("TCP6") => "TCP6",
        Some("UNKNOWN") => {
            return Ok(Header { version: 1, command: "PROXY", protocol: "UNKNOWN", source: None, target: None });
        }
        other => return Err(bad(format!("version 1 protocol {other:?}"))),
    };
    let fields: Vec<&str> = parts.collect();
    let [src, dst, sport, dport] = fields[..] else {
        return Err(bad("a version 1 line without its four addresses and ports"));
    };
    let ip = |s: &str| -> Result<IpAddr, Invalid> {
        let ip: IpAddr = s.parse().map_err(|_| bad(format!("address {s:?}")))?;
        match (protocol, ip) {
            ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_)) => Ok(ip),
            _ => Err(bad(format!("address {s:?} for {protocol}"))),
        }
    };
    let port = |s: &str| -> Result<u16, Invalid> {
        if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
        {
            return Err(bad(format!("port {s:?}")));
        }
        s.parse().map_err(|_| bad(format!("port {s:?}")))
    };
    Ok(Header {
        version: 1,
        command: "PROXY",
        protocol,
        source: Some(SocketAddr::new(ip(src)?, port(sport)?)),
        target: Some(SocketAddr::new(ip(dst)?, port(dport)?)),
    })
}

fn parse_v2(ver_cmd: u8, family: u8, block: &[u8]) -> Result<Header, Invalid> {
    if ver_cmd >> 4 != 2 {
        return Err(bad(format!("version {} after the version 2 signature", ver_cmd >> 4)));
    }
    let command = match ver_cmd & 0x0f {
        0 => "LOCAL",
        1 => "PROXY",
        c => return Err(bad(format!("version 2 command {c}"))),
    };
    if command == "LOCAL" {
        // The balancer's own connection: its family and addresses do not count.
        return Ok(Header { version: 2, command, protocol: "UNKNOWN", source: None, target: None });
    }
    let protocol = match family {
        0x00 => "UNKNOWN",
        0x11 => "TCP4",
        0x12 => "UDP4",
        0x21 => "TCP6",
        0x22 => "UDP6",
        0x31 => "UNIX",
        0x32 => "UNIX_DGRAM",
        f => return Err(bad(format!("version 2 family and protocol 0x{f:02x}"))),
    };
    let (source, target) = match family >> 4 {
        1 => {
            let [a, b, c, d, e, f, g, h, sp0, sp1, dp0, dp1, ..] = *block else {
                return Err(bad("a version 2 IPv4 block shorter than 12 bytes"));
            };
            let src = SocketAddr::new(Ipv4Addr::new(a, b, c, d).into(), u16::from_be_bytes([sp0, sp1]));
            let dst = SocketAddr::new(Ipv4Addr::new(e, f, g, h).into(), u16::from_be_bytes([dp0, dp1]));
            (Some(src), Some(dst))
        }
        2 => {
            if block.len() < 36 {
                return Err(bad("a version 2 IPv6 block shorter than 36 bytes"));
            }
            let addr = |at: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&block[at..at + 16]);
                Ipv6Addr::from(o)
            };
            let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
            (Some(SocketAddr::new(addr(0).into(), port(32))), Some(SocketAddr::new(addr(16).into(), port(34))))
        }
        _ => (None, None),
    };
    // An IPv4 client carried as IPv6 (`::ffff:a.b.c.d`) is the IPv4 one.
    let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    Ok(Header { version: 2, command, protocol, source: source.map(canonical), target: target.map(canonical) })
}

/// A version 1 header for a connection from `source` to `target`.
pub fn encode_v1(source: SocketAddr, target: SocketAddr) -> Vec<u8> {
    let (src, dst) = same_family(source, target);
    let protocol = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!("PROXY {protocol} {} {} {} {}\r\n", src.ip(), dst.ip(), src.port(), dst.port()).into_bytes()
}

/// A version 2 header (command PROXY, over TCP) for a connection from `source` to `target`.
pub fn encode_v2(source: SocketAddr, target: SocketAddr) -> Vec<u8> {
    let (src, dst) = same_family(source, target);
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x21);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend([0x11, 0, 12]);
            out.extend(s.octets());
            out.extend(d.octets());
        }
        (s, d) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V6(a) => a,
                IpAddr::V4(a) => a.to_ipv6_mapped(),
            };
            out.extend([0x21, 0, 36]);
            out.extend(v6(s).octets());
            out.extend(v6(d).octets());
        }
    }
    out.extend(src.port().to_be_bytes());
    out.extend(dst.port().to_be_bytes());
    out
}

/// A header that names no addresses: version 1 `UNKNOWN`, version 2 `LOCAL`.
pub fn encode_unknown(version: u8) -> Vec<u8> {
    if version == 2 {
        let mut out = V2_SIGNATURE.to_vec();
        out.extend([0x20, 0x00, 0, 0]);
        out
    } else {
        b"PROXY UNKNOWN\r\n".to_vec()
    }
}

/// Both addresses in one family (IPv4 mapped into IPv6 when they differ).
fn same_family(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    match (a, b) {
        (SocketAddr::V4(_), SocketAddr::V6(_)) => (SocketAddr::new(map(a.ip()), a.port()), b),
        (SocketAddr::V6(_), SocketAddr::V4(_)) => (a, SocketAddr::new(map(b.ip()), b.port())),
        _ => (a, b),
    }
}

fn map(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    fn read_in_pieces(bytes: &[u8], piece: usize) -> Result<Read, Invalid> {
        let mut r = Reader::default();
        let mut last = Read::More;
        for p in bytes.chunks(piece.max(1)) {
            last = r.feed(p)?;
            if let Read::Done(..) = last {
                return Ok(last);
            }
        }
        Ok(last)
    }

    #[test]
    fn both_versions_read_the_same_header_split_at_every_byte_and_leave_the_rest() {
        let src: SocketAddr = "192.0.2.7:51000".parse().unwrap();
        let dst: SocketAddr = "198.51.100.1:443".parse().unwrap();
        for (version, mut bytes) in [(1, encode_v1(src, dst)), (2, encode_v2(src, dst))] {
            bytes.extend(b"GET / HTTP/1.1\r\n");
            for piece in 1..bytes.len() {
                let Ok(Read::Done(h, rest)) = read_in_pieces(&bytes, piece) else { panic!("v{version} piece {piece}") };
                assert_eq!((h.version, h.command, h.protocol), (version, "PROXY", "TCP4"));
                assert_eq!((h.source, h.target), (Some(src), Some(dst)));
                // What came in the same piece as the header's end.
                let header_len = bytes.len() - 16;
                let fed = header_len.div_ceil(piece) * piece;
                assert_eq!(rest, bytes[header_len..fed.min(bytes.len())], "v{version} piece {piece}");
            }
        }
        let v6: SocketAddr = "[2001:db8::1]:1234".parse().unwrap();
        let Ok(Read::Done(h, _)) = read_in_pieces(&encode_v2(v6, dst), 100) else { panic!() };
        assert_eq!((h.protocol, h.source), ("TCP6", Some(v6)));
        let Ok(Read::Done(h, _)) = read_in_pieces(b"PROXY UNKNOWN ignored\r\n", 100) else { panic!() };
        assert_eq!((h.protocol, h.source), ("UNKNOWN", None));
    }

    #[test]
    fn local_ignores_its_family_and_a_mapped_ipv4_client_is_ipv4() {
        let local = b"\r\n\r\n\0\r\nQUIT\n\x20\x11\x00\x04abcd";
        let Ok(Read::Done(h, _)) = read_in_pieces(local, 5) else { panic!() };
        assert_eq!((h.command, h.source), ("LOCAL", None));
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:7".parse().unwrap();
        let Ok(Read::Done(h, _)) = read_in_pieces(&encode_v2(mapped, "[2001:db8::2]:8".parse().unwrap()), 64) else {
            panic!()
        };
        assert_eq!(h.source, Some("192.0.2.1:7".parse().unwrap()));
    }

    #[test]
    fn headers_without_addresses_read_back() {
        let Ok(Read::Done(h, _)) = read_in_pieces(&encode_unknown(2), 1) else { panic!() };
        assert_eq!((h.version, h.command, h.source), (2, "LOCAL", None));
        let Ok(Read::Done(h, _)) = read_in_pieces(&encode_unknown(1), 1) else { panic!() };
        assert_eq!((h.version, h.protocol), (1, "UNKNOWN"));
    }

    #[test]
    fn what_is_not_a_header_says_why() {
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 070000\r\n",
            b"PROXY TCP4 ::1 5.6.7.8 80 80\r\n",
            b"PROXY TCP5 1.2.3.4 5.6.7.8 80 80\r\n",
            b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c",
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04abcd",
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff",
        ] {
            assert!(read_in_pieces(bad, 3).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(120));
        assert!(read_in_pieces(long.as_bytes(), 1).is_err(), "a line past 107 bytes");
        assert_eq!(read_in_pieces(b"PROXY TCP4 1.2.3.4", 2), Ok(Read::More));
    }

    #[test]
    fn random_bytes_never_panic_and_a_header_read_is_well_formed() {
        let mut rng = Rng::new(11);
        let good = encode_v2("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
        for _ in 0..20_000 {
            let mut bytes = if rng.below(2) == 0 {
                good.clone()
            } else {
                encode_v1("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap())
            };
            for _ in 0..rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.below(256) as u8;
            }
            if let Ok(Read::Done(h, _)) = read_in_pieces(&bytes, 1 + rng.below(20)) {
                assert!(h.version == 1 || h.version == 2);
            }
        }
    }
}
