//! Task pipelines (`task()`, `task('5s')`, `task('SIGHUP')`, `exit()`): pipelines
//! that run on their own, with no connection. Each run is a fresh pipeline fed its
//! layout's `onStart` events; a run is over when the pipeline outputs StreamEnd. A
//! periodic or signal task starts a run each period or signal unless the previous
//! one is still going. Exit tasks run when the worker stops (`run_to_end`).

use proxy_core::{Context, Event, Generation, Pipeline, PipelineLayout, Sink, TaskSchedule};
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

/// Starts a task on this thread; it runs until `drain` turns true (a one-off task:
/// until its run ends too). A signal task listens from now on.
pub fn spawn(
    schedule: TaskSchedule,
    layout: Rc<PipelineLayout>,
    generation: Rc<Generation>,
    drain: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let signals = match schedule {
        TaskSchedule::Signal(name) => {
            use tokio::signal::unix::{signal, SignalKind};
            let kind = match name {
                "SIGHUP" => SignalKind::hangup(),
                "SIGUSR1" => SignalKind::user_defined1(),
                _ => SignalKind::user_defined2(),
            };
            match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!("task('{name}'): cannot listen for the signal: {e}");
                    None
                }
            }
        }
        _ => None,
    };
    tokio::task::spawn_local(async move {
        run(schedule, layout, drain, signals).await;
        drop(generation);
    })
}

async fn run(
    schedule: TaskSchedule,
    layout: Rc<PipelineLayout>,
    mut drain: watch::Receiver<bool>,
    signals: Option<tokio::signal::unix::Signal>,
) {
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
        TaskSchedule::Exit => {}
        TaskSchedule::Signal(_) => {
            let Some(mut signals) = signals else { return };
            let mut current: Option<(Pipeline, Rc<Ended>)> = None;
            loop {
                tokio::select! {
                    got = signals.recv() => {
                        if got.is_none() { break }
                        if current.as_ref().is_none_or(|(_, ended)| ended.flag.get()) {
                            current = Some(start(&layout));
                        }
                    }
                    r = drain.changed() => if r.is_err() || *drain.borrow() { break },
                }
            }
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

/// Runs a task once and waits for the run to end (exit tasks).
pub async fn run_to_end(layout: Rc<PipelineLayout>, generation: Rc<Generation>) {
    let _generation = generation;
    let (pipeline, ended) = start(&layout);
    while !ended.flag.get() {
        ended.notify.notified().await;
    }
    drop(pipeline);
}
