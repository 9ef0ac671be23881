//! `Backlog`: what a stream sends while the handshake that opens its way is
//! under way (a tunnel's answer, a SOCKS grant): its Data, at most `MAX`
//! bytes, and its end, passed on in order once the way is open.

use crate::data::Data;
use crate::event::Event;
use crate::pipeline::Pipeline;

/// Bytes a stream may send before its handshake is done.
pub const MAX: usize = 1 << 20;

/// The stream's events waiting for a handshake.
#[derive(Default)]
pub struct Backlog {
    data: Vec<Data>,
    bytes: usize,
    end: Option<Event>,
}

/// A stream sent more than `MAX` bytes before its handshake was done.
#[derive(Debug)]
pub struct Overflow;

impl Backlog {
    /// Keeps `ev` (Data or StreamEnd; anything else is dropped).
    pub fn keep(&mut self, ev: Event) -> Result<(), Overflow> {
        match ev {
            Event::Data(d) => {
                self.bytes += d.len();
                if self.bytes > MAX {
                    self.clear();
                    return Err(Overflow);
                }
                self.data.push(d);
            }
            Event::StreamEnd(_) => self.end = Some(ev),
            _ => {}
        }
        Ok(())
    }

    /// The way is open: everything kept goes to `sub`, in order.
    pub fn release(&mut self, sub: &Pipeline) {
        for d in std::mem::take(&mut self.data) {
            sub.input(Event::Data(d));
        }
        self.bytes = 0;
        if let Some(end) = self.end.take() {
            sub.input(end);
        }
    }

    /// Drops what is kept (the way will not open).
    pub fn clear(&mut self) {
        self.data.clear();
        self.bytes = 0;
        self.end = None;
    }
}
