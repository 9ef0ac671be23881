//! `Engine`: the worker's QuickJS runtime and context, entered through `Engine::enter`
//! so that every entry gets a deadline, runs its microtasks before leaving, and, once
//! outside the engine, wakes the filters whose Promises settled. Filters are never
//! run from inside the engine, so the engine is never entered twice.

use proxy_core::Pending;
use rquickjs::{Context, Ctx, Runtime};
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

thread_local! {
    /// Counts entries into the engine; 0 while outside it.
    static ENTRY: Cell<u64> = const { Cell::new(0) };
    static LIMIT: Cell<Duration> = const { Cell::new(Duration::from_secs(1)) };
    /// The entry the interrupt handler last saw, and when it first saw it.
    static WATCH: Cell<(u64, Option<Instant>)> = const { Cell::new((0, None)) };
    static NEXT_ENTRY: Cell<u64> = const { Cell::new(0) };
    static SETTLED: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
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

/// The script engine of one worker.
pub struct Engine {
    /// Script objects held for client connections (declared first: dropped before
    /// the context and the runtime).
    pub inbounds: RefCell<InboundObjects>,
    /// The context scripts run in (declared before the runtime: it must go first).
    pub context: Context,
    /// The QuickJS runtime (one per worker).
    pub runtime: Runtime,
    /// How long one callback may run.
    pub callback_timeout: Duration,
}

impl Engine {
    /// A runtime and a full context, with the interrupt handler that enforces deadlines.
    pub fn new(callback_timeout: Duration) -> rquickjs::Result<Engine> {
        let runtime = Runtime::new()?;
        // QuickJS calls this only every so many thousand operations, so the clock is
        // read only while a callback runs long, never per call.
        runtime.set_interrupt_handler(Some(Box::new(|| {
            let entry = ENTRY.with(|e| e.get());
            if entry == 0 {
                return false;
            }
            let now = Instant::now();
            WATCH.with(|w| match w.get() {
                (seen, Some(since)) if seen == entry => now.duration_since(since) >= LIMIT.with(|l| l.get()),
                _ => {
                    w.set((entry, Some(now)));
                    false
                }
            })
        })));
        runtime.set_max_stack_size(4 << 20);
        let context = Context::full(&runtime)?;
        Ok(Engine { inbounds: RefCell::default(), context, runtime, callback_timeout })
    }

    /// Runs `f` in the engine with a deadline of `limit`, then its microtasks; then,
    /// outside the engine, wakes filters whose Promises settled.
    pub fn enter<R>(&self, limit: Duration, f: impl FnOnce(&Ctx<'_>) -> R) -> R {
        let outermost = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get() == 1
        });
        let r = if outermost {
            LIMIT.with(|l| l.set(limit));
            ENTRY.with(|e| {
                e.set(NEXT_ENTRY.with(|n| {
                    n.set(n.get() + 1);
                    n.get()
                }))
            });
            let r = self.context.with(|ctx| {
                let r = f(&ctx);
                while ctx.execute_pending_job() {}
                r
            });
            ENTRY.with(|e| e.set(0));
            r
        } else {
            // Entered from Rust code that JS itself called: the engine is already held.
            unreachable_nested()
        };
        DEPTH.with(|d| d.set(d.get() - 1));
        if outermost {
            notify_settled();
        }
        r
    }
}

fn unreachable_nested<R>() -> R {
    panic!("the script engine was entered while already running; filters must not run inside JS")
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
