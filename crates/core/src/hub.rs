//! `Hub`: a meeting point of streams on one worker (Pipy's `pipeline.Hub`).
//! Each `swap(hub)` filter joins it as a party, and every event that reaches a
//! party's filter comes out of every other party's filter, in the order the
//! parties joined. A party leaves when its filter is dropped (its pipeline is
//! gone). Events reach another party through its inbox and a wake, so a party
//! whose pipeline is busy gets them once it is free; a party that falls
//! `MAX_QUEUED` events behind is dropped from the hub and its stream ended.
//! While a party's client is slow to read, the parties sending to it stop
//! reading their own clients (backpressure across the hub), so a reader that
//! stalls holds no more than its connection's own buffers.

use crate::event::Event;
use crate::flow::{follow_across, Backpressure, Direction};
use crate::pipeline::{FilterHandle, Inbox};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Events queued for one party before it is dropped.
pub const MAX_QUEUED: usize = 4096;

/// One filter joined to a hub.
pub struct Party {
    inbox: Inbox,
    queued: Cell<usize>,
    handle: FilterHandle,
    /// Set when the hub dropped it for falling behind.
    dropped: Cell<bool>,
    /// Its stream's backpressure, if it has a client connection.
    flow: Option<Rc<Backpressure>>,
    /// Set while it is held back for another party's slow client.
    following: Rc<Cell<bool>>,
}

impl Party {
    /// A party woken through `handle`, of a stream whose backpressure is `flow`.
    pub fn new(handle: FilterHandle, flow: Option<Rc<Backpressure>>) -> Rc<Party> {
        Rc::new(Party {
            inbox: Inbox::default(),
            queued: Cell::new(0),
            handle,
            dropped: Cell::new(false),
            flow,
            following: Rc::new(Cell::new(false)),
        })
    }

    /// Outputs what other parties sent it (the filter's `on_wake`).
    pub fn drain(&self, cx: &mut crate::pipeline::Cx<'_>) {
        self.queued.set(0);
        self.inbox.drain(cx);
    }

    /// True once the hub dropped it for falling behind.
    pub fn dropped(&self) -> bool {
        self.dropped.get()
    }
}

/// A meeting point of streams.
#[derive(Default)]
pub struct Hub {
    parties: RefCell<Vec<Rc<Party>>>,
}

impl Hub {
    /// A hub with no party.
    pub fn new() -> Rc<Hub> {
        Rc::new(Hub::default())
    }

    /// Adds `party` (once).
    pub fn join(&self, party: &Rc<Party>) {
        let mut parties = self.parties.borrow_mut();
        if !parties.iter().any(|p| Rc::ptr_eq(p, party)) {
            parties.push(party.clone());
        }
    }

    /// Takes `party` out.
    pub fn leave(&self, party: &Rc<Party>) {
        self.parties.borrow_mut().retain(|p| !Rc::ptr_eq(p, party));
    }

    /// How many parties have joined.
    pub fn len(&self) -> usize {
        self.parties.borrow().len()
    }

    /// True with no party.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends `ev` to every party but `from`.
    pub fn broadcast(&self, from: &Rc<Party>, ev: &Event) {
        // The list is copied: a party woken here may join or leave meanwhile.
        let others: smallvec::SmallVec<[Rc<Party>; 4]> =
            self.parties.borrow().iter().filter(|p| !Rc::ptr_eq(p, from)).cloned().collect();
        for p in others {
            if p.queued.get() >= MAX_QUEUED {
                tracing::warn!("swap: a stream fell {MAX_QUEUED} events behind its hub; it is taken out and ended");
                p.dropped.set(true);
                self.leave(&p);
                p.inbox.push(Event::error(crate::event::StreamError::RuntimeError));
                p.handle.wake();
                continue;
            }
            p.queued.set(p.queued.get() + 1);
            p.inbox.push(ev.clone());
            p.handle.wake();
            // Its client slow to read: the sender's client waits.
            if let (Some(to), Some(by)) = (&p.flow, &from.flow) {
                follow_across(to, Direction::TowardClient, by, Direction::TowardServer, &from.following);
            }
        }
    }
}
