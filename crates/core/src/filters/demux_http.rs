//! `demuxHTTP(options?).to(...)`: an HTTP server whose requests each run in a
//! sub-pipeline of their own, with a forked context; HTTP/1.x or HTTP/2 as the
//! client's first bytes say (`http::connection`). Over HTTP/2 each stream's
//! answer goes at its own pace (a stream waiting for its window pauses its own
//! upstream), and what follows about order and pipelining is HTTP/1's. Data in is decoded; each
//! request's MessageStart, Data and MessageEnd go to its sub-pipeline as they
//! arrive (bodies stream, nothing is buffered whole). Each sub-pipeline answers with
//! a message; answers are encoded and written in request order, streaming as well
//! (a later answer waits, buffered, until the ones before it are written).
//! StreamEnd in (the client closed) ends the output once the answers already
//! being written are out; requests whose answers have not started are given up,
//! as nginx does.
//!
//! A sub-pipeline that ends before answering gets the client a synthesized
//! response: `502` for refused, unresolved or failed upstreams, `504` for timeouts
//! (`HTTP/1.1 502 Connection Refused`, empty body). One that fails half-way
//! through its answer closes the client connection after what it sent. Bad input
//! is answered with `400` / `431` / `501` after the answers before it, then the
//! connection closes; a request cut off by bad input (a broken chunk) or by the
//! client closing is aborted: its sub-pipeline gets StreamEnd, so an upstream
//! request it started is dropped too. A head not received whole within
//! `headerTimeout`, or a body that stalls for `bodyTimeout`, gets `408`.
//!
//! At most `maxPipelined` requests run at once; past that, reading from the
//! client pauses until answers go out, so a client pipelining without reading
//! holds a bounded amount of memory.

use crate::args::{ArgResult, Args};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::flow::{self, Backpressure, Direction, Gauge};
use crate::http::connection::Connection;
use crate::http::server::{self, ServerOptions};
use crate::http::session::{Incoming, RequestId, ServerSession};
use crate::pipeline::{Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::cell::Cell;
use std::rc::Rc;

/// `demuxHTTP` as scripts see it (its sub-pipeline comes from `.to(...)`).
pub const DEF: FilterDef = FilterDef {
    name: "demuxHTTP",
    params: "options?: DemuxHTTPOptions",
    doc: "Serves HTTP on the connection, each request in a sub-pipeline of its own that answers it.",
    options: &[server::OPTIONS],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let (first_opts, subs) = if args.is_string(0) { (1, vec![args.layout(0)?]) } else { (0, Vec::new()) };
    let options = Rc::new(ServerOptions::read(&def.options_at(args, first_opts)?)?);
    let named = !subs.is_empty();
    let mut spec = FilterSpec::with_subs(def.name, subs, move |subs| DemuxHttp {
        slot: subs[0].clone(),
        session: Connection::new(options.clone(), options.max_pipelined).deferring_writes().taking_tunnels(),
        buffer_size: options.buffer_size,
    });
    spec.joint = !named;
    Ok(spec)
}

/// What the filter keeps for one request.
struct Stream {
    /// Its sub-pipeline, until it ends.
    pipeline: Option<Pipeline>,
    /// For a request read while others were being answered: the backpressure its
    /// sub-pipeline runs under, so that it can be paused alone while its answer
    /// waits its turn (it follows the client's once it is the one being written);
    /// the answer bytes waiting, and the holds.
    own_flow: Option<OwnFlow>,
    /// The session paces the request body by `own_flow` itself (HTTP/2).
    paced: bool,
}

/// The backpressure of one pipelined request's sub-pipeline.
#[derive(Default)]
struct OwnFlow {
    flow: Rc<Backpressure>,
    held_bytes: usize,
    waiting_turn: Gauge,
    following_client: Rc<Cell<bool>>,
    followed_by_client: Rc<Cell<bool>>,
}

/// The `demuxHTTP` filter.
pub struct DemuxHttp {
    slot: LayoutSlot,
    session: Connection<Stream>,
    /// Answer bytes a request waiting its turn may hold before its upstream pauses.
    buffer_size: usize,
}

impl DemuxHttp {
    /// Passes what the session hands over to the sub-pipelines, and writes
    /// answers, until neither can go further.
    fn drain(&mut self, cx: &mut Cx<'_>) {
        loop {
            while let Some(incoming) = self.session.next(cx) {
                match incoming {
                    Incoming::Request(id, ev) => self.request_event(id, ev, cx),
                    Incoming::Abort(_, why, stream) => {
                        // An upstream request it made is dropped.
                        if let Some(p) = stream.and_then(|s| s.pipeline) {
                            p.input(Event::error(why));
                        }
                    }
                }
            }
            let more = self.session.flush(cx);
            // Its turn: the request being answered writes to the client now, at the client's pace.
            self.session.for_each_writing(&mut |s| {
                if let Some(own) = s.own_flow.as_mut() {
                    own.held_bytes = 0;
                    own.waiting_turn.clear(&own.flow.toward_client);
                }
            });
            if !more {
                break;
            }
        }
    }

    fn request_event(&mut self, id: RequestId, ev: Event, cx: &mut Cx<'_>) {
        let client = cx.context().flow();
        if let Event::MessageStart(_) = &ev {
            // The first request in line answers straight to the client, under its
            // backpressure; one behind others gets backpressure of its own.
            let own_flow = (!self.session.is_front(id) && client.is_some()).then(OwnFlow::default);
            let context = match &own_flow {
                Some(own) => cx.context().fork_with_flow(own.flow.clone()),
                None => cx.context().fork(),
            };
            let pipeline = cx.sub_pipeline(&self.slot, context, id as usize);
            // HTTP/2 reads each request body at its own pace; HTTP/1 pauses the connection.
            let paced = own_flow.as_ref().is_some_and(|own| self.session.input_flow(id, &own.flow));
            self.session.keep(id, Stream { pipeline, own_flow, paced });
        }
        let end = matches!(ev, Event::MessageEnd(_));
        let Some(stream) = self.session.state_mut(id) else { return };
        // An upstream slow to take this request's body pauses the client.
        if let (Some(own), Some(client), false) = (&stream.own_flow, client, stream.paced) {
            flow::follow(&own.flow, client, Direction::TowardServer, &own.followed_by_client);
        }
        // An answer the sub-pipeline gives at once is queued by the pipeline and
        // handled when this call returns.
        if let Some(p) = &stream.pipeline {
            p.input(ev);
        } else if end {
            // The layout was never resolved: nothing will answer.
            self.session.answer(id, Event::error(StreamError::ConnectionReset));
        }
    }
}

impl Filter for DemuxHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.session.input_ended() {
            return;
        }
        self.session.input(ev, cx);
        self.drain(cx);
    }

    fn on_sub_event(&mut self, tag: usize, ev: Event, cx: &mut Cx<'_>) {
        let id = tag as RequestId;
        let (data_len, is_end) = match &ev {
            Event::Data(d) => (d.len(), false),
            Event::StreamEnd(_) => (0, true),
            _ => (0, false),
        };
        let Some(is_front) = self.session.answer(id, ev) else { return };
        let client = cx.context().flow();
        let turn_buffer = self.buffer_size;
        if let Some(stream) = self.session.state_mut(id) {
            if is_end {
                stream.pipeline = None;
            } else if let Some(own) = &mut stream.own_flow {
                if is_front {
                    if let Some(client) = client {
                        flow::follow(client, &own.flow, Direction::TowardClient, &own.following_client);
                    }
                } else if data_len > 0 {
                    // Waiting its turn: past a buffer's worth, its upstream pauses.
                    own.held_bytes += data_len;
                    own.waiting_turn.update(&own.flow.toward_client, own.held_bytes, turn_buffer);
                }
            }
        }
        if is_front || is_end {
            // The answer being written: out it goes, without waiting.
            self.drain(cx);
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        if self.session.input_ended() {
            return;
        }
        self.session.wake(cx);
        self.drain(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Message;
    use crate::filters::replace;
    use crate::head::Head;
    use crate::pipeline::PipelineLayout;
    use crate::testing::{spec, Harness, Rng, TestArg};
    use crate::Context;

    fn answering() -> LayoutSlot {
        let cb = |_: &Context, arg: crate::callback::Arg<'_>, _: crate::callback::Want| {
            let crate::callback::Arg::Message(m) = arg else { panic!("a message") };
            let path = m.head.request().map(|r| r.path.to_string()).unwrap_or_default();
            let events = if path.contains("fail") {
                vec![Event::error(StreamError::ConnectionRefused)]
            } else {
                Message::new(Head::None, format!("ok {path}")).into_events()
            };
            Ok(crate::callback::Returned::Events(events))
        };
        PipelineLayout::new("answer", vec![spec(&replace::MESSAGE, vec![TestArg::Callback(Rc::new(cb))])]).into_slot()
    }

    fn demux() -> FilterSpec {
        let mut s = spec(&DEF, vec![]);
        s.subs.push(answering());
        s
    }

    #[test]
    fn answers_in_order_and_synthesizes_502_for_a_failed_sub_pipeline() {
        let h = Harness::new(vec![demux()]);
        h.send(
            "GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /fail HTTP/1.1\r\nhost: x\r\n\r\nGET /c HTTP/1.1\r\nhost: x\r\n\r\n",
        );
        assert_eq!(
            h.out.text(),
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\nok /a\
HTTP/1.1 502 Connection Refused\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n\
HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\nok /c"
        );
        h.input(Event::end());
        assert!(h.out.ended());
        h.finish();
    }

    /// A sub-pipeline that never answers and notes what it is given.
    fn silent(seen: Rc<std::cell::RefCell<Vec<String>>>) -> FilterSpec {
        struct Note(Rc<std::cell::RefCell<Vec<String>>>);
        impl Filter for Note {
            fn on_event(&mut self, ev: Event, _: &mut Cx<'_>) {
                let what = match &ev {
                    Event::MessageStart(h) => {
                        format!("start {}", h.request().map(|r| r.path.to_string()).unwrap_or_default())
                    }
                    Event::Data(d) => format!("data {}", d.len()),
                    Event::MessageEnd(_) => "end".into(),
                    Event::StreamEnd(e) => format!("eos {e:?}"),
                };
                self.0.borrow_mut().push(what);
            }
        }
        let layout = PipelineLayout::new("silent", vec![FilterSpec::plain("note", move || Note(seen.clone()))]);
        let mut s = spec(&DEF, vec![TestArg::Options([("maxPipelined".to_string(), "2".to_string())].into())]);
        s.subs.push(layout.into_slot());
        s
    }

    #[test]
    fn at_most_max_pipelined_requests_run_and_the_rest_wait_their_turn() {
        let seen = Rc::default();
        let h = Harness::new(vec![silent(Rc::clone(&seen))]);
        let live = crate::live_pipelines();
        h.send(
            "GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\n\r\nGET /3 HTTP/1.1\r\nhost: x\r\n\r\n",
        );
        assert_eq!(crate::live_pipelines(), live + 2, "the third request waits");
        assert_eq!(seen.borrow().iter().filter(|s| s.starts_with("start")).count(), 2);
        h.input(Event::end());
        // The client left: requests not answered are given up, their pipelines told.
        assert_eq!(seen.borrow().iter().filter(|s| s.starts_with("eos")).count(), 2, "{:?}", seen.borrow());
        assert!(h.out.ended());
        assert_eq!(h.out.text(), "");
        h.finish();
    }

    #[test]
    fn a_broken_chunk_aborts_its_request_and_gets_400_at_once() {
        let seen = Rc::default();
        let h = Harness::new(vec![silent(Rc::clone(&seen))]);
        h.send("POST /up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n+5\r\n");
        assert_eq!(*seen.borrow(), vec!["start /up", "data 3", "eos Some(ProtocolError)"]);
        assert_eq!(h.out.text(), "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        assert!(h.out.ended());
        h.finish();
    }

    #[test]
    fn random_request_streams_keep_the_contract_and_release_everything() {
        let mut rng = Rng::new(0x9E3779B97F4A7C15);
        let parts: &[&str] = &[
            "GET /a HTTP/1.1\r\nhost: x\r\n\r\n",
            "POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nxyz",
            "GET /fail HTTP/1.1\r\nhost: x\r\n\r\n",
            "PUT /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
            "GET /close HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            "BROKEN\r\n\r\n",
        ];
        for _ in 0..2_000 {
            let mut input = String::new();
            for _ in 0..1 + rng.below(5) {
                input.push_str(parts[rng.below(parts.len())]);
            }
            let h = Harness::new(vec![demux()]);
            for piece in rng.pieces(input.as_bytes()) {
                h.input(Event::Data(piece.to_vec().into()));
            }
            if rng.below(2) == 0 {
                h.input(Event::end());
            }
            h.finish();
        }
    }

    #[test]
    fn no_queued_request_starts_after_a_final_answer_closed_the_connection() {
        use crate::pipeline::FilterHandle;
        type Log = Rc<std::cell::RefCell<(Vec<String>, Vec<FilterHandle>)>>;
        /// Notes each request's path, and answers when woken.
        struct Late(Log);
        impl Filter for Late {
            fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
                match &ev {
                    Event::MessageStart(h) => self.0.borrow_mut().0.push(h.request().unwrap().path.to_string()),
                    Event::MessageEnd(_) => self.0.borrow_mut().1.push(cx.handle()),
                    _ => {}
                }
            }
            fn on_wake(&mut self, cx: &mut Cx<'_>) {
                cx.output(Event::start(Head::Response(crate::head::ResponseHead::with_status(200))));
                cx.output(Event::message_end());
            }
        }
        let log: Log = Rc::default();
        let l = log.clone();
        let layout = PipelineLayout::new("late", vec![FilterSpec::plain("late", move || Late(l.clone()))]);
        let mut s = spec(&DEF, vec![TestArg::Options([("maxPipelined".to_string(), "2".to_string())].into())]);
        s.subs.push(layout.into_slot());
        let h = Harness::new(vec![s]);
        h.send(
            "GET /h HTTP/1.1\r\nhost: x\r\n\r\nGET /close HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n\
POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nxyz",
        );
        assert_eq!(log.borrow().0, vec!["/h", "/close"]);
        let handles = log.borrow().1.clone();
        handles[1].wake(); // /close answers first: held, it is not its turn
        handles[0].wake(); // /h answers: both go out, and the connection ends
        assert!(h.out.ended());
        assert_eq!(log.borrow().0, vec!["/h", "/close"], "a request started after the connection closed");
        log.borrow_mut().1.clear();
        h.finish();
    }

    /// demuxHTTP with acceptHTTPTunnel: CONNECT and an upgrade open a tunnel
    /// (the upgrade answered 101), anything else gets 405; the tunnel answers
    /// its bytes in capitals.
    fn tunnel_server() -> FilterSpec {
        use crate::filters::accept_http_tunnel;
        use crate::head::ResponseHead;
        struct Shout;
        impl Filter for Shout {
            fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
                match ev {
                    Event::Data(d) => cx.output(Event::Data(d.to_vec().to_ascii_uppercase().into())),
                    ev => cx.output(ev),
                }
            }
        }
        let cb = |_: &Context, arg: crate::callback::Arg<'_>, _: crate::callback::Want| {
            let crate::callback::Arg::Message(m) = arg else { panic!("a message") };
            let r = m.head.request().unwrap();
            let status = match (r.method.as_str(), r.headers.get("upgrade")) {
                ("CONNECT", _) => return Ok(crate::callback::Returned::Nothing),
                (_, Some(_)) => 101,
                _ => 405,
            };
            let head = Head::Response(ResponseHead::with_status(status));
            Ok(crate::callback::Returned::Events(
                Message::new(head, if status == 405 { "no\n" } else { "" }).into_events(),
            ))
        };
        let mut accept = spec(&accept_http_tunnel::DEF, vec![TestArg::Callback(Rc::new(cb))]);
        accept.subs.push(PipelineLayout::new("shout", vec![FilterSpec::plain("shout", || Shout)]).into_slot());
        let mut s = spec(&DEF, vec![]);
        s.subs.push(PipelineLayout::new("tunnel", vec![accept]).into_slot());
        s
    }

    #[test]
    fn a_connect_becomes_a_tunnel_whatever_the_pieces_and_ends_when_the_client_does() {
        let input = "CONNECT db:5432 HTTP/1.1\r\nhost: db:5432\r\n\r\nhello GET / HTTP/1.1\r\n\r\n";
        for at in 0..=input.len() {
            let h = Harness::new(vec![tunnel_server()]);
            h.send(&input[..at]);
            h.send(&input[at..]);
            assert_eq!(h.out.text(), "HTTP/1.1 200 OK\r\n\r\nHELLO GET / HTTP/1.1\r\n\r\n", "split at {at}");
            assert!(!h.out.ended());
            h.input(Event::end());
            assert!(h.out.ended(), "split at {at}");
            h.finish();
        }
    }

    #[test]
    fn a_refused_tunnel_is_answered_and_the_requests_after_it_are_served() {
        let h = Harness::new(vec![tunnel_server()]);
        h.send("GET /x HTTP/1.1\r\nhost: a\r\n\r\nCONNECT a:1 HTTP/1.1\r\n\r\n");
        let text = h.out.text();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{text}");
        assert!(text.contains("\r\n\r\nno\nHTTP/1.1 200 OK\r\n"), "{text}");
        h.send("raw");
        assert!(h.out.text().ends_with("RAW"), "{}", h.out.text());
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn an_upgrade_answered_101_switches_the_connection_to_raw_bytes() {
        let h = Harness::new(vec![tunnel_server()]);
        h.send("GET /ws HTTP/1.1\r\nhost: a\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\nping");
        assert_eq!(
            h.out.text(),
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\nPING"
        );
        h.input(Event::end());
        assert!(h.out.ended());
        h.finish();
    }
}
