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

use bytes::{Bytes, BytesMut};
use proxy_core::{Context, Event, Inbound, ListenOptions, Pipeline, PipelineLayout, Sink, StreamError};
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::io::{ErrorKind, IoSlice};
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Wakes one connection task; cheaper than `Notify` since it never leaves the thread.
#[derive(Default)]
pub struct Signal {
    raised: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    /// Wakes the task waiting in `raised`.
    pub fn raise(&self) {
        self.raised.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Completes once `raise` has been called (at once if it was since the last time).
    pub async fn raised(&self) {
        poll_fn(|cx| {
            if self.raised.replace(false) {
                return Poll::Ready(());
            }
            let mut slot = self.waker.borrow_mut();
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

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

/// The connection's timeouts on one timer. Reads and writes only bump counters
/// (no clock read per request); the timer ticks at half the shortest limit and a
/// limit is reached when its counter has not moved for that long.
struct Watchdog {
    period: Duration,
    idle: Limit,
    read: Limit,
    write: Limit,
}

struct Limit {
    after: Option<Duration>,
    seen: u64,
    since: Instant,
}

impl Limit {
    fn new(after: Option<Duration>, now: Instant) -> Self {
        Limit { after, seen: 0, since: now }
    }

    /// True when `count` has not moved for the limit (`stalled` says whether it should have).
    fn expired(&mut self, count: u64, stalled: bool, now: Instant) -> bool {
        if count != self.seen || !stalled {
            self.seen = count;
            self.since = now;
            return false;
        }
        self.after.is_some_and(|a| now.duration_since(self.since) >= a)
    }
}

impl Watchdog {
    fn new(options: &ListenOptions) -> Self {
        let now = Instant::now();
        let shortest = [Some(options.idle_timeout), options.read_timeout, options.write_timeout]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(options.idle_timeout);
        Watchdog {
            period: (shortest / 2).max(Duration::from_millis(10)),
            idle: Limit::new(Some(options.idle_timeout), now),
            read: Limit::new(options.read_timeout, now),
            write: Limit::new(options.write_timeout, now),
        }
    }
}

const READ_SIZE: usize = 16 * 1024;
const MAX_SLICES: usize = 8;

/// Writes queued output until it is all written or the socket would block.
fn write_now(wr: &OwnedWriteHalf, shared: &Shared) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let slices: SmallVec<[Bytes; MAX_SLICES]> =
            shared.outbox.borrow().chunks.iter().take(MAX_SLICES).cloned().collect();
        if slices.is_empty() {
            return Ok(total);
        }
        let io: SmallVec<[IoSlice<'_>; MAX_SLICES]> = slices.iter().map(|b| IoSlice::new(b)).collect();
        let n = match wr.try_write_vectored(&io) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(total),
            Err(e) => return Err(e),
        };
        total += n;
        let mut o = shared.outbox.borrow_mut();
        o.size -= n;
        let mut n = n;
        while n > 0 {
            let front = o.chunks.front_mut().expect("wrote no more than was queued");
            if front.len() <= n {
                n -= front.len();
                o.chunks.pop_front();
            } else {
                let _ = front.split_to(n);
                n = 0;
            }
        }
    }
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
    let pipeline = Pipeline::new(&layout, Context::new(Some(Rc::new(inbound))), sink);

    let (mut rd, wr) = stream.into_split();
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut read_done = false;
    let mut awaiting_reply = false;
    let mut watchdog = Watchdog::new(&options);
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
            if shared.draining.get() && !awaiting_reply {
                tracing::debug!(%peer, "closed for shutdown");
                break;
            }
        }
        let can_read = !read_done && pending < options.buffer_limit;
        if can_read && buf.capacity() - buf.len() < 1024 {
            buf.reserve(READ_SIZE);
        }
        tokio::select! {
            biased;
            r = rd.read_buf(&mut buf), if can_read => match r {
                Ok(0) => {
                    read_done = true;
                    pipeline.input(Event::end());
                }
                Ok(_) => {
                    reads += 1;
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
            r = wr.writable(), if pending > 0 => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "write failed");
                    pipeline.input(Event::error(StreamError::WriteError));
                    break;
                }
            }
            _ = shared.signal.raised() => {}
            _ = &mut timer => {
                let now = Instant::now();
                let expired = if watchdog.write.expired(writes, pending > 0, now) {
                    Some(StreamError::WriteTimeout)
                } else if watchdog.read.expired(reads, !read_done, now) {
                    Some(StreamError::ReadTimeout)
                } else if watchdog.idle.expired(reads + writes, true, now) {
                    Some(StreamError::IdleTimeout)
                } else {
                    None
                };
                if let Some(err) = expired {
                    tracing::debug!(%peer, error = %err, "connection timed out");
                    pipeline.input(Event::error(err));
                    break;
                }
                timer.as_mut().reset(now + watchdog.period);
            }
        }
    }
    let mut wr = wr;
    let _ = wr.shutdown().await;
    drop(pipeline);
    tracing::debug!(%peer, "closed");
}
