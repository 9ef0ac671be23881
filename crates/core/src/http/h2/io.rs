//! What lets the `h2` crate, written for async sockets, run inside a filter: an
//! in-memory transport (`Wire`) the session fills with what the peer sent and
//! empties of what `h2` wrote, and a waker (`Wakeup`) that reaches the filter.
//!
//! `h2` does its work when polled and asks to be polled again by waking the
//! waker it was given. A session polls it to a standstill each time something
//! happens (input, an answer event, a wake-up); wakes that come while the
//! session is at work only mark that another round is due, and those that come
//! from outside (a client's backpressure clearing) schedule a filter wake-up
//! (or, for a client session, which is no filter, a call of its own) on the
//! worker's timer.

use crate::flow::Pressure;
use crate::pipeline::FilterHandle;
use bytes::{Buf, Bytes, BytesMut};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What `h2` may write before its writes wait for the bytes to be taken.
const WRITE_WINDOW: usize = 256 << 10;

/// The two queues between a session and `h2`.
#[derive(Default)]
struct Queues {
    /// Bytes from the peer, not yet read by `h2`.
    input: VecDeque<Bytes>,
    input_len: usize,
    /// The peer sent no more.
    eof: bool,
    /// Bytes `h2` wrote, for the session to send.
    output: BytesMut,
    /// `h2` found the output full and waits for it to be taken.
    write_blocked: bool,
}

/// The in-memory transport `h2` reads from and writes to; cloning shares it.
#[derive(Clone, Default)]
pub struct Wire(Rc<RefCell<Queues>>);

impl Wire {
    /// Bytes from the peer.
    pub fn feed(&self, b: Bytes) {
        let mut q = self.0.borrow_mut();
        q.input_len += b.len();
        q.input.push_back(b);
    }

    /// The peer sent its last byte.
    pub fn feed_eof(&self) {
        self.0.borrow_mut().eof = true;
    }

    /// Bytes from the peer that `h2` has not read yet.
    pub fn unread(&self) -> usize {
        self.0.borrow().input_len
    }

    /// Takes what `h2` wrote; true if it was waiting for room.
    pub fn take_output(&self) -> (Bytes, bool) {
        let mut q = self.0.borrow_mut();
        let out = q.output.split().freeze();
        (out, std::mem::take(&mut q.write_blocked))
    }
}

impl AsyncRead for Wire {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut q = self.0.borrow_mut();
        while buf.remaining() > 0 {
            let Some(front) = q.input.front_mut() else { break };
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front[..n]);
            front.advance(n);
            if front.is_empty() {
                q.input.pop_front();
            }
            q.input_len -= n;
        }
        if buf.filled().is_empty() && !q.eof {
            // The session polls again when more arrives.
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Wire {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut q = self.0.borrow_mut();
        let room = WRITE_WINDOW.saturating_sub(q.output.len());
        if room == 0 {
            q.write_blocked = true;
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        q.output.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A session's end of its waker: whether a round is due, whether the session
/// is at work, and what to call otherwise (its filter's wake-up).
struct Target {
    handle: RefCell<Option<Rc<dyn Fn()>>>,
    busy: Cell<bool>,
    woken: Cell<bool>,
    scheduled: Cell<bool>,
}

thread_local! {
    /// The sessions of this thread that can be woken, by waker id.
    static TARGETS: RefCell<HashMap<u64, Rc<Target>>> = RefCell::new(HashMap::new());
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The waker given to `h2`: an id looked up on the worker's thread (a waker
/// must be `Send`, a filter handle is not). Woken on another thread, or after
/// its session is gone, it does nothing.
struct WakeId(u64);

impl Wake for WakeId {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Some(t) = TARGETS.with(|m| m.borrow().get(&self.0).cloned()) else { return };
        t.woken.set(true);
        if !t.busy.get() {
            schedule(&t);
        }
    }
}

/// Schedules a wake-up of `t`'s filter once what runs now is done, unless one
/// is scheduled already; false if none could be (no handle, no event loop).
fn schedule(t: &Rc<Target>) -> bool {
    if t.scheduled.get() {
        return true;
    }
    let Some(handle) = t.handle.borrow().clone() else { return false };
    let target = t.clone();
    let scheduled = crate::timer::call_after(Duration::ZERO, move || {
        target.scheduled.set(false);
        handle();
    });
    t.scheduled.set(scheduled);
    scheduled
}

/// A session's waker, registered on this thread until dropped.
pub struct Wakeup {
    id: u64,
    target: Rc<Target>,
    waker: Waker,
}

impl Default for Wakeup {
    fn default() -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let target = Rc::new(Target {
            handle: RefCell::new(None),
            busy: Cell::new(false),
            woken: Cell::new(false),
            scheduled: Cell::new(false),
        });
        TARGETS.with(|m| m.borrow_mut().insert(id, target.clone()));
        Wakeup { id, target, waker: Waker::from(Arc::new(WakeId(id))) }
    }
}

impl Wakeup {
    /// Wakes from outside go to `handle` from now on (the first one given).
    pub fn set_handle(&self, handle: FilterHandle) {
        let mut h = self.target.handle.borrow_mut();
        if h.is_none() {
            *h = Some(Rc::new(move || handle.wake()));
        }
    }

    /// Wakes from outside call `f` from now on.
    pub fn set_callback(&self, f: Rc<dyn Fn()>) {
        *self.target.handle.borrow_mut() = Some(f);
    }

    /// The waker to poll with.
    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    /// The session is at work (`true`) or done for now: wakes in between only
    /// mark that another round is due.
    pub fn set_busy(&self, busy: bool) {
        self.target.busy.set(busy);
    }

    /// Whether a wake came since the last call, clearing the mark.
    pub fn take_woken(&self) -> bool {
        self.target.woken.replace(false)
    }

    /// Marks a round as due (a wake the session gives itself).
    pub fn mark(&self) {
        self.target.woken.set(true);
    }

    /// Asks for a wake-up of the filter once what runs now is done (so that
    /// the answers of several streams go out in one write); false if there is
    /// no event loop to ask (unit tests), and the caller goes on at once.
    pub fn defer(&self) -> bool {
        self.target.woken.set(true);
        schedule(&self.target)
    }

    /// Wakes the session when `pressure` clears.
    pub fn when_clear(&self, pressure: &Pressure) {
        pressure.wake_when_clear(&self.waker);
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        TARGETS.with(|m| m.borrow_mut().remove(&self.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn poll<F: std::future::Future>(f: F, waker: &Waker) -> Poll<F::Output> {
        let mut f = std::pin::pin!(f);
        f.as_mut().poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn reads_what_was_fed_and_ends_at_eof() {
        let w = Wakeup::default();
        let wire = Wire::default();
        let mut reader = wire.clone();
        let mut buf = [0u8; 8];
        assert!(poll(reader.read(&mut buf), w.waker()).is_pending(), "nothing yet");
        wire.feed(Bytes::from_static(b"hello "));
        wire.feed(Bytes::from_static(b"world"));
        assert_eq!(wire.unread(), 11);
        assert!(matches!(poll(reader.read(&mut buf), w.waker()), Poll::Ready(Ok(8))));
        assert_eq!(&buf, b"hello wo");
        assert!(matches!(poll(reader.read(&mut buf), w.waker()), Poll::Ready(Ok(3))));
        wire.feed_eof();
        assert!(matches!(poll(reader.read(&mut buf), w.waker()), Poll::Ready(Ok(0))), "eof reads 0");
    }

    #[test]
    fn writes_wait_once_the_output_window_is_full() {
        let w = Wakeup::default();
        let wire = Wire::default();
        let mut writer = wire.clone();
        let big = vec![7u8; WRITE_WINDOW + 10];
        assert!(matches!(poll(writer.write(&big), w.waker()), Poll::Ready(Ok(n)) if n == WRITE_WINDOW));
        assert!(poll(writer.write(b"x"), w.waker()).is_pending());
        let (out, blocked) = wire.take_output();
        assert_eq!(out.len(), WRITE_WINDOW);
        assert!(blocked, "the session learns that h2 waits for room");
        assert!(matches!(poll(writer.write(b"x"), w.waker()), Poll::Ready(Ok(1))));
    }

    #[test]
    fn a_wake_while_busy_only_marks_a_round_and_one_after_the_session_is_gone_does_nothing() {
        let w = Wakeup::default();
        w.set_busy(true);
        w.waker().wake_by_ref();
        assert!(w.take_woken());
        assert!(!w.take_woken(), "taking clears the mark");
        let waker = w.waker().clone();
        drop(w);
        waker.wake();
    }
}
