//! What server sessions use when they read requests from a client: the options
//! both server filters (`serveHTTP`, `demuxHTTP`) take, time limits on reading a
//! request (`ReadTimer`), and a bound on requests read and not yet answered
//! (`InputPause`), so that a client sending slowly, or pipelining without
//! reading the answers, holds neither a connection nor memory for long.

use super::h2::{self, Settings};
use super::Decoder;
use crate::args::ArgResult;
use crate::context::Inbound;
use crate::flow::Backpressure;
use crate::options::{OptionDef, OptionReader};
use crate::pipeline::FilterHandle;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Default time a client has to send a whole request head (nginx's
/// `client_header_timeout`).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);

/// Default time a request body may go without a byte arriving (nginx's
/// `client_body_timeout`).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Default number of requests a connection may have read and not yet answered;
/// past it, reading from the client pauses.
pub const DEFAULT_MAX_PIPELINED: usize = 32;

/// The options both server filters take.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Limit of a request head (`maxHeaderSize`).
    pub max_header_size: usize,
    /// Bodies up to this get a `content-length` (`bufferSize`).
    pub buffer_size: usize,
    /// Time to send a whole head (`headerTimeout`).
    pub header_timeout: Duration,
    /// Time a body may stall (`bodyTimeout`).
    pub body_timeout: Duration,
    /// Requests read and not answered before reading pauses (`maxPipelined`).
    pub max_pipelined: usize,
    /// HTTP/1.1 requests without `Host` are answered `400` (`requireHost`).
    pub require_host: bool,
    /// The settings of HTTP/2 connections.
    pub h2: Settings,
}

/// The options both server filters take, as scripts give them.
pub const OPTIONS: &[OptionDef] = &[
    OptionDef::size("maxHeaderSize", "Largest request head; a bigger one is answered 431.")
        .default_size(super::DEFAULT_MAX_HEADER_SIZE),
    OptionDef::size(
        "bufferSize",
        "Response bodies up to this get a content-length; longer ones keep the length they declare or go chunked.",
    )
    .default_size(super::DEFAULT_BUFFER_SIZE),
    OptionDef::duration("headerTimeout", "Time a client has to send a whole request head; then 408.")
        .default_duration(DEFAULT_HEADER_TIMEOUT),
    OptionDef::duration("bodyTimeout", "Time a request body may go without a byte arriving; then 408.")
        .default_duration(DEFAULT_BODY_TIMEOUT),
    OptionDef::int("maxPipelined", "Requests read and not yet answered before reading from the client pauses.")
        .default_int(DEFAULT_MAX_PIPELINED as i64),
    OptionDef::bool("requireHost", "Answers an HTTP/1.1 request without Host with 400.").default_bool(false),
    OptionDef::int("maxMessages", "Requests a connection carries before it closes.").refused(),
    OptionDef::int("maxConcurrentStreams", "HTTP/2: streams a client may have open at once.")
        .default_int(h2::DEFAULT_MAX_CONCURRENT_STREAMS as i64),
    OptionDef::size(
        "streamWindowSize",
        "HTTP/2: each stream's receive window, how much of a request body a client may send ahead.",
    )
    .default_size(h2::DEFAULT_STREAM_WINDOW as usize),
    OptionDef::size("initialWindowSize", "HTTP/2: the same as streamWindowSize, by its SETTINGS name.")
        .absent("as streamWindowSize"),
    OptionDef::size("connectionWindowSize", "HTTP/2: the connection's receive window, shared by its streams.")
        .default_size(h2::DEFAULT_CONNECTION_WINDOW as usize),
    OptionDef::size("maxFrameSize", "HTTP/2: the largest frame payload a client may send (16k to 16M).")
        .default_size(h2::DEFAULT_MAX_FRAME_SIZE as usize),
    OptionDef::size("maxHeaderListSize", "HTTP/2: the largest decoded header list; past it the stream is refused.")
        .absent("as maxHeaderSize"),
];

impl ServerOptions {
    /// Reads the options from a script's options object (checked against `OPTIONS`).
    pub fn read(r: &OptionReader) -> ArgResult<ServerOptions> {
        Ok(ServerOptions {
            max_header_size: r.size("maxHeaderSize")?,
            buffer_size: r.size("bufferSize")?,
            header_timeout: r.duration("headerTimeout")?,
            body_timeout: r.duration("bodyTimeout")?,
            max_pipelined: r.int("maxPipelined")?.max(1) as usize,
            require_host: r.bool("requireHost")?,
            h2: Settings {
                max_concurrent_streams: r.int("maxConcurrentStreams")?.clamp(1, u32::MAX as i64) as u32,
                stream_window: clamp_u32(r.opt_size("initialWindowSize")?.unwrap_or(r.size("streamWindowSize")?)),
                connection_window: clamp_u32(r.size("connectionWindowSize")?),
                max_frame_size: clamp_u32(r.size("maxFrameSize")?),
                max_header_list_size: clamp_u32(r.opt_size("maxHeaderListSize")?.unwrap_or(r.size("maxHeaderSize")?)),
            }
            .clamped(),
        })
    }

    /// A request decoder with these options.
    pub fn decoder(&self) -> Decoder {
        Decoder::requests(self.max_header_size).require_host(self.require_host)
    }
}

fn clamp_u32(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

/// Which time limit a request being read ran past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadExpired {
    /// The head did not arrive whole in time.
    Head,
    /// The body stopped arriving.
    Body,
}

#[derive(Debug, Clone, Copy)]
enum Watching {
    /// The head after `heads` heads; it started arriving before `deadline - limit`.
    Head { heads: u64 },
    /// The body, which had `progress` bytes when the watch started.
    Body { progress: u64 },
}

/// Time limits on reading a request, on one timer at most: armed when input
/// leaves a head or a body half-read (a request that arrives in one piece arms
/// nothing), checked when it fires (the filter's `on_wake`).
pub struct ReadTimer {
    header: Duration,
    body: Duration,
    watching: Option<(Watching, Instant)>,
}

impl ReadTimer {
    /// A timer for these limits.
    pub fn new(options: &ServerOptions) -> Self {
        ReadTimer { header: options.header_timeout, body: options.body_timeout, watching: None }
    }

    /// After input: starts watching a half-read head or body, unless already watching.
    pub fn after_input(&mut self, decoder: &Decoder, handle: &FilterHandle) {
        if self.watching.is_some() {
            return;
        }
        let (what, limit) = if decoder.reading_head() {
            (Watching::Head { heads: decoder.heads() }, self.header)
        } else if decoder.reading_body() {
            (Watching::Body { progress: decoder.body_bytes() }, self.body)
        } else {
            return;
        };
        // A limit too far off to reach is no limit.
        let Some(deadline) = Instant::now().checked_add(limit) else { return };
        let handle = handle.clone();
        if crate::timer::call_after(limit, move || handle.wake()) {
            self.watching = Some((what, deadline));
        }
    }

    /// On a wake-up: the limit passed, if one did; otherwise the watch moves on to
    /// what is being read now. While `paused` (the server itself stopped reading
    /// from the client), nothing expires: the watch starts afresh.
    pub fn check(&mut self, decoder: &Decoder, handle: &FilterHandle, paused: bool) -> Option<ReadExpired> {
        let (what, deadline) = self.watching?;
        if Instant::now() < deadline {
            // Woken for something else.
            return None;
        }
        self.watching = None;
        if paused {
            self.after_input(decoder, handle);
            return None;
        }
        match what {
            Watching::Head { heads } if decoder.heads() == heads && decoder.reading_head() => {
                return Some(ReadExpired::Head)
            }
            Watching::Body { progress } if decoder.body_bytes() == progress && decoder.reading_body() => {
                return Some(ReadExpired::Body)
            }
            _ => {}
        }
        self.after_input(decoder, handle);
        None
    }
}

/// Pauses reading from the client while too many requests wait for answers:
/// holds the connection's `toward_server` backpressure meanwhile.
#[derive(Default)]
pub struct InputPause {
    flow: Option<Rc<Backpressure>>,
    holding: bool,
}

impl InputPause {
    /// Pauses the client connection of `flow` while `waiting` requests are at
    /// least `max`, and resumes it once they are fewer.
    pub fn update(&mut self, flow: Option<&Rc<Backpressure>>, waiting: usize, max: usize) {
        if self.flow.is_none() {
            self.flow = flow.cloned();
        }
        let Some(f) = &self.flow else { return };
        let pause = waiting >= max;
        if pause && !self.holding {
            f.toward_server.hold();
        } else if !pause && self.holding {
            f.toward_server.release();
        }
        self.holding = pause;
    }
}

impl Drop for InputPause {
    fn drop(&mut self) {
        if let (Some(f), true) = (&self.flow, self.holding) {
            f.toward_server.release();
        }
    }
}

/// True while the client connection of `cx` is not being read (a server behind
/// it is slow, or too many requests wait): a client cannot be late then.
pub fn reading_paused(cx: &crate::pipeline::Cx<'_>) -> bool {
    cx.context().flow().is_some_and(|f| f.toward_server.is_on())
}

/// The requests a server filter has read from a connection and not answered yet,
/// counted on the connection (`Inbound::exchanges`) so that its idle limit waits
/// for them; whatever is still open is released when the filter goes.
#[derive(Default)]
pub struct Exchanges {
    inbound: Option<Rc<Inbound>>,
    open: u32,
}

impl Exchanges {
    /// Counts on `inbound` from now on (the first one given stays).
    pub fn attach(&mut self, inbound: Option<&Rc<Inbound>>) {
        if self.inbound.is_none() {
            self.inbound = inbound.cloned();
        }
    }

    /// A request was read.
    pub fn begin(&mut self) {
        let Some(i) = &self.inbound else { return };
        self.open += 1;
        i.exchanges.set(i.exchanges.get() + 1);
    }

    /// A request was answered (or given up).
    pub fn end(&mut self) {
        let Some(i) = &self.inbound else { return };
        if self.open > 0 {
            self.open -= 1;
            i.exchanges.set(i.exchanges.get().saturating_sub(1));
        }
    }
}

impl Drop for Exchanges {
    fn drop(&mut self) {
        while self.open > 0 {
            self.end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanges_count_on_the_connection_and_are_released_with_the_filter() {
        let addr = "127.0.0.1:1".parse().unwrap();
        let inbound = Rc::new(Inbound::new(1, addr, addr));
        let mut a = Exchanges::default();
        a.begin();
        assert_eq!(inbound.exchanges.get(), 0, "nothing is counted before a connection is attached");
        a.attach(Some(&inbound));
        a.begin();
        a.begin();
        let mut b = Exchanges::default();
        b.attach(Some(&inbound));
        b.begin();
        assert_eq!(inbound.exchanges.get(), 3);
        a.end();
        a.end();
        a.end();
        assert_eq!(inbound.exchanges.get(), 1, "no more ends than begins");
        a.begin();
        drop(a);
        drop(b);
        assert_eq!(inbound.exchanges.get(), 0, "what was open is released");
    }
}
