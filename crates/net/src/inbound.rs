//! One client connection: bytes read become Data events into the connection's root
//! pipeline; Data the pipeline outputs is written back. The pipeline's StreamEnd
//! closes the socket once everything is written; the client's FIN becomes a
//! StreamEnd into the pipeline.
//!
//! Output is written as soon as the pipeline produces it (a non-blocking write
//! right after the input that caused it), so a request and its answer take one
//! turn of the loop. Output produced later (a Promise settling, a timer) wakes the
//! connection through `Signal`.
//!
//! Backpressure: while more than `bufferLimit` bytes wait to be written to a slow
//! client, the connection stops reading from it, so a pipelining or flooding
//! client cannot grow the queue without bound.

use crate::io::Watchdog;
use crate::pump::{self, AtEnd, Reading, Side, Wire};
use bytes::Bytes;
use proxy_core::{Backpressure, Direction, Gauge};
use proxy_core::{Context, Event, Inbound, ListenOptions, Pipeline, PipelineLayout, Sink, StreamError};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// What a connection shares with its pipeline's sink and with the worker.
struct Shared {
    wire: Wire,
    draining: Cell<bool>,
    inbound: Weak<Inbound>,
}

/// A worker's open connections, so a drain can reach them and knows when it is done.
#[derive(Default)]
pub struct Connections {
    open: RefCell<HashMap<u64, Weak<Shared>>>,
    closed: Notify,
}

impl Connections {
    /// Open connections now.
    pub fn open(&self) -> usize {
        self.open.borrow().len()
    }

    /// Asks every open connection to close once its current exchange is done.
    pub fn drain(&self) {
        let all: Vec<_> = self.open.borrow().values().filter_map(Weak::upgrade).collect();
        for c in all {
            c.draining.set(true);
            if let Some(i) = c.inbound.upgrade() {
                i.drain();
            }
            c.wire.signal.raise();
        }
    }

    /// Waits until no connection is open.
    pub async fn all_closed(&self) {
        while self.open() > 0 {
            self.closed.notified().await;
        }
    }
}

struct Registration<'a> {
    connections: &'a Connections,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.connections.open.borrow_mut().remove(&self.id);
        self.connections.closed.notify_waiters();
    }
}

/// The client's side of the socket loop: bytes read go into the pipeline, and
/// reading pauses while the client is behind on answers or a server behind on
/// requests.
struct Client<'a> {
    pipeline: &'a Pipeline,
    shared: &'a Shared,
    inbound: &'a Inbound,
    flow: &'a Backpressure,
    slow_client: Gauge,
    buffer_limit: usize,
    /// Something was read that has not been answered in full yet.
    awaiting_reply: bool,
    peer: SocketAddr,
}

impl Side for Client<'_> {
    fn received(&mut self, bytes: Bytes) {
        self.awaiting_reply = true;
        self.pipeline.input(Event::Data(bytes.into()));
    }

    fn peer_closed(&mut self) -> bool {
        self.pipeline.input(Event::end());
        false
    }

    fn read_failed(&mut self, e: &std::io::Error) -> Option<StreamError> {
        tracing::debug!(peer = %self.peer, error = %e, "read failed");
        self.pipeline.input(Event::error(StreamError::ReadError));
        None
    }

    fn write_failed(&mut self, e: &std::io::Error) -> StreamError {
        tracing::debug!(peer = %self.peer, error = %e, "write failed");
        StreamError::WriteError
    }

    fn reading(&mut self, pending: usize) -> Reading {
        // Tell outbound connections to pause while the client is behind, and pause
        // reading from the client while a server is behind.
        self.slow_client.update(&self.flow.toward_client, pending, self.buffer_limit);
        let server_behind = self.flow.toward_server.is_on();
        Reading {
            allowed: pending < self.buffer_limit && !server_behind,
            until: server_behind.then_some(Direction::TowardServer),
            expected: true,
        }
    }

    fn wrote(&mut self, pending: usize) {
        // Everything the client asked for so far has been answered.
        self.awaiting_reply = pending > 0;
    }

    fn busy(&self) -> bool {
        // An HTTP request being answered is bounded by its own limits (the
        // upstream's response timeout, say), not by idleness.
        self.inbound.exchanges.get() > 0
    }

    fn may_close(&self) -> bool {
        // Between exchanges: nothing read since the last answer went out, and no
        // HTTP request still being answered (a long streamed response goes out
        // in many writes).
        let close = self.shared.draining.get()
            && self.inbound.closes_itself.get() == 0
            && !self.awaiting_reply
            && self.inbound.exchanges.get() == 0;
        if close {
            tracing::debug!(peer = %self.peer, "closed for shutdown");
        }
        close
    }
}

/// Runs the connection until both sides are done.
pub async fn serve(
    stream: TcpStream,
    inbound: Rc<Inbound>,
    layout: Rc<PipelineLayout>,
    options: Rc<ListenOptions>,
    connections: Rc<Connections>,
) {
    let shared =
        Rc::new(Shared { wire: Wire::default(), draining: Cell::new(false), inbound: Rc::downgrade(&inbound) });
    connections.open.borrow_mut().insert(inbound.id, Rc::downgrade(&shared));
    let _registration = Registration { connections: &connections, id: inbound.id };
    let peer = inbound.remote;
    tracing::debug!(%peer, "accepted");

    let sink = {
        let shared = shared.clone();
        Sink::Func(Box::new(move |ev| match ev {
            Event::Data(d) => shared.wire.send(d),
            Event::StreamEnd(_) => shared.wire.end(),
            _ => {}
        }))
    };
    let flow = Rc::new(Backpressure::default());
    let pipeline = Pipeline::new(&layout, Context::with_flow(inbound.clone(), flow.clone()), sink);
    let mut client = Client {
        pipeline: &pipeline,
        shared: &shared,
        inbound: &inbound,
        flow: &flow,
        slow_client: Gauge::default(),
        buffer_limit: options.buffer_limit,
        awaiting_reply: false,
        peer,
    };
    let mut watchdog = Watchdog::new(Some(options.idle_timeout), options.read_timeout, options.write_timeout);
    let result = pump::run(stream, &shared.wire, &mut client, &mut watchdog, AtEnd::Close, Some(flow.clone())).await;
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection ended");
        pipeline.input(Event::error(err));
    }
    inbound.closed.set(true);
    let mut slow_client = client.slow_client;
    slow_client.clear(&flow.toward_client);
    drop(pipeline);
    tracing::debug!(%peer, "closed");
}

#[cfg(test)]
mod size_probe {
    #[test]
    fn print_future_sizes() {
        use proxy_core::{ListenOptions, PipelineLayout};
        use std::rc::Rc;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let inbound = Rc::new(proxy_core::Inbound::new(1, addr, addr));
            let f = super::serve(
                s,
                inbound,
                Rc::new(PipelineLayout::new("x", vec![])),
                Rc::new(ListenOptions::default()),
                Rc::default(),
            );
            eprintln!("serve future: {} bytes", std::mem::size_of_val(&f));
        });
    }
}
