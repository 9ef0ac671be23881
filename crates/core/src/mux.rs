//! Upstream sessions shared by key, whatever protocol they speak: a `Pool` keeps a
//! filter's sessions by `Key`, hands a stream a usable session with room for it
//! (at most `maxQueue` streams each), counts the streams on each (`Ledger`), and
//! closes a session no stream has taken for a whole `maxIdle`. What a session does
//! with its streams (HTTP/1 pipelining, HTTP/2 streams) is its own business: the
//! pool sees it through `Pooled`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// What groups streams into a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// The client connection with this id (no key given).
    Inbound(u64),
    /// A key the script gave.
    Script(String),
    /// An object the script gave, by identity (its session keeps it alive, so the
    /// identity is not reused while the session is in the pool).
    Object(u64),
}

/// A cheap hasher for session keys (FxHash's multiply-rotate); keys come from this
/// process, so there is nothing to defend against.
#[derive(Default)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// What the pool keeps for each session: the streams on it, and its idle watch.
#[derive(Default)]
pub struct Ledger {
    shares: Cell<usize>,
    /// Counts the streams that took the session, to tell whether it stayed idle.
    epoch: Cell<u64>,
    /// An idle check is scheduled (one at a time, not one per stream).
    idle_check: Cell<bool>,
}

impl Ledger {
    /// Streams on the session now.
    pub fn shares(&self) -> usize {
        self.shares.get()
    }

    /// A stream takes the session.
    pub fn join(&self) {
        self.shares.set(self.shares.get() + 1);
        self.epoch.set(self.epoch.get() + 1);
    }

    /// A stream leaves the session; the streams left.
    pub fn leave(&self) -> usize {
        self.shares.set(self.shares.get().saturating_sub(1));
        self.shares.get()
    }
}

/// A session a `Pool` can keep.
pub trait Pooled: 'static {
    /// Its ledger.
    fn ledger(&self) -> &Ledger;
    /// It may take new streams.
    fn usable(&self) -> bool;
    /// It is over (its connection closed).
    fn ended(&self) -> bool;
    /// It still has work in flight (answers to come), so is not idle even with no
    /// stream on it.
    fn busy(&self) -> bool;
    /// Closes it: nobody took it for a whole `maxIdle`.
    fn close_idle(self: Rc<Self>);
}

/// A filter's sessions, by key.
pub struct Pool<S> {
    max_queue: usize,
    max_idle: Duration,
    sessions: RefCell<HashMap<Key, Vec<Rc<S>>, BuildHasherDefault<KeyHasher>>>,
}

impl<S: Pooled> Pool<S> {
    /// A pool whose sessions take at most `max_queue` streams each (0: no limit)
    /// and close after `max_idle` without one.
    pub fn new(max_queue: usize, max_idle: Duration) -> Self {
        Pool { max_queue, max_idle, sessions: RefCell::default() }
    }

    /// A usable session of `key` with room for one more stream.
    pub fn find(&self, key: &Key) -> Option<Rc<S>> {
        let sessions = self.sessions.borrow();
        let list = sessions.get(key)?;
        list.iter().find(|s| s.usable() && (self.max_queue == 0 || s.ledger().shares() < self.max_queue)).cloned()
    }

    /// Keeps `session` under `key`.
    pub fn add(&self, key: Key, session: Rc<S>) {
        self.sessions.borrow_mut().entry(key).or_default().push(session);
    }

    /// Forgets `session` (kept under `key`).
    pub fn remove(&self, key: &Key, session: &S) {
        let mut sessions = self.sessions.borrow_mut();
        if let Some(list) = sessions.get_mut(key) {
            list.retain(|s| !std::ptr::eq(Rc::as_ptr(s), session));
            if list.is_empty() {
                sessions.remove(key);
            }
        }
    }

    /// Sessions kept now, under every key.
    pub fn len(&self) -> usize {
        self.sessions.borrow().values().map(Vec::len).sum()
    }

    /// True when no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes `session` once no stream has taken it for a whole `maxIdle`; one
    /// check is pending at a time, so an idle session closes after 1 to 2 ×
    /// `maxIdle`. Without a timer driver (unit tests) nothing is scheduled.
    pub fn watch_idle(&self, session: &Rc<S>) {
        if !session.ledger().idle_check.get() {
            schedule_idle(Rc::downgrade(session), self.max_idle);
        }
    }
}

fn schedule_idle<S: Pooled>(weak: Weak<S>, max_idle: Duration) {
    let Some(s) = weak.upgrade() else { return };
    let epoch = s.ledger().epoch.get();
    let w = weak.clone();
    let scheduled = crate::timer::call_after(max_idle, move || {
        let Some(s) = w.upgrade() else { return };
        s.ledger().idle_check.set(false);
        if s.ledger().shares() > 0 || s.ended() {
            return;
        }
        if s.ledger().epoch.get() != epoch || s.busy() {
            // Used meanwhile, idle again now: look again after another period.
            schedule_idle(w, max_idle);
            return;
        }
        tracing::debug!("closing a session idle for maxIdle");
        s.close_idle();
    });
    s.ledger().idle_check.set(scheduled);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Fake {
        ledger: Ledger,
        closing: Cell<bool>,
        busy: Cell<bool>,
        closed: Cell<bool>,
    }

    impl Pooled for Fake {
        fn ledger(&self) -> &Ledger {
            &self.ledger
        }
        fn usable(&self) -> bool {
            !self.closing.get() && !self.closed.get()
        }
        fn ended(&self) -> bool {
            self.closed.get()
        }
        fn busy(&self) -> bool {
            self.busy.get()
        }
        fn close_idle(self: Rc<Self>) {
            self.closed.set(true);
        }
    }

    /// Timer callbacks scheduled and not yet run.
    type Due = Rc<RefCell<Vec<Box<dyn FnOnce()>>>>;

    /// A timer driver whose callbacks run when the test says.
    fn manual_timers() -> Due {
        let due: Due = Rc::default();
        let d = due.clone();
        crate::timer::set_timer_driver(Box::new(move |_, f| d.borrow_mut().push(f)));
        due
    }

    fn fire(due: &Due) -> usize {
        let now: Vec<_> = std::mem::take(&mut *due.borrow_mut());
        let n = now.len();
        for f in now {
            f();
        }
        n
    }

    #[test]
    fn a_key_shares_a_session_up_to_max_queue_and_never_one_that_is_closing() {
        let pool: Pool<Fake> = Pool::new(2, Duration::from_secs(10));
        let a = Rc::new(Fake::default());
        pool.add(Key::Script("k".into()), a.clone());
        assert!(pool.find(&Key::Script("other".into())).is_none());
        a.ledger.join();
        assert!(pool.find(&Key::Script("k".into())).is_some_and(|s| Rc::ptr_eq(&s, &a)));
        a.ledger.join();
        assert!(pool.find(&Key::Script("k".into())).is_none(), "full at maxQueue");
        assert_eq!(a.ledger.leave(), 1);
        a.closing.set(true);
        assert!(pool.find(&Key::Script("k".into())).is_none(), "a closing session takes no one");
        pool.remove(&Key::Script("k".into()), &a);
        assert!(pool.is_empty());
    }

    #[test]
    fn a_session_closes_after_a_whole_idle_period_without_a_stream() {
        let due = manual_timers();
        let pool: Pool<Fake> = Pool::new(0, Duration::from_secs(10));
        let s = Rc::new(Fake::default());
        s.ledger.join();
        assert_eq!(s.ledger.leave(), 0);
        pool.watch_idle(&s);
        pool.watch_idle(&s);
        assert_eq!(due.borrow().len(), 1, "one check at a time");
        // Taken and left again within the period: it looks again, then closes.
        s.ledger.join();
        s.ledger.leave();
        assert_eq!(fire(&due), 1);
        assert!(!s.closed.get(), "it was used in that period");
        s.busy.set(true);
        assert_eq!(fire(&due), 1);
        assert!(!s.closed.get(), "answers still to come");
        s.busy.set(false);
        assert_eq!(fire(&due), 1);
        assert!(s.closed.get());
        assert_eq!(fire(&due), 0, "nothing more is scheduled");
    }
}
