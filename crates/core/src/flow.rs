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
    /// Pressures held for as long as this one is on (see `follow`).
    followers: RefCell<Vec<Follower>>,
}

/// A pressure `follow` holds, released when the one it follows clears.
struct Follower {
    to: Weak<Backpressure>,
    way: Direction,
    following: Rc<Cell<bool>>,
}

impl Follower {
    fn let_go(self) {
        self.following.set(false);
        if let Some(to) = self.to.upgrade() {
            to.pressure(self.way).release();
        }
    }
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
            let followers = std::mem::take(&mut *self.followers.borrow_mut());
            for f in followers {
                f.let_go();
            }
        }
    }

    /// Wakes `waker` once no one is backed up (at once if no one is).
    pub fn wake_when_clear(&self, waker: &Waker) {
        if !self.is_on() {
            waker.wake_by_ref();
            return;
        }
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
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

/// Holds `to`'s pressure pointing `way` for as long as `from`'s is on: for flows
/// that meet only through a shared part (an upstream session several clients
/// use). `following` is set meanwhile, so that one follow runs at a time. The
/// hold ends when `from` clears (or goes away).
pub fn follow(from: &Rc<Backpressure>, to: &Rc<Backpressure>, way: Direction, following: &Rc<Cell<bool>>) {
    follow_across(from, way, to, way, following)
}

/// Like `follow`, from `from`'s pressure pointing `from_way` to `to`'s pointing
/// `to_way`: a stream whose output goes to another stream's client (`swap`)
/// stops reading its own client while that one is slow to read.
pub fn follow_across(
    from: &Rc<Backpressure>,
    from_way: Direction,
    to: &Rc<Backpressure>,
    to_way: Direction,
    following: &Rc<Cell<bool>>,
) {
    if following.get() || !from.pressure(from_way).is_on() {
        return;
    }
    following.set(true);
    to.pressure(to_way).hold();
    from.pressure(from_way).followers.borrow_mut().push(Follower {
        to: Rc::downgrade(to),
        way: to_way,
        following: following.clone(),
    });
}

impl Drop for Pressure {
    fn drop(&mut self) {
        for f in std::mem::take(&mut *self.followers.borrow_mut()) {
            f.let_go();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_is_held_while_the_followed_pressure_is_on() {
        let (from, to) = (Rc::new(Backpressure::default()), Rc::new(Backpressure::default()));
        let following = Rc::new(Cell::new(false));
        follow(&from, &to, Direction::TowardClient, &following);
        assert!(!to.toward_client.is_on(), "nothing to follow yet");
        from.toward_client.hold();
        follow(&from, &to, Direction::TowardClient, &following);
        follow(&from, &to, Direction::TowardClient, &following);
        assert!(to.toward_client.is_on() && following.get());
        from.toward_client.release();
        assert!(!to.toward_client.is_on() && !following.get());
        // The followed flow going away lets go too.
        from.toward_server.hold();
        follow(&from, &to, Direction::TowardServer, &following);
        assert!(to.toward_server.is_on());
        drop(from);
        assert!(!to.toward_server.is_on());
    }
}
