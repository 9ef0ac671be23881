//! Task pipelines (`task()`, `task('5s')`): pipelines that run on their own, with
//! no connection. Each run is a fresh pipeline fed its layout's `onStart` events;
//! a run is over when the pipeline outputs StreamEnd. A periodic task starts a run
//! each period unless the previous one is still going.

use proxy_core::{Context, Event, Pipeline, PipelineLayout, Sink, TaskSchedule};
use std::cell::Cell;
use std::rc::Rc;
use tokio::sync::{watch, Notify};

/// Tells when a run has ended.
#[derive(Default)]
struct Ended {
    flag: Cell<bool>,
    notify: Notify,
}

/// Starts one run.
fn start(layout: &Rc<PipelineLayout>) -> (Pipeline, Rc<Ended>) {
    let ended = Rc::new(Ended::default());
    let e = ended.clone();
    let sink = Sink::Func(Box::new(move |ev| {
        if let Event::StreamEnd(err) = ev {
            if let Some(err) = err {
                tracing::warn!(error = %err, "task ended with an error");
            }
            e.flag.set(true);
            e.notify.notify_one();
        }
    }));
    (Pipeline::new(layout, Context::new(None), sink), ended)
}

/// Runs a task until `drain` turns true (a one-off task: until its run ends too).
pub async fn run(schedule: TaskSchedule, layout: Rc<PipelineLayout>, mut drain: watch::Receiver<bool>) {
    match schedule {
        TaskSchedule::Once => {
            let (pipeline, ended) = start(&layout);
            // Keep the run alive while it works (timers, connections), until it
            // ends or the worker stops.
            while !ended.flag.get() && !*drain.borrow() {
                tokio::select! {
                    r = drain.changed() => if r.is_err() { break },
                    _ = ended.notify.notified() => {}
                }
            }
            drop(pipeline);
        }
        TaskSchedule::Every(period) => {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut current: Option<(Pipeline, Rc<Ended>)> = None;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        if current.as_ref().is_none_or(|(_, ended)| ended.flag.get()) {
                            current = Some(start(&layout));
                        }
                    }
                    r = drain.changed() => if r.is_err() || *drain.borrow() { break },
                }
            }
        }
    }
}
