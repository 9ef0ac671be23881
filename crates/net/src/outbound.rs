//! Connections to servers: `Outbound::start` resolves and connects (with retries
//! and a connect timeout) on the worker's event loop, then runs the socket loop of
//! `pump`. Bytes to send go into the connection's `Wire`; bytes read, and the end
//! of the connection with its error, come back through an `Inbox` to the filter
//! that started it, which is woken for them. While the client of the stream is
//! slow to take what the server sends, reading from the server pauses; while the
//! server is slow to take what is sent, the client side is told to pause.

use crate::io::Watchdog;
use crate::pump::{self, AtEnd, Reading, Side, Wire};
use bytes::Bytes;
use proxy_core::{Backpressure, Direction, Gauge};
use proxy_core::{Event, StreamError};
use proxy_core::{FilterHandle, Inbox};
use std::rc::Rc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// How an outbound connection is made and kept.
#[derive(Debug, Clone)]
pub struct OutboundOptions {
    /// Limit of one connection attempt.
    pub connect_timeout: Option<Duration>,
    /// Closes when nothing arrives for this long.
    pub read_timeout: Option<Duration>,
    /// Closes when a write makes no progress for this long.
    pub write_timeout: Option<Duration>,
    /// Closes when nothing moves either way for this long.
    pub idle_timeout: Option<Duration>,
    /// Further attempts after a failed one (-1: for ever).
    pub retry_count: i64,
    /// Pause between attempts.
    pub retry_delay: Duration,
}

/// Bytes waiting for a slow server beyond which the client side stops reading.
const OUTBOX_HIGH: usize = 1 << 20;

/// What an outbound connection shares with the filter that started it.
#[derive(Default)]
pub struct Link {
    /// Bytes to send to the server.
    pub wire: Wire,
    /// What the server sent, and the connection's end, for the filter.
    pub inbox: Inbox,
}

/// A running outbound connection; dropping it closes the connection.
pub struct Outbound {
    /// What it shares with the filter.
    pub link: Rc<Link>,
    task: JoinHandle<()>,
}

impl Drop for Outbound {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Outbound {
    /// Connects to `target` on the current worker; `handle` is woken when the
    /// link's inbox has events, `flow` is the stream's backpressure.
    pub fn start(
        target: String,
        options: Rc<OutboundOptions>,
        handle: FilterHandle,
        flow: Option<Rc<Backpressure>>,
    ) -> Outbound {
        let link = Rc::new(Link::default());
        let task = tokio::task::spawn_local(run(target, options, link.clone(), handle, flow));
        Outbound { link, task }
    }
}

fn classify(e: &std::io::Error) -> StreamError {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => StreamError::ConnectionRefused,
        ConnectionReset => StreamError::ConnectionReset,
        ConnectionAborted => StreamError::ConnectionAborted,
        TimedOut => StreamError::ConnectionTimeout,
        _ => StreamError::ReadError,
    }
}

async fn open(target: &str, options: &OutboundOptions) -> Result<TcpStream, StreamError> {
    let addrs: Vec<_> = match tokio::net::lookup_host(target).await {
        Ok(a) => a.collect(),
        Err(e) => {
            tracing::debug!(target, error = %e, "connect: cannot resolve");
            return Err(StreamError::CannotResolve);
        }
    };
    let Some(addr) = addrs.first().copied() else { return Err(StreamError::CannotResolve) };
    let attempt = TcpStream::connect(addr);
    let result = match options.connect_timeout {
        Some(t) => match tokio::time::timeout(t, attempt).await {
            Ok(r) => r,
            Err(_) => return Err(StreamError::ConnectionTimeout),
        },
        None => attempt.await,
    };
    result.map_err(|e| {
        tracing::debug!(target, error = %e, "connect: failed");
        classify(&e)
    })
}

/// Connects, with the retries the options allow.
async fn connect(target: &str, options: &OutboundOptions) -> Result<TcpStream, StreamError> {
    let mut tries = 0i64;
    loop {
        match open(target, options).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                if options.retry_count >= 0 && tries >= options.retry_count {
                    tracing::warn!(target, error = %e, "connect: giving up");
                    return Err(e);
                }
                tries += 1;
                tokio::time::sleep(options.retry_delay).await;
            }
        }
    }
}

/// The server's side of the socket loop: bytes read go to the filter, and reading
/// pauses while the stream's client is slow.
struct Server<'a> {
    link: &'a Link,
    handle: &'a FilterHandle,
    flow: Option<&'a Backpressure>,
    slow_server: &'a mut Gauge,
}

impl Side for Server<'_> {
    fn received(&mut self, bytes: Bytes) {
        self.link.inbox.push(Event::Data(bytes.into()));
        self.handle.wake();
    }

    fn peer_closed(&mut self) -> bool {
        true
    }

    fn read_failed(&mut self, e: &std::io::Error) -> Option<StreamError> {
        Some(classify(e))
    }

    fn write_failed(&mut self, e: &std::io::Error) -> StreamError {
        classify(e)
    }

    fn reading(&mut self, pending: usize) -> Reading {
        if let Some(f) = self.flow {
            self.slow_server.update(&f.toward_server, pending, OUTBOX_HIGH);
        }
        // A server that is waiting for a slow client is not timing out.
        let client_behind = self.flow.is_some_and(|f| f.toward_client.is_on());
        Reading {
            allowed: !client_behind,
            until: client_behind.then_some(Direction::TowardClient),
            expected: !client_behind,
        }
    }
}

async fn run(
    target: String,
    options: Rc<OutboundOptions>,
    link: Rc<Link>,
    handle: FilterHandle,
    flow: Option<Rc<Backpressure>>,
) {
    let mut slow_server = Gauge::default();
    let result = match connect(&target, &options).await {
        Ok(stream) => {
            tracing::debug!(target, "connect: connected");
            let mut server =
                Server { link: &link, handle: &handle, flow: flow.as_deref(), slow_server: &mut slow_server };
            let mut watchdog = Watchdog::new(options.idle_timeout, options.read_timeout, options.write_timeout);
            let result =
                pump::run(stream, &link.wire, &mut server, &mut watchdog, AtEnd::HalfClose, flow.clone()).await;
            if let Err(err) = &result {
                tracing::debug!(target, error = %err, "connect: ended");
            }
            result
        }
        Err(e) => Err(e),
    };
    if let Some(f) = &flow {
        slow_server.clear(&f.toward_server);
    }
    link.inbox.push(Event::StreamEnd(result.err()));
    handle.wake();
}
