//! `swap(hub | fn)`: joins the stream to a `pipeline.Hub`: every event that
//! comes in goes out of the `swap` of every other stream joined to the same
//! hub, and what they send in comes out here. The stream's own events do not
//! pass on. With a function, it is called at each event until it returns a
//! hub (events before are held, at most `MAX_HELD` of them, then sent). The
//! stream leaves the hub when its pipeline is gone.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, ScriptValue, Want};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::hub::{Hub, Party};
use crate::pipeline::{Cx, Filter, FilterSpec};
use std::rc::Rc;

/// `swap` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "swap",
    params: "hub: pipeline.Hub | (() => pipeline.Hub | null)",
    doc: "Joins the stream to a pipeline.Hub: what comes in goes out of every other stream joined to it.",
    options: &[],
    build,
};

/// Events held while a function has not yet given a hub.
pub const MAX_HELD: usize = 1024;

enum Source {
    Fixed(Rc<Hub>),
    Chosen(Rc<dyn Callback>),
}

fn hub_of(v: &ScriptValue) -> Option<Rc<Hub>> {
    v.clone().downcast::<Hub>().ok()
}

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let source = if args.is_function(0) {
        Source::Chosen(args.callback(0)?.expect("checked"))
    } else {
        let hub = args.native(0)?.as_ref().and_then(hub_of);
        Source::Fixed(
            hub.ok_or_else(|| ArgError(format!("{}: expects a pipeline.Hub or a function returning one", def.name)))?,
        )
    };
    let source = Rc::new(source);
    Ok(FilterSpec::plain(def.name, move || Swap {
        source: source.clone(),
        joined: None,
        held: Vec::new(),
        failed: false,
    }))
}

/// The `swap` filter.
pub struct Swap {
    source: Rc<Source>,
    joined: Option<(Rc<Hub>, Rc<Party>)>,
    held: Vec<Event>,
    failed: bool,
}

impl Swap {
    fn hub(&self, cx: &Cx<'_>) -> Result<Option<Rc<Hub>>, String> {
        match &*self.source {
            Source::Fixed(h) => Ok(Some(h.clone())),
            Source::Chosen(f) => match f.call(cx.context(), Arg::None, Want::Native) {
                Ok(Returned::Native(Some(v))) => {
                    hub_of(&v).map(Some).ok_or_else(|| "the function did not return a Hub".into())
                }
                Ok(Returned::Native(None)) => Ok(None),
                Ok(_) => Ok(None),
                Err(e) => Err(e.to_string()),
            },
        }
    }
}

impl Filter for Swap {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        if self.joined.is_none() {
            match self.hub(cx) {
                Ok(Some(hub)) => {
                    let party = Party::new(cx.handle(), cx.context().flow().cloned());
                    hub.join(&party);
                    for held in std::mem::take(&mut self.held) {
                        hub.broadcast(&party, &held);
                    }
                    self.joined = Some((hub, party));
                }
                Ok(None) if self.held.len() < MAX_HELD => return self.held.push(ev),
                Ok(None) => {
                    tracing::warn!("swap: no hub after {MAX_HELD} events; ending the stream");
                    self.failed = true;
                    return cx.output(Event::error(StreamError::RuntimeError));
                }
                Err(why) => {
                    tracing::error!("swap: {why}");
                    self.failed = true;
                    return cx.output(Event::error(StreamError::RuntimeError));
                }
            }
        }
        if let Some((hub, party)) = &self.joined {
            if !party.dropped() {
                hub.broadcast(party, &ev);
            }
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        if let Some((_, party)) = &self.joined {
            party.drain(cx);
        }
    }
}

impl Drop for Swap {
    fn drop(&mut self) {
        if let Some((hub, party)) = self.joined.take() {
            hub.leave(&party);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spec, Harness, TestArg};

    #[test]
    fn what_one_party_sends_comes_out_of_the_others_only() {
        let hub = Hub::new();
        let native = || TestArg::Native(hub.clone() as ScriptValue);
        let (a, b, c) = (
            Harness::new(vec![spec(&DEF, vec![native()])]),
            Harness::new(vec![spec(&DEF, vec![native()])]),
            Harness::new(vec![spec(&DEF, vec![native()])]),
        );
        a.input(Event::Data("from a ".into()));
        b.input(Event::Data("from b ".into()));
        c.input(Event::Data("from c ".into()));
        assert_eq!(a.out.text(), "from b from c ");
        assert_eq!(b.out.text(), "from c ");
        assert_eq!(c.out.text(), "");
        assert_eq!(hub.len(), 3);
        drop(b);
        assert_eq!(hub.len(), 2);
        a.input(Event::Data("again ".into()));
        assert_eq!(c.out.text(), "again ");
    }
}
