//! `muxHTTP(key?, options?).to(...)` or `muxHTTP('pipeline', key?, options?)`: an
//! HTTP client. Request messages in go through a *session*: an upstream
//! connection (a sub-pipeline, usually ending in `connect`) shared by every
//! stream whose key is the same; each response comes back, as messages, to the
//! stream that sent the request. What a session does on the wire is the
//! protocol's: `http::h1::client` for HTTP/1.1 (pipelining), `http::h2::client`
//! for HTTP/2 (each request a stream of one connection), chosen by `version`
//! through `http::client`; this filter keeps the sessions in the pool of `mux`.
//!
//! Keys: the value `key` gives (a function is called per stream; equal strings and
//! numbers share, objects share by identity). Without a key, each client
//! connection has its own session, closed when the connection closes. Sessions are
//! kept by the filter's place in the layout, per worker thread, at most
//! `maxQueue` streams on each, and closed after `maxIdle` without one.
//!
//! A request the client gives up half-way (its stream ends before its MessageEnd)
//! cannot be finished: its session closes and the stream ends with the error.
//! A session that no longer takes requests (`connection: close`, `maxMessages`)
//! is left for a new one at the stream's next request.
//!
//! Forms: `muxHTTP()`, `muxHTTP(key)`, `muxHTTP(options)`, `muxHTTP(key, options)`,
//! and with a pipeline name first.

use crate::args::{ArgError, ArgResult, Args, OptValue, Param};
use crate::callback::{Arg, Returned, Want};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::http::client::{Opening, Protocol, Session, Stream, Version};
use crate::http::session::ClientOptions;
use crate::http::{self};
use crate::mux::{Key, Pool, Pooled};
use crate::options::{OptionDef, Ty};
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot};
use std::rc::Rc;

/// The sessions of one `muxHTTP` in a layout, and the options they share.
struct Upstreams {
    options: Rc<ClientOptions>,
    version: Version,
    pool: Rc<Pool<Session>>,
}

/// `muxHTTP` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "muxHTTP",
    params: "key?: any | (() => any), options?: MuxHTTPOptions",
    doc: "Sends each HTTP request through an upstream session shared by the streams of the same key.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[
    OptionDef::duration("maxIdle", "How long a session no stream uses stays open.")
        .default_duration(std::time::Duration::from_secs(10)),
    OptionDef::int("maxQueue", "Streams sharing one session; 0 is no limit.").default_int(0),
    OptionDef::int("maxMessages", "Requests a session carries before it takes no more; 0 is no limit.")
        .default_int(0),
    OptionDef::size(
        "bufferSize",
        "Request bodies up to this get a content-length; longer ones keep the length they declare or go chunked.",
    )
    .default_size(http::DEFAULT_BUFFER_SIZE),
    OptionDef::size("maxHeaderSize", "Largest response head; a bigger one fails the session.")
        .default_size(http::DEFAULT_MAX_HEADER_SIZE),
    OptionDef::duration(
        "responseTimeout",
        "A session awaiting an answer that sees no byte either way for this long closes; its streams end with ReadTimeout.",
    )
    .default_duration(std::time::Duration::from_secs(60)),
    OptionDef::new(
        "version",
        &[Ty::Int, Ty::Str, Ty::Function],
        "The HTTP version spoken upstream: 1 (or 'http/1.1'), 2 (or 'h2'), or a function called as each session opens that returns one, or a Promise of one.",
    )
    .default_int(1),
    OptionDef::new("ping", &[Ty::Function], "HTTP/2 keep-alive pings.")
        .ignored("h2 answers the server's pings; pings of its own are not sent yet"),
    OptionDef::size("connectionWindowSize", "HTTP/2: the connection's receive window.")
        .default_size(http::h2::DEFAULT_CONNECTION_WINDOW as usize),
    OptionDef::size("streamWindowSize", "HTTP/2: each stream's receive window.")
        .default_size(http::h2::DEFAULT_STREAM_WINDOW as usize),
    OptionDef::size("initialWindowSize", "HTTP/2: the same as streamWindowSize (nginx and h2 call it so).")
        .default_size(0),
    OptionDef::size("maxFrameSize", "HTTP/2: the largest frame payload the server may send.")
        .default_size(http::h2::DEFAULT_MAX_FRAME_SIZE as usize),
];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let (subs, first) = if args.is_string(0) { (vec![args.layout(0)?], 1) } else { (Vec::new(), 0) };
    // `muxHTTP(options)`: an object first is the options, not a key.
    let (key, options_at): (Option<Param<String>>, usize) = if args.is_function(first) {
        (Some(Param::Dynamic(args.callback(first)?.expect("checked"))), first + 1)
    } else if args.is_object(first) && args.is_nullish(first + 1) {
        (None, first)
    } else if args.is_nullish(first) {
        (None, first + 1)
    } else {
        (args.string(first)?.map(|s| Param::Static(format!("v:{s}"))), first + 1)
    };
    let r = def.options_at(args, options_at)?;
    let version = match r.raw("version")? {
        None => Version::Fixed(Protocol::Http1),
        Some(OptValue::Callback(cb)) => Version::Chosen(cb),
        Some(OptValue::Number(n)) => Version::Fixed(
            Protocol::from_number(n).ok_or_else(|| ArgError(format!("{}: version {n}: use 1 or 2", def.name)))?,
        ),
        Some(OptValue::Str(s)) => Version::Fixed(
            Protocol::from_name(&s)
                .ok_or_else(|| ArgError(format!("{}: version '{s}': use 'http/1.1' or 'h2'", def.name)))?,
        ),
        Some(_) => return Err(ArgError(format!("{}: version: use 1, 2, 'http/1.1', 'h2' or a function", def.name))),
    };
    let window = |name: &str| -> ArgResult<u32> { Ok(r.size(name)?.min(u32::MAX as usize) as u32) };
    let initial = window("initialWindowSize")?;
    let h2 = http::h2::Settings {
        stream_window: if initial > 0 { initial } else { window("streamWindowSize")? },
        connection_window: window("connectionWindowSize")?,
        max_frame_size: window("maxFrameSize")?,
        ..Default::default()
    };
    let max_idle = r.duration("maxIdle")?;
    let max_queue = r.int("maxQueue")?.max(0) as usize;
    let upstreams = Rc::new(Upstreams {
        options: Rc::new(ClientOptions {
            response_timeout: r.duration("responseTimeout")?,
            max_messages: r.int("maxMessages")?.max(0) as usize,
            buffer_size: r.size("bufferSize")?,
            max_header_size: r.size("maxHeaderSize")?,
            h2,
        }),
        version,
        pool: Rc::new(Pool::new(max_queue, max_idle)),
    });
    let key = Rc::new(key);
    let named = !subs.is_empty();
    let mut spec = FilterSpec::with_subs(def.name, subs, move |subs| MuxHttp {
        upstreams: upstreams.clone(),
        key: key.clone(),
        slot: subs[0].clone(),
        attached: None,
        replay: None,
        retried: false,
    });
    spec.joint = !named;
    Ok(spec)
}

/// The `muxHTTP` filter.
pub struct MuxHttp {
    upstreams: Rc<Upstreams>,
    key: Rc<Option<Param<String>>>,
    slot: LayoutSlot,
    attached: Option<(Rc<Session>, Rc<Stream>)>,
    /// The request being sent, kept while it is at most `bufferSize` long, to
    /// send again if a session gives it back unprocessed; and its size.
    replay: Option<(Vec<Event>, usize)>,
    /// It was sent again once already.
    retried: bool,
}

impl MuxHttp {
    fn attach(&mut self, cx: &mut Cx<'_>) -> Option<(Rc<Session>, Rc<Stream>)> {
        let mut holder = None;
        let (key, inbound) = match &*self.key {
            Some(Param::Static(k)) => (Key::Script(k.clone()), None),
            Some(Param::Dynamic(cb)) => match cb.call(cx.context(), Arg::None, Want::Key) {
                Ok(Returned::Str(Some(k))) => (Key::Script(k), None),
                Ok(Returned::Object(id, object)) => {
                    holder = Some(object);
                    (Key::Object(id), None)
                }
                Ok(_) => (Key::Script(String::new()), None),
                Err(err) => {
                    report_script_error(&err, "muxHTTP");
                    cx.output(Event::error(StreamError::RuntimeError));
                    return None;
                }
            },
            None => {
                let inbound = cx.context().inbound().cloned();
                (Key::Inbound(inbound.as_ref().map(|i| i.id).unwrap_or(0)), inbound)
            }
        };
        let session = match self.upstreams.pool.find(&key) {
            Some(s) => s,
            None => {
                let opening = Opening {
                    key: key.clone(),
                    inbound,
                    key_object: holder,
                    layout: match self.slot.get() {
                        Some(l) => l,
                        None => {
                            cx.output(Event::error(StreamError::RuntimeError));
                            return None;
                        }
                    },
                    pool: Rc::downgrade(&self.upstreams.pool),
                    options: self.upstreams.options.clone(),
                };
                let Some(session) = Session::open(opening, &self.upstreams.version, cx) else {
                    cx.output(Event::error(StreamError::RuntimeError));
                    return None;
                };
                if session.ended() {
                    // Its upstream failed as it opened.
                    cx.output(Event::error(StreamError::ConnectionRefused));
                    return None;
                }
                self.upstreams.pool.add(key, session.clone());
                session
            }
        };
        let stream = session.join(cx);
        self.attached = Some((session.clone(), stream.clone()));
        Some((session, stream))
    }
}

/// Events of a request kept to send again, at most (besides `bufferSize` bytes).
const MAX_REPLAY_EVENTS: usize = 64;

impl MuxHttp {
    /// Keeps `ev` of the request being sent, if `wanted` (the session may give
    /// the request back).
    fn keep_for_replay(&mut self, ev: &Event, wanted: bool) {
        match ev {
            Event::MessageStart(_) => {
                self.replay = wanted.then(|| (vec![ev.clone()], 0));
                self.retried = false;
            }
            Event::Data(d) => {
                let limit = self.upstreams.options.buffer_size;
                if let Some((events, size)) = &mut self.replay {
                    *size += d.len();
                    if *size > limit || events.len() >= MAX_REPLAY_EVENTS {
                        self.replay = None;
                    } else {
                        events.push(ev.clone());
                    }
                }
            }
            Event::MessageEnd(_) => {
                if let Some((events, _)) = &mut self.replay {
                    events.push(ev.clone());
                }
            }
            Event::StreamEnd(_) => {}
        }
    }

    /// The session gave the request back unprocessed (HTTP/2: it came after
    /// the server's GOAWAY, or was refused with REFUSED_STREAM): it goes again,
    /// once, on a session that takes it, if it was kept; else the stream ends.
    fn send_again(&mut self, cx: &mut Cx<'_>) {
        let events = match self.replay.take() {
            Some((events, _)) if !self.retried => events,
            _ => {
                tracing::debug!("muxHTTP: the upstream did not process the request; it cannot be sent again");
                return cx.output(Event::error(StreamError::ConnectionReset));
            }
        };
        tracing::debug!("muxHTTP: the upstream did not process the request; sending it again");
        self.retried = true;
        if let Some((s, st)) = self.attached.take() {
            s.leave(&st);
        }
        let Some((session, stream)) = self.attach(cx) else { return };
        for ev in events {
            session.send(&stream, ev);
        }
    }
}

impl Filter for MuxHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        // A request given back before this event: it goes again first.
        if let Some((_, stream)) = &self.attached {
            if Session::take_refused(stream) {
                self.send_again(cx);
            }
        }
        let (session, stream) = match &self.attached {
            Some((s, st)) if s.usable() || !matches!(ev, Event::MessageStart(_)) => (s.clone(), st.clone()),
            _ => {
                if !matches!(ev, Event::MessageStart(_)) {
                    if ev.is_stream_end() {
                        cx.output(ev);
                    }
                    return;
                }
                if let Some((s, st)) = self.attached.take() {
                    s.leave(&st);
                }
                match self.attach(cx) {
                    Some(x) => x,
                    None => return,
                }
            }
        };
        // Only an HTTP/2 session gives requests back: an HTTP/1.1 one costs no copy.
        self.keep_for_replay(&ev, session.protocol() != Some(Protocol::Http1));
        match ev {
            Event::StreamEnd(err) => {
                if Session::request_open(&stream) {
                    // Cut off before its end: the request cannot be finished.
                    tracing::debug!("muxHTTP: the request was cut off; dropping it and its upstream connection");
                    self.attached = None;
                    session.leave(&stream);
                    cx.output(Event::error(err.unwrap_or(StreamError::ConnectionReset)));
                } else if Session::tunneling(&stream) {
                    // The client's side of a tunnel ends.
                    session.send(&stream, Event::StreamEnd(err));
                }
            }
            ev => session.send(&stream, ev),
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let Some((_, stream)) = &self.attached else { return };
        let stream = stream.clone();
        Session::drain(&stream, cx);
        if Session::take_refused(&stream) {
            self.send_again(cx);
        } else if self.replay.is_some() && Session::answering(&stream) {
            // Answered: nothing will be sent again.
            self.replay = None;
        }
    }
}

impl Drop for MuxHttp {
    fn drop(&mut self) {
        if let Some((session, stream)) = self.attached.take() {
            session.leave(&stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Head;
    use crate::pipeline::{Pipeline, PipelineLayout, Sink};
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Data, Message};
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    /// What the fake upstreams saw: per upstream connection opened, the request
    /// bytes it received and whether it was ended or dropped.
    #[derive(Default)]
    struct Upstreams {
        conns: RefCell<Vec<(String, bool)>>,
    }

    /// An upstream that answers each request head it receives with the next of
    /// `answers` (cycling), or with nothing when `answers` is empty.
    struct Origin {
        index: usize,
        seen: Rc<Upstreams>,
        answers: Rc<Vec<&'static str>>,
        answered: usize,
        split: usize,
    }

    impl Drop for Origin {
        fn drop(&mut self) {
            self.seen.conns.borrow_mut()[self.index].1 = true;
        }
    }

    impl Filter for Origin {
        fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
            let text = {
                let mut conns = self.seen.conns.borrow_mut();
                let conn = &mut conns[self.index];
                match &ev {
                    Event::Data(d) => conn.0.push_str(&String::from_utf8_lossy(&d.to_vec())),
                    Event::StreamEnd(_) => conn.1 = true,
                    _ => {}
                }
                conn.0.clone()
            };
            if ev.is_stream_end() {
                return cx.output(Event::end());
            }
            if self.answers.is_empty() {
                return;
            }
            while text.matches("\r\n\r\n").count() > self.answered {
                let answer = self.answers[self.answered % self.answers.len()];
                self.answered += 1;
                // Answer in pieces of `split` bytes, to see the decoder reassemble them.
                let bytes = answer.as_bytes();
                for piece in bytes.chunks(self.split.max(1)) {
                    cx.output(Event::Data(Data::from(piece.to_vec())));
                }
                if answer.contains("connection: close") {
                    return cx.output(Event::end());
                }
            }
        }
    }

    fn origin(seen: &Rc<Upstreams>, answers: Vec<&'static str>, split: usize) -> LayoutSlot {
        let seen = seen.clone();
        let answers = Rc::new(answers);
        PipelineLayout::new(
            "origin",
            vec![FilterSpec::plain("origin", move || {
                let index = {
                    let mut conns = seen.conns.borrow_mut();
                    conns.push((String::new(), false));
                    conns.len() - 1
                };
                Origin { index, seen: seen.clone(), answers: answers.clone(), answered: 0, split }
            })],
        )
        .into_slot()
    }

    fn mux(key: Option<&str>, options: &[(&str, &str)], upstream: LayoutSlot) -> FilterSpec {
        let options: HashMap<String, String> = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let key = match key {
            Some(k) => {
                let k = k.to_string();
                TestArg::Callback(Rc::new(move |_: &crate::Context, _: Arg<'_>, _: Want| {
                    Ok(Returned::Str(Some(k.clone())))
                }))
            }
            None => TestArg::Null,
        };
        let mut s = spec(&DEF, vec![key, TestArg::Options(options)]);
        s.subs.push(upstream);
        s
    }

    fn request(h: &Harness, path: &str, headers: &[(&'static str, &'static str)]) {
        let mut head = crate::RequestHead { method: "GET".into(), path: path.to_string().into(), ..Default::default() };
        for (k, v) in headers {
            head.headers.set(k, *v);
        }
        for ev in Message::new(Head::Request(head), "").into_events() {
            h.input(ev);
        }
    }

    fn response_status(events: &[Event]) -> Vec<u16> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::MessageStart(h) => h.response().map(|r| r.status),
                _ => None,
            })
            .collect()
    }

    const OK: &str =
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=5\r\nconnection: keep-alive\r\n\r\nok";
    const CLOSE: &str = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nclose";

    /// An origin for tunnels: answers the first head with `answer`, then sends
    /// back what follows it in capitals; `seen` gets everything it received,
    /// and `$` when its input ended.
    fn tunnel_origin(answer: &'static str, seen: &Rc<RefCell<String>>) -> LayoutSlot {
        struct TunnelOrigin(&'static str, Rc<RefCell<String>>, bool);
        impl Filter for TunnelOrigin {
            fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
                let Event::Data(d) = ev else {
                    self.1.borrow_mut().push('$');
                    return cx.output(Event::end());
                };
                let text = String::from_utf8_lossy(&d.to_vec()).to_string();
                self.1.borrow_mut().push_str(&text);
                if self.2 {
                    return cx.output(Event::Data(text.to_uppercase().into()));
                }
                let seen = self.1.borrow().clone();
                if let Some(at) = seen.find("\r\n\r\n") {
                    self.2 = true;
                    cx.output(Event::Data(self.0.into()));
                    let rest = &seen[at + 4..];
                    if !rest.is_empty() {
                        cx.output(Event::Data(rest.to_uppercase().into()));
                    }
                }
            }
        }
        let seen = seen.clone();
        PipelineLayout::new(
            "tunnel-origin",
            vec![FilterSpec::plain("origin", move || TunnelOrigin(answer, seen.clone(), false))],
        )
        .into_slot()
    }

    fn tunnel_request(h: &Harness, method: &str, headers: &[(&'static str, &'static str)]) {
        let mut head =
            crate::RequestHead { method: method.to_string().into(), path: "db:1".into(), ..Default::default() };
        for (k, v) in headers {
            head.headers.set(k, *v);
        }
        for ev in Message::new(Head::Request(head), "").into_events() {
            h.input(ev);
        }
    }

    #[test]
    fn a_connect_answered_2xx_carries_raw_bytes_both_ways_and_the_bytes_sent_early_wait() {
        let seen = Rc::new(RefCell::new(String::new()));
        let h =
            Harness::new(vec![mux(None, &[], tunnel_origin("HTTP/1.1 200 Connection Established\r\n\r\nhi ", &seen))]);
        tunnel_request(&h, "CONNECT", &[("host", "db:1")]);
        h.input(Event::Data("early ".into()));
        h.input(Event::Data("later".into()));
        assert_eq!(response_status(&h.out.events()), vec![200]);
        assert_eq!(h.out.text(), "hi EARLY LATER");
        assert!(seen.borrow().starts_with("CONNECT db:1 HTTP/1.1\r\n"), "{}", seen.borrow());
        assert!(seen.borrow().ends_with("\r\n\r\nearly later"), "{}", seen.borrow());
        h.input(Event::end());
        assert!(seen.borrow().ends_with('$'), "the client's end reaches the upstream: {}", seen.borrow());
        assert!(h.out.ended());
        h.finish();
    }

    #[test]
    fn an_upgrade_keeps_its_headers_and_a_refused_tunnel_passes_no_byte() {
        let seen = Rc::new(RefCell::new(String::new()));
        let answer = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n";
        let h = Harness::new(vec![mux(None, &[], tunnel_origin(answer, &seen))]);
        tunnel_request(&h, "GET", &[("host", "a"), ("upgrade", "websocket"), ("connection", "Upgrade")]);
        h.input(Event::Data("frame".into()));
        let sent = seen.borrow().to_ascii_lowercase();
        assert!(sent.contains("upgrade: websocket\r\n") && sent.contains("connection: upgrade\r\n"), "{sent}");
        assert_eq!(response_status(&h.out.events()), vec![101]);
        assert_eq!(h.out.text(), "FRAME");
        h.input(Event::end());
        h.finish();

        let seen = Rc::new(RefCell::new(String::new()));
        let answer = "HTTP/1.1 403 Forbidden\r\ncontent-length: 3\r\n\r\nno\n";
        let h = Harness::new(vec![mux(None, &[], tunnel_origin(answer, &seen))]);
        tunnel_request(&h, "CONNECT", &[("host", "db:1")]);
        h.input(Event::Data("secret".into()));
        assert_eq!(response_status(&h.out.events()), vec![403]);
        assert_eq!(h.out.text(), "no\n");
        assert!(!seen.borrow().contains("secret"), "{}", seen.borrow());
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn a_101_to_a_request_that_asked_for_no_upgrade_is_not_its_answer() {
        const ANSWER: &str = "HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nA";
        let seen = Rc::new(Upstreams::default());
        let h = Harness::new(vec![mux(None, &[], origin(&seen, vec![ANSWER], 1000))]);
        request(&h, "/", &[("host", "x")]);
        assert_eq!(response_status(&h.out.events()), vec![200]);
        assert_eq!(h.out.text(), "A");
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn streams_of_one_key_share_a_session_and_each_gets_its_own_answer() {
        let seen = Rc::new(Upstreams::default());
        let filter = mux(Some("k"), &[], origin(&seen, vec![OK], 1000));
        let layout = Rc::new(PipelineLayout::new("client", vec![filter]));
        let run = |path: &'static str| {
            let out = Rc::new(crate::testing::Collector::default());
            let o = out.clone();
            let p = Pipeline::new(&layout, crate::Context::new(None), Sink::Func(Box::new(move |ev| o.push(ev))));
            let mut head =
                crate::RequestHead { method: "GET".into(), path: path.to_string().into(), ..Default::default() };
            head.headers.set("host", "x");
            for ev in Message::new(Head::Request(head), "").into_events() {
                p.input(ev);
            }
            (p, out)
        };
        let (a, out_a) = run("/a");
        let (b, out_b) = run("/b");
        assert_eq!(seen.conns.borrow().len(), 1, "one upstream connection for the key");
        assert_eq!(response_status(&out_a.events()), vec![200]);
        assert_eq!(response_status(&out_b.events()), vec![200]);
        let sent = seen.conns.borrow()[0].0.clone();
        assert!(sent.starts_with("GET /a HTTP/1.1\r\n") && sent.contains("GET /b HTTP/1.1\r\n"), "{sent}");
        out_a.check();
        out_b.check();
        drop((a, b));
    }

    #[test]
    fn hop_by_hop_headers_are_removed_both_ways() {
        let seen = Rc::new(Upstreams::default());
        let h = Harness::new(vec![mux(None, &[], origin(&seen, vec![OK], 1000))]);
        request(
            &h,
            "/",
            &[
                ("host", "x"),
                ("connection", "x-secret, keep-alive"),
                ("x-secret", "1"),
                ("te", "trailers"),
                ("x-kept", "yes"),
            ],
        );
        let sent = seen.conns.borrow()[0].0.to_ascii_lowercase();
        assert!(sent.contains("x-kept: yes"), "{sent}");
        for gone in ["x-secret", "te:", "connection: x-secret"] {
            assert!(!sent.contains(gone), "{gone} was passed on: {sent}");
        }
        let events = h.out.events();
        let Some(Event::MessageStart(head)) = events.first() else { panic!("{events:?}") };
        let headers = head.headers().unwrap();
        assert!(headers.get("keep-alive").is_none() && headers.get("connection").is_none(), "{headers:?}");
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn a_response_split_at_every_byte_is_the_same_response() {
        for split in 1..OK.len() {
            let seen = Rc::new(Upstreams::default());
            let h = Harness::new(vec![mux(None, &[], origin(&seen, vec![OK], split))]);
            request(&h, "/", &[("host", "x")]);
            let events = h.out.events();
            assert_eq!(response_status(&events), vec![200], "split {split}");
            let body: Vec<u8> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Data(d) => Some(d.to_vec()),
                    _ => None,
                })
                .flatten()
                .collect();
            assert_eq!(body, b"ok", "split {split}");
            assert!(matches!(events.last(), Some(Event::MessageEnd(_))), "split {split}: {events:?}");
            h.input(Event::end());
            h.finish();
        }
    }

    #[test]
    fn connection_close_and_max_messages_retire_a_session() {
        let seen = Rc::new(Upstreams::default());
        let h = Harness::new(vec![mux(Some("k"), &[], origin(&seen, vec![CLOSE], 1000))]);
        request(&h, "/1", &[("host", "x")]);
        request(&h, "/2", &[("host", "x")]);
        assert_eq!(seen.conns.borrow().len(), 2, "an answer with connection: close ends its session");
        let events = h.out.events();
        assert_eq!(response_status(&events), vec![200, 200]);
        assert!(
            !events.iter().any(|e| e.is_stream_end()),
            "an upstream closing after its answer is no error: {events:?}"
        );
        h.input(Event::end());
        h.finish();

        let seen = Rc::new(Upstreams::default());
        let h = Harness::new(vec![mux(Some("k"), &[("maxMessages", "2")], origin(&seen, vec![OK], 1000))]);
        for i in 0..5 {
            request(&h, &format!("/{i}"), &[("host", "x")]);
        }
        assert_eq!(seen.conns.borrow().len(), 3, "two requests per session");
        assert_eq!(response_status(&h.out.events()), vec![200; 5]);
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn an_upstream_that_closes_before_answering_fails_the_waiting_stream() {
        struct Hangup;
        impl Filter for Hangup {
            fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
                if matches!(ev, Event::Data(_)) {
                    cx.output(Event::error(StreamError::ConnectionRefused));
                }
            }
        }
        let upstream = PipelineLayout::new("refusing", vec![FilterSpec::plain("hangup", || Hangup)]).into_slot();
        let h = Harness::new(vec![mux(None, &[], upstream)]);
        request(&h, "/", &[("host", "x")]);
        let events = h.out.events();
        assert!(matches!(events.last(), Some(Event::StreamEnd(Some(StreamError::ConnectionRefused)))), "{events:?}");
        h.finish();
    }

    #[test]
    fn a_request_cut_off_half_way_closes_its_upstream_connection() {
        let seen = Rc::new(Upstreams::default());
        let h = Harness::new(vec![mux(Some("k"), &[], origin(&seen, vec![], 1000))]);
        let mut head = crate::RequestHead { method: "POST".into(), path: "/upload".into(), ..Default::default() };
        head.headers.set("host", "x");
        head.headers.set("content-length", "100");
        h.input(Event::start(Head::Request(head)));
        h.input(Event::Data("only part".into()));
        h.input(Event::end());
        assert!(seen.conns.borrow()[0].1, "the upstream connection was closed");
        let events = h.out.events();
        assert!(matches!(events.last(), Some(Event::StreamEnd(Some(_)))), "{events:?}");
        h.finish();
    }

    #[test]
    fn a_second_stream_waits_while_the_first_writes_its_body() {
        let seen = Rc::new(Upstreams::default());
        let filter = mux(Some("k"), &[], origin(&seen, vec![OK], 1000));
        let layout = Rc::new(PipelineLayout::new("client", vec![filter]));
        let open = || {
            let out = Rc::new(crate::testing::Collector::default());
            let o = out.clone();
            (Pipeline::new(&layout, crate::Context::new(None), Sink::Func(Box::new(move |ev| o.push(ev)))), out)
        };
        let ((a, out_a), (b, out_b)) = (open(), open());
        let mut post = crate::RequestHead { method: "POST".into(), path: "/a".into(), ..Default::default() };
        post.headers.set("host", "x");
        post.headers.set("content-length", "4");
        a.input(Event::start(Head::Request(post)));
        a.input(Event::Data("ab".into()));
        let mut get = crate::RequestHead { method: "GET".into(), path: "/b".into(), ..Default::default() };
        get.headers.set("host", "x");
        for ev in Message::new(Head::Request(get), "").into_events() {
            b.input(ev);
        }
        assert!(!seen.conns.borrow()[0].0.contains("GET /b"), "the second request waits for the first's body");
        a.input(Event::Data("cd".into()));
        a.input(Event::MessageEnd(Default::default()));
        let sent = seen.conns.borrow()[0].0.clone();
        let body_end = sent.find("abcd").expect("the first body was sent whole");
        assert!(sent[body_end..].contains("GET /b"), "then the second request: {sent}");
        assert_eq!(response_status(&out_a.events()), vec![200]);
        assert_eq!(response_status(&out_b.events()), vec![200]);
        drop((a, b));
    }

    /// Cuts every Data event into pieces of `split` bytes.
    struct Splitter(usize);

    impl Filter for Splitter {
        fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
            match ev {
                Event::Data(d) => {
                    for piece in d.to_vec().chunks(self.0.max(1)) {
                        cx.output(Event::Data(Data::from(piece.to_vec())));
                    }
                }
                ev => cx.output(ev),
            }
        }
    }

    /// An HTTP/2 origin in memory: `serveHTTP` answering each request with
    /// `path|body|trailer x-t`, a `grpc-status` trailer, and bytes cut into
    /// `split`-byte pieces both ways; counts the connections made to it.
    fn h2_origin(connections: &Rc<Cell<usize>>, split: usize) -> LayoutSlot {
        let cb = |_: &crate::Context, arg: Arg<'_>, _: Want| -> Result<Returned, crate::callback::ScriptError> {
            let Arg::Message(m) = arg else { panic!("serveHTTP passes the request") };
            let req = m.head.request().expect("a request");
            assert_eq!(req.protocol, "HTTP/2");
            let trailer = m.tail.headers.as_ref().and_then(|h| h.get("x-t")).unwrap_or("-").to_string();
            let body = format!("{}|{}|{}", req.path, String::from_utf8_lossy(&m.body.to_vec()), trailer);
            let mut answer = Message::new(Head::Response(crate::ResponseHead::with_status(200)), body);
            let mut trailers = crate::head::Headers::default();
            trailers.append("grpc-status", "0");
            answer.tail.headers = Some(trailers);
            Ok(Returned::Events(answer.into_events()))
        };
        let serve = spec(&crate::filters::serve_http::DEF, vec![TestArg::Callback(Rc::new(cb))]);
        let count = connections.clone();
        let counted = FilterSpec::plain("count", move || {
            count.set(count.get() + 1);
            Splitter(split)
        });
        PipelineLayout::new("h2-origin", vec![counted, serve, FilterSpec::plain("split", move || Splitter(split))])
            .into_slot()
    }

    fn bodies(events: &[Event]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Data(d) => Some(String::from_utf8_lossy(&d.to_vec()).into_owned()),
                _ => None,
            })
            .collect()
    }

    fn trailers(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::MessageEnd(t) => t.headers.as_ref().and_then(|h| h.get("grpc-status")).map(str::to_string),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn http2_streams_of_one_key_share_one_connection_each_with_its_answer() {
        let connections = Rc::new(Cell::new(0));
        let filter = mux(Some("k"), &[("version", "2")], h2_origin(&connections, 1000));
        let layout = Rc::new(PipelineLayout::new("client", vec![filter]));
        let mut running = Vec::new();
        for i in 0..5 {
            let out = Rc::new(crate::testing::Collector::default());
            let o = out.clone();
            let p = Pipeline::new(&layout, crate::Context::new(None), Sink::Func(Box::new(move |ev| o.push(ev))));
            let mut head =
                crate::RequestHead { method: "POST".into(), path: format!("/{i}").into(), ..Default::default() };
            head.headers.set("host", "origin");
            let mut m = Message::new(Head::Request(head), format!("body{i}"));
            let mut t = crate::head::Headers::default();
            t.append("x-t", "trailer");
            m.tail.headers = Some(t);
            for ev in m.into_events() {
                p.input(ev);
            }
            running.push((p, out));
        }
        assert_eq!(connections.get(), 1, "one HTTP/2 connection for the key");
        for (i, (_, out)) in running.iter().enumerate() {
            let events = out.events();
            assert_eq!(response_status(&events), vec![200], "stream {i}: {events:?}");
            assert_eq!(bodies(&events), format!("/{i}|body{i}|trailer"));
            assert_eq!(trailers(&events), vec!["0"], "the answer's trailers come back");
        }
        drop(running);
    }

    #[test]
    fn an_http2_exchange_split_at_every_byte_is_the_same_exchange() {
        for split in [1, 2, 3, 7, 9, 64] {
            let connections = Rc::new(Cell::new(0));
            let h = Harness::new(vec![mux(None, &[("version", "2")], h2_origin(&connections, split))]);
            request(&h, "/split", &[("host", "x")]);
            let events = h.out.events();
            assert_eq!(response_status(&events), vec![200], "split {split}: {events:?}");
            assert_eq!(bodies(&events), "/split||-", "split {split}");
            assert_eq!(trailers(&events), vec!["0"], "split {split}");
            h.input(Event::end());
            h.finish();
        }
    }

    #[test]
    fn a_version_promise_holds_requests_until_it_settles() {
        use crate::callback::Pending;
        let connections = Rc::new(Cell::new(0));
        let pending = Pending::new();
        let p = pending.clone();
        let version =
            TestArg::Callback(Rc::new(move |_: &crate::Context, _: Arg<'_>, _: Want| Ok(Returned::Pending(p.clone()))));
        let version = match version {
            TestArg::Callback(cb) => OptValue::Callback(cb),
            _ => unreachable!(),
        };
        let mut s = spec(&DEF, vec![TestArg::Null, TestArg::OptionValues(vec![("version".into(), version)])]);
        s.subs.push(h2_origin(&connections, 1000));
        let h = Harness::new(vec![s]);
        request(&h, "/later", &[("host", "x")]);
        assert_eq!(connections.get(), 1, "the connection is made before the version is known");
        assert!(response_status(&h.out.events()).is_empty(), "the request waits for the version");
        pending.settle(Ok(Returned::Str(Some("n:2".into()))));
        pending.notify();
        let events = h.out.events();
        assert_eq!(response_status(&events), vec![200], "{events:?}");
        assert_eq!(bodies(&events), "/later||-");
        h.input(Event::end());
        h.finish();
    }

    /// An origin that plays `pieces` back, piece by piece, when the test wakes it.
    struct Scripted {
        pieces: Rc<RefCell<Vec<Vec<u8>>>>,
        end: bool,
        handle: Rc<RefCell<Option<crate::pipeline::FilterHandle>>>,
    }

    impl Filter for Scripted {
        fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
            *self.handle.borrow_mut() = Some(cx.handle());
            if ev.is_stream_end() {
                cx.output(Event::end());
            }
        }

        fn on_wake(&mut self, cx: &mut Cx<'_>) {
            let pieces = std::mem::take(&mut *self.pieces.borrow_mut());
            for p in pieces.into_iter().rev() {
                cx.output(Event::Data(Data::from(p)));
            }
            if self.end {
                self.end = false;
                cx.output(Event::end());
            }
        }
    }

    /// Frames an HTTP/2 server might send: settings, answers (one with a body
    /// and trailers), a window update and a GOAWAY.
    fn server_frames() -> Vec<u8> {
        fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
            let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
            f.extend([kind, flags]);
            f.extend(stream.to_be_bytes());
            f.extend(payload);
            f
        }
        let mut trailer = vec![0x40, 11];
        trailer.extend(b"grpc-status");
        trailer.extend([1, b'0']);
        [
            frame(4, 0, 0, &[]),
            frame(4, 1, 0, &[]),
            frame(1, 5, 1, &[0x88]),
            frame(1, 4, 3, &[0x88]),
            frame(0, 0, 3, b"ok"),
            frame(1, 5, 3, &trailer),
            frame(8, 0, 0, &1000u32.to_be_bytes()),
            frame(1, 4, 5, &[0x88]),
            frame(0, 1, 5, b"done"),
            frame(7, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 0]),
        ]
        .concat()
    }

    #[test]
    fn random_http2_answers_keep_the_contract_and_release_everything() {
        let frames = server_frames();
        let mut rng = crate::testing::Rng::new(0x5eed_0002);
        for round in 0..300 {
            let mut bytes = frames.clone();
            // Mostly sound, sometimes broken: flip, drop or insert a few bytes.
            let changes = rng.below(4);
            for _ in 0..changes {
                let at = rng.below(bytes.len());
                match rng.below(3) {
                    0 => bytes[at] ^= 1 << rng.below(8),
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, rng.below(256) as u8),
                }
            }
            let mut pieces: Vec<Vec<u8>> = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = (1 + rng.below(40)).min(rest.len());
                pieces.push(rest[..n].to_vec());
                rest = &rest[n..];
            }
            pieces.reverse();
            let pieces = Rc::new(RefCell::new(pieces));
            let end = rng.below(2) == 0;
            let p = pieces.clone();
            let handle: Rc<RefCell<Option<crate::pipeline::FilterHandle>>> = Rc::default();
            let hd = handle.clone();
            let origin = PipelineLayout::new(
                "scripted",
                vec![FilterSpec::plain("scripted", move || Scripted { pieces: p.clone(), end, handle: hd.clone() })],
            )
            .into_slot();
            let h = Harness::new(vec![mux(None, &[("version", "2")], origin)]);
            for i in 0..3 {
                let path = format!("/{i}");
                request(&h, &path, &[("host", "x")]);
            }
            // The server speaks once the requests are out.
            let origin = handle.borrow().clone();
            if let Some(o) = origin {
                o.wake();
            }
            let events = h.out.events();
            let answers = response_status(&events).len();
            assert!(answers <= 3, "round {round}: {events:?}");
            if changes == 0 {
                assert_eq!(response_status(&events), vec![200; 3], "round {round}: sound frames, three answers");
                assert_eq!(trailers(&events), vec!["0"], "round {round}");
            }
            if rng.below(2) == 0 {
                h.input(Event::end());
            }
            h.finish();
        }
    }

    /// Scripted origins (see `Scripted`) that count the connections made to them.
    fn scripted(
        pieces: Vec<Vec<u8>>,
        connections: &Rc<Cell<usize>>,
    ) -> (LayoutSlot, Rc<RefCell<Option<crate::pipeline::FilterHandle>>>) {
        let pieces = Rc::new(RefCell::new(pieces.into_iter().rev().collect::<Vec<_>>()));
        let handle: Rc<RefCell<Option<crate::pipeline::FilterHandle>>> = Rc::default();
        let (hd, count) = (handle.clone(), connections.clone());
        let slot = PipelineLayout::new(
            "scripted",
            vec![FilterSpec::plain("scripted", move || {
                count.set(count.get() + 1);
                Scripted { pieces: pieces.clone(), end: false, handle: hd.clone() }
            })],
        )
        .into_slot();
        (slot, handle)
    }

    fn goaway_frames(last: u8) -> Vec<Vec<u8>> {
        // SETTINGS, then GOAWAY (NO_ERROR) with `last` as the last stream processed.
        vec![vec![0, 0, 0, 4, 0, 0, 0, 0, 0], vec![0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, last, 0, 0, 0, 0]]
    }

    #[test]
    fn a_lone_request_a_goaway_left_unprocessed_goes_again_on_a_new_session() {
        let connections = Rc::new(Cell::new(0));
        let (origin, handle) = scripted(goaway_frames(0), &connections);
        let h = Harness::new(vec![mux(Some("k"), &[("version", "2")], origin)]);
        request(&h, "/once", &[("host", "x")]);
        let origin = handle.borrow().clone();
        origin.unwrap().wake();
        assert_eq!(connections.get(), 2, "sent again on a new connection");
        assert!(!h.out.ended(), "the client is not told of the first try: {:?}", h.out.events());
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn pipelined_requests_a_goaway_left_unprocessed_end_the_stream_once_and_none_goes_again() {
        let connections = Rc::new(Cell::new(0));
        let (origin, handle) = scripted(goaway_frames(0), &connections);
        let h = Harness::new(vec![mux(Some("k"), &[("version", "2")], origin)]);
        request(&h, "/a", &[("host", "x")]);
        request(&h, "/b", &[("host", "x")]);
        let origin = handle.borrow().clone();
        origin.unwrap().wake();
        let events = h.out.events();
        assert_eq!(events.iter().filter(|e| e.is_stream_end()).count(), 1, "{events:?}");
        assert_eq!(connections.get(), 1, "nothing went again after the client was told");
        h.finish();
    }
}
