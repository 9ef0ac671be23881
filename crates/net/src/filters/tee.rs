//! `tee(target)`: passes every event on, and writes the Data it sees to the
//! process's standard output (`'-'`). What Pipy's `test/codec` cases print
//! with. Files are not written: a script reaches nothing outside its codebase.

use proxy_core::filters::FilterDef;
use proxy_core::{ArgError, ArgResult, Args, Cx, Event, Filter, FilterSpec};
use std::io::Write;

/// `tee` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "tee",
    params: "target: '-'",
    doc: "Passes the stream on and writes its Data to standard output ('-').",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    match args.string(0)?.as_deref() {
        Some("-") => Ok(FilterSpec::plain(def.name, || Tee { failed: false })),
        Some(other) => Err(ArgError(format!(
            "{}: '{other}': only '-' (standard output) is written; files are not written by scripts",
            def.name
        ))),
        None => Err(ArgError(format!("{}: a target ('-' for standard output) is required", def.name))),
    }
}

/// The `tee` filter.
pub struct Tee {
    /// Writing failed once (said in the log); the stream goes on.
    failed: bool,
}

impl Filter for Tee {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if let (Event::Data(d), false) = (&ev, self.failed) {
            let mut out = std::io::stdout().lock();
            let written = d.chunks().try_for_each(|c| out.write_all(c)).and_then(|_| out.flush());
            if let Err(e) = written {
                tracing::warn!(error = %e, "tee: cannot write to standard output");
                self.failed = true;
            }
        }
        cx.output(ev);
    }
}
