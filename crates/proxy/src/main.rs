//! `proxy`: runs a Pipy-style script. `proxy main.js` loads the script on every
//! worker thread, opens the ports it listens on, and serves until SIGINT or SIGTERM
//! (drain: in-flight exchanges finish; a second signal stops at once). This is
//! where the crates meet: the filter tables of `core` and `net` are joined into
//! the registry the script host (`js`) builds layouts from, and `net`'s workers
//! run what the host loads.

mod log;
#[cfg(test)]
mod reference;
mod remote;
mod watch;

use clap::Parser;
use proxy_js::{Host, HostOptions, ProcessRequest, Source};
use proxy_net::{spawn_worker, Controller, Shutdown, Worker, WorkerOptions};
use std::any::Any;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A programmable network proxy scripted in JavaScript (Pipy's API).
#[derive(Parser, Debug)]
#[command(name = "proxy", version, about)]
struct Cli {
    /// The script to run: a file, an http(s):// URL (a script or a manifest), or script
    /// text (with --eval, or when no such file exists).
    target: String,
    /// Treat the target as script text.
    #[arg(short = 'e', long = "eval")]
    eval: bool,
    /// debug, info, warn or error (Pipy's `debug:topic` form is accepted).
    #[arg(long = "log-level", default_value = "info", value_parser = log::parse_level)]
    log_level: tracing::Level,
    /// Worker threads, each with its own copy of the script: a number or `max`.
    #[arg(long, default_value = "1")]
    threads: String,
    /// Set SO_REUSEPORT on listening sockets (always on with more than one thread).
    #[arg(long = "reuse-port")]
    reuse_port: bool,
    /// How long one script callback may run before it is stopped (e.g. 1s, 500ms).
    #[arg(long = "callback-timeout", default_value = "1s", value_parser = parse_duration)]
    callback_timeout: Duration,
    /// How large each worker's script heap may grow (e.g. 512m, 2g; 0: no limit).
    /// Script code allocating past it fails with an out-of-memory error.
    #[arg(long = "js-memory-limit", default_value = "512m", value_parser = parse_size)]
    js_memory_limit: usize,
    /// How long open connections may take to finish after SIGINT/SIGTERM.
    #[arg(long = "shutdown-timeout", default_value = "10s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// Do not log the pipeline layouts at start.
    #[arg(long = "no-graph")]
    no_graph: bool,
    /// Load the script, print its pipeline layouts and exit: 0 if it loads, 1 if not.
    #[arg(long)]
    check: bool,
    /// Do not reload when a file of the codebase changes (SIGHUP still reloads).
    #[arg(long = "no-reload")]
    no_reload: bool,
    /// How often a codebase given as a URL is checked for changes.
    #[arg(long = "poll-interval", default_value = "5s", value_parser = parse_duration)]
    poll_interval: Duration,
    /// Arguments for the script (`pipy.argv`), after `--` (or Pipy's `--args`).
    #[arg(last = true)]
    args: Vec<String>,
}

/// What the workers load: fixed, or the current version of a URL codebase.
#[derive(Clone)]
enum Target {
    Fixed(Source),
    Remote { url: String, current: Arc<Mutex<Arc<proxy_js::RemoteFiles>>> },
}

impl Target {
    /// The source to load now.
    fn source(&self) -> Source {
        match self {
            Target::Fixed(s) => s.clone(),
            Target::Remote { current, .. } => {
                Source::Remote(current.lock().map(|c| c.clone()).unwrap_or_else(|p| p.into_inner().clone()))
            }
        }
    }
}

/// Options that take a value as the next argument (`--threads 2`).
const VALUED: &[&str] =
    &["--log-level", "--threads", "--callback-timeout", "--js-memory-limit", "--shutdown-timeout", "--poll-interval"];

/// The command line with Pipy's way of giving script arguments read as ours:
/// `--args` (or `-args`) stands for `--`, and a script named only after it
/// (`pipy --args main.js a b`, what a `#!/usr/bin/env -S pipy --args` line
/// runs) is moved before it.
fn pipy_style_args(mut args: Vec<String>) -> Vec<String> {
    let Some(at) = args.iter().position(|a| a == "--args" || a == "-args" || a == "--") else { return args };
    args[at] = "--".into();
    let mut i = 1;
    let mut has_target = false;
    while i < at {
        let a = &args[i];
        if VALUED.contains(&a.as_str()) {
            i += 1;
        } else if !a.starts_with('-') {
            has_target = true;
        }
        i += 1;
    }
    if !has_target {
        if let Some(t) = (at + 1..args.len()).find(|&j| !args[j].starts_with('-')) {
            let target = args.remove(t);
            args.insert(at, target);
        }
    }
    args
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    proxy_core::parse_duration(s).ok_or_else(|| format!("'{s}' is not a duration like 1s or 500ms"))
}

/// Every filter scripts may use: the table of each crate that has filters, joined
/// here (a crate with new filters adds its table to this list).
fn filters() -> proxy_core::filters::Registry {
    proxy_core::filters::Registry::core().with(proxy_net::FILTERS).with(proxy_tls::FILTERS)
}

fn parse_size(s: &str) -> Result<usize, String> {
    proxy_core::parse_size(s).ok_or_else(|| format!("'{s}' is not a size like 512m or 2g"))
}

impl Cli {
    fn host_options(&self, thread: (usize, usize)) -> HostOptions {
        let limits = proxy_js::Limits { callback_timeout: self.callback_timeout, memory: self.js_memory_limit };
        let argv = std::iter::once("proxy".to_string()).chain(self.args.iter().cloned()).collect();
        HostOptions { limits, thread, filters: filters(), argv }
    }
}

fn thread_count(s: &str) -> Result<usize, String> {
    if s == "max" {
        return Ok(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    }
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("--threads: '{s}' is not a positive number or 'max'")),
    }
}

fn target_of(cli: &Cli) -> Result<Target, String> {
    if !cli.eval && remote::is_url(&cli.target) {
        let files = remote::snapshot(&cli.target, &remote::fetcher())?;
        return Ok(Target::Remote { url: cli.target.clone(), current: Arc::new(Mutex::new(Arc::new(files))) });
    }
    source_of(cli).map(Target::Fixed)
}

fn source_of(cli: &Cli) -> Result<Source, String> {
    if cli.eval {
        return Ok(Source::Eval(cli.target.clone()));
    }
    let path = PathBuf::from(&cli.target);
    if path.is_file() {
        return Ok(Source::File(path));
    }
    if cli.target.contains('(') {
        return Ok(Source::Eval(cli.target.clone()));
    }
    Err(format!("cannot read {}: no such file", cli.target))
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(pipy_style_args(std::env::args().collect()));
    log::init(cli.log_level);
    log::panics_to_log();
    let threads = match thread_count(&cli.threads) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let target = match target_of(&cli) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(if remote::is_url(&cli.target) { 1 } else { 2 });
        }
    };

    // Install the signal handlers before any worker binds a port: a signal that
    // arrives while the workers start must drain them, not kill the process.
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.check {
        return check(target.source(), cli.host_options((0, 1)));
    }
    // Watch before loading: an edit made while the workers start is not missed.
    let (changed_tx, changed) = tokio::sync::mpsc::unbounded_channel::<String>();
    let watching = match &target {
        Target::Fixed(Source::File(path)) if !cli.no_reload => {
            let root = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
            match watch::watch(&root, changed_tx) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!("cannot watch {} ({e}): edits will not reload, SIGHUP will", root.display());
                    None
                }
            }
        }
        Target::Remote { url, current } if !cli.no_reload => {
            remote::poll(url.clone(), remote::fetcher(), current.clone(), cli.poll_interval, changed_tx);
            None
        }
        _ => None,
    };
    log::set_workers(threads);
    let shutdown = Shutdown::new();
    let (died_tx, died) = tokio::sync::mpsc::unbounded_channel();
    let (request_tx, requests) = tokio::sync::mpsc::unbounded_channel();
    proxy_js::on_process_request(move |r| {
        let _ = request_tx.send(r);
    });
    let mut workers = Vec::new();
    for id in 0..threads {
        let target = target.clone();
        let opts = cli.host_options((id, threads));
        let graph = !cli.no_graph && id == 0;
        let loader = Box::new(move || {
            let (program, host) = Host::load(&target.source(), &opts).map_err(|e| match &e.location {
                Some(loc) => format!("{loc}: {}", e.message),
                None => e.message.clone(),
            })?;
            if graph {
                tracing::info!("[config] Pipelines:\n{}", program.graph().trim_end());
            }
            Ok((program, Box::new(host) as Box<dyn Any>))
        });
        let wopts = WorkerOptions { id, reuse_port: cli.reuse_port || threads > 1, grace: cli.shutdown_timeout };
        match spawn_worker(wopts, loader, &shutdown, died_tx.clone()) {
            Ok(w) => workers.push(w),
            Err(e) => {
                tracing::error!("cannot start worker {id}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    for w in &workers {
        if let Err(e) = w.wait_ready() {
            tracing::error!("{e}");
            // Other workers may be running; stop them with the process.
            std::process::exit(1);
        }
    }
    run_until_stopped(workers, shutdown, signals, changed, watching, Stops { died, requests })
}

/// What stops or reloads the process besides signals and edits: a worker
/// dying, a script's `pipy.exit(code)` or `pipy.restart()`.
struct Stops {
    died: tokio::sync::mpsc::UnboundedReceiver<(usize, String)>,
    requests: tokio::sync::mpsc::UnboundedReceiver<ProcessRequest>,
}

/// `--check`: loads the script once, prints its layouts, binds nothing. The load
/// runs on a thread set up as a worker's, so script code behaves as it would there.
fn check(source: Source, opts: HostOptions) -> ExitCode {
    let loaded = proxy_net::on_worker_thread(move || match Host::load(&source, &opts) {
        Ok((program, host)) => {
            print!("{}", program.graph());
            // Tear down in order: the program holds script values of the host.
            drop(program);
            drop(host);
            Ok(())
        }
        Err(e) => Err(match &e.location {
            Some(loc) => format!("{loc}: {}", e.message),
            None => e.message.clone(),
        }),
    });
    match loaded.and_then(|r| r) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime that waits for signals, with every handler installed.
struct Signals {
    rt: tokio::runtime::Runtime,
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let in_rt = rt.enter();
        let int = signal(SignalKind::interrupt())?;
        let term = signal(SignalKind::terminate())?;
        let hup = signal(SignalKind::hangup())?;
        drop(in_rt);
        Ok(Signals { rt, int, term, hup })
    }
}

/// How long codebase changes must settle before a reload starts (an editor's
/// save is often several events).
const SETTLE: Duration = Duration::from_millis(200);

/// Reloads every worker, saying what happened.
async fn reload(controllers: &[Controller], why: &str) {
    tracing::info!("[reload] {why}: reloading");
    match proxy_net::reload(controllers).await {
        Ok(()) => tracing::info!("[reload] Reloaded; connections already open keep their pipelines"),
        Err(e) => tracing::error!("[reload] Not reloaded, the running version stays: {e}"),
    }
}

/// A worker died of a panic: a bug, since every script callback is guarded. The
/// process exits rather than run on with fewer workers (or restart one in place):
/// the dead worker's connections are gone either way, and a supervisor restarting
/// the whole process starts from a state known to be whole.
fn worker_died(id: usize, why: &str) -> ! {
    tracing::error!("worker {id} stopped unexpectedly ({why}); exiting so that a supervisor can restart proxy");
    std::process::exit(70)
}

/// Waits for the workers to end: reloads on SIGHUP and codebase changes, drains
/// them on the first SIGINT/SIGTERM (or a script's `pipy.exit(code)`, which
/// sets the exit code) and exits at once on the second signal.
fn run_until_stopped(
    workers: Vec<Worker>,
    shutdown: Shutdown,
    signals: Signals,
    mut changed: tokio::sync::mpsc::UnboundedReceiver<String>,
    mut watching: Option<watch::CodebaseWatch>,
    stops: Stops,
) -> ExitCode {
    let Stops { mut died, mut requests } = stops;
    let mut code = 0u8;
    let Signals { rt, mut int, mut term, mut hup } = signals;
    // Every load so far has read its files: watch their folders too.
    let mut refresh = move || {
        if let Some(w) = watching.as_mut() {
            w.refresh();
        }
    };
    refresh();
    rt.block_on(async move {
        let controllers: Vec<Controller> = workers.iter().map(Worker::controller).collect();
        let mut done = tokio::task::spawn_blocking(move || {
            workers.into_iter().for_each(Worker::join);
        });
        loop {
            tokio::select! {
                _ = int.recv() => break,
                _ = term.recv() => break,
                _ = hup.recv() => {
                    reload(&controllers, "SIGHUP").await;
                    refresh();
                }
                Some(first) = changed.recv() => {
                    while let Ok(Some(_)) = tokio::time::timeout(SETTLE, changed.recv()).await {}
                    reload(&controllers, &format!("{first} changed")).await;
                    refresh();
                }
                Some((id, why)) = died.recv() => worker_died(id, &why),
                Some(asked) = requests.recv() => match asked {
                    ProcessRequest::Exit(asked) => {
                        tracing::info!("pipy.exit({asked}) called");
                        code = asked as u8;
                        break;
                    }
                    ProcessRequest::Reload => {
                        reload(&controllers, "pipy.restart()").await;
                        refresh();
                        // Requests made while reloading (the new version's own
                        // load calling restart) are not acted on: no reload loop.
                        let mut exit = None;
                        while let Ok(r) = requests.try_recv() {
                            if let ProcessRequest::Exit(asked) = r {
                                exit = Some(asked);
                            }
                        }
                        if let Some(asked) = exit {
                            tracing::info!("pipy.exit({asked}) called");
                            code = asked as u8;
                            break;
                        }
                    }
                },
                _ = &mut done => return ExitCode::SUCCESS,
            }
        }
        tracing::info!("Shutting down: finishing open connections (signal again to stop at once)");
        shutdown.drain();
        tokio::select! {
            // Exit here: returning would wait for the workers' join task.
            _ = int.recv() => {
                tracing::info!("Stopped at once");
                std::process::exit(130)
            }
            _ = term.recv() => std::process::exit(143),
            Some((id, why)) = died.recv() => worker_died(id, &why),
            _ = done => {
                tracing::info!("Stopped");
                ExitCode::from(code)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipy_s_args_become_ours() {
        let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(pipy_style_args(v("proxy main.js --args a b")), v("proxy main.js -- a b"));
        assert_eq!(pipy_style_args(v("proxy --threads 2 --args main.js a")), v("proxy --threads 2 main.js -- a"));
        assert_eq!(pipy_style_args(v("proxy -args main.js")), v("proxy main.js --"));
        assert_eq!(pipy_style_args(v("proxy main.js -- -x")), v("proxy main.js -- -x"));
        assert_eq!(pipy_style_args(v("proxy main.js")), v("proxy main.js"));
        let cli = Cli::parse_from(pipy_style_args(v("proxy --args main.js server 8080")));
        assert_eq!((cli.target.as_str(), cli.args), ("main.js", v("server 8080")));
    }
}
