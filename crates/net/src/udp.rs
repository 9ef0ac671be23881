//! UDP both ways. A port listening with `protocol: 'udp'` runs one pipeline
//! per peer address: each datagram from the peer is a Data event into it, each
//! Data event it outputs is a datagram back, and its StreamEnd forgets the
//! peer; a peer quiet for `idleTimeout` gets StreamEnd (IdleTimeout). How many
//! peers are served at once is bounded (`maxConnections`, else `MAX_PEERS`), and
//! so are datagram size and the send queue: what is over a bound is dropped and
//! counted, as UDP may. `connect` with `protocol: 'udp'` is the other side: a
//! connected socket of its own, a datagram per Data event, a Data event per
//! datagram back.

use crate::listener::PortConfig;
use bytes::Bytes;
use proxy_core::{Context, Data, Event, FilterHandle, Inbound, Inbox, Pipeline, Sink, StreamError};
use socket2::{Protocol, Type};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Peers a UDP port serves at once when `maxConnections` does not say.
pub const MAX_PEERS: usize = 65536;

/// Bytes of datagrams waiting to be sent, per socket; more are dropped.
const MAX_QUEUED: usize = 4 << 20;

/// The largest datagram read (the most IPv4 or IPv6 can carry).
const RECEIVE_SIZE: usize = 65536;

/// Binds a UDP socket at `addr` (with SO_REUSEPORT when several workers share
/// it: the kernel then keeps each peer on one worker).
pub fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<UdpSocket> {
    let socket = crate::listener::bound(addr, Type::DGRAM, Protocol::UDP, reuse_port)?;
    UdpSocket::from_std(socket.into())
}

/// Counts what was dropped and says so in the log at most every 10 s.
struct Drops {
    what: &'static str,
    count: u64,
    logged_at: Option<Instant>,
}

impl Drops {
    fn new(what: &'static str) -> Self {
        Drops { what, count: 0, logged_at: None }
    }

    fn one(&mut self, port: &str) {
        self.count += 1;
        let now = Instant::now();
        if self.logged_at.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10)) {
            tracing::warn!("[udp] port {port}: {} ({} so far)", self.what, self.count);
            self.logged_at = Some(now);
        }
    }
}

/// Datagrams waiting to be sent, bounded by `MAX_QUEUED`.
#[derive(Default)]
struct SendQueue {
    queue: RefCell<VecDeque<(Bytes, Option<SocketAddr>)>>,
    bytes: Cell<usize>,
    dropped: Cell<u64>,
    ready: Notify,
}

impl SendQueue {
    fn push(&self, data: Data, to: Option<SocketAddr>) {
        if data.is_empty() {
            return;
        }
        let bytes = data.to_bytes();
        if self.bytes.get() + bytes.len() > MAX_QUEUED {
            self.dropped.set(self.dropped.get() + 1);
            return;
        }
        self.bytes.set(self.bytes.get() + bytes.len());
        self.queue.borrow_mut().push_back((bytes, to));
        self.ready.notify_one();
    }

    fn pop(&self) -> Option<(Bytes, Option<SocketAddr>)> {
        let next = self.queue.borrow_mut().pop_front();
        if let Some((b, _)) = &next {
            self.bytes.set(self.bytes.get() - b.len());
        }
        next
    }
}

/// One peer of a listening UDP port.
struct Peer {
    pipeline: Pipeline,
    inbound: Rc<Inbound>,
    last: Cell<Instant>,
}

/// What a port's pipelines tell its loop.
#[derive(Default)]
struct PortShared {
    sends: SendQueue,
    /// Peers whose pipeline ended.
    ended: RefCell<Vec<SocketAddr>>,
}

/// Serves a UDP port until the worker drains or the port is stopped.
pub async fn serve_port(socket: UdpSocket, port: Rc<PortConfig>, mut drain: watch::Receiver<bool>) {
    let local = socket.local_addr().ok();
    let shared = Rc::new(PortShared::default());
    let mut peers: HashMap<SocketAddr, (Peer, Rc<proxy_core::Generation>)> = HashMap::new();
    let mut buf = vec![0u8; RECEIVE_SIZE];
    let mut too_long = Drops::new("datagrams over maxDatagramSize dropped");
    let mut too_many = Drops::new("datagrams from peers past maxConnections dropped");
    let mut queue_full = Drops::new("datagrams dropped because the send queue is full");
    let mut stop = port.stop_signal();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, from) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        // An ICMP error for an earlier send, as a rule: not the socket's end.
                        tracing::debug!(error = %e, "[udp] receive failed on {}", port.addr_text());
                        continue;
                    }
                };
                // A peer whose pipeline ended meanwhile (a timer, an upstream's
                // end) is forgotten first: this datagram starts a new one.
                forget_ended(&shared, &mut peers);
                let (layout, generation, options) = port.current();
                if n > options.max_datagram_size {
                    too_long.one(port.addr_text());
                    continue;
                }
                if !peers.contains_key(&from) {
                    let limit = options.max_connections.unwrap_or(MAX_PEERS).max(1);
                    if peers.len() >= limit {
                        too_many.one(port.addr_text());
                        continue;
                    }
                    let inbound = Rc::new(Inbound::new(port.take_id(), local.unwrap_or(from), from));
                    let sink = {
                        let shared = shared.clone();
                        Sink::Func(Box::new(move |ev| match ev {
                            Event::Data(d) => shared.sends.push(d, Some(from)),
                            Event::StreamEnd(_) => shared.ended.borrow_mut().push(from),
                            _ => {}
                        }))
                    };
                    tracing::debug!(peer = %from, "[udp] new peer on {}", port.addr_text());
                    let pipeline = Pipeline::new(&layout, Context::new(Some(inbound.clone())), sink);
                    peers.insert(from, (Peer { pipeline, inbound, last: Cell::new(Instant::now()) }, generation));
                }
                if let Some((peer, _)) = peers.get(&from) {
                    peer.last.set(Instant::now());
                    peer.pipeline.input(Event::Data(Data::from(buf[..n].to_vec())));
                }
            }
            _ = shared.sends.ready.notified() => {
                while let Some((bytes, to)) = shared.sends.pop() {
                    let Some(to) = to else { continue };
                    if let Some((peer, _)) = peers.get(&to) {
                        peer.last.set(Instant::now());
                    }
                    if let Err(e) = socket.send_to(&bytes, to).await {
                        tracing::debug!(peer = %to, error = %e, "[udp] send failed");
                    }
                }
            }
            _ = tick.tick(), if !peers.is_empty() => {
                let now = Instant::now();
                let (_, _, options) = port.current();
                let quiet: Vec<SocketAddr> = peers
                    .iter()
                    .filter(|(_, (p, _))| now.duration_since(p.last.get()) >= options.idle_timeout)
                    .map(|(a, _)| *a)
                    .collect();
                for addr in quiet {
                    if let Some((peer, _)) = peers.remove(&addr) {
                        tracing::debug!(peer = %addr, "[udp] peer idle; its stream ends");
                        peer.inbound.closed.set(true);
                        peer.pipeline.input(Event::error(StreamError::IdleTimeout));
                    }
                }
            }
            _ = drain.changed() => break,
            _ = stop.changed() => break,
        }
        for _ in 0..shared.sends.dropped.replace(0) {
            queue_full.one(port.addr_text());
        }
        forget_ended(&shared, &mut peers);
    }
    for (_, (peer, _)) in peers.drain() {
        peer.inbound.closed.set(true);
        peer.pipeline.input(Event::end());
    }
}

/// Forgets the peers whose pipelines have ended.
fn forget_ended(shared: &PortShared, peers: &mut HashMap<SocketAddr, (Peer, Rc<proxy_core::Generation>)>) {
    let ended = std::mem::take(&mut *shared.ended.borrow_mut());
    for addr in ended {
        if let Some((peer, _)) = peers.remove(&addr) {
            peer.inbound.closed.set(true);
        }
    }
}

/// How `connect(target, { protocol: 'udp' })` keeps its socket.
#[derive(Debug, Clone)]
pub struct UdpOptions {
    /// Ends the stream when nothing moves either way for this long.
    pub idle_timeout: Option<Duration>,
}

/// What an outbound UDP socket shares with the filter that started it.
#[derive(Default)]
pub struct UdpLink {
    sends: SendQueue,
    ended: Cell<bool>,
    /// What came back, and the end, for the filter.
    pub inbox: Inbox,
}

impl UdpLink {
    /// Sends `data` as one datagram.
    pub fn send(&self, data: Data) {
        self.sends.push(data, None);
    }

    /// Sends what is queued, then closes.
    pub fn end(&self) {
        self.ended.set(true);
        self.sends.ready.notify_one();
    }
}

/// A running outbound UDP socket; dropping it closes it.
pub struct UdpOutbound {
    /// What it shares with the filter.
    pub link: Rc<UdpLink>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for UdpOutbound {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UdpOutbound {
    /// Resolves `target` and opens a socket connected to it; `handle` is woken
    /// when the inbox has events.
    pub fn start(target: String, options: Rc<UdpOptions>, handle: FilterHandle) -> UdpOutbound {
        let link = Rc::new(UdpLink::default());
        let task = tokio::task::spawn_local(run(target, options, link.clone(), handle));
        UdpOutbound { link, task }
    }
}

async fn open(target: &str) -> Result<UdpSocket, StreamError> {
    let addr = match tokio::net::lookup_host(target).await.map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        _ => {
            tracing::debug!(target, "connect: cannot resolve");
            return Err(StreamError::CannotResolve);
        }
    };
    let any: SocketAddr = if addr.is_ipv6() { "[::]:0".parse().unwrap() } else { "0.0.0.0:0".parse().unwrap() };
    let socket = UdpSocket::bind(any).await.map_err(|_| StreamError::ConnectionRefused)?;
    socket.connect(addr).await.map_err(|_| StreamError::ConnectionRefused)?;
    Ok(socket)
}

async fn run(target: String, options: Rc<UdpOptions>, link: Rc<UdpLink>, handle: FilterHandle) {
    let result = match open(&target).await {
        Ok(socket) => exchange(&socket, &options, &link, &handle).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        tracing::debug!(target, error = %e, "connect (udp): ended");
    }
    link.inbox.push(Event::StreamEnd(result.err()));
    handle.wake();
}

async fn exchange(
    socket: &UdpSocket,
    options: &UdpOptions,
    link: &UdpLink,
    handle: &FilterHandle,
) -> Result<(), StreamError> {
    let mut buf = vec![0u8; RECEIVE_SIZE];
    let idle = options.idle_timeout;
    let mut last = Instant::now();
    loop {
        let deadline = idle.map(|t| last + t);
        tokio::select! {
            r = socket.recv(&mut buf) => match r {
                Ok(n) => {
                    last = Instant::now();
                    link.inbox.push(Event::Data(Data::from(buf[..n].to_vec())));
                    handle.wake();
                }
                // An ICMP port unreachable for an earlier datagram.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(StreamError::ConnectionRefused),
                Err(_) => return Err(StreamError::ReadError),
            },
            _ = link.sends.ready.notified() => {
                while let Some((bytes, _)) = link.sends.pop() {
                    last = Instant::now();
                    match socket.send(&bytes).await {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            return Err(StreamError::ConnectionRefused)
                        }
                        Err(_) => return Err(StreamError::WriteError),
                    }
                }
                if link.ended.get() {
                    return Ok(());
                }
            }
            _ = sleep_until(deadline) => return Err(StreamError::IdleTimeout),
        }
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
