//! One client connection: bytes read become Data events into the connection's root
//! pipeline; Data the pipeline outputs is written back. The pipeline's StreamEnd
//! closes the socket once everything is written; the client's FIN becomes a
//! StreamEnd into the pipeline.
//!
//! Backpressure: while more than `bufferLimit` bytes wait to be written to a slow
//! client, the connection stops reading from it, so a pipelining or flooding
//! client cannot grow the queue without bound.

use bytes::{Bytes, BytesMut};
use proxy_core::{Context, Event, Inbound, ListenOptions, Pipeline, PipelineLayout, Sink, StreamError};
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::rc::Rc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Counts a worker's open connections, so a drain knows when it is done.
#[derive(Default)]
pub struct Connections {
    open: Cell<usize>,
    changed: Notify,
}

impl Connections {
    /// Open connections now.
    pub fn open(&self) -> usize {
        self.open.get()
    }

    /// Waits until no connection is open.
    pub async fn all_closed(&self) {
        while self.open.get() > 0 {
            self.changed.notified().await;
        }
    }
}

struct Guard<'a>(&'a Connections);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get() - 1);
        self.0.changed.notify_waiters();
    }
}

/// Bytes the pipeline output and the socket has not taken yet.
#[derive(Default)]
struct Outbox {
    chunks: VecDeque<Bytes>,
    size: usize,
    ended: bool,
}

const READ_SIZE: usize = 16 * 1024;
const MAX_SLICES: usize = 8;

/// Runs the connection until both sides are done.
pub async fn serve(
    stream: TcpStream,
    inbound: Inbound,
    layout: Rc<PipelineLayout>,
    options: Rc<ListenOptions>,
    connections: Rc<Connections>,
    mut drain: watch::Receiver<bool>,
) {
    connections.open.set(connections.open.get() + 1);
    let _guard = Guard(&connections);
    let _ = stream.set_nodelay(true);
    let peer = inbound.remote;
    tracing::debug!(%peer, "accepted");

    let outbox = Rc::new(RefCell::new(Outbox::default()));
    let wake = Rc::new(Notify::new());
    let sink = {
        let outbox = outbox.clone();
        let wake = wake.clone();
        Sink::Func(Box::new(move |ev| {
            let mut o = outbox.borrow_mut();
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
            wake.notify_one();
        }))
    };
    let pipeline = Pipeline::new(&layout, Context::new(Some(Rc::new(inbound))), sink);

    let (mut rd, mut wr) = stream.into_split();
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut read_done = false;
    let mut awaiting_reply = false;
    let mut draining = *drain.borrow();
    let idle = options.idle_timeout;
    // One timer for the connection: activity only records the time, and when the
    // timer fires it is pushed back if there was activity since.
    let mut last_activity = Instant::now();
    let timer = tokio::time::sleep(idle);
    tokio::pin!(timer);

    loop {
        let (slices, ended, pending_size) = {
            let o = outbox.borrow();
            (o.chunks.iter().take(MAX_SLICES).cloned().collect::<SmallVec<[Bytes; MAX_SLICES]>>(), o.ended, o.size)
        };
        if slices.is_empty() {
            if ended {
                break;
            }
            if draining && !awaiting_reply {
                tracing::debug!(%peer, "closed for shutdown");
                break;
            }
        }
        let can_read = !read_done && pending_size < options.buffer_limit;
        if can_read && buf.capacity() - buf.len() < 1024 {
            buf.reserve(READ_SIZE);
        }
        let io: SmallVec<[IoSlice<'_>; MAX_SLICES]> = slices.iter().map(|b| IoSlice::new(b)).collect();
        tokio::select! {
            r = wr.write_vectored(&io), if !io.is_empty() => match r {
                Ok(n) => {
                    last_activity = Instant::now();
                    let mut o = outbox.borrow_mut();
                    o.size -= n;
                    let mut n = n;
                    while n > 0 {
                        let front = o.chunks.front_mut().expect("wrote more than queued");
                        if front.len() <= n {
                            n -= front.len();
                            o.chunks.pop_front();
                        } else {
                            let _ = front.split_to(n);
                            n = 0;
                        }
                    }
                    if o.chunks.is_empty() {
                        awaiting_reply = false;
                    }
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "write failed");
                    pipeline.input(Event::error(StreamError::WriteError));
                    break;
                }
            },
            r = rd.read_buf(&mut buf), if can_read => match r {
                Ok(0) => {
                    read_done = true;
                    pipeline.input(Event::end());
                }
                Ok(_) => {
                    last_activity = Instant::now();
                    awaiting_reply = true;
                    let bytes = buf.split().freeze();
                    pipeline.input(Event::Data(bytes.into()));
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "read failed");
                    read_done = true;
                    pipeline.input(Event::error(StreamError::ReadError));
                }
            },
            _ = wake.notified() => {}
            _ = drain.changed(), if !draining => draining = true,
            _ = &mut timer => {
                let due = last_activity + idle;
                if Instant::now() < due {
                    timer.as_mut().reset(due);
                    continue;
                }
                tracing::debug!(%peer, "idle timeout");
                pipeline.input(Event::error(StreamError::IdleTimeout));
                break;
            }
        }
    }
    let _ = wr.shutdown().await;
    drop(pipeline);
    tracing::debug!(%peer, "closed");
}
