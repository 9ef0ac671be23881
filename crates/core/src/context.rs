//! `Context`: the per-stream state a script sees (its context variables and the
//! inbound connection). Sub-pipelines either share their parent's context or fork it.

use crate::flow::Backpressure;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Waker;

/// The client connection a root pipeline serves.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// A number unique to this connection on its worker.
    pub id: u64,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// The client's address.
    pub remote: SocketAddr,
    /// Set when the connection has closed (state kept per client can go).
    pub closed: Cell<bool>,
    /// HTTP requests a server filter (`demuxHTTP`) has read and not yet answered
    /// in full: a connection asked to close for shutdown waits for zero.
    pub exchanges: Cell<u32>,
    /// The worker asked the connection to close (shutdown).
    pub draining: Cell<bool>,
    /// Sessions on the connection that say goodbye themselves when draining
    /// (HTTP/2's GOAWAY) and end it when they are done: while there are any,
    /// the socket does not close it between exchanges.
    pub closes_itself: Cell<u32>,
    /// Woken when the connection is asked to close.
    drain_wakers: RefCell<Vec<Waker>>,
    /// Whom a PROXY protocol header says the connection is from, and to.
    proxied: Cell<Option<(SocketAddr, Option<SocketAddr>)>>,
}

impl Inbound {
    /// A connection from `remote` to `local`, numbered `id`.
    pub fn new(id: u64, local: SocketAddr, remote: SocketAddr) -> Inbound {
        // On a dual-stack socket an IPv4 client shows as `::ffff:a.b.c.d`; scripts
        // see the IPv4 address it is.
        let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
        Inbound {
            id,
            local: canonical(local),
            remote: canonical(remote),
            closed: Cell::new(false),
            exchanges: Cell::new(0),
            draining: Cell::new(false),
            closes_itself: Cell::new(0),
            drain_wakers: RefCell::default(),
            proxied: Cell::new(None),
        }
    }

    /// Whom the connection is from: the PROXY protocol header's source if one
    /// was accepted, else the socket's peer.
    pub fn client(&self) -> SocketAddr {
        self.proxied.get().map(|(s, _)| s).unwrap_or(self.remote)
    }

    /// Where the connection was made to, as the PROXY protocol header says, else the socket's.
    pub fn destination(&self) -> SocketAddr {
        self.proxied.get().and_then(|(_, t)| t).unwrap_or(self.local)
    }

    /// A PROXY protocol header said the connection is from `source` to `target`.
    pub fn set_proxied(&self, source: SocketAddr, target: Option<SocketAddr>) {
        self.proxied.set(Some((source, target)));
    }

    /// Asks the connection to close, waking whoever waits for that.
    pub fn drain(&self) {
        self.draining.set(true);
        for w in std::mem::take(&mut *self.drain_wakers.borrow_mut()) {
            w.wake();
        }
    }

    /// Wakes `waker` when the connection is asked to close.
    pub fn wake_on_drain(&self, waker: &Waker) {
        let mut wakers = self.drain_wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }
}

/// Script-owned values stored in a context; the script host defines what they are.
pub trait ContextVars: Any {
    /// A copy whose later writes do not show in `self` (values are copied shallowly).
    fn fork(&self) -> Box<dyn ContextVars>;
    /// For downcasting to the host's own type.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting to the host's own type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// The contexts that come from one root pipeline (its own, and those of the
/// sub-pipelines made from it, forked or shared), with the filters that wait
/// for script state to change (`wait`).
#[derive(Default)]
struct Group {
    waiters: RefCell<Vec<crate::pipeline::FilterHandle>>,
    scheduled: Cell<bool>,
    quiet: Cell<bool>,
}

impl Group {
    fn touched(self: &Rc<Self>) {
        if self.quiet.get() || self.scheduled.get() || self.waiters.borrow().is_empty() {
            return;
        }
        // Later, from the event loop: the caller is in the middle of a filter.
        let group = Rc::downgrade(self);
        self.scheduled.set(crate::timer::call_after(std::time::Duration::ZERO, move || {
            let Some(group) = group.upgrade() else { return };
            group.scheduled.set(false);
            let waiters = std::mem::take(&mut *group.waiters.borrow_mut());
            for w in waiters {
                w.wake();
            }
        }));
    }
}

struct ContextInner {
    id: u64,
    group: Rc<Group>,
    inbound: Option<Rc<Inbound>>,
    flow: Option<Rc<Backpressure>>,
    vars: RefCell<Option<Box<dyn ContextVars>>>,
    /// For a context that is another one's stream state seen with a different
    /// flow (`with_own_flow`): that context, whose variables this one uses.
    vars_of: Option<Context>,
}

/// A handle to a stream's context; clones share it.
#[derive(Clone)]
pub struct Context(Rc<ContextInner>);

thread_local! {
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

fn next_id() -> u64 {
    NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}

impl Context {
    /// A fresh context for a root pipeline.
    pub fn new(inbound: Option<Rc<Inbound>>) -> Self {
        Context(Rc::new(ContextInner {
            id: next_id(),
            group: Rc::default(),
            inbound,
            flow: None,
            vars: RefCell::default(),
            vars_of: None,
        }))
    }

    /// A fresh context for a client connection's pipeline, with its backpressure.
    pub fn with_flow(inbound: Rc<Inbound>, flow: Rc<Backpressure>) -> Self {
        Context(Rc::new(ContextInner {
            id: next_id(),
            group: Rc::default(),
            inbound: Some(inbound),
            flow: Some(flow),
            vars: RefCell::default(),
            vars_of: None,
        }))
    }

    /// The backpressure of the client stream this context belongs to, if any.
    pub fn flow(&self) -> Option<&Rc<Backpressure>> {
        self.0.flow.as_ref()
    }

    /// A new context that starts as a copy of this one (for per-request sub-pipelines).
    pub fn fork(&self) -> Self {
        let vars = self.with_vars(|v| v.as_ref().map(|v| v.fork()));
        Context(Rc::new(ContextInner {
            id: next_id(),
            group: self.0.group.clone(),
            inbound: self.0.inbound.clone(),
            flow: self.0.flow.clone(),
            vars: RefCell::new(vars),
            vars_of: None,
        }))
    }

    /// Like `fork`, with backpressure of its own: for a request that must not be
    /// paused through its client while it waits its turn to answer.
    pub fn fork_with_flow(&self, flow: Rc<Backpressure>) -> Self {
        let vars = self.with_vars(|v| v.as_ref().map(|v| v.fork()));
        Context(Rc::new(ContextInner {
            id: next_id(),
            group: self.0.group.clone(),
            inbound: self.0.inbound.clone(),
            flow: Some(flow),
            vars: RefCell::new(vars),
            vars_of: None,
        }))
    }

    /// The same stream state (variables, connection, group) with backpressure of
    /// its own: for an upstream session several client streams share, which must
    /// not pause or be paused through whichever client opened it.
    pub fn with_own_flow(&self, flow: Rc<Backpressure>) -> Self {
        Context(Rc::new(ContextInner {
            id: next_id(),
            group: self.0.group.clone(),
            inbound: self.0.inbound.clone(),
            flow: Some(flow),
            vars: RefCell::default(),
            vars_of: Some(self.0.vars_of.clone().unwrap_or_else(|| self.clone())),
        }))
    }

    /// A number unique to this context on its worker.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The client connection, for pipelines that serve one.
    pub fn inbound(&self) -> Option<&Rc<Inbound>> {
        self.0.inbound.as_ref()
    }

    /// Runs `f` on the script values (created by the host on first use).
    pub fn with_vars<R>(&self, f: impl FnOnce(&mut Option<Box<dyn ContextVars>>) -> R) -> R {
        match &self.0.vars_of {
            Some(owner) => owner.with_vars(f),
            None => f(&mut self.0.vars.borrow_mut()),
        }
    }
}

impl Context {
    /// Says that script code ran in this context, so script state may have
    /// changed: the filters of the group waiting on it are woken (soon, from the
    /// event loop, once however many touches came before).
    pub fn touched(&self) {
        self.0.group.touched();
    }

    /// Wakes `waiter` once, the next time the group is touched.
    pub fn wake_on_touch(&self, waiter: crate::pipeline::FilterHandle) {
        self.0.group.waiters.borrow_mut().push(waiter);
    }

    /// Runs `f` without its script calls counting as touches (a `wait`
    /// condition must not wake itself).
    pub fn quietly<R>(&self, f: impl FnOnce() -> R) -> R {
        let was = self.0.group.quiet.replace(true);
        let r = f();
        self.0.group.quiet.set(was);
        r
    }
}

/// A context that does not keep it alive.
#[derive(Clone)]
pub struct WeakContext(std::rc::Weak<ContextInner>);

impl WeakContext {
    /// The context, if it still exists.
    pub fn upgrade(&self) -> Option<Context> {
        self.0.upgrade().map(Context)
    }
}

impl Context {
    /// A handle that does not keep the context alive.
    pub fn downgrade(&self) -> WeakContext {
        WeakContext(Rc::downgrade(&self.0))
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Context#{}", self.0.id)
    }
}
