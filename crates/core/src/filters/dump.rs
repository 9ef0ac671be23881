//! `dump(tag?)`: logs every event (kind, head, bytes) at info level and passes it on.
//! `print()`: logs the text of every Data event and passes everything on.

use crate::event::Event;
use crate::filters::FilterDef;
use crate::pipeline::{Cx, Filter, FilterSpec};
use std::rc::Rc;

/// `dump` as scripts see it.
pub const DUMP: FilterDef = FilterDef {
    name: "dump",
    params: "tag?: string",
    doc: "Logs every event, with its head and bytes, and passes it on.",
    options: &[],
    build: |def, args| {
        let tag: Rc<str> = args.string(0)?.unwrap_or_default().into();
        Ok(FilterSpec::plain(def.name, move || Dump { tag: tag.clone(), data_only: false }))
    },
};

/// `print` as scripts see it.
pub const PRINT: FilterDef = FilterDef {
    name: "print",
    params: "",
    doc: "Logs the text of every Data event and passes every event on.",
    options: &[],
    build: |def, _| Ok(FilterSpec::plain(def.name, || Dump { tag: "".into(), data_only: true })),
};

/// The `dump` and `print` filters.
pub struct Dump {
    tag: Rc<str>,
    data_only: bool,
}

impl Filter for Dump {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match (&ev, self.data_only) {
            (Event::Data(d), true) => tracing::info!("{}", String::from_utf8_lossy(&d.to_bytes())),
            (_, true) => {}
            (Event::Data(d), false) => {
                tracing::info!("[dump] {} Data {:?}", self.tag, String::from_utf8_lossy(&d.to_bytes()))
            }
            (Event::MessageStart(h), false) => tracing::info!("[dump] {} MessageStart {:?}", self.tag, h),
            (Event::MessageEnd(t), false) => tracing::info!("[dump] {} MessageEnd {:?}", self.tag, t),
            (Event::StreamEnd(e), false) => {
                tracing::info!("[dump] {} StreamEnd {}", self.tag, e.map(|e| e.name()).unwrap_or(""))
            }
        }
        cx.output(ev);
    }
}
