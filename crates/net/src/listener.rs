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
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Binds `addr` with SO_REUSEADDR (and SO_REUSEPORT when several workers share it).
pub fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
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
}

impl PortConfig {
    /// A port serving `layout` (of `generation`) with `options`.
    pub fn new(layout: Rc<PipelineLayout>, generation: Rc<Generation>, options: ListenOptions) -> Rc<PortConfig> {
        let limit = limit_of(&options);
        Rc::new(PortConfig {
            layout: RefCell::new(layout),
            generation: RefCell::new(generation),
            options: RefCell::new(Rc::new(options)),
            limit: RefCell::new(limit),
            stop: watch::channel(false).0,
            next_id: Cell::new(next_inbound_id()),
        })
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
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let local = stream.local_addr().unwrap_or(remote);
        let id = port.next_id.replace(next_inbound_id());
        let inbound = Inbound::new(id, local, remote);
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
