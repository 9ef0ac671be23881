//! Timers for filters, without core knowing the runtime: the worker installs a
//! driver (`set_driver`) that runs a callback after a delay on the worker's
//! thread; filters call `after`. Without a driver (unit tests), `after` does
//! nothing and says so by returning false.

use std::cell::RefCell;
use std::time::Duration;

/// Runs a callback after a delay on the current thread.
pub type Driver = Box<dyn Fn(Duration, Box<dyn FnOnce()>)>;

thread_local! {
    static DRIVER: RefCell<Option<Driver>> = const { RefCell::new(None) };
}

/// Installs the timer driver of this thread's worker.
pub fn set_driver(driver: Driver) {
    DRIVER.with(|d| *d.borrow_mut() = Some(driver));
}

/// Runs `f` after `delay`; false (and `f` is dropped) if there is no driver.
pub fn after(delay: Duration, f: impl FnOnce() + 'static) -> bool {
    DRIVER.with(|d| match &*d.borrow() {
        Some(driver) => {
            driver(delay, Box::new(f));
            true
        }
        None => false,
    })
}
