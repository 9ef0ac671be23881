//! A server connection whose HTTP version its first bytes tell: a client that
//! starts with the HTTP/2 preface (prior knowledge, or after ALPN `h2`, which
//! sends it too) gets the HTTP/2 session, any other the HTTP/1 one. Until the
//! first bytes can tell, they wait. Both server filters run on this, and know
//! the version only where HTTP/1 offers a shortcut (`serveHTTP`'s pre-encoded
//! fixed answers).

use super::h1;
use super::h2;
use super::server::ServerOptions;
use super::session::{Incoming, RequestId, ServerSession};
use crate::data::Data;
use crate::event::Event;
use crate::flow::Backpressure;
use crate::pipeline::Cx;
use std::rc::Rc;

/// The session of one client connection, once its version is known.
// (The HTTP/1 session is kept inline: it is the common case, and it is reached on every event.)
#[allow(clippy::large_enum_variant)]
pub enum Connection<T> {
    /// Nothing read yet, or only the start of what may be the HTTP/2 preface.
    Unknown {
        /// Bytes read so far.
        held: Data,
        /// What the HTTP/1 session is made with.
        options: Rc<ServerOptions>,
        running: usize,
        /// HTTP/2 answers are written after what runs now (see `deferring_writes`).
        defer: bool,
        /// Requests may open tunnels (see `taking_tunnels`).
        tunnels: bool,
    },
    /// HTTP/1.x.
    H1(h1::server::Session<T>),
    /// HTTP/2.
    H2(Box<h2::server::Session<T>>),
}

/// What the first bytes say.
enum Sniffed {
    H1,
    H2,
    NotYet,
}

fn sniff(held: &Data) -> Sniffed {
    let n = held.len().min(h2::PREFACE.len());
    for (i, want) in h2::PREFACE.iter().enumerate().take(n) {
        if held.byte_at(i) != Some(*want) {
            return Sniffed::H1;
        }
    }
    if n == h2::PREFACE.len() {
        Sniffed::H2
    } else {
        Sniffed::NotYet
    }
}

impl<T> Connection<T> {
    /// A connection with these options whose HTTP/1 session hands the filter at
    /// most `running` unanswered requests at a time.
    pub fn new(options: Rc<ServerOptions>, running: usize) -> Self {
        Connection::Unknown { held: Data::new(), options, running, defer: false, tunnels: false }
    }

    /// A `CONNECT` answered 2xx, or an `Upgrade` answered `101`, turns the
    /// connection into a tunnel: for a filter whose requests each have a
    /// sub-pipeline to carry one.
    pub fn taking_tunnels(mut self) -> Self {
        if let Connection::Unknown { tunnels, .. } = &mut self {
            *tunnels = true;
        }
        self
    }

    /// HTTP/2 answers are written once what runs now is done, so that answers
    /// that come one by one (from upstreams) go out in one write: for a filter
    /// whose answers come from elsewhere than the input it is handling.
    pub fn deferring_writes(mut self) -> Self {
        if let Connection::Unknown { defer, .. } = &mut self {
            *defer = true;
        }
        self
    }

    /// The HTTP/1 session, if the connection is one.
    pub fn h1_mut(&mut self) -> Option<&mut h1::server::Session<T>> {
        match self {
            Connection::H1(s) => Some(s),
            _ => None,
        }
    }

    /// Settles the version with `held` and what follows, once the bytes tell;
    /// what was held is fed to the chosen session.
    fn settle(&mut self, ev: Event, cx: &mut Cx<'_>) {
        let Connection::Unknown { held, options, running, defer, tunnels } = self else { return };
        let end = ev.is_stream_end();
        if let Event::Data(d) = ev {
            held.push(d);
        }
        let which = match sniff(held) {
            Sniffed::NotYet if !end => return,
            Sniffed::H2 => Sniffed::H2,
            _ => Sniffed::H1,
        };
        let held = std::mem::take(held);
        let mut session = match which {
            Sniffed::H2 => {
                tracing::debug!("HTTP/2 preface: serving the connection over HTTP/2");
                Connection::H2(Box::new(h2::server::Session::new(options, *defer, *tunnels)))
            }
            _ => Connection::H1(h1::server::Session::new(options.clone(), *running).taking_tunnels(*tunnels)),
        };
        if !held.is_empty() {
            session.input(Event::Data(held), cx);
        }
        if end {
            session.input(Event::end(), cx);
        }
        *self = session;
    }
}

/// Calls `$f` on the session whatever its version; `$none` before it is known.
macro_rules! each {
    ($self:expr, $s:ident => $f:expr, $none:expr) => {
        match $self {
            Connection::Unknown { .. } => $none,
            Connection::H1($s) => $f,
            Connection::H2($s) => $f,
        }
    };
}

impl<T> ServerSession<T> for Connection<T> {
    fn input(&mut self, ev: Event, cx: &mut Cx<'_>) {
        each!(self, s => s.input(ev, cx), self.settle(ev, cx))
    }

    fn wake(&mut self, cx: &mut Cx<'_>) {
        each!(self, s => s.wake(cx), ())
    }

    fn refuse(&mut self, id: RequestId, status: u16) {
        each!(self, s => s.refuse(id, status), ())
    }

    fn next(&mut self, cx: &mut Cx<'_>) -> Option<Incoming<T>> {
        each!(self, s => s.next(cx), None)
    }

    fn keep(&mut self, id: RequestId, state: T) {
        each!(self, s => s.keep(id, state), ())
    }

    fn is_front(&self, id: RequestId) -> bool {
        each!(self, s => s.is_front(id), false)
    }

    fn answer(&mut self, id: RequestId, ev: Event) -> Option<bool> {
        each!(self, s => s.answer(id, ev), None)
    }

    fn flush(&mut self, cx: &mut Cx<'_>) -> bool {
        each!(self, s => s.flush(cx), false)
    }

    fn state_mut(&mut self, id: RequestId) -> Option<&mut T> {
        each!(self, s => s.state_mut(id), None)
    }

    fn for_each_writing(&mut self, f: &mut dyn FnMut(&mut T)) {
        each!(self, s => s.for_each_writing(f), ())
    }

    fn input_flow(&mut self, id: RequestId, flow: &Rc<Backpressure>) -> bool {
        each!(self, s => s.input_flow(id, flow), false)
    }

    fn input_ended(&self) -> bool {
        each!(self, s => s.input_ended(), false)
    }

    fn closed(&self) -> bool {
        each!(self, s => s.closed(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_tells_http2_and_anything_else_http1() {
        let d = |s: &[u8]| Data::from(s.to_vec());
        assert!(matches!(sniff(&d(h2::PREFACE)), Sniffed::H2));
        assert!(matches!(sniff(&d(&h2::PREFACE[..10])), Sniffed::NotYet));
        assert!(matches!(sniff(&d(b"")), Sniffed::NotYet));
        assert!(matches!(sniff(&d(b"PRI * HTTP/1.1\r\n")), Sniffed::H1));
        assert!(matches!(sniff(&d(b"GET / HTTP/1.1\r\n")), Sniffed::H1));
        assert!(matches!(sniff(&d(b"POST")), Sniffed::H1));
    }
}
