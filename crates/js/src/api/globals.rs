//! Globals besides the configuration API: `console`, `print`/`println`, `__thread`,
//! `performance.now()`,
//! the native timer behind `Timeout`, the prelude of event classes, and `URL` /
//! `URLSearchParams` (`url.js`).

use crate::engine::{Engine, EngineValue};
use rquickjs::function::Rest;
use rquickjs::{Ctx, Function, Object, Persistent, Result, Value};
use std::io::Write;
use std::rc::{Rc, Weak};
use std::time::Duration;

const PRELUDE: &str = include_str!("prelude.js");
const CODEBASE: &str = include_str!("codebase.js");

/// Reads a file of the codebase: its bytes, `None` if there is none, or why it may
/// not be read.
pub type ReadFile = Rc<dyn Fn(&str) -> std::result::Result<Option<Vec<u8>>, String>>;

thread_local! {
    /// The reader of the codebase loading (or last loaded) on this worker, for
    /// objects made at load that read it later (`http.Directory`).
    static READER: std::cell::RefCell<Option<ReadFile>> = const { std::cell::RefCell::new(None) };
}

thread_local! {
    /// The folder of the codebase loading on this worker, when it is local.
    static FOLDER: std::cell::RefCell<Option<std::path::PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// Says which folder the codebase loading on this worker is (`None`: it is not local).
pub fn set_codebase_folder(folder: Option<std::path::PathBuf>) {
    FOLDER.with(|f| *f.borrow_mut() = folder);
}

/// The folder of the codebase being loaded on this worker, when it is local.
pub fn codebase_folder() -> Option<std::path::PathBuf> {
    FOLDER.with(|f| f.borrow().clone())
}

/// The reader of the codebase being loaded on this worker.
pub fn codebase_reader() -> Option<ReadFile> {
    READER.with(|r| r.borrow().clone())
}

/// What a script asks of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRequest {
    /// `pipy.exit(code)`: drain, then exit with the code.
    Exit(i32),
    /// `pipy.restart()`: load the codebase again, as on SIGHUP.
    Reload,
}

/// Where script requests go: set once by the binary.
static REQUESTS: std::sync::OnceLock<Box<dyn Fn(ProcessRequest) + Send + Sync>> = std::sync::OnceLock::new();

/// Sets what `pipy.exit(code)` and `pipy.restart()` do.
pub fn on_process_request(f: impl Fn(ProcessRequest) + Send + Sync + 'static) {
    let _ = REQUESTS.set(Box::new(f));
}

fn request(what: ProcessRequest) {
    match REQUESTS.get() {
        Some(send) => send(what),
        None => tracing::info!("{what:?}: no process to ask here (proxy --check)"),
    }
}

/// When the process started, in milliseconds since the Unix epoch (the same
/// on every worker: taken once).
fn started_ms() -> f64 {
    static STARTED: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *STARTED.get_or_init(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_millis() as f64)
    })
}

/// Installs what every module's `pipy` gets (`pipy.load`, `pipy.solve`), and
/// `JSON.decode` / `JSON.encode` and `os`, for the files `read` gives.
pub fn install_codebase<'js>(ctx: &Ctx<'js>, read: ReadFile) -> Result<()> {
    READER.with(|r| *r.borrow_mut() = Some(read.clone()));
    let read_file = read.clone();
    let g = ctx.globals();
    // Held strongly: pipelines still running an old version after a reload may
    // read files. The codebase holds nothing that keeps the engine alive.
    g.set(
        "__proxy_load",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, path: String| -> Result<Value<'js>> {
            match read(&path) {
                Ok(Some(bytes)) => crate::api::data::from_data(&ctx, proxy_core::Data::from(bytes)),
                Ok(None) => {
                    tracing::warn!("pipy.load: no file '{path}' in the codebase");
                    Ok(Value::new_null(ctx))
                }
                Err(why) => Err(rquickjs::Exception::throw_message(&ctx, &format!("pipy.load: {why}"))),
            }
        })?,
    )?;
    g.set(
        "__proxy_eval",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, source: String, name: String| -> Result<Value<'js>> {
            let mut opts = rquickjs::context::EvalOptions::default();
            opts.global = true;
            opts.strict = false;
            opts.filename = Some(name);
            ctx.eval_with_options(source, opts)
        })?,
    )?;
    g.set("__proxy_pid", std::process::id())?;
    g.set(
        "__proxy_exit",
        Function::new(ctx.clone(), |code: rquickjs::function::Opt<f64>| {
            request(ProcessRequest::Exit(code.0.filter(|c| c.is_finite()).map_or(0, |c| c as i32)))
        })?,
    )?;
    g.set("__proxy_restart", Function::new(ctx.clone(), || request(ProcessRequest::Reload))?)?;
    g.set("__proxy_since", started_ms())?;
    ctx.eval::<(), _>(CODEBASE)?;
    let os = Object::new(ctx.clone())?;
    let env = Object::new(ctx.clone())?;
    for (k, v) in std::env::vars() {
        env.set(k, v)?;
    }
    os.set("env", env)?;
    os.set("platform", std::env::consts::OS)?;
    // os.readFile(path): a file of the codebase (Pipy reads the file system;
    // here nothing outside the codebase can be reached), null if there is none.
    os.set(
        "readFile",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, path: String| -> Result<Value<'js>> {
            match read_file(&path) {
                Ok(Some(bytes)) => crate::api::data::from_data(&ctx, proxy_core::Data::from(bytes)),
                Ok(None) => Ok(Value::new_null(ctx)),
                Err(why) => Err(rquickjs::Exception::throw_message(&ctx, &format!("os.readFile: {why}"))),
            }
        })?,
    )?;
    g.set("os", os)?;
    Ok(())
}

/// Formats console arguments: strings as they are, other values as JSON when possible.
fn format_args<'js>(ctx: &Ctx<'js>, args: &[Value<'js>]) -> String {
    let mut parts = Vec::with_capacity(args.len());
    for v in args {
        if let Some(s) = v.as_string() {
            parts.push(s.to_string().unwrap_or_default());
            continue;
        }
        let json = if v.is_object() && !v.is_function() {
            ctx.json_stringify(v.clone()).ok().flatten().and_then(|s| s.to_string().ok())
        } else {
            None
        };
        parts.push(
            json.unwrap_or_else(|| v.get::<rquickjs::Coerced<String>>().map(|s| s.0).unwrap_or_else(|_| "?".into())),
        );
    }
    parts.join(" ")
}

/// Installs the globals on a context.
pub fn install<'js>(ctx: &Ctx<'js>, engine: &Rc<Engine>, thread: (usize, usize), argv: &[String]) -> Result<()> {
    let g = ctx.globals();
    g.set("__proxy_argv", argv.to_vec())?;
    rquickjs::Class::<crate::api::data::JsData>::define(&g)?;
    rquickjs::Class::<crate::api::message::JsMessage>::define(&g)?;
    rquickjs::Class::<crate::api::message::JsMessageStart>::define(&g)?;
    rquickjs::Class::<crate::api::netmask::JsNetmask>::define(&g)?;
    ctx.eval::<(), _>(PRELUDE)?;
    ctx.eval::<(), _>(include_str!("url.js"))?;
    crate::api::algo::install(ctx)?;
    crate::api::crypto::install(ctx)?;
    crate::api::payload::install_resp(ctx)?;
    crate::api::protobuf::install(ctx)?;
    crate::api::yaml::install(ctx)?;
    crate::api::xml::install(ctx)?;

    let console = Object::new(ctx.clone())?;
    type Log = fn(&str);
    let levels: [(&str, Log); 5] = [
        ("log", |m| tracing::info!("{m}")),
        ("info", |m| tracing::info!("{m}")),
        ("warn", |m| tracing::warn!("{m}")),
        ("error", |m| tracing::error!("{m}")),
        ("debug", |m| tracing::debug!("{m}")),
    ];
    for (name, log) in levels {
        console.set(
            name,
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Rest<Value<'js>>| log(&format_args(&ctx, &args.0)))?,
        )?;
    }
    g.set("console", console)?;

    for (name, newline) in [("print", false), ("println", true)] {
        g.set(
            name,
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Rest<Value<'js>>| {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(format_args(&ctx, &args.0).as_bytes());
                if newline {
                    let _ = out.write_all(b"\n");
                }
                let _ = out.flush();
            })?,
        )?;
    }

    let t = Object::new(ctx.clone())?;
    t.set("id", thread.0)?;
    t.set("concurrency", thread.1)?;
    g.set("__thread", t)?;

    // performance.now(): milliseconds, with fractions, since the worker started
    // its script (for timing requests).
    let origin = std::time::Instant::now();
    let performance = Object::new(ctx.clone())?;
    let now = Function::new(ctx.clone(), move || origin.elapsed().as_secs_f64() * 1000.0)?;
    performance.set("now", now.clone())?;
    g.set("performance", performance)?;
    // The same clock for Timeout (prelude.js), out of a script's reach: a wall
    // clock set back would move every deadline.
    g.prop("__proxy_now", rquickjs::object::Property::from(now))?;

    // The timer task holds the engine with the resolve function, so the function
    // never outlives the runtime.
    let weak: Weak<Engine> = Rc::downgrade(engine);
    g.set(
        "__proxy_sleep",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, ms: f64| -> Result<Value<'js>> {
            let (promise, resolve, _) = ctx.promise()?;
            let Some(engine) = weak.upgrade() else { return Ok(promise.into_value()) };
            let resolve = EngineValue { value: Persistent::save(&ctx, resolve), engine };
            // NaN waits no time; an absurdly long wait is a year.
            let seconds = if ms.is_nan() { 0.0 } else { (ms / 1000.0).clamp(0.0, 365.0 * 86400.0) };
            let delay = Duration::from_secs_f64(seconds);
            let scheduled = proxy_core::call_after(delay, move || {
                let engine = resolve.engine.clone();
                let _ = engine.enter(engine.callback_timeout, |ctx| {
                    if let Ok(f) = resolve.value.clone().restore(ctx) {
                        let _ = f.call::<_, ()>(());
                    }
                });
                drop(resolve);
            });
            if !scheduled {
                tracing::debug!("Timeout.wait(): no event loop here (proxy --check?); it never ends");
            }
            Ok(promise.into_value())
        })?,
    )?;
    Ok(())
}
