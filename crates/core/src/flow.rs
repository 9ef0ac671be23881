//! Backpressure across a stream's pipeline tree. The client connection and the
//! outbound connections a stream opens never see each other directly, so they
//! meet here, through the stream's `Context`:
//! - `toward_client`: the client is not reading fast enough; producers of output
//!   (an outbound connection reading from its server) pause.
//! - `toward_server`: a server is not reading fast enough; the client connection
//!   pauses reading from the client.
//!
//! Each is a count of the parties that are backed up, so several outbound
//! connections of one stream can each hold it.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// One direction of backpressure: backed up while the count is above zero.
#[derive(Default)]
pub struct Pressure {
    count: Cell<u32>,
    waiters: RefCell<Vec<Waker>>,
}

impl Pressure {
    /// True while someone is backed up.
    pub fn is_on(&self) -> bool {
        self.count.get() > 0
    }

    /// One more party is backed up.
    pub fn hold(&self) {
        self.count.set(self.count.get() + 1);
    }

    /// One party is no longer backed up; waiters run when none is.
    pub fn release(&self) {
        self.count.set(self.count.get().saturating_sub(1));
        if self.count.get() == 0 {
            for w in self.waiters.borrow_mut().drain(..) {
                w.wake();
            }
        }
    }

    /// Completes when no one is backed up.
    pub async fn cleared(&self) {
        poll_fn(|cx| {
            if !self.is_on() {
                return Poll::Ready(());
            }
            let mut waiters = self.waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// Both directions of one client stream.
#[derive(Default)]
pub struct Backpressure {
    /// The client is slow to read.
    pub toward_client: Pressure,
    /// A server is slow to read.
    pub toward_server: Pressure,
}

/// Holds a `Pressure` while a queue is over its limit.
#[derive(Default)]
pub struct Gauge {
    holding: bool,
}

impl Gauge {
    /// Updates `pressure` for a queue of `size` bytes against `limit`.
    pub fn update(&mut self, pressure: &Pressure, size: usize, limit: usize) {
        let over = size > limit;
        if over && !self.holding {
            pressure.hold();
        } else if !over && self.holding {
            pressure.release();
        }
        self.holding = over;
    }

    /// Lets go of `pressure` (the queue is gone).
    pub fn clear(&mut self, pressure: &Pressure) {
        if self.holding {
            pressure.release();
            self.holding = false;
        }
    }
}
