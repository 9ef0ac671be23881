//! `connectProxyProtocol(header).to(...)`: puts a PROXY protocol header before
//! the stream it sends to its sub-pipeline (usually ending in `connect`), for a
//! server behind this proxy that reads one. `header` is an object (`version`
//! 1 or 2, `sourceAddress`, `sourcePort`, `targetAddress`, `targetPort`), or a
//! function returning one, called at the stream's first event; without
//! addresses the header says `UNKNOWN` (version 1) or `LOCAL` (version 2).

use crate::args::{ArgError, ArgResult, Args, OptValue};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use crate::proxy_protocol::{encode_unknown, encode_v1, encode_v2};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

/// `connectProxyProtocol` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "connectProxyProtocol",
    params: "header: ProxyProtocolHeader | (() => ProxyProtocolHeader)",
    doc: "Puts a PROXY protocol header before the stream it sends to its sub-pipeline.",
    options: &[],
    build,
};

/// The header's bytes from its fields.
fn header_bytes(get: &dyn Fn(&str) -> Option<OptValue>) -> Result<Vec<u8>, String> {
    let version = match get("version") {
        None => 1,
        Some(OptValue::Number(n)) if n == 1.0 || n == 2.0 => n as u8,
        Some(_) => return Err("version must be 1 or 2".into()),
    };
    let addr = |name: &str, port: &str| -> Result<Option<SocketAddr>, String> {
        let ip = match get(name) {
            None => return Ok(None),
            Some(OptValue::Str(s)) => s.parse::<IpAddr>().map_err(|_| format!("{name} {s:?} is not an IP address"))?,
            Some(_) => return Err(format!("{name} must be a string")),
        };
        let port = match get(port) {
            Some(OptValue::Number(n)) if (0.0..=65535.0).contains(&n) && n.fract() == 0.0 => n as u16,
            None => 0,
            Some(_) => return Err(format!("{port} must be a port number")),
        };
        Ok(Some(SocketAddr::new(ip, port)))
    };
    let (source, target) = (addr("sourceAddress", "sourcePort")?, addr("targetAddress", "targetPort")?);
    let local = matches!(get("command"), Some(OptValue::Str(c)) if c == "LOCAL");
    if source.is_some() != target.is_some() {
        return Err("give both sourceAddress and targetAddress, or neither".into());
    }
    Ok(match (source, target, local) {
        (Some(s), Some(t), false) if version == 2 => encode_v2(s, t),
        (Some(s), Some(t), false) => encode_v1(s, t),
        _ => encode_unknown(version),
    })
}

enum Header {
    Fixed(Vec<u8>),
    Made(Rc<dyn Callback>),
}

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let header = if args.is_function(0) {
        Header::Made(args.callback(0)?.expect("checked"))
    } else if args.is_object(0) {
        let fields = args.options(0)?;
        Header::Fixed(header_bytes(&|n| fields.get(n)).map_err(|why| ArgError(format!("{}: {why}", def.name)))?)
    } else {
        return Err(ArgError(format!("{}: a header object or a function is required", def.name)));
    };
    let header = Rc::new(header);
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| ConnectProxyProtocol {
        header: header.clone(),
        slot: subs[0].clone(),
        sub: None,
        done: false,
    });
    spec.joint = true;
    Ok(spec)
}

/// The `connectProxyProtocol` filter.
pub struct ConnectProxyProtocol {
    header: Rc<Header>,
    slot: LayoutSlot,
    sub: Option<Pipeline>,
    done: bool,
}

impl ConnectProxyProtocol {
    fn start(&mut self, cx: &mut Cx<'_>) -> Option<Pipeline> {
        let bytes = match &*self.header {
            Header::Fixed(b) => b.clone(),
            Header::Made(cb) => {
                let made = match cb.call(cx.context(), Arg::None, Want::Fields) {
                    Ok(Returned::Fields(Some(fields))) => header_bytes(&|n| fields.get(n)),
                    Ok(_) => Err("the function did not return an object".to_string()),
                    Err(err) => {
                        report_script_error(&err, DEF.name);
                        return None;
                    }
                };
                match made {
                    Ok(b) => b,
                    Err(why) => {
                        tracing::error!("{}: {why}", DEF.name);
                        return None;
                    }
                }
            }
        };
        let sub = cx.sub_pipeline(&self.slot, cx.context().clone(), 0)?;
        sub.input(Event::Data(Data::from(bytes)));
        Some(sub)
    }
}

impl Filter for ConnectProxyProtocol {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.done {
            return;
        }
        if self.sub.is_none() {
            if ev.is_stream_end() {
                // Nothing was sent: nothing to connect.
                self.done = true;
                return cx.output(ev);
            }
            match self.start(cx) {
                Some(sub) => self.sub = Some(sub),
                None => {
                    self.done = true;
                    return cx.output(Event::error(StreamError::RuntimeError));
                }
            }
        }
        if let Some(sub) = self.sub.clone() {
            sub.input(ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_protocol::{Read, Reader};
    use std::collections::HashMap;

    fn fields(pairs: &[(&str, OptValue)]) -> impl Fn(&str) -> Option<OptValue> {
        let map: HashMap<String, OptValue> = pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        move |n| map.get(n).cloned()
    }

    #[test]
    fn a_header_from_its_fields_reads_back() {
        for version in [1.0, 2.0] {
            let get = fields(&[
                ("version", OptValue::Number(version)),
                ("sourceAddress", OptValue::Str("203.0.113.9".into())),
                ("sourcePort", OptValue::Number(1234.0)),
                ("targetAddress", OptValue::Str("10.0.0.1".into())),
                ("targetPort", OptValue::Number(80.0)),
            ]);
            let bytes = header_bytes(&get).unwrap();
            let Ok(Read::Done(h, rest)) = Reader::default().feed(&bytes) else { panic!("v{version}") };
            assert_eq!(h.version as f64, version);
            assert_eq!(h.source, Some("203.0.113.9:1234".parse().unwrap()));
            assert!(rest.is_empty());
        }
        assert_eq!(header_bytes(&fields(&[])).unwrap(), b"PROXY UNKNOWN\r\n");
        assert!(header_bytes(&fields(&[("sourceAddress", OptValue::Str("nope".into()))])).is_err());
        assert!(header_bytes(&fields(&[("version", OptValue::Number(3.0))])).is_err());
    }
}
