//! `demuxHTTP(options?).to(...)`: an HTTP/1.x server whose requests each run in a
//! sub-pipeline of their own, with a forked context. Data in is decoded; each
//! request's MessageStart, Data and MessageEnd go to its sub-pipeline as they
//! arrive (bodies stream, nothing is buffered whole). Each sub-pipeline answers with
//! a message; answers are encoded and written in request order, streaming as well
//! (a later answer waits, buffered, until the ones before it are written).
//!
//! A sub-pipeline that ends before answering gets the client a synthesized
//! response: `502` for refused, unresolved or failed upstreams, `504` for timeouts
//! (`HTTP/1.1 502 Connection Refused`, empty body). One that fails half-way
//! through its answer closes the client connection. Bad input is answered with
//! `400` / `431` after the answers before it, then the connection closes.
//!
//! Options: `maxHeaderSize` (16k), `bufferSize` (16k: bodies up to this get a
//! content-length, longer ones are sent chunked).

use crate::args::{ArgResult, Args, OptionReader};
use crate::context::Inbound;
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::head::{Head, ResponseHead};
use crate::http::{self, Decoder, Encoder, ResponseInfo};
use crate::pipeline::{Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::collections::VecDeque;
use std::rc::Rc;

struct Options {
    max_header_size: usize,
    buffer_size: usize,
}

/// Builds `demuxHTTP(options?)` (its sub-pipeline comes from `.to(...)`).
pub fn build(args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let (first_opts, subs) = if args.is_string(0) { (1, vec![args.layout(0)?]) } else { (0, Vec::new()) };
    let opts = args.options(first_opts)?;
    let r = OptionReader::new("demuxHTTP", opts.as_ref());
    let options = Rc::new(Options {
        max_header_size: r.size("maxHeaderSize")?.unwrap_or(http::DEFAULT_MAX_HEADER_SIZE),
        buffer_size: r.size("bufferSize")?.unwrap_or(http::DEFAULT_BUFFER_SIZE),
    });
    let named = !subs.is_empty();
    let mut spec = FilterSpec::with_subs("demuxHTTP", subs, move |subs| DemuxHttp {
        slot: subs[0].clone(),
        decoder: Decoder::requests(options.max_header_size),
        encoder: Encoder::responses(options.buffer_size),
        streams: VecDeque::new(),
        next_tag: 0,
        input_ended: false,
        closed: false,
        inbound: None,
    });
    spec.joint = !named;
    Ok(spec)
}

struct Stream {
    tag: usize,
    pipeline: Option<Pipeline>,
    info: ResponseInfo,
    request_done: bool,
    started: bool,
    done: bool,
    /// Answer events waiting for the answers before this one.
    held: Vec<Event>,
    /// A decode error to answer with, instead of a sub-pipeline.
    reject: Option<u16>,
}

/// The `demuxHTTP` filter.
pub struct DemuxHttp {
    slot: LayoutSlot,
    decoder: Decoder,
    encoder: Encoder,
    streams: VecDeque<Stream>,
    next_tag: usize,
    input_ended: bool,
    closed: bool,
    /// The client connection, whose count of unanswered requests this keeps.
    inbound: Option<Rc<Inbound>>,
}

impl DemuxHttp {
    /// One more request read and not yet answered in full (or one fewer).
    fn count(&self, more: bool) {
        if let Some(i) = &self.inbound {
            let n = i.exchanges.get();
            i.exchanges.set(if more { n + 1 } else { n.saturating_sub(1) });
        }
    }
}

impl Drop for DemuxHttp {
    fn drop(&mut self) {
        for _ in 0..self.streams.len() {
            self.count(false);
        }
    }
}

fn synthesized(status: u16, text: &'static str) -> Vec<Event> {
    let head = ResponseHead { status, status_text: Some(text.into()), ..ResponseHead::default() };
    vec![Event::start(Head::Response(head)), Event::message_end()]
}

impl DemuxHttp {
    fn request_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if let Event::MessageStart(h) = &ev {
            let info = match h.request() {
                Some(r) => ResponseInfo { head_request: r.method == "HEAD", is_final: r.is_final() },
                None => ResponseInfo::default(),
            };
            let expects = h
                .request()
                .and_then(|r| r.headers.get("expect"))
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
            if expects && self.streams.is_empty() {
                cx.output(Event::Data(Data::from("HTTP/1.1 100 Continue\r\n\r\n")));
            }
            let tag = self.next_tag;
            self.next_tag += 1;
            let pipeline = cx.sub_pipeline(&self.slot, cx.context().fork(), tag);
            self.count(true);
            self.streams.push_back(Stream {
                tag,
                pipeline,
                info,
                request_done: false,
                started: false,
                done: false,
                held: Vec::new(),
                reject: None,
            });
        }
        let Some(stream) = self.streams.back_mut() else { return };
        if stream.request_done {
            return;
        }
        if matches!(ev, Event::MessageEnd(_)) {
            stream.request_done = true;
        }
        // An answer the sub-pipeline gives at once is queued by the pipeline and
        // handled when this call returns, so holding `stream` here is safe.
        if let Some(p) = &stream.pipeline {
            p.input(ev);
        } else if stream.request_done && !stream.started {
            // The layout was never resolved: nothing will answer.
            stream.held.extend(synthesized(502, "Bad Gateway"));
            stream.started = true;
            stream.done = true;
        }
    }

    fn reject(&mut self, status: u16) {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.count(true);
        self.streams.push_back(Stream {
            tag,
            pipeline: None,
            info: ResponseInfo { head_request: false, is_final: true },
            request_done: true,
            started: true,
            done: true,
            held: vec![Event::start(Head::Response(ResponseHead::with_status(status))), Event::message_end()],
            reject: Some(status),
        });
    }

    /// Writes answers in order: the front one as it comes, later ones when their turn comes.
    fn flush(&mut self, cx: &mut Cx<'_>) {
        while !self.closed {
            let Some(front) = self.streams.front_mut() else { break };
            let held = std::mem::take(&mut front.held);
            let info = front.info;
            let rejected = front.reject.is_some();
            for ev in held {
                if let Event::MessageStart(_) = ev {
                    self.encoder.set_response_info(info);
                }
                let mut ended = false;
                self.encoder.encode(ev, &mut |out| {
                    if out.is_stream_end() {
                        ended = true;
                    }
                    cx.output(out)
                });
                if ended {
                    self.closed = true;
                }
            }
            // An answer given before its request ended stays until the request has
            // been read (the next request cannot start before that anyway).
            let front = self.streams.front().expect("still there");
            if front.done && (front.request_done || rejected) {
                self.streams.pop_front();
                self.count(false);
                continue;
            }
            break;
        }
        if !self.closed && self.input_ended && self.streams.is_empty() {
            self.closed = true;
            cx.output(Event::end());
        }
    }
}

impl Filter for DemuxHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.closed || self.input_ended {
            return;
        }
        if self.inbound.is_none() {
            self.inbound = cx.context().inbound().cloned();
        }
        let mut decoded = Vec::new();
        let result = match ev {
            Event::Data(d) => self.decoder.input(d, &mut |e| decoded.push(e)),
            Event::StreamEnd(_) => {
                self.input_ended = true;
                self.decoder.end(&mut |e| decoded.push(e))
            }
            _ => Ok(()),
        };
        for e in decoded {
            self.request_event(e, cx);
        }
        if let Err(e) = result {
            tracing::debug!(error = %e, "bad request");
            self.input_ended = true;
            if let Some(s) = self.streams.back_mut() {
                // A request cut off by the bad input will not complete.
                s.request_done = true;
            }
            self.reject(e.status());
        }
        self.flush(cx);
    }

    fn on_sub_event(&mut self, tag: usize, ev: Event, cx: &mut Cx<'_>) {
        let Some(stream) = self.streams.iter_mut().find(|s| s.tag == tag) else { return };
        if stream.done {
            return;
        }
        match ev {
            Event::MessageStart(_) if stream.started => return,
            Event::MessageStart(_) => stream.started = true,
            Event::Data(_) if !stream.started => return,
            Event::MessageEnd(_) if !stream.started => return,
            Event::MessageEnd(_) => stream.done = true,
            Event::StreamEnd(err) => {
                if stream.started {
                    // Cut off half-way: the client cannot get a whole answer.
                    tracing::debug!(error = ?err, "answer cut off; closing the client connection");
                    stream.done = true;
                    stream.held.push(Event::error(err.unwrap_or(StreamError::ConnectionReset)));
                } else {
                    let (status, text) = err.unwrap_or(StreamError::ConnectionReset).http_status();
                    stream.held.extend(synthesized(status, text));
                    stream.started = true;
                    stream.done = true;
                }
                stream.pipeline = None;
                self.flush(cx);
                return;
            }
            _ => {}
        }
        stream.held.push(ev);
        if self.streams.front().is_some_and(|s| s.tag == tag) {
            // The answer being written: out it goes, without waiting in `held`.
            self.flush(cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Message;
    use crate::filters::replace;
    use crate::pipeline::PipelineLayout;
    use crate::testing::{spec, Harness, TestArg};
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
        PipelineLayout::new(
            "answer",
            vec![spec(|a| replace::build(a, replace::ReplaceKind::Message), vec![TestArg::Callback(Rc::new(cb))])],
        )
        .into_slot()
    }

    fn demux() -> FilterSpec {
        let mut s = spec(build, vec![]);
        s.subs.push(answering());
        s
    }

    #[test]
    fn answers_in_order_and_synthesizes_502_for_a_failed_sub_pipeline() {
        let h = Harness::new(vec![demux()]);
        h.send("GET /a HTTP/1.1\r\n\r\nGET /fail HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
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

    #[test]
    fn random_request_streams_keep_the_contract_and_release_everything() {
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let mut rnd = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n.max(1) as u64) as usize
        };
        let parts: &[&str] = &[
            "GET /a HTTP/1.1\r\n\r\n",
            "POST /b HTTP/1.1\r\ncontent-length: 3\r\n\r\nxyz",
            "GET /fail HTTP/1.1\r\n\r\n",
            "PUT /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
            "GET /close HTTP/1.1\r\nconnection: close\r\n\r\n",
            "BROKEN\r\n\r\n",
        ];
        for _ in 0..2_000 {
            let mut input = String::new();
            for _ in 0..1 + rnd(5) {
                input.push_str(parts[rnd(parts.len())]);
            }
            let h = Harness::new(vec![demux()]);
            let bytes = input.as_bytes();
            let mut at = 0;
            while at < bytes.len() {
                let n = 1 + rnd(bytes.len() - at);
                h.input(Event::Data(bytes[at..at + n].to_vec().into()));
                at += n;
            }
            if rnd(2) == 0 {
                h.input(Event::end());
            }
            h.finish();
        }
    }
}
