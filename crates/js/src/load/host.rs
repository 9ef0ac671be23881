//! `Host`: loads a codebase on the current worker thread and returns its `Program`.
//! Loading evaluates the main script once (sloppy mode, as PipyJS code is not strict
//! mode code) and turns its configuration calls into layouts. Any failure comes back
//! as one `ScriptError` with the script's `file:line:col`.

use crate::api::{globals, vars};
use crate::engine::{error, Engine};
use crate::load::files::Files;
use crate::load::module::Codebase;
use proxy_core::{Program, ScriptError};

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

/// Where the script comes from.
#[derive(Clone)]
pub enum Source {
    /// A URL: the codebase's files are fetched relative to it.
    Remote(std::sync::Arc<crate::load::files::RemoteFiles>),
    /// A file; its folder is the codebase root.
    File(PathBuf),
    /// Script text given on the command line.
    Eval(String),
}

/// How the host runs scripts.
#[derive(Clone)]
pub struct HostOptions {
    /// How long a callback may run and how large the script heap may grow.
    pub limits: crate::engine::Limits,
    /// This worker's number and the number of workers.
    pub thread: (usize, usize),
    /// The filters scripts may use (each crate's table, joined by the binary).
    pub filters: proxy_core::filters::Registry,
    /// What `pipy.argv` holds: the program's name, then the script's arguments.
    pub argv: Vec<String>,
}

impl Default for HostOptions {
    /// Default limits, one worker, and core's filters only.
    fn default() -> Self {
        HostOptions {
            limits: Default::default(),
            thread: (0, 1),
            filters: proxy_core::filters::Registry::core(),
            argv: vec!["proxy".into()],
        }
    }
}

/// A loaded codebase: owns the engine the program's callbacks run in.
pub struct Host {
    _engine: Rc<Engine>,
    _codebase: Rc<Codebase>,
}

/// How long evaluating the main script may take.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

impl Host {
    /// Loads `source` and returns what it asks to run.
    pub fn load(source: &Source, opts: &HostOptions) -> Result<(Program, Host), ScriptError> {
        let (key, file, text, base) = match source {
            Source::File(path) => {
                crate::load::files::note_read(path);
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ScriptError::new(format!("cannot read {}: {e}", path.display())))?;
                let base = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
                let key = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (key, path.display().to_string(), text, Files::Dir(base))
            }
            Source::Eval(text) => {
                ("<eval>".to_string(), "<eval>".to_string(), text.clone(), Files::Dir(PathBuf::from(".")))
            }
            Source::Remote(remote) => {
                let files = Files::Remote(remote.clone());
                let key = remote.entry().to_string();
                let bytes = remote
                    .read(&key)
                    .map_err(|e| ScriptError::new(format!("cannot fetch {}: {e}", files.display(&key))))?
                    .ok_or_else(|| ScriptError::new(format!("cannot fetch {}: no such file", files.display(&key))))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| ScriptError::new(format!("{} is not UTF-8 text", files.display(&key))))?;
                (key.clone(), files.display(&key), text, files)
            }
        };
        let engine =
            Rc::new(Engine::new(opts.limits).map_err(|e| ScriptError::new(format!("cannot start the engine: {e}")))?);
        // Data objects and message bodies count against the same limit as the heap.
        crate::api::data::set_budget(opts.limits.memory);
        globals::set_codebase_folder(match &base {
            Files::Dir(dir) => Some(dir.clone()),
            Files::Remote(_) => None,
        });
        let codebase = Codebase::new(base, &engine, opts.filters.clone());
        engine.enter(LOAD_TIMEOUT, |ctx| {
            let fail = |e| error::from_rquickjs(ctx, e);
            globals::install(ctx, &engine, opts.thread, &opts.argv).map_err(fail)?;
            vars::declare_inbound(ctx, Rc::downgrade(&engine)).map_err(fail)?;
            vars::bind_promises(ctx).map_err(fail)?;
            crate::api::http_agent::install(ctx, Rc::downgrade(&engine), opts.filters.find("connect")).map_err(fail)?;
            crate::api::http_directory::install(ctx).map_err(fail)?;
            let files = codebase.clone();
            globals::install_codebase(ctx, Rc::new(move |path| files.read(path))).map_err(fail)?;
            Ok(())
        })??;
        let loaded = engine.enter(LOAD_TIMEOUT, |ctx| {
            codebase.load_text(ctx, &key, &file, &text).map(drop).map_err(|e| error::from_rquickjs(ctx, e))?;
            codebase.check_cycles(ctx)
        });
        let loaded = loaded.and_then(|r| r);
        let program = loaded.and_then(|()| codebase.finish()).inspect_err(|_| codebase.clear())?;
        codebase.set_loaded();
        Ok((program, Host { _engine: engine, _codebase: codebase }))
    }
}
