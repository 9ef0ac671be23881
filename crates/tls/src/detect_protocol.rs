//! `detectProtocol(callback, options?)`: calls `callback(name)` once the first bytes
//! of the stream tell what it speaks: `'TLS'` (a ClientHello record), `'HTTP'` (an
//! HTTP/1.x request line), `'HTTP2'` (the HTTP/2 preface), or `''` when it is none
//! of these (or, with `timeout`, when too little arrived in time). Every event
//! passes on unchanged; events the callback returns are output before them.

use proxy_core::filters::FilterDef;
use proxy_core::{
    call_after, Arg, ArgError, ArgResult, Args, Callback, Cx, Event, Filter, FilterSpec, OptionDef, Plain, Returned,
    Want,
};
use std::rc::Rc;
use std::time::Duration;

const OPTIONS: &[OptionDef] =
    &[OptionDef::duration("timeout", "Decides '' when the stream has said too little by then.").absent("no limit")];

/// `detectProtocol` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "detectProtocol",
    params: "callback: (protocol: 'TLS' | 'HTTP' | 'HTTP2' | '') => any, options?: DetectProtocolOptions",
    doc: "Calls back with the protocol the stream's first bytes are in (TLS, HTTP, HTTP2 or none); passes every event on.",
    options: &[OPTIONS],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let Some(callback) = args.callback(0)? else {
        return Err(ArgError(format!("{}: a callback function is required", def.name)));
    };
    let timeout = def.options_at(args, 1)?.opt_duration("timeout")?;
    Ok(FilterSpec::plain(def.name, move || DetectProtocol {
        callback: callback.clone(),
        timeout,
        detect: Some(Detect::default()),
        timer_set: false,
    }))
}

/// An HTTP/1 request line is decided by its version; its target may be this long.
const MAX_TARGET: usize = 8 * 1024;
const METHODS: &[&[u8]] =
    &[b"GET ", b"HEAD ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"CONNECT ", b"OPTIONS ", b"TRACE "];
const VERSIONS: &[&[u8]] = &[b"HTTP/1.0\r\n", b"HTTP/1.1\r\n"];
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The three detectors, run side by side over the first bytes.
#[derive(Default)]
struct Detect {
    /// The first bytes, as many as the TLS and HTTP/2 checks and the method need.
    head: Vec<u8>,
    http: Http,
    http2_out: bool,
    tls_out: bool,
}

/// How far an HTTP/1 request line has been read.
#[derive(Default)]
enum Http {
    /// Reading the method (in `head`).
    #[default]
    Method,
    /// Reading the target: this many bytes so far.
    Target(usize),
    /// Reading the version: these bytes so far.
    Version(Vec<u8>),
    /// Not HTTP/1.
    Out,
}

/// The bytes `head` keeps: the HTTP/2 preface is the longest prefix checked.
const HEAD: usize = PREFACE.len();

/// Whether `seen` starts with one of `words`: `Some(true)` yes, `Some(false)` no,
/// `None` not known yet.
fn starts_with_one_of(seen: &[u8], words: &[&[u8]]) -> Option<bool> {
    let mut maybe = false;
    for w in words {
        let n = w.len().min(seen.len());
        if seen[..n] == w[..n] {
            if seen.len() >= w.len() {
                return Some(true);
            }
            maybe = true;
        }
    }
    if maybe {
        None
    } else {
        Some(false)
    }
}

impl Detect {
    /// Takes bytes; the answer once one is known.
    fn feed(&mut self, bytes: &[u8]) -> Option<&'static str> {
        for &b in bytes {
            if self.head.len() < HEAD {
                self.head.push(b);
            }
            if let Some(found) = self.step(b) {
                return Some(found);
            }
        }
        None
    }

    fn step(&mut self, b: u8) -> Option<&'static str> {
        let seen = &self.head[..];
        if !self.http2_out {
            match starts_with_one_of(seen, &[PREFACE]) {
                Some(true) => return Some("HTTP2"),
                Some(false) => self.http2_out = true,
                None => {}
            }
        }
        if !self.tls_out {
            // A handshake record (22), version 3.x (x ≤ 4), a ClientHello (1). (Pipy
            // also wants the hello's length within the record's, which refuses a
            // hello fragmented over records, as TLS allows.)
            let ok = match seen.len() {
                1 => seen[0] == 22,
                2 => seen[1] == 3,
                3 => seen[2] <= 4,
                6 => seen[5] == 1,
                11 => return Some("TLS"),
                _ => true,
            };
            if !ok {
                self.tls_out = true;
            }
        }
        self.http = match std::mem::take(&mut self.http) {
            Http::Method => match starts_with_one_of(seen, METHODS) {
                Some(true) => Http::Target(0),
                Some(false) => Http::Out,
                None => Http::Method,
            },
            Http::Target(_) if b == b' ' => Http::Version(Vec::new()),
            Http::Target(n) if n >= MAX_TARGET => Http::Out,
            Http::Target(n) => Http::Target(n + 1),
            Http::Version(mut v) => {
                v.push(b);
                match starts_with_one_of(&v, VERSIONS) {
                    Some(true) => return Some("HTTP"),
                    Some(false) => Http::Out,
                    None => Http::Version(v),
                }
            }
            Http::Out => Http::Out,
        };
        (matches!(self.http, Http::Out) && self.http2_out && self.tls_out).then_some("")
    }
}

/// The `detectProtocol` filter.
pub struct DetectProtocol {
    callback: Rc<dyn Callback>,
    timeout: Option<Duration>,
    /// Until decided.
    detect: Option<Detect>,
    timer_set: bool,
}

impl DetectProtocol {
    fn decide(&mut self, name: &'static str, cx: &mut Cx<'_>) {
        self.detect = None;
        match self.callback.call(cx.context(), Arg::Plain(&[Plain::Str(name.into())]), Want::EventObjects) {
            Ok(Returned::Events(evs)) => {
                for ev in evs {
                    cx.output(ev);
                }
            }
            Ok(_) => {}
            Err(e) => cx.fail(&e, DEF.name),
        }
    }
}

impl Filter for DetectProtocol {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if let (Some(t), false, true) = (self.timeout, self.timer_set, self.detect.is_some()) {
            self.timer_set = true;
            let handle = cx.handle();
            call_after(t, move || handle.wake());
        }
        if let (Event::Data(d), Some(detect)) = (&ev, &mut self.detect) {
            let mut found = None;
            for chunk in d.chunks() {
                found = detect.feed(chunk);
                if found.is_some() {
                    break;
                }
            }
            if let Some(name) = found {
                self.decide(name, cx);
            }
        }
        cx.output(ev);
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        if self.detect.is_some() {
            self.decide("", cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxy_core::testing::Rng;

    fn detect(bytes: &[u8]) -> Option<&'static str> {
        Detect::default().feed(bytes)
    }

    #[test]
    fn each_protocol_is_told_from_its_first_bytes() {
        assert_eq!(detect(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"), Some("HTTP"));
        assert_eq!(detect(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Some("HTTP2"));
        assert_eq!(detect(&[22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]), Some("TLS"));
        assert_eq!(detect(b"SSH-2.0-OpenSSH\r\n"), Some(""));
        assert_eq!(detect(b"GET /"), None);
        assert_eq!(detect(b"GET / HTTP/2.0\r\n"), Some(""));
        // A ClientHello longer than its first record (fragmented) is TLS too.
        assert_eq!(detect(&[22, 3, 1, 0, 1, 1, 0, 1, 0, 3, 3]), Some("TLS"));
        assert_eq!(detect(&[22, 3, 1, 0, 5, 2, 0, 0, 1, 3, 3]), Some(""));
    }

    #[test]
    fn the_answer_is_the_same_however_the_bytes_are_split() {
        let inputs: [&[u8]; 4] = [
            b"POST /a HTTP/1.0\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            &[22, 3, 3, 0, 50, 1, 0, 0, 46, 3, 3, 9],
            b"hello there",
        ];
        for bytes in inputs {
            let whole = detect(bytes);
            for cut in 0..bytes.len() {
                let mut d = Detect::default();
                let first = d.feed(&bytes[..cut]);
                let answer = first.or_else(|| d.feed(&bytes[cut..]));
                assert_eq!(answer, whole, "{bytes:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn a_long_request_target_is_decided_not_gathered_forever() {
        let mut d = Detect::default();
        assert_eq!(d.feed(b"GET /"), None);
        let mut answer = None;
        for _ in 0..(MAX_TARGET / 1000 + 2) {
            answer = answer.or(d.feed(&[b'a'; 1000]));
        }
        assert_eq!(answer, Some(""));
        let mut rng = Rng::new(3);
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..rng.below(64)).map(|_| rng.below(256) as u8).collect();
            let _ = detect(&bytes);
        }
    }
}
