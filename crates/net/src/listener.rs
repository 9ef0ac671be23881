//! Binding a port and accepting its connections. `maxConnections` pauses accepting
//! (clients wait in the backlog) instead of refusing them.

use crate::inbound::{self, Connections};
use proxy_core::{Inbound, ListenOptions, PipelineLayout};
use socket2::{Domain, Protocol, Socket, Type};
use std::cell::Cell;
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

/// Accepts connections until `drain` turns true, starting a pipeline for each.
pub async fn accept_loop(
    listener: TcpListener,
    layout: Rc<PipelineLayout>,
    options: Rc<ListenOptions>,
    connections: Rc<Connections>,
    mut drain: watch::Receiver<bool>,
) {
    let limit = options.max_connections.map(|n| Arc::new(Semaphore::new(n.max(1))));
    loop {
        let permit = match &limit {
            Some(sem) => tokio::select! {
                p = sem.clone().acquire_owned() => match p { Ok(p) => Some(p), Err(_) => return },
                _ = drain.changed() => return,
            },
            None => None,
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = drain.changed() => return,
        };
        let (stream, remote) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let local = stream.local_addr().unwrap_or(remote);
        let id = NEXT_INBOUND.with(|n| {
            let id = n.get();
            n.set(id + 1);
            id
        });
        let inbound = Inbound { id, local, remote, closed: Default::default() };
        let layout = layout.clone();
        let options = options.clone();
        let connections = connections.clone();
        tokio::task::spawn_local(async move {
            inbound::serve(stream, inbound, layout, options, connections).await;
            drop(permit);
        });
    }
}
