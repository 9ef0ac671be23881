//! `Quota`: an amount that throttling filters consume and that refills over time
//! (`algo.Quota` in scripts). It starts at its initial value; `consume` takes what
//! is there (up to what was asked), and every `per` after a consumption the quota
//! is topped back up to the initial value (by at most `produce` per period when
//! set). Filters that found it empty wait in line and are woken, in order, when it
//! refills.

use crate::pipeline::FilterHandle;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// How a quota refills.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuotaOptions {
    /// Refill this long after a consumption (never, when `None`).
    pub per: Option<Duration>,
    /// At most this much per refill.
    pub produce: Option<f64>,
    /// Never above this (explicit `produce` calls included).
    pub max: Option<f64>,
}

struct Inner {
    initial: Cell<f64>,
    current: Cell<f64>,
    options: QuotaOptions,
    scheduled: Cell<bool>,
    waiting: RefCell<VecDeque<FilterHandle>>,
}

/// A shared, refilling amount.
#[derive(Clone)]
pub struct Quota(Rc<Inner>);

impl Quota {
    /// A quota holding `initial`.
    pub fn new(initial: f64, options: QuotaOptions) -> Quota {
        let initial = initial.max(0.0);
        Quota(Rc::new(Inner {
            initial: Cell::new(initial),
            current: Cell::new(initial),
            options,
            scheduled: Cell::new(false),
            waiting: RefCell::default(),
        }))
    }

    /// The amount it starts with and refills to.
    pub fn initial(&self) -> f64 {
        self.0.initial.get()
    }

    /// The amount there now.
    pub fn current(&self) -> f64 {
        self.0.current.get()
    }

    /// Takes up to `amount` and returns what was taken.
    pub fn consume(&self, amount: f64) -> f64 {
        if amount.is_nan() || amount <= 0.0 {
            return 0.0;
        }
        let taken = amount.min(self.current());
        self.0.current.set(self.current() - taken);
        self.schedule_refill();
        taken
    }

    /// Takes exactly `amount`, or nothing if there is not that much.
    pub fn take(&self, amount: f64) -> bool {
        if self.current() < amount {
            self.schedule_refill();
            return false;
        }
        self.consume(amount);
        true
    }

    /// Adds `amount` (up to `max`) and wakes the filters waiting for it.
    pub fn produce(&self, amount: f64) {
        if amount.is_nan() || amount <= 0.0 {
            return;
        }
        let mut next = self.current() + amount;
        if let Some(max) = self.0.options.max {
            next = next.min(max);
        }
        self.0.current.set(next);
        let waiting = std::mem::take(&mut *self.0.waiting.borrow_mut());
        for w in waiting {
            w.wake();
        }
    }

    /// Back to the initial amount.
    pub fn reset(&self) {
        let (initial, current) = (self.initial(), self.current());
        if current >= initial {
            self.0.current.set(initial);
        } else {
            self.produce(initial - current);
        }
    }

    /// Wakes `waiter` the next time the quota is produced.
    pub fn wait(&self, waiter: FilterHandle) {
        self.0.waiting.borrow_mut().push_back(waiter);
    }

    fn schedule_refill(&self) {
        let Some(per) = self.0.options.per.filter(|p| !p.is_zero()) else { return };
        if self.0.scheduled.get() {
            return;
        }
        let weak: Weak<Inner> = Rc::downgrade(&self.0);
        let scheduled = crate::timer::call_after(per, move || {
            let Some(inner) = weak.upgrade() else { return };
            let q = Quota(inner);
            q.0.scheduled.set(false);
            let mut amount = q.initial() - q.current();
            if let Some(step) = q.0.options.produce.filter(|s| *s > 0.0 && *s < amount) {
                amount = step;
                q.schedule_refill();
            }
            q.produce(amount);
        });
        self.0.scheduled.set(scheduled);
    }
}

impl std::fmt::Debug for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Quota({}/{})", self.current(), self.initial())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_takes_what_is_there_and_produce_is_capped_by_max() {
        let q = Quota::new(10.0, QuotaOptions { max: Some(12.0), ..Default::default() });
        assert_eq!(q.consume(4.0), 4.0);
        assert_eq!(q.consume(10.0), 6.0);
        assert_eq!(q.consume(1.0), 0.0);
        assert!(!q.take(1.0));
        q.produce(20.0);
        assert_eq!(q.current(), 12.0);
        assert!(q.take(12.0));
        q.reset();
        assert_eq!(q.current(), 10.0);
        q.produce(1.0);
        q.reset();
        assert_eq!(q.current(), 10.0);
    }
}
