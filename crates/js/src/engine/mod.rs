//! `Engine`: the worker's QuickJS runtime and context, entered through `Engine::enter`
//! so that every entry gets a deadline, a stack limit and a memory limit, runs its
//! microtasks before leaving, and, once outside the engine, wakes the filters whose
//! Promises settled. Filters are never run from inside the engine, so the engine is
//! never entered twice.
//!
//! Bounds, so that no script can take its worker down:
//! - **Time.** A watchdog thread (one per process) looks at every engine every
//!   `TICK`; an entry that has run past its limit gets QuickJS's interrupt flag
//!   raised, which makes the very next interrupt check (a call or a loop
//!   iteration) stop it with an uncatchable error. The worker itself reads no
//!   clock per callback. (The flag is a small patch to QuickJS: see
//!   `vendor/rquickjs-sys/README.md`.)
//! - **Stack.** At every entry the JS stack limit is set to the thread's stack left
//!   below the entry point, less a margin for the native code JS calls, so deep
//!   recursion or `JSON.parse` of deeply nested input is a `RangeError`-like
//!   script error, not a stack overflow that aborts the process.
//! - **Memory.** The runtime has a heap limit; an allocation past it fails the
//!   allocating script code with an out-of-memory error, and what that code
//!   built is freed with it.
//! - **Panics.** A panic inside an entry (a bug in native code a script called) is
//!   caught at the entry and becomes a script error; the engine's state is restored.

pub mod error;

use proxy_core::{Pending, ScriptError};
use rquickjs::{qjs, Context, Ctx, Runtime};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

thread_local! {
    static SETTLED: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Work that had to wait for the script code running to return.
    static DEFERRED: RefCell<Vec<Box<dyn FnOnce()>>> = RefCell::new(Vec::new());
}

/// True while script code runs on this thread (the engine cannot be entered).
pub fn busy() -> bool {
    DEPTH.with(|d| d.get()) > 0
}

/// Runs `f` as soon as the script code running on this thread returns.
pub fn after_script(f: Box<dyn FnOnce()>) {
    DEFERRED.with(|d| d.borrow_mut().push(f));
}

fn run_deferred() {
    loop {
        let batch = DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()));
        if batch.is_empty() {
            return;
        }
        for f in batch {
            f();
        }
    }
}

/// The `__inbound` object of each client connection, so that scripts see one
/// object per connection (load balancers key sessions by it). Entries of closed
/// connections are swept now and then, which frees their objects.
#[derive(Default)]
pub struct InboundObjects {
    map: std::collections::HashMap<
        u64,
        (std::rc::Weak<proxy_core::Inbound>, rquickjs::Persistent<rquickjs::Object<'static>>),
    >,
    sweep_at: usize,
}

impl InboundObjects {
    /// The object of `inbound`, made by `make` the first time.
    pub fn get<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        inbound: &std::rc::Rc<proxy_core::Inbound>,
        make: impl FnOnce() -> rquickjs::Result<rquickjs::Object<'js>>,
    ) -> rquickjs::Result<rquickjs::Object<'js>> {
        if let Some((_, obj)) = self.map.get(&inbound.id) {
            return obj.clone().restore(ctx);
        }
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, (weak, _)| weak.upgrade().is_some_and(|i| !i.closed.get()));
            self.sweep_at = (self.map.len() * 2).max(64);
        }
        let obj = make()?;
        self.map.insert(inbound.id, (std::rc::Rc::downgrade(inbound), rquickjs::Persistent::save(ctx, obj.clone())));
        Ok(obj)
    }
}

/// Limits every entry into an engine is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long one callback may run.
    pub callback_timeout: Duration,
    /// Bytes the script heap may grow to (0: no limit).
    pub memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { callback_timeout: Duration::from_secs(1), memory: DEFAULT_MEMORY_LIMIT }
    }
}

/// Default limit of a worker's script heap.
pub const DEFAULT_MEMORY_LIMIT: usize = 512 << 20;

/// The script engine of one worker.
pub struct Engine {
    /// Script objects held for client connections (declared first: dropped before
    /// the context and the runtime).
    pub inbounds: RefCell<InboundObjects>,
    /// The context scripts run in (declared before the runtime: it must go first).
    pub context: Context,
    /// The QuickJS runtime (one per worker), owned here so that it outlives the
    /// context.
    _runtime: Runtime,
    /// How long one callback may run.
    pub callback_timeout: Duration,
    /// What the watchdog sees of this engine.
    watched: Arc<Watched>,
    /// The runtime, for the stack limit and for unsetting the interrupt flag.
    raw: *mut qjs::JSRuntime,
}

/// The QuickJS functions the vendored patch adds (`vendor/rquickjs-sys`).
mod patched {
    #[allow(unsafe_code)]
    extern "C" {
        /// While `*flag` is non-zero, every interrupt check calls the interrupt handler.
        pub fn JS_SetInterruptFlag(rt: *mut rquickjs::qjs::JSRuntime, flag: *mut std::ffi::c_int);
    }
}

impl Engine {
    /// A runtime and a full context, with the interrupt handler that enforces
    /// deadlines and the heap limit of `limits`.
    pub fn new(limits: Limits) -> rquickjs::Result<Engine> {
        let runtime = Runtime::new()?;
        let watched = Arc::new(Watched::default());
        let w = watched.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || w.should_stop())));
        if limits.memory > 0 {
            runtime.set_memory_limit(limits.memory);
        }
        let context = Context::full(&runtime)?;
        let raw = context.with(|ctx| raw_runtime(&ctx));
        set_interrupt_flag(raw, Some(&watched.flag));
        watchdog::watch(&watched);
        Ok(Engine {
            inbounds: RefCell::default(),
            context,
            _runtime: runtime,
            callback_timeout: limits.callback_timeout,
            watched,
            raw,
        })
    }

    /// Runs `f` in the engine with a deadline of `limit`, then its microtasks; then,
    /// outside the engine, wakes filters whose Promises settled. A panic inside comes
    /// back as a script error, as does entering an engine that is already running.
    pub fn enter<R>(&self, limit: Duration, f: impl FnOnce(&Ctx<'_>) -> R) -> Result<R, ScriptError> {
        if DEPTH.with(|d| d.get()) > 0 {
            return Err(ScriptError::new(
                "internal error: the script engine was entered while already running (a bug in proxy)",
            ));
        }
        DEPTH.with(|d| d.set(1));
        self.watched.begin(limit);
        let raw = self.raw;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.context.with(|ctx| {
                set_stack_limit(raw);
                let r = f(&ctx);
                while ctx.execute_pending_job() {}
                r
            })
        }));
        self.watched.end();
        let r = r.map_err(|panic| {
            // What was thrown to unwind the script's frames must not linger.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.context.with(|ctx| drop(ctx.catch()));
            }));
            self.watched.end();
            let what = panic_message(&*panic);
            tracing::error!("internal error in script code's native call: {what}");
            ScriptError::new(format!("internal error (a bug in proxy): {what}"))
        });
        DEPTH.with(|d| d.set(0));
        notify_settled();
        run_deferred();
        r
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // The runtime goes with the fields; it must not read the flag meanwhile.
        set_interrupt_flag(self.raw, None);
    }
}

/// The text of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[allow(unsafe_code)]
fn raw_runtime(ctx: &Ctx<'_>) -> *mut qjs::JSRuntime {
    // SAFETY: `ctx` is a live context; JS_GetRuntime only reads its runtime field.
    unsafe { qjs::JS_GetRuntime(ctx.as_raw().as_ptr()) }
}

#[allow(unsafe_code)]
fn set_interrupt_flag(rt: *mut qjs::JSRuntime, flag: Option<&AtomicI32>) {
    let ptr = flag.map_or(std::ptr::null_mut(), |f| f.as_ptr());
    // SAFETY: `rt` is the live runtime of an engine (called at creation and in
    // its Drop, before the runtime is freed). QuickJS reads `*flag` atomically
    // (an `_Atomic int`, the layout of `AtomicI32`), and the flag is part of the
    // engine's `Watched`, which the engine keeps until after it unsets the flag.
    unsafe { patched::JS_SetInterruptFlag(rt, ptr) }
}

/// Room left on the stack below the JS limit, for the native code that script
/// code calls (conversions, logging, regular expressions).
const STACK_MARGIN: usize = 512 << 10;

/// Lets JS use the thread's stack that is left below this point, but for a margin.
#[allow(unsafe_code)]
fn set_stack_limit(rt: *mut qjs::JSRuntime) {
    let here = stack::current();
    let room = here.saturating_sub(stack::bottom());
    let size = room - STACK_MARGIN.min(room / 4);
    // SAFETY: `rt` is the live runtime of the engine being entered, on its own
    // thread, with no script code running yet; both calls only set fields.
    unsafe {
        qjs::JS_UpdateStackTop(rt);
        qjs::JS_SetMaxStackSize(rt, size as _);
    }
}

mod stack {
    //! Where the current thread's stack ends.

    use std::cell::Cell;

    thread_local! {
        static BOTTOM: Cell<usize> = const { Cell::new(0) };
    }

    /// An address in the current frame.
    #[inline(never)]
    pub fn current() -> usize {
        let here = 0u8;
        std::hint::black_box(&here) as *const u8 as usize
    }

    /// The lowest usable address of the current thread's stack.
    pub fn bottom() -> usize {
        BOTTOM.with(|b| {
            if b.get() == 0 {
                b.set(find_bottom());
            }
            b.get()
        })
    }

    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn find_bottom() -> usize {
        // SAFETY: pthread_getattr_np fills `attr` for the calling thread (it is
        // destroyed after use); pthread_attr_getstack writes the stack's lowest
        // address and its size into the two locals.
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                return fallback();
            }
            let mut addr: *mut libc::c_void = std::ptr::null_mut();
            let mut size: libc::size_t = 0;
            let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
            libc::pthread_attr_destroy(&mut attr);
            if !ok || addr.is_null() {
                return fallback();
            }
            // Stay clear of the guard page at the bottom.
            addr as usize + 64 * 1024
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn find_bottom() -> usize {
        fallback()
    }

    /// Without the thread's layout: assume 1 MiB below the first entry.
    fn fallback() -> usize {
        current().saturating_sub(1 << 20)
    }
}

/// How often the watchdog looks at the engines.
const TICK: Duration = Duration::from_millis(20);

/// One engine as the watchdog sees it: the entry running (0: none) and its
/// limit, written by the worker; what the watchdog saw last; the entry to stop
/// and the flag QuickJS reads, written by the watchdog.
#[derive(Default)]
struct Watched {
    next: AtomicU64,
    running: AtomicU64,
    limit_ms: AtomicU64,
    seen: AtomicU64,
    seen_since: Mutex<Option<Instant>>,
    stop: AtomicU64,
    flag: AtomicI32,
}

impl Watched {
    fn begin(&self, limit: Duration) {
        let entry = self.next.load(Relaxed) + 1;
        self.next.store(entry, Relaxed);
        self.limit_ms.store(limit.as_millis().max(1) as u64, Relaxed);
        self.running.store(entry, Relaxed);
    }

    fn end(&self) {
        self.running.store(0, Relaxed);
        self.flag.store(0, Relaxed);
    }

    /// The interrupt handler: true if the running entry is the one to stop. The
    /// flag stays raised for the rest of that entry, so that each microtask it
    /// queued stops at its first check too (none can queue another).
    fn should_stop(&self) -> bool {
        if self.flag.load(Relaxed) == 0 {
            return false;
        }
        let running = self.running.load(Relaxed);
        if running != 0 && self.stop.load(Relaxed) == running {
            return true;
        }
        self.flag.store(0, Relaxed);
        false
    }

    /// The watchdog's look: raises the flag if the same entry has run too long.
    fn check(&self, now: Instant) {
        let running = self.running.load(Relaxed);
        let mut since = self.seen_since.lock().unwrap_or_else(|p| p.into_inner());
        if running == 0 || running != self.seen.load(Relaxed) {
            self.seen.store(running, Relaxed);
            *since = (running != 0).then_some(now);
            return;
        }
        let limit = Duration::from_millis(self.limit_ms.load(Relaxed));
        if since.is_some_and(|s| now.duration_since(s) >= limit) {
            self.stop.store(running, Relaxed);
            self.flag.store(1, Relaxed);
        }
    }
}

mod watchdog {
    //! The thread that stops script code running past its deadline.

    use super::{Watched, TICK};
    use std::sync::{Arc, Mutex, Once, Weak};

    static ENGINES: Mutex<Vec<Weak<Watched>>> = Mutex::new(Vec::new());
    static START: Once = Once::new();

    /// Watches `w` from now on (until it is dropped).
    pub(super) fn watch(w: &Arc<Watched>) {
        ENGINES.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::downgrade(w));
        START.call_once(|| {
            let started = std::thread::Builder::new().name("script-watchdog".into()).spawn(|| loop {
                std::thread::sleep(TICK);
                let now = std::time::Instant::now();
                let mut engines = ENGINES.lock().unwrap_or_else(|p| p.into_inner());
                engines.retain(|w| match w.upgrade() {
                    Some(w) => {
                        w.check(now);
                        true
                    }
                    None => false,
                });
            });
            if let Err(e) = started {
                tracing::error!("cannot start the script watchdog ({e}): callback deadlines will not hold");
            }
        });
    }
}

/// A script value held from Rust together with the engine it lives in. The value
/// is declared first so it is dropped first: dropping the last handle of an engine
/// frees the runtime, which must not hold values any more by then.
pub struct EngineValue<T> {
    /// The value.
    pub value: T,
    /// Keeps the engine alive as long as the value.
    pub engine: std::rc::Rc<Engine>,
}

/// Records a Promise result to wake its filter once the engine is left.
pub fn settled(p: Pending) {
    SETTLED.with(|s| s.borrow_mut().push(p));
}

fn notify_settled() {
    loop {
        let batch = SETTLED.with(|s| std::mem::take(&mut *s.borrow_mut()));
        if batch.is_empty() {
            return;
        }
        for p in batch {
            p.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(timeout_ms: u64) -> Engine {
        Engine::new(Limits { callback_timeout: Duration::from_millis(timeout_ms), memory: 64 << 20 }).unwrap()
    }

    fn run(e: &Engine, code: &str) -> Result<String, String> {
        e.enter(e.callback_timeout, |ctx| {
            ctx.eval::<rquickjs::Coerced<String>, _>(code)
                .map(|s| s.0)
                .map_err(|err| crate::engine::error::from_rquickjs(ctx, err).message)
        })
        .map_err(|e| e.message)?
    }

    #[test]
    fn a_loop_of_expensive_builtins_stops_at_the_deadline() {
        let e = engine(200);
        let t = Instant::now();
        let r = run(&e, "var s = 'x'.repeat(1 << 22); for (;;) s.indexOf('y');");
        assert!(r.unwrap_err().contains("time limit"));
        assert!(t.elapsed() < Duration::from_secs(2), "stopped after {:?}", t.elapsed());
        assert_eq!(run(&e, "1 + 1").unwrap(), "2", "the engine works afterwards");
    }

    #[test]
    fn a_chain_of_microtasks_that_each_spin_ends_with_its_entry() {
        let e = engine(200);
        let t = Instant::now();
        let r = run(&e, "function f() { Promise.resolve().then(f); for (;;) {} } f(); 'never'");
        assert!(r.is_err());
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(run(&e, "Promise.resolve().then(() => globalThis.later = 7); 'next'").unwrap(), "next");
        assert_eq!(run(&e, "'' + globalThis.later").unwrap(), "7", "later entries run their microtasks");
    }

    #[test]
    fn the_deadline_counts_from_the_start_of_each_entry() {
        let e = engine(300);
        for _ in 0..3 {
            let t = Instant::now();
            assert!(run(&e, "for (;;) {}").is_err());
            let took = t.elapsed();
            assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(1500), "{took:?}");
        }
    }

    #[test]
    fn deep_recursion_and_deep_json_are_script_errors() {
        let e = engine(2000);
        let r = run(&e, "function f(n) { return f(n + 1) + 1; } f(0)");
        assert!(r.unwrap_err().to_lowercase().contains("stack"));
        let r = run(&e, "JSON.parse('['.repeat(200000) + ']'.repeat(200000))");
        assert!(r.unwrap_err().to_lowercase().contains("stack"));
        let r = run(&e, "var a = []; for (var i = 0; i < 200000; i++) a = [a]; JSON.stringify(a)");
        assert!(r.unwrap_err().to_lowercase().contains("stack"));
        assert_eq!(run(&e, "'still' + ' here'").unwrap(), "still here");
    }

    #[test]
    fn the_heap_limit_fails_the_allocation_and_the_memory_comes_back() {
        // A deadline far off: the limit, not the time, must stop this.
        let e = engine(120_000);
        let r = run(&e, "var keep = []; for (;;) keep.push('x'.repeat(1 << 20) + Math.random());");
        assert!(r.unwrap_err().contains("out of memory"));
        assert_eq!(run(&e, "keep = null; 'x'.repeat(16 << 20).length").unwrap(), (16 << 20).to_string());
    }

    #[test]
    fn a_panic_inside_is_a_script_error_and_the_engine_carries_on() {
        let e = engine(1000);
        let r = e.enter(e.callback_timeout, |_| -> u32 { panic!("boom") });
        assert!(r.unwrap_err().message.contains("boom"));
        assert_eq!(run(&e, "40 + 2").unwrap(), "42");
    }
}
