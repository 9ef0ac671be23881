//! `connect(target | fn, options?)`: an outbound TCP connection. Data in is written
//! to the peer; bytes read from the peer are output as Data. StreamEnd in closes
//! the write side once everything is written; the peer closing ends the output with
//! StreamEnd. Message events are ignored. The target (`host:port`, `[v6]:port`) is
//! resolved without blocking the worker. Failures end the output with the error:
//! `CannotResolve`, `ConnectionRefused`, `ConnectionTimeout`, `ReadTimeout`,
//! `WriteTimeout`, `IdleTimeout`, `ConnectionReset`.

use crate::io::{write_queued, Reader, Signal, Watchdog};
use bytes::Bytes;
use proxy_core::args::{ArgError, ArgResult, Args, Param};
use proxy_core::filters::FilterDef;
use proxy_core::flow::{Backpressure, Gauge};
use proxy_core::options::{OptionDef, Ty};
use proxy_core::pipeline::{report_script_error, FilterHandle, Inbox};
use proxy_core::{Arg, Cx, Event, Filter, FilterSpec, Returned, StreamError, Want};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Options of `connect`.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    retry_count: i64,
    retry_delay: Duration,
    buffer_limit: Option<usize>,
}

/// `connect` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "connect",
    params: "target: string | (() => string), options?: ConnectOptions",
    doc: "Opens a TCP connection to the target and exchanges the stream's Data with it.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[
    OptionDef::duration("connectTimeout", "How long a connection attempt may take; then ConnectionTimeout.")
        .absent("no limit"),
    OptionDef::duration("readTimeout", "Closes the connection when nothing arrives for this long (ReadTimeout).")
        .absent("no limit"),
    OptionDef::duration(
        "writeTimeout",
        "Closes the connection when a write makes no progress for this long (WriteTimeout).",
    )
    .absent("no limit"),
    OptionDef::duration("idleTimeout", "Closes the connection when nothing moves either way for this long.")
        .default_duration(Duration::from_secs(60)),
    OptionDef::int("retryCount", "Further attempts after a failed connect; -1 retries for ever.").default_int(0),
    OptionDef::duration("retryDelay", "Pause between attempts.").default_duration(Duration::ZERO),
    OptionDef::size(
        "bufferLimit",
        "Bytes waiting to be written to the peer; more is dropped with an error in the log.",
    )
    .absent("no limit"),
    OptionDef::string("protocol", "The transport.").one_of(&["tcp"]).default_str("tcp"),
    OptionDef::size("congestionLimit", "Queued bytes past which the writer pushes back.")
        .ignored("backpressure here follows the socket's own writability"),
    OptionDef::bool("keepAlive", "TCP keep-alive probes.")
        .ignored("keep-alive probes are not sent; idleTimeout closes a dead connection"),
    OptionDef::bool("noDelay", "TCP_NODELAY.").ignored("it is always on"),
    OptionDef::new("bind", &[Ty::Str], "The local address to connect from.").refused(),
    OptionDef::new("onState", &[Ty::Function], "Called as the connection changes state.").refused(),
    OptionDef::new("netlinkFamily", &[Ty::Int], "Netlink family, with protocol 'netlink'.").refused(),
];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let target: Param<String> = if args.is_function(0) {
        Param::Dynamic(args.callback(0)?.expect("checked"))
    } else {
        match args.string(0)? {
            Some(t) => Param::Static(t),
            None => return Err(ArgError(format!("{}: a target like 'host:port' is required", def.name))),
        }
    };
    let r = def.options_at(args, 1)?;
    let options = Rc::new(ConnectOptions {
        connect_timeout: r.opt_duration("connectTimeout")?,
        read_timeout: r.opt_duration("readTimeout")?,
        write_timeout: r.opt_duration("writeTimeout")?,
        idle_timeout: Some(r.duration("idleTimeout")?),
        retry_count: r.int("retryCount")?,
        retry_delay: r.duration("retryDelay")?,
        buffer_limit: r.opt_size("bufferLimit")?,
    });
    let target = Rc::new(target);
    Ok(FilterSpec::plain(def.name, move || Connect { target: target.clone(), options: options.clone(), conn: None }))
}

/// State shared by the filter and its socket task.
#[derive(Default)]
struct Conn {
    /// Bytes waiting to be written to the peer.
    outbox: RefCell<VecDeque<Bytes>>,
    out_size: Cell<usize>,
    /// No more input: close the write side once the outbox is empty.
    out_ended: Cell<bool>,
    /// Wakes the socket task.
    signal: Signal,
    /// Events for the filter to output.
    inbox: Inbox,
}

struct Running {
    conn: Rc<Conn>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `connect` filter.
pub struct Connect {
    target: Rc<Param<String>>,
    options: Rc<ConnectOptions>,
    conn: Option<Running>,
}

impl Connect {
    fn start(&mut self, cx: &mut Cx<'_>) -> Option<Rc<Conn>> {
        let target = match &*self.target {
            Param::Static(t) => t.clone(),
            Param::Dynamic(cb) => match cb.call(cx.context(), Arg::None, Want::Str) {
                Ok(Returned::Str(Some(t))) => t,
                Ok(_) => String::new(),
                Err(err) => {
                    report_script_error(&err, "connect");
                    cx.output(Event::error(StreamError::RuntimeError));
                    return None;
                }
            },
        };
        let conn = Rc::new(Conn::default());
        let flow = cx.context().flow().cloned();
        let task = tokio::task::spawn_local(run(target, self.options.clone(), conn.clone(), cx.handle(), flow));
        self.conn = Some(Running { conn: conn.clone(), task });
        Some(conn)
    }
}

impl Filter for Connect {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        let conn = match &self.conn {
            Some(r) => r.conn.clone(),
            None => match ev {
                // Nothing to send and nothing sent: end without connecting.
                Event::StreamEnd(_) => return cx.output(ev),
                _ => match self.start(cx) {
                    Some(c) => c,
                    None => return,
                },
            },
        };
        match ev {
            Event::Data(d) => {
                let size = conn.out_size.get() + d.len();
                if self.options.buffer_limit.is_some_and(|l| size > l) {
                    tracing::error!(size, "connect: outbound buffer over bufferLimit; data dropped");
                    return;
                }
                conn.out_size.set(size);
                conn.outbox.borrow_mut().extend(d.into_chunks());
                conn.signal.raise();
            }
            Event::StreamEnd(_) => {
                conn.out_ended.set(true);
                conn.signal.raise();
            }
            _ => {}
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let Some(r) = &self.conn else { return };
        r.conn.clone().inbox.drain(cx);
    }
}

fn classify(e: &std::io::Error) -> StreamError {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => StreamError::ConnectionRefused,
        ConnectionReset => StreamError::ConnectionReset,
        ConnectionAborted => StreamError::ConnectionAborted,
        TimedOut => StreamError::ConnectionTimeout,
        _ => StreamError::ReadError,
    }
}

async fn open(target: &str, options: &ConnectOptions) -> Result<TcpStream, StreamError> {
    let addrs: Vec<_> = match tokio::net::lookup_host(target).await {
        Ok(a) => a.collect(),
        Err(e) => {
            tracing::debug!(target, error = %e, "connect: cannot resolve");
            return Err(StreamError::CannotResolve);
        }
    };
    let Some(addr) = addrs.first().copied() else { return Err(StreamError::CannotResolve) };
    let attempt = TcpStream::connect(addr);
    let result = match options.connect_timeout {
        Some(t) => match tokio::time::timeout(t, attempt).await {
            Ok(r) => r,
            Err(_) => return Err(StreamError::ConnectionTimeout),
        },
        None => attempt.await,
    };
    result.map_err(|e| {
        tracing::debug!(target, error = %e, "connect: failed");
        classify(&e)
    })
}

/// Bytes waiting for a slow server beyond which the client side stops reading.
const OUTBOX_HIGH: usize = 1 << 20;

async fn run(
    target: String,
    options: Rc<ConnectOptions>,
    conn: Rc<Conn>,
    handle: FilterHandle,
    flow: Option<Rc<Backpressure>>,
) {
    let mut slow_server = Gauge::default();
    let result = pump(&target, &options, &conn, &handle, flow.as_deref(), &mut slow_server).await;
    if let Some(f) = &flow {
        slow_server.clear(&f.toward_server);
    }
    conn.inbox.push(Event::StreamEnd(result.err()));
    handle.wake();
}

async fn pump(
    target: &str,
    options: &ConnectOptions,
    conn: &Conn,
    handle: &FilterHandle,
    flow: Option<&Backpressure>,
    slow_server: &mut Gauge,
) -> Result<(), StreamError> {
    let mut tries = 0i64;
    let stream = loop {
        match open(target, options).await {
            Ok(s) => break s,
            Err(e) => {
                if options.retry_count >= 0 && tries >= options.retry_count {
                    tracing::warn!(target, error = %e, "connect: giving up");
                    return Err(e);
                }
                tries += 1;
                tokio::time::sleep(options.retry_delay).await;
            }
        }
    };
    let _ = stream.set_nodelay(true);
    tracing::debug!(target, "connect: connected");
    let (mut rd, mut wr) = stream.into_split();
    let mut reader = Reader::default();
    let mut watchdog = Watchdog::new(options.idle_timeout, options.read_timeout, options.write_timeout);
    let timer = tokio::time::sleep(watchdog.period);
    tokio::pin!(timer);
    let (mut reads, mut writes) = (0u64, 0u64);
    let mut write_closed = false;
    loop {
        let written = {
            let mut outbox = conn.outbox.borrow_mut();
            let mut size = conn.out_size.get();
            let r = write_queued(&wr, &mut outbox, &mut size);
            conn.out_size.set(size);
            r
        };
        match written {
            Ok(0) => {}
            Ok(_) => writes += 1,
            Err(e) => return Err(classify(&e)),
        }
        let pending = conn.out_size.get();
        if let Some(f) = flow {
            slow_server.update(&f.toward_server, pending, OUTBOX_HIGH);
        }
        let client_behind = flow.is_some_and(|f| f.toward_client.is_on());
        if pending == 0 && conn.out_ended.get() && !write_closed {
            write_closed = true;
            let _ = wr.shutdown().await;
        }
        tokio::select! {
            biased;
            r = reader.read(&mut rd), if !client_behind => match r {
                Ok(None) => return Ok(()),
                Ok(Some(bytes)) => {
                    reads += 1;
                    conn.inbox.push(Event::Data(bytes.into()));
                    handle.wake();
                }
                Err(e) => return Err(classify(&e)),
            },
            r = wr.writable(), if pending > 0 => if let Err(e) = r { return Err(classify(&e)) },
            _ = conn.signal.raised() => {}
            _ = async { if let Some(f) = flow { f.toward_client.cleared().await } }, if client_behind => {}
            _ = &mut timer => {
                // A server that is waiting for a slow client is not timing out.
                if let Some(err) = watchdog.check(reads, writes, !client_behind, pending > 0, false) {
                    tracing::debug!(target, error = %err, "connect: timed out");
                    return Err(err);
                }
                timer.as_mut().reset(Instant::now() + watchdog.period);
            }
        }
    }
}
