//! `Program`: what a loaded script asks the worker to run (ports and their layouts).

use crate::args::ArgResult;
use crate::options::{OptionDef, OptionReader};
use crate::pipeline::{LayoutSlot, PipelineLayout};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// The transport a port listens on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP: a pipeline per connection.
    #[default]
    Tcp,
    /// UDP: a pipeline per peer address, a Data event per datagram.
    Udp,
}

impl Transport {
    /// `TCP` or `UDP`, as logs say it.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
        }
    }
}

/// Options of a listening port (`listen(port, {...})`).
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// TCP or UDP.
    pub protocol: Transport,
    /// UDP: datagrams longer than this are dropped (and counted).
    pub max_datagram_size: usize,
    /// Accept no more than this many connections at once (further clients wait).
    pub max_connections: Option<usize>,
    /// Close a connection when nothing arrives for this long.
    pub read_timeout: Option<Duration>,
    /// Close a connection when a write makes no progress for this long.
    pub write_timeout: Option<Duration>,
    /// Close a connection when nothing moves either way for this long.
    pub idle_timeout: Duration,
    /// Stop reading from the client while this many bytes wait to be written to it.
    pub buffer_limit: usize,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            protocol: Transport::Tcp,
            max_datagram_size: DEFAULT_MAX_DATAGRAM,
            max_connections: None,
            read_timeout: None,
            write_timeout: None,
            idle_timeout: Duration::from_secs(60),
            buffer_limit: 1 << 20,
        }
    }
}

/// The longest UDP datagram a port takes unless told otherwise.
pub const DEFAULT_MAX_DATAGRAM: usize = 16 * 1024;

/// The options of `listen(port, options)`, as scripts give them.
pub const LISTEN_OPTIONS: &[OptionDef] = &[
    OptionDef::int(
        "maxConnections",
        "Connections served at once; further clients wait to be accepted. UDP: peers served at once; datagrams from further peers are dropped.",
    )
    .absent("no limit for TCP; 65536 peers for UDP"),
    OptionDef::duration("readTimeout", "Closes a connection when nothing arrives for this long.").absent("no limit"),
    OptionDef::duration("writeTimeout", "Closes a connection when a write makes no progress for this long.")
        .absent("no limit"),
    OptionDef::duration("idleTimeout", "Closes a connection when nothing moves either way for this long.")
        .default_duration(Duration::from_secs(60)),
    OptionDef::size("bufferLimit", "Reading from the client stops while this many bytes wait to be written to it.")
        .default_size(1 << 20),
    OptionDef::string("protocol", "The transport: 'tcp', or 'udp' (a pipeline per peer address, a Data event per datagram).")
        .one_of(&["tcp", "udp"])
        .default_str("tcp"),
    OptionDef::size("maxDatagramSize", "UDP: longer datagrams are dropped, and counted in the log.")
        .default_size(DEFAULT_MAX_DATAGRAM),
    OptionDef::size("congestionLimit", "Queued bytes past which the writer pushes back.")
        .ignored("bufferLimit is the bound here"),
    OptionDef::bool("keepAlive", "TCP keep-alive probes.")
        .ignored("keep-alive probes are not sent; idleTimeout closes a dead connection"),
    OptionDef::bool("noDelay", "TCP_NODELAY.").ignored("it is always on"),
    OptionDef::bool("peerStats", "Per-peer statistics.").ignored("no per-peer statistics are kept"),
    OptionDef::int("maxPortConnections", "Connections on the port at once, across workers.").refused(),
    OptionDef::bool("transparent", "Accepts connections to any address (IP_TRANSPARENT).").refused(),
    OptionDef::bool("masquerade", "Connects upstream from the client's address.").refused(),
];

impl ListenOptions {
    /// Reads the options of `listen` (checked against `LISTEN_OPTIONS`).
    pub fn read(r: &OptionReader) -> ArgResult<ListenOptions> {
        let protocol = match r.opt_string("protocol")?.as_deref() {
            Some("udp") => Transport::Udp,
            _ => Transport::Tcp,
        };
        Ok(ListenOptions {
            protocol,
            max_datagram_size: r.size("maxDatagramSize")?.clamp(1, 65535),
            max_connections: r.opt_int("maxConnections")?.and_then(|n| usize::try_from(n).ok()),
            read_timeout: r.opt_duration("readTimeout")?,
            write_timeout: r.opt_duration("writeTimeout")?,
            idle_timeout: r.duration("idleTimeout")?,
            buffer_limit: r.size("bufferLimit")?.max(1),
        })
    }
}

/// What tells two ports apart: their address and transport (TCP and UDP may
/// share a port number).
pub type PortKey = (SocketAddr, Transport);

/// A listening port and the layout each of its connections runs.
pub struct Port {
    /// Address to bind.
    pub addr: SocketAddr,
    /// Socket and connection options.
    pub options: ListenOptions,
    /// The layout of the pipeline made for each connection.
    pub layout: Rc<PipelineLayout>,
}

impl Port {
    /// Its address and transport.
    pub fn key(&self) -> PortKey {
        (self.addr, self.options.protocol)
    }
}

/// When a task pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSchedule {
    /// Once, at start.
    Once,
    /// At start and then every period (a run starts only when the previous ended).
    Every(Duration),
    /// Each time the process gets this signal (one of `SIGNALS`), unless the
    /// previous run is still going.
    Signal(&'static str),
    /// Once, when the worker stops; stopping waits for it (up to a grace period).
    Exit,
}

/// The signals a task can run on. SIGINT and SIGTERM stop the process (see `Exit`).
pub const SIGNALS: &[&str] = &["SIGHUP", "SIGUSR1", "SIGUSR2"];

/// A pipeline that runs on its own, not for a connection (`task()`).
pub struct Task {
    /// When it runs.
    pub schedule: TaskSchedule,
    /// Its layout; its input is its `onStart` events.
    pub layout: Rc<PipelineLayout>,
}

/// A module's root pipelines (ports, tasks, named ones), for showing the layout.
pub struct ModuleLayouts {
    /// The module's file in its codebase.
    pub name: String,
    /// Each root pipeline with what it is (`listen 0.0.0.0:8080`, `pipeline 'x'`).
    pub pipelines: Vec<(String, Rc<PipelineLayout>)>,
}

/// What keeps one version of a script's layouts whole. The worker holds it while
/// the version is current, and every root pipeline of the version (a
/// connection, a task run) holds it while it runs. When the last holder lets go,
/// the layouts' slots are emptied: layouts that refer to each other (named
/// pipelines linking in a loop) would otherwise keep each other, and the script
/// engine their callbacks hold, alive after a reload.
#[derive(Default)]
pub struct Generation {
    slots: Vec<LayoutSlot>,
}

impl Generation {
    /// A generation owning these slots.
    pub fn new(slots: Vec<LayoutSlot>) -> Generation {
        Generation { slots }
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        for s in &self.slots {
            s.clear();
        }
    }
}

/// Everything a script set up.
#[derive(Default)]
pub struct Program {
    /// Listening ports, in script order.
    pub ports: Vec<Port>,
    /// Task pipelines, in script order.
    pub tasks: Vec<Task>,
    /// Every module's root pipelines, in load order.
    pub modules: Vec<ModuleLayouts>,
    /// Held by whatever runs this program's pipelines.
    pub generation: Rc<Generation>,
}

impl Program {
    /// Every module's pipelines as a small text graph.
    pub fn graph(&self) -> String {
        let mut out = String::new();
        for m in &self.modules {
            out.push_str(&format!("module /{}\n", m.name));
            for (what, layout) in &m.pipelines {
                out.push_str(&format!("  {what}\n"));
                for line in layout.graph().lines() {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
        out
    }
}
