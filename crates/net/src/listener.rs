//! Binding a port and accepting its connections. `maxConnections` pauses accepting
//! (clients wait in the backlog) instead of refusing them. A port's layout and
//! options can be swapped by a reload while its socket stays open.

use crate::inbound::{self, Connections};
use proxy_core::{Generation, Inbound, ListenOptions, PipelineLayout};
use socket2::{Domain, Protocol, Socket, Type};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Binds `addr` with SO_REUSEADDR (and SO_REUSEPORT when several workers share it).
pub fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = bound(addr, Type::STREAM, Protocol::TCP, reuse_port)?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// A non-blocking socket of `kind` bound to `addr`, with SO_REUSEADDR, and
/// SO_REUSEPORT when several workers share it. An IPv6 one takes IPv4 too; `[::]`
/// (what a bare port number means) falls back to `0.0.0.0` on a host without IPv6.
pub fn bound(addr: SocketAddr, kind: Type, protocol: Protocol, reuse_port: bool) -> std::io::Result<Socket> {
    match bound_exactly(addr, kind, protocol, reuse_port) {
        Err(e) if addr.ip() == std::net::Ipv6Addr::UNSPECIFIED && no_ipv6(&e) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| tracing::info!("no IPv6 on this host ({e}): ports given by number listen on IPv4 only"));
            let v4 = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addr.port());
            bound_exactly(v4, kind, protocol, reuse_port)
        }
        other => other,
    }
}

/// Whether `e` says the host has no IPv6 (the protocol is off, or `::` is not
/// an address here).
fn no_ipv6(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT))
}

fn bound_exactly(addr: SocketAddr, kind: Type, protocol: Protocol, reuse_port: bool) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, Some(protocol))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

thread_local! {
    static NEXT_INBOUND: Cell<u64> = const { Cell::new(1) };
}

/// The next connection number of this worker. A port takes one when it starts
/// listening and another each time it accepts, and gives the one it holds to the
/// connection it accepts: the numbers `__inbound.id` shows are Pipy's.
fn next_inbound_id() -> u64 {
    NEXT_INBOUND.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}

/// A listening port's configuration: the layout and options new connections get.
/// A reload swaps them in place, so the socket stays open across reloads.
pub struct PortConfig {
    layout: RefCell<Rc<PipelineLayout>>,
    generation: RefCell<Rc<Generation>>,
    options: RefCell<Rc<ListenOptions>>,
    limit: RefCell<Option<Arc<Semaphore>>>,
    stop: watch::Sender<bool>,
    /// The number the next accepted connection gets.
    next_id: Cell<u64>,
    /// The address, as logs name it.
    addr: String,
}

impl PortConfig {
    /// A port at `addr` serving `layout` (of `generation`) with `options`.
    pub fn new(
        addr: SocketAddr,
        layout: Rc<PipelineLayout>,
        generation: Rc<Generation>,
        options: ListenOptions,
    ) -> Rc<PortConfig> {
        let limit = limit_of(&options);
        Rc::new(PortConfig {
            layout: RefCell::new(layout),
            generation: RefCell::new(generation),
            options: RefCell::new(Rc::new(options)),
            limit: RefCell::new(limit),
            stop: watch::channel(false).0,
            next_id: Cell::new(next_inbound_id()),
            addr: addr.to_string(),
        })
    }

    /// The address, as logs name it.
    pub fn addr_text(&self) -> &str {
        &self.addr
    }

    /// The layout, generation and options a new connection gets now.
    pub fn current(&self) -> (Rc<PipelineLayout>, Rc<Generation>, Rc<ListenOptions>) {
        (self.layout.borrow().clone(), self.generation.borrow().clone(), self.options.borrow().clone())
    }

    /// The number of the next connection (or UDP peer), taking one for the one after.
    pub fn take_id(&self) -> u64 {
        self.next_id.replace(next_inbound_id())
    }

    /// Changes to true when the port is stopped.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Serves new connections with `layout` (of `generation`) and `options` from now on.
    pub fn update(&self, layout: Rc<PipelineLayout>, generation: Rc<Generation>, options: ListenOptions) {
        if options.max_connections != self.options.borrow().max_connections {
            *self.limit.borrow_mut() = limit_of(&options);
        }
        *self.layout.borrow_mut() = layout;
        *self.generation.borrow_mut() = generation;
        *self.options.borrow_mut() = Rc::new(options);
    }

    /// Closes the listening socket; open connections go on.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// Failed accepts: how long to pause after each, and log lines kept to one per
/// `LOG_EVERY` (with the count of failures meanwhile), so that running out of
/// file descriptors neither spins a core nor floods the log.
#[derive(Default)]
struct AcceptFailures {
    pause: Duration,
    since_logged: u64,
    logged_at: Option<tokio::time::Instant>,
}

const LOG_EVERY: Duration = Duration::from_secs(10);
const MAX_PAUSE: Duration = Duration::from_secs(1);

impl AcceptFailures {
    fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }

    /// Notes a failure; returns how long to wait before accepting again.
    fn failed(&mut self, e: &std::io::Error, addr: &str) -> Option<Duration> {
        let resources = matches!(
            e.raw_os_error(),
            Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
        );
        self.since_logged += 1;
        let now = tokio::time::Instant::now();
        if self.logged_at.is_none_or(|t| now.duration_since(t) >= LOG_EVERY) {
            let also = self.since_logged - 1;
            if resources {
                tracing::warn!(
                    error = %e,
                    "[listener] cannot accept on {addr} ({also} more failures since the last line); \
                     pausing accepts: raise the open-file limit (ulimit -n) or lower maxConnections"
                );
            } else {
                tracing::warn!(error = %e, "[listener] accept failed on {addr} ({also} more failures since the last line)");
            }
            self.logged_at = Some(now);
            self.since_logged = 0;
        }
        if !resources {
            return None;
        }
        self.pause = (self.pause * 2).clamp(Duration::from_millis(10), MAX_PAUSE);
        Some(self.pause)
    }
}

/// The error numbers of running out of resources (Linux values; other systems
/// only lose the pause, not correctness).
mod libc_errno {
    pub const EMFILE: i32 = 24;
    pub const ENFILE: i32 = 23;
    pub const ENOBUFS: i32 = 105;
    pub const ENOMEM: i32 = 12;
}

fn limit_of(options: &ListenOptions) -> Option<Arc<Semaphore>> {
    options.max_connections.map(|n| Arc::new(Semaphore::new(n.max(1))))
}

/// Accepts connections until `drain` turns true or the port is stopped, starting
/// a pipeline of the port's current layout for each.
pub async fn accept_loop(
    listener: TcpListener,
    port: Rc<PortConfig>,
    connections: Rc<Connections>,
    mut drain: watch::Receiver<bool>,
) {
    let mut stop = port.stop.subscribe();
    let mut failures = AcceptFailures::default();
    loop {
        let limit = port.limit.borrow().clone();
        let permit = match limit {
            Some(sem) => tokio::select! {
                p = sem.acquire_owned() => match p { Ok(p) => Some(p), Err(_) => return },
                _ = drain.changed() => return,
                _ = stop.changed() => return,
            },
            None => None,
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = drain.changed() => return,
            _ = stop.changed() => return,
        };
        let (stream, remote) = match accepted {
            Ok(x) => {
                failures.succeeded();
                x
            }
            Err(e) => {
                // Out of file descriptors or memory: accepting again at once would
                // fail again at once, so wait (the backlog keeps the clients).
                if let Some(pause) = failures.failed(&e, port.addr_text()) {
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = drain.changed() => return,
                        _ = stop.changed() => return,
                    }
                }
                continue;
            }
        };
        let local = stream.local_addr().unwrap_or(remote);
        let id = port.take_id();
        let inbound = std::rc::Rc::new(Inbound::new(id, local, remote));
        let layout = port.layout.borrow().clone();
        let generation = port.generation.borrow().clone();
        let options = port.options.borrow().clone();
        let connections = connections.clone();
        tokio::task::spawn_local(async move {
            inbound::serve(stream, inbound, layout, options, connections).await;
            // The connection's pipelines are gone: its version may retire now.
            drop(generation);
            drop(permit);
        });
    }
}
