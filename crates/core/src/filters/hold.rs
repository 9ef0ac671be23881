//! `Hold`: what a filter keeps while a callback's Promise is unsettled: the Promise
//! and the events that arrived meanwhile, replayed in order once it settles.

use crate::callback::{Pending, Returned, ScriptError};
use crate::event::Event;
use crate::pipeline::Cx;
use std::collections::VecDeque;

/// Input held back while a Promise is pending.
#[derive(Default)]
pub struct Hold {
    pending: Option<Pending>,
    queue: VecDeque<Event>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.pending.is_some() {
            tracing::debug!(held = self.queue.len(), "stream closed while waiting for a callback's Promise");
        }
    }
}

impl Hold {
    /// True while waiting for a Promise.
    pub fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts waiting for `pending`; the filter's `on_wake` runs when it settles.
    pub fn wait(&mut self, pending: Pending, cx: &Cx<'_>) {
        tracing::debug!(pipeline = cx.pipeline_name(), "stream waits for a callback's Promise");
        pending.wake_on_settle(cx.handle());
        self.pending = Some(pending);
    }

    /// Keeps an event until the wait is over.
    pub fn keep(&mut self, ev: Event) {
        self.queue.push_back(ev);
    }

    /// The settled result, if the Promise has settled (and stops waiting).
    pub fn settled(&mut self) -> Option<Result<Returned, ScriptError>> {
        let result = self.pending.as_ref()?.take()?;
        self.pending = None;
        Some(result)
    }

    /// The next kept event, unless waiting again.
    pub fn next_kept(&mut self) -> Option<Event> {
        if self.is_waiting() {
            None
        } else {
            self.queue.pop_front()
        }
    }
}
