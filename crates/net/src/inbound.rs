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

use crate::io::{write_queued, Reader, Signal, Watchdog};
use bytes::Bytes;
use proxy_core::flow::{Backpressure, Gauge};
use proxy_core::{Context, Event, Inbound, ListenOptions, Pipeline, PipelineLayout, Sink, StreamError};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What a connection shares with its pipeline's sink and with the worker.
#[derive(Default)]
struct Shared {
    outbox: RefCell<Outbox>,
    signal: Signal,
    draining: Cell<bool>,
}

/// Bytes the pipeline output and the socket has not taken yet.
#[derive(Default)]
struct Outbox {
    chunks: VecDeque<Bytes>,
    size: usize,
    ended: bool,
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
            c.signal.raise();
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

/// Writes queued output until it is all written or the socket would block.
fn write_now(wr: &OwnedWriteHalf, shared: &Shared) -> std::io::Result<usize> {
    let mut o = shared.outbox.borrow_mut();
    let Outbox { chunks, size, .. } = &mut *o;
    write_queued(wr, chunks, size)
}

/// Runs the connection until both sides are done.
pub async fn serve(
    stream: TcpStream,
    inbound: Inbound,
    layout: Rc<PipelineLayout>,
    options: Rc<ListenOptions>,
    connections: Rc<Connections>,
) {
    let shared = Rc::new(Shared::default());
    connections.open.borrow_mut().insert(inbound.id, Rc::downgrade(&shared));
    let _registration = Registration { connections: &connections, id: inbound.id };
    let _ = stream.set_nodelay(true);
    let peer = inbound.remote;
    tracing::debug!(%peer, "accepted");

    let sink = {
        let shared = shared.clone();
        Sink::Func(Box::new(move |ev| {
            let mut o = shared.outbox.borrow_mut();
            match ev {
                Event::Data(d) => {
                    for c in d.into_chunks() {
                        o.size += c.len();
                        o.chunks.push_back(c);
                    }
                }
                Event::StreamEnd(_) => o.ended = true,
                _ => return,
            }
            drop(o);
            shared.signal.raise();
        }))
    };
    let inbound = Rc::new(inbound);
    let flow = Rc::new(Backpressure::default());
    let mut slow_client = Gauge::default();
    let pipeline = Pipeline::new(&layout, Context::with_flow(inbound.clone(), flow.clone()), sink);

    let (mut rd, wr) = stream.into_split();
    let mut reader = Reader::default();
    let mut read_done = false;
    let mut awaiting_reply = false;
    let mut watchdog = Watchdog::new(Some(options.idle_timeout), options.read_timeout, options.write_timeout);
    let (mut reads, mut writes) = (0u64, 0u64);
    let timer = tokio::time::sleep(watchdog.period);
    tokio::pin!(timer);

    loop {
        match write_now(&wr, &shared) {
            Ok(0) => {}
            Ok(_) => {
                writes += 1;
                // Everything the client asked for so far has been answered.
                awaiting_reply = shared.outbox.borrow().size > 0;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "write failed");
                pipeline.input(Event::error(StreamError::WriteError));
                break;
            }
        }
        let (pending, ended) = {
            let o = shared.outbox.borrow();
            (o.size, o.ended)
        };
        if pending == 0 {
            if ended {
                break;
            }
            // Between exchanges: nothing read since the last answer went out, and
            // no HTTP request still being answered (a long streamed response
            // goes out in many writes).
            if shared.draining.get() && !awaiting_reply && inbound.exchanges.get() == 0 {
                tracing::debug!(%peer, "closed for shutdown");
                break;
            }
        }
        // Tell outbound connections to pause while the client is behind, and pause
        // reading from the client while a server is behind.
        slow_client.update(&flow.toward_client, pending, options.buffer_limit);
        let server_behind = flow.toward_server.is_on();
        let can_read = !read_done && pending < options.buffer_limit && !server_behind;
        tokio::select! {
            biased;
            r = reader.read(&mut rd), if can_read => match r {
                Ok(None) => {
                    read_done = true;
                    pipeline.input(Event::end());
                }
                Ok(Some(bytes)) => {
                    reads += 1;
                    awaiting_reply = true;
                    pipeline.input(Event::Data(bytes.into()));
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "read failed");
                    read_done = true;
                    pipeline.input(Event::error(StreamError::ReadError));
                }
            },
            r = wr.writable(), if pending > 0 => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "write failed");
                    pipeline.input(Event::error(StreamError::WriteError));
                    break;
                }
            }
            _ = shared.signal.raised() => {}
            _ = flow.toward_server.cleared(), if server_behind && !read_done => {}
            _ = &mut timer => {
                // An HTTP request being answered is bounded by its own limits
                // (the upstream's response timeout, say), not by idleness.
                let busy = inbound.exchanges.get() > 0;
                if let Some(err) = watchdog.check(reads, writes, !read_done, pending > 0, busy) {
                    tracing::debug!(%peer, error = %err, "connection timed out");
                    pipeline.input(Event::error(err));
                    break;
                }
                timer.as_mut().reset(Instant::now() + watchdog.period);
            }
        }
    }
    let mut wr = wr;
    let _ = wr.shutdown().await;
    inbound.closed.set(true);
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
            let inbound = proxy_core::Inbound::new(1, addr, addr);
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
