//! Pieces both directions of a connection use: `Signal`, a single-task wake-up;
//! `Watchdog`, read / write / idle timeouts on one timer; and `write_queued`, a
//! non-blocking write of queued chunks.

use bytes::Bytes;
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{ErrorKind, IoSlice};
use std::pin::Pin;
use std::task::{Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

/// Wakes one task; cheaper than `Notify` since it never leaves the thread.
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

/// How many idle limits a connection may stay silent while it is in the middle of
/// an exchange (see `Watchdog`).
pub const BUSY_IDLE_FACTOR: u32 = 10;

/// A connection's timeouts on one timer. Reads and writes only bump counters
/// (no clock read per request); the timer ticks at a sixteenth of the shortest
/// limit and a limit is reached when its counter has not moved for that long, so
/// a limit is kept to within an eighth of itself (a 5 s idle timeout closes by
/// 5.6 s).
pub struct Watchdog {
    /// How often to check.
    pub period: Duration,
    idle: Limit,
    /// The idle limit while an exchange with limits of its own is under way:
    /// `BUSY_IDLE_FACTOR` times the idle limit, so that even an exchange that
    /// never ends (a script's Promise that never settles) lets go at last.
    busy_idle: Limit,
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
    /// A watchdog for these limits (`None`: no limit).
    pub fn new(idle: Option<Duration>, read: Option<Duration>, write: Option<Duration>) -> Self {
        let now = Instant::now();
        let shortest = [idle, read, write].into_iter().flatten().min().unwrap_or(Duration::from_secs(3600));
        Watchdog {
            period: (shortest / 16).max(Duration::from_millis(10)),
            idle: Limit::new(idle, now),
            busy_idle: Limit::new(idle.map(|d| d.saturating_mul(BUSY_IDLE_FACTOR)), now),
            read: Limit::new(read, now),
            write: Limit::new(write, now),
        }
    }

    /// Which limit, if any, is reached: `reads`/`writes` count progress, `reading`
    /// says input is expected, `writing` that output is waiting, `busy` that the
    /// connection is in the middle of an exchange with limits of its own (an HTTP
    /// request being answered), so that it is not idle.
    pub fn check(
        &mut self,
        reads: u64,
        writes: u64,
        reading: bool,
        writing: bool,
        busy: bool,
    ) -> Option<proxy_core::StreamError> {
        use proxy_core::StreamError;
        let now = Instant::now();
        if self.write.expired(writes, writing, now) {
            Some(StreamError::WriteTimeout)
        } else if self.read.expired(reads, reading, now) {
            Some(StreamError::ReadTimeout)
        } else if self.idle.expired(reads + writes, !busy, now) | self.busy_idle.expired(reads + writes, busy, now) {
            Some(StreamError::IdleTimeout)
        } else {
            None
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; SCRATCH_SIZE].into_boxed_slice());
}

/// Marks `n` more bytes of `buf` as filled after a read into its spare capacity.
#[allow(unsafe_code)]
fn owned_advance(buf: &mut bytes::BytesMut, n: usize) {
    assert!(n <= buf.capacity() - buf.len(), "read more than the spare capacity");
    // SAFETY: `n` bytes of the spare capacity were just written by `poll_read`
    // through a `ReadBuf` over exactly that capacity (and the assert keeps `n`
    // within it), so they are initialized.
    unsafe { buf.set_len(buf.len() + n) }
}

/// Reads from a socket without each connection holding a buffer while idle.
///
/// Small reads go into the worker's shared scratch buffer and just the bytes read
/// are copied out. Once a read fills most of it (a large transfer), reads go
/// straight into a buffer of their own that is passed on without a copy, until a
/// small read switches back. (`poll_read` also tells tokio when a short read
/// drained the socket, which saves a system call per read.)
#[derive(Default)]
pub struct Reader {
    bulk: bool,
    /// The buffer of bulk reads (empty otherwise); read parts are split off it.
    owned: bytes::BytesMut,
}

const SCRATCH_SIZE: usize = 64 * 1024;

impl Reader {
    /// Waits for bytes; `None` when the peer closed its side.
    pub async fn read(&mut self, rd: &mut OwnedReadHalf) -> std::io::Result<Option<Bytes>> {
        let got = if self.bulk {
            if self.owned.capacity() - self.owned.len() < SCRATCH_SIZE / 4 {
                self.owned.reserve(SCRATCH_SIZE);
            }
            let owned = &mut self.owned;
            poll_fn(|cx| {
                let mut buf = ReadBuf::uninit(owned.spare_capacity_mut());
                match Pin::new(&mut *rd).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) => {
                        let n = buf.filled().len();
                        // The first `n` bytes of the spare capacity are now initialized.
                        owned_advance(owned, n);
                        Poll::Ready(Ok(()))
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await?;
            self.owned.split().freeze()
        } else {
            poll_fn(|cx| {
                SCRATCH.with(|s| {
                    let mut scratch = s.borrow_mut();
                    let mut buf = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut *rd).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) => Poll::Ready(Ok(Bytes::copy_from_slice(buf.filled()))),
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        Poll::Pending => Poll::Pending,
                    }
                })
            })
            .await?
        };
        if got.is_empty() {
            return Ok(None);
        }
        self.bulk = got.len() >= SCRATCH_SIZE / 4;
        if !self.bulk {
            self.owned = bytes::BytesMut::new();
        }
        Ok(Some(got))
    }
}

/// Writes `chunks` until they are all written or the socket would block; returns
/// how many bytes went out and keeps `size` in step.
pub fn write_queued(wr: &OwnedWriteHalf, chunks: &mut VecDeque<Bytes>, size: &mut usize) -> std::io::Result<usize> {
    const MAX_SLICES: usize = 8;
    let mut total = 0;
    while !chunks.is_empty() {
        let n = {
            let io: SmallVec<[IoSlice<'_>; MAX_SLICES]> =
                chunks.iter().take(MAX_SLICES).map(|b| IoSlice::new(b)).collect();
            match wr.try_write_vectored(&io) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(total),
                Err(e) => return Err(e),
            }
        };
        total += n;
        *size -= n;
        let mut n = n;
        while n > 0 {
            let front = chunks.front_mut().expect("wrote no more than was queued");
            if front.len() <= n {
                n -= front.len();
                chunks.pop_front();
            } else {
                let _ = front.split_to(n);
                n = 0;
            }
        }
    }
    Ok(total)
}
