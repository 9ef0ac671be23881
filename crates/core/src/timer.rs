//! Timers for filters, without core knowing the runtime: the worker installs a
//! driver (`set_timer_driver`) that runs a callback after a delay on the worker's
//! thread; filters call `call_after`. Without a driver (unit tests), `call_after` does
//! nothing and says so by returning false.

use std::cell::RefCell;
use std::time::Duration;

/// Runs a callback after a delay on the current thread.
pub type TimerDriver = Box<dyn Fn(Duration, Box<dyn FnOnce()>)>;

thread_local! {
    static DRIVER: RefCell<Option<TimerDriver>> = const { RefCell::new(None) };
}

/// Installs the timer driver of this thread's worker.
pub fn set_timer_driver(driver: TimerDriver) {
    DRIVER.with(|d| *d.borrow_mut() = Some(driver));
}

/// Runs `f` after `delay`; false (and `f` is dropped) if there is no driver.
pub fn call_after(delay: Duration, f: impl FnOnce() + 'static) -> bool {
    DRIVER.with(|d| match &*d.borrow() {
        Some(driver) => {
            driver(delay, Box::new(f));
            true
        }
        None => false,
    })
}

/// Runs `f` once what runs now is done, from the event loop; at once if there
/// is no driver (unit tests).
pub fn soon(f: impl FnOnce() + 'static) {
    let driver = DRIVER.with(|d| d.borrow().is_some());
    if driver {
        call_after(Duration::ZERO, f);
    } else {
        f();
    }
}
