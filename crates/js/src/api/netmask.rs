//! `Netmask`: an IPv4 or IPv6 network as Pipy has it, for allow-lists and
//! routing by address: `new Netmask('10.0.0.0/8').contains(ip)`. On `ipnet`.

#![allow(unsafe_code)] // rquickjs' class macros generate `unsafe impl`s of its own traits.

use ipnet::IpNet;
use rquickjs::class::Trace;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, JsLifetime, Result, Value};
use std::net::IpAddr;

/// `Netmask` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Netmask")]
pub struct JsNetmask {
    /// The address as given.
    #[qjs(skip_trace)]
    ip: IpAddr,
    #[qjs(skip_trace)]
    net: IpNet,
}

/// `ip` as a number (IPv4 in the low 32 bits).
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of `n` in the family of `like`.
fn addr(like: IpAddr, n: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4((n as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(n.into()),
    }
}

/// What a text says: `a.b.c.d/n`, `x::y/n`, or an address alone (which, as in
/// Pipy, is a mask of 0 bits).
fn parse(text: &str) -> std::result::Result<(IpAddr, IpNet), String> {
    let (ip, bits) = match text.split_once('/') {
        Some((ip, n)) => (ip, n.trim().parse::<u8>().map_err(|_| format!("'{n}' is not a mask length"))?),
        None => (text, 0),
    };
    let ip: IpAddr = ip.trim().parse().map_err(|_| format!("'{text}' is not CIDR notation"))?;
    let net = IpNet::new(ip, bits).map_err(|_| format!("the mask length of '{text}' is out of range"))?;
    Ok((ip, net.trunc()))
}

#[rquickjs::methods]
impl JsNetmask {
    /// `new Netmask(cidr)` or `new Netmask(bitmask, ip)`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'_>, first: Value<'_>, ip: Opt<Value<'_>>) -> Result<Self> {
        let text = match (first.as_number(), ip.0) {
            (Some(n), Some(ip)) => {
                let ip = match ip.as_array() {
                    // Pipy's form: the address's bytes, 4 or 16 of them.
                    Some(bytes) => {
                        let bytes: Vec<u8> = bytes.iter::<f64>().map(|b| b.map(|b| b as u8)).collect::<Result<_>>()?;
                        match bytes.len() {
                            4 => IpAddr::from(<[u8; 4]>::try_from(bytes).expect("4 bytes")).to_string(),
                            16 => IpAddr::from(<[u8; 16]>::try_from(bytes).expect("16 bytes")).to_string(),
                            n => {
                                return Err(Exception::throw_type(
                                    &ctx,
                                    &format!("Netmask: {n} bytes are not an address (4 or 16)"),
                                ))
                            }
                        }
                    }
                    None => ip.get::<rquickjs::Coerced<String>>()?.0,
                };
                format!("{ip}/{n}")
            }
            _ => first.get::<rquickjs::Coerced<String>>()?.0,
        };
        let (ip, net) = parse(&text).map_err(|why| Exception::throw_type(&ctx, &format!("Netmask: {why}")))?;
        Ok(JsNetmask { ip, net })
    }

    /// 4 or 6.
    #[qjs(get)]
    pub fn version(&self) -> u8 {
        if self.ip.is_ipv4() {
            4
        } else {
            6
        }
    }

    /// The address as given.
    #[qjs(get)]
    pub fn ip(&self) -> String {
        self.ip.to_string()
    }

    /// The mask length.
    #[qjs(get)]
    pub fn bitmask(&self) -> u8 {
        self.net.prefix_len()
    }

    /// The network's address.
    #[qjs(get)]
    pub fn base(&self) -> String {
        self.net.network().to_string()
    }

    /// The mask, as an address (`255.255.255.0`).
    #[qjs(get)]
    pub fn mask(&self) -> String {
        self.net.netmask().to_string()
    }

    /// The mask's complement (`0.0.0.255`).
    #[qjs(get)]
    pub fn hostmask(&self) -> String {
        self.net.hostmask().to_string()
    }

    /// The network's last address.
    #[qjs(get)]
    pub fn broadcast(&self) -> String {
        self.net.broadcast().to_string()
    }

    /// How many addresses it has (a float for large IPv6 networks).
    #[qjs(get)]
    pub fn size(&self) -> f64 {
        let host_bits = self.net.max_prefix_len() - self.net.prefix_len();
        2f64.powi(host_bits as i32)
    }

    /// Its first address after the base (the base itself for a /31 or /32).
    #[qjs(get)]
    pub fn first(&self) -> String {
        let host = bits(self.net.hostmask());
        addr(self.ip, bits(self.net.network()) | (host & 1)).to_string()
    }

    /// Its last address before the broadcast (as Pipy computes it).
    #[qjs(get)]
    pub fn last(&self) -> String {
        let host = bits(self.net.hostmask());
        addr(self.ip, bits(self.net.network()) | (host & host.wrapping_sub(1))).to_string()
    }

    /// True if `ip` (an address of the same family) is in the network.
    pub fn contains(&self, ip: rquickjs::Coerced<String>) -> bool {
        ip.0.trim().parse::<IpAddr>().is_ok_and(|a| self.net.contains(&a))
    }

    /// `a.b.c.d/n`.
    #[qjs(rename = "toString")]
    pub fn to_text(&self) -> String {
        format!("{}/{}", self.ip, self.net.prefix_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_read_as_pipy_reads_them() {
        let (ip, net) = parse("10.1.2.3/8").unwrap();
        assert_eq!(
            (ip.to_string(), net.network().to_string(), net.broadcast().to_string()),
            ("10.1.2.3".into(), "10.0.0.0".into(), "10.255.255.255".into())
        );
        assert!(net.contains(&"10.200.0.1".parse::<IpAddr>().unwrap()));
        assert!(!net.contains(&"11.0.0.1".parse::<IpAddr>().unwrap()));
        let (_, v6) = parse("fd00::1/64").unwrap();
        assert_eq!(v6.network().to_string(), "fd00::");
        assert_eq!(parse("1.2.3.4").unwrap().1.prefix_len(), 0, "an address alone is a mask of 0 bits, as in Pipy");
        for bad in ["10.0.0.0/33", "nope/8", "10.0.0.0/x", "::1/129", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
