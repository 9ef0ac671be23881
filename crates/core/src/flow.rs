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
use std::rc::{Rc, Weak};
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

/// Which way a pressure points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The client is slow to read.
    TowardClient,
    /// A server is slow to read.
    TowardServer,
}

impl Backpressure {
    /// The pressure pointing `way`.
    pub fn pressure(&self, way: Direction) -> &Pressure {
        match way {
            Direction::TowardClient => &self.toward_client,
            Direction::TowardServer => &self.toward_server,
        }
    }
}

/// How often `follow` looks again.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// Holds `to`'s pressure pointing `way` for as long as `from`'s is on: for flows
/// that meet only through a shared part (an upstream session several clients
/// use). `following` is set meanwhile, so one follow runs at a time; it is
/// checked again every few milliseconds from a timer.
pub fn follow(from: &Rc<Backpressure>, to: &Rc<Backpressure>, way: Direction, following: &Rc<Cell<bool>>) {
    if following.get() || !from.pressure(way).is_on() {
        return;
    }
    following.set(true);
    to.pressure(way).hold();
    schedule_follow(Rc::downgrade(from), to.clone(), way, following.clone());
}

fn schedule_follow(from: Weak<Backpressure>, to: Rc<Backpressure>, way: Direction, following: Rc<Cell<bool>>) {
    let (to_now, following_now) = (to.clone(), following.clone());
    let scheduled = crate::timer::after(FOLLOW_EVERY, move || {
        if from.upgrade().is_some_and(|f| f.pressure(way).is_on()) {
            return schedule_follow(from, to, way, following);
        }
        following.set(false);
        to.pressure(way).release();
    });
    if !scheduled {
        // No event loop (unit tests): do not hold what nothing would release.
        following_now.set(false);
        to_now.pressure(way).release();
    }
}
