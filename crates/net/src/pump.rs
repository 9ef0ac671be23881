//! The socket loop of a connection, whichever way it faces: write what is queued
//! (as soon as it is queued, without waiting a turn), read while nothing holds
//! reading back, keep the read / write / idle limits on one timer, and end when
//! the connection is done. A client connection (`inbound`) and a connection to a
//! server (`outbound`) differ only in what they do with the bytes they read, what
//! holds their reading back and how they end, which they say through `Side`; so
//! byte counters, timeouts and later zero-copy paths have one place to live.

use crate::io::{write_queued, Reader, Signal, Watchdog};
use bytes::Bytes;
use proxy_core::{Backpressure, Direction};
use proxy_core::{Data, StreamError};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bytes queued for the socket, and whether more will come.
#[derive(Default)]
pub struct Outbox {
    /// The chunks, in order.
    pub chunks: VecDeque<Bytes>,
    /// Their total size.
    pub size: usize,
    /// Nothing will be queued after these.
    pub ended: bool,
}

/// What a socket loop shares with whoever feeds it: the bytes to write, the
/// socket while it is open, and the wake-up for the loop.
///
/// Bytes sent while nothing waits are written at once, from the sender's turn of
/// the event loop (an answer produced while reading a request, or a response
/// read from a server), so they do not wait for the socket's own task to be
/// polled; only what the socket does not take is queued for the loop.
#[derive(Default)]
pub struct Wire {
    /// Bytes waiting to be written.
    pub outbox: RefCell<Outbox>,
    /// Wakes the loop.
    pub signal: Signal,
    /// The socket's writing half while the loop runs.
    socket: RefCell<Option<Rc<OwnedWriteHalf>>>,
    /// Writes that made progress, by the loop or by senders.
    progress: Cell<u64>,
}

impl Wire {
    /// Writes `data` now if nothing waits and the socket takes it; queues the rest
    /// and wakes the loop for it.
    pub fn send(&self, data: Data) {
        let mut o = self.outbox.borrow_mut();
        let was_empty = o.size == 0;
        for c in data.into_chunks() {
            o.size += c.len();
            o.chunks.push_back(c);
        }
        if was_empty && !o.ended {
            if let Some(wr) = &*self.socket.borrow() {
                let Outbox { chunks, size, .. } = &mut *o;
                // An error is left for the loop, which meets it on its own write.
                if let Ok(n) = write_queued(wr, chunks, size) {
                    if n > 0 {
                        self.progress.set(self.progress.get() + 1);
                    }
                }
                if o.size == 0 {
                    return;
                }
            }
        }
        drop(o);
        self.signal.raise();
    }

    /// Nothing more will be sent: the loop closes its writing side once the
    /// outbox is written.
    pub fn end(&self) {
        self.outbox.borrow_mut().ended = true;
        self.signal.raise();
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.outbox.borrow().size
    }
}

/// Whether a connection may read now, and what to wait for when it may not.
pub struct Reading {
    /// Reading may go on.
    pub allowed: bool,
    /// Reading waits for this pressure of the side's `flow` to clear.
    pub until: Option<Direction>,
    /// The peer is expected to send (for the read timeout).
    pub expected: bool,
}

/// How a connection ends once its outbox is written and ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AtEnd {
    /// Close the connection (a client's: the answer is complete).
    Close,
    /// Close the writing side and read on until the peer closes (a server's: it
    /// may still be answering).
    HalfClose,
}

/// What a connection does with its socket.
pub trait Side {
    /// Bytes read from the peer.
    fn received(&mut self, bytes: Bytes);
    /// The peer closed its side; true to end the loop now, false to finish writing.
    fn peer_closed(&mut self) -> bool;
    /// A read failed; the error to end the loop with, or `None` to finish writing.
    fn read_failed(&mut self, e: &std::io::Error) -> Option<StreamError>;
    /// The error a failed write ends the loop with.
    fn write_failed(&mut self, e: &std::io::Error) -> StreamError;
    /// Whether reading may go on, with `pending` bytes still to write.
    fn reading(&mut self, pending: usize) -> Reading;
    /// Something was written; `pending` bytes are left.
    fn wrote(&mut self, _pending: usize) {}
    /// In the middle of an exchange with limits of its own, so not idle.
    fn busy(&self) -> bool {
        false
    }
    /// May the connection close now, with nothing left to write (a drain)?
    fn may_close(&self) -> bool {
        false
    }
}

/// Runs `stream` until the connection is done: `Ok` when it ended as it should,
/// the error that ended it otherwise. `flow` is the backpressure `Reading::until`
/// refers to. (The watchdog is borrowed, not moved in, so that the loop's state
/// does not hold it twice.)
pub async fn run<S: Side>(
    stream: TcpStream,
    wire: &Wire,
    side: &mut S,
    watchdog: &mut Watchdog,
    at_end: AtEnd,
    flow: Option<Rc<Backpressure>>,
) -> Result<(), StreamError> {
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    let wr = Rc::new(wr);
    *wire.socket.borrow_mut() = Some(wr.clone());
    let mut reader = Reader::default();
    let mut reads = 0u64;
    let mut writes_seen = wire.progress.get();
    let mut read_done = false;
    let mut write_closed = false;
    let timer = tokio::time::sleep(watchdog.period);
    tokio::pin!(timer);
    let result = loop {
        let written = {
            let mut o = wire.outbox.borrow_mut();
            let Outbox { chunks, size, .. } = &mut *o;
            write_queued(&wr, chunks, size)
        };
        match written {
            Ok(0) => {}
            Ok(_) => wire.progress.set(wire.progress.get() + 1),
            Err(e) => break Err(side.write_failed(&e)),
        }
        let (pending, ended) = {
            let o = wire.outbox.borrow();
            (o.size, o.ended)
        };
        // Writes since the last turn, this loop's or senders' own.
        if wire.progress.get() != writes_seen {
            writes_seen = wire.progress.get();
            side.wrote(pending);
        }
        if pending == 0 {
            if ended {
                match at_end {
                    AtEnd::Close => break Ok(()),
                    AtEnd::HalfClose if !write_closed => {
                        write_closed = true;
                        wire.socket.borrow_mut().take();
                        let _ = socket2::SockRef::from(wr.as_ref().as_ref()).shutdown(std::net::Shutdown::Write);
                    }
                    AtEnd::HalfClose => {}
                }
            } else if side.may_close() {
                break Ok(());
            }
        }
        let reading = side.reading(pending);
        let can_read = !read_done && reading.allowed;
        let wait = match (&flow, reading.until) {
            (Some(f), Some(way)) if !read_done => Some(f.pressure(way)),
            _ => None,
        };
        tokio::select! {
            biased;
            r = reader.read(&mut rd), if can_read => match r {
                Ok(None) => {
                    read_done = true;
                    if side.peer_closed() {
                        break Ok(());
                    }
                }
                Ok(Some(bytes)) => {
                    reads += 1;
                    side.received(bytes);
                }
                Err(e) => {
                    read_done = true;
                    if let Some(err) = side.read_failed(&e) {
                        break Err(err);
                    }
                }
            },
            r = wr.writable(), if pending > 0 => if let Err(e) = r {
                break Err(side.write_failed(&e));
            },
            _ = wire.signal.raised() => {}
            _ = async { if let Some(p) = wait { p.cleared().await } }, if wait.is_some() => {}
            _ = &mut timer => {
                let expected = !read_done && reading.expected;
                if let Some(err) = watchdog.check(reads, wire.progress.get(), expected, pending > 0, side.busy()) {
                    break Err(err);
                }
                timer.as_mut().reset(Instant::now() + watchdog.period);
            }
        }
    };
    wire.socket.borrow_mut().take();
    if at_end == AtEnd::Close && !write_closed {
        let _ = socket2::SockRef::from(wr.as_ref().as_ref()).shutdown(std::net::Shutdown::Write);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends back what it reads, upper-cased, and ends when the peer closes.
    struct Shout<'a> {
        wire: &'a Wire,
        closed: bool,
    }

    impl Side for Shout<'_> {
        fn received(&mut self, bytes: Bytes) {
            self.wire.send(Data::from(bytes.to_ascii_uppercase()));
        }
        fn peer_closed(&mut self) -> bool {
            self.closed = true;
            self.wire.end();
            false
        }
        fn read_failed(&mut self, _: &std::io::Error) -> Option<StreamError> {
            Some(StreamError::ReadError)
        }
        fn write_failed(&mut self, _: &std::io::Error) -> StreamError {
            StreamError::WriteError
        }
        fn reading(&mut self, pending: usize) -> Reading {
            Reading { allowed: pending < 1024, until: None, expected: true }
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        (client, server)
    }

    #[test]
    fn what_is_read_is_answered_and_the_connection_closes_after_the_last_answer() {
        runtime().block_on(async {
            let (mut client, server) = pair().await;
            let wire = Wire::default();
            let mut side = Shout { wire: &wire, closed: false };
            let mut watchdog = Watchdog::new(None, None, None);
            let pump = run(server, &wire, &mut side, &mut watchdog, AtEnd::Close, None);
            let peer = async {
                client.write_all(b"hello ").await.unwrap();
                client.write_all(b"there").await.unwrap();
                client.shutdown().await.unwrap();
                let mut got = Vec::new();
                client.read_to_end(&mut got).await.unwrap();
                got
            };
            let (result, got) = tokio::join!(pump, peer);
            assert_eq!(result, Ok(()));
            assert_eq!(got, b"HELLO THERE");
            assert!(side.closed);
        });
    }

    #[test]
    fn a_silent_peer_meets_the_idle_limit_and_a_busy_one_ten_times_later() {
        struct Quiet(bool);
        impl Side for Quiet {
            fn received(&mut self, _: Bytes) {}
            fn peer_closed(&mut self) -> bool {
                true
            }
            fn read_failed(&mut self, _: &std::io::Error) -> Option<StreamError> {
                Some(StreamError::ReadError)
            }
            fn write_failed(&mut self, _: &std::io::Error) -> StreamError {
                StreamError::WriteError
            }
            fn reading(&mut self, _: usize) -> Reading {
                Reading { allowed: true, until: None, expected: true }
            }
            fn busy(&self) -> bool {
                self.0
            }
        }
        runtime().block_on(async {
            for busy in [false, true] {
                let (_client, server) = pair().await;
                let wire = Wire::default();
                let idle = Duration::from_millis(50);
                let started = std::time::Instant::now();
                let result = run(
                    server,
                    &wire,
                    &mut Quiet(busy),
                    &mut Watchdog::new(Some(idle), None, None),
                    AtEnd::Close,
                    None,
                )
                .await;
                let took = started.elapsed();
                assert_eq!(result, Err(StreamError::IdleTimeout));
                let limit = if busy { idle * crate::io::BUSY_IDLE_FACTOR } else { idle };
                assert!(took >= limit && took < limit * 2, "busy {busy}: closed after {took:?}");
            }
        });
    }

    #[test]
    fn reading_waits_while_its_pressure_is_on() {
        struct Held(Rc<Backpressure>, Rc<RefCell<Vec<u8>>>);
        impl Side for Held {
            fn received(&mut self, bytes: Bytes) {
                self.1.borrow_mut().extend_from_slice(&bytes);
            }
            fn peer_closed(&mut self) -> bool {
                true
            }
            fn read_failed(&mut self, _: &std::io::Error) -> Option<StreamError> {
                Some(StreamError::ReadError)
            }
            fn write_failed(&mut self, _: &std::io::Error) -> StreamError {
                StreamError::WriteError
            }
            fn reading(&mut self, _: usize) -> Reading {
                let on = self.0.toward_server.is_on();
                Reading { allowed: !on, until: on.then_some(Direction::TowardServer), expected: !on }
            }
        }
        runtime().block_on(async {
            let (mut client, server) = pair().await;
            let flow = Rc::new(Backpressure::default());
            flow.toward_server.hold();
            let wire = Wire::default();
            let got: Rc<RefCell<Vec<u8>>> = Rc::default();
            let mut side = Held(flow.clone(), got.clone());
            let mut watchdog = Watchdog::new(None, None, None);
            let pump = run(server, &wire, &mut side, &mut watchdog, AtEnd::Close, Some(flow.clone()));
            let peer = async {
                client.write_all(b"data").await.unwrap();
                client.shutdown().await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
                assert!(got.borrow().is_empty(), "nothing is read while the pressure holds");
                flow.toward_server.release();
            };
            let (result, ()) = tokio::join!(pump, peer);
            assert_eq!(result, Ok(()));
            assert_eq!(*got.borrow(), b"data");
        });
    }
}
