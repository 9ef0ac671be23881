//! Modules: every script file of a codebase is a module, evaluated once per worker
//! in a scope of its own, so two modules may declare the same variable names. A
//! module's code runs inside `with (scope) { ... }` (sloppy mode, as PipyJS modules
//! are), where `scope` holds its `pipy`, `__filename`, context variables, and the
//! variables it imports. Modules are loaded when the main module starts, or when a
//! configuration call (`chain`, `use`) names them; what refers to their pipelines
//! is resolved when every module is loaded.

use crate::api::vars::VarRef;
use crate::engine::error;
use crate::engine::Engine;
use crate::load::config::{self, ModuleShared};
use crate::load::esm;
use proxy_core::{LayoutSlot, PipelineLayout, Program, ScriptError};
use rquickjs::context::EvalOptions;
use rquickjs::{Ctx, Exception, Object, Result, Value};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

/// The code put before a module's text. Its length does not depend on the index,
/// so that `error` can take it off the columns of line 1.
fn prefix(index: usize) -> String {
    format!("with({}){{", scope_key(index))
}

/// The global property holding module `index`'s scope object.
pub fn scope_key(index: usize) -> String {
    format!("__proxy_scope_{index:04}")
}

/// The scope object of module `index`.
pub fn scope<'js>(ctx: &Ctx<'js>, index: usize) -> Result<Object<'js>> {
    ctx.globals().get(scope_key(index).as_str())
}

/// Parses `text` as sloppy-mode global code without running it.
#[allow(unsafe_code)]
fn check_syntax(ctx: &Ctx<'_>, text: &str, file: &str) -> Result<()> {
    use rquickjs::qjs;
    let source = std::ffi::CString::new(text)?;
    let name = std::ffi::CString::new(file)?;
    let flags = (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32;
    // SAFETY: `ctx` is a live context entered on this thread; `source` ends with
    // the NUL that JS_Eval requires after `text.len()` bytes, and `name` is a C
    // string; both outlive the call. The result is an owned value that
    // `Value::from_raw` takes over and frees when dropped (an exception value
    // owns nothing).
    let compiled = unsafe {
        let v = qjs::JS_Eval(ctx.as_raw().as_ptr(), source.as_ptr(), text.len() as _, name.as_ptr(), flags);
        Value::from_raw(ctx.clone(), v)
    };
    if compiled.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    Ok(())
}

/// The text each module file last loaded without an error, on any worker.
static GOOD: std::sync::Mutex<Option<HashMap<String, String>>> = std::sync::Mutex::new(None);

fn remember_good(file: &str, text: &str) {
    if let Ok(mut good) = GOOD.lock() {
        good.get_or_insert_with(HashMap::new).insert(file.to_string(), text.to_string());
    }
}

fn last_good(file: &str) -> Option<String> {
    GOOD.lock().ok()?.as_ref()?.get(file).cloned()
}

/// The script side of ES modules.
const ESM_JS: &str = include_str!("esm.js");

/// A mistake `esm::scan` found, thrown as a SyntaxError at its place in `file`.
fn syntax_error(ctx: &Ctx<'_>, file: &str, e: &esm::SyntaxError) -> rquickjs::Error {
    let make = || -> Result<Value<'_>> {
        let ctor: rquickjs::Function = ctx.globals().get("SyntaxError")?;
        let ex: Object = ctor.as_constructor().ok_or(rquickjs::Error::Unknown)?.construct((e.message.as_str(),))?;
        ex.set("stack", format!("    at {file}:{}:{}\n", e.line, e.col))?;
        Ok(ex.into_value())
    };
    match make() {
        Ok(v) => ctx.throw(v),
        Err(err) => err,
    }
}

/// The codebase key of module path `path` as the module `importer` (a key,
/// `plugins/a.js`) wrote it.
fn resolve(importer: &str, path: &str) -> std::result::Result<String, String> {
    let joined = if let Some(rooted) = path.strip_prefix('/') {
        rooted.to_string()
    } else if path.starts_with("./") || path.starts_with("../") {
        match importer.rfind('/') {
            Some(i) => format!("{}/{path}", &importer[..i]),
            None => path.to_string(),
        }
    } else {
        return Err(format!("module path '{path}' must start with '/', './' or '../'"));
    };
    crate::load::files::codebase_path(&joined).map_err(|why| format!("cannot import '{path}': {why}"))
}

/// A reference from one module to a pipeline of another, resolved at the end.
struct PipelineRef {
    module: usize,
    name: Option<String>,
    slot: LayoutSlot,
    required: bool,
    location: Option<String>,
}

/// Names imported from a module that was still loading (an import cycle):
/// the module, its path as written, the names, and where the import is.
type Unchecked = (usize, String, Vec<String>, Option<String>);

/// A variable a module imports, resolved at the end.
struct Import {
    namespace: String,
    name: String,
    target: Rc<OnceCell<VarRef>>,
    location: Option<String>,
}

/// The files of one codebase and the modules loaded from them on this worker.
pub struct Codebase {
    files: crate::load::files::Files,
    /// The filters modules may use.
    filters: proxy_core::filters::Registry,
    loaded: std::cell::Cell<bool>,
    engine: Weak<Engine>,
    modules: RefCell<Vec<Rc<ModuleShared>>>,
    /// Each module's file, as errors name it.
    names: RefCell<Vec<String>>,
    by_key: RefCell<HashMap<String, usize>>,
    exports: RefCell<HashMap<String, HashMap<String, VarRef>>>,
    imports: RefCell<Vec<Import>>,
    refs: RefCell<Vec<PipelineRef>>,
    /// Modules whose code has run to its end (their exports are all there).
    evaluated: RefCell<std::collections::HashSet<usize>>,
    /// Imports from a module still loading (a cycle), checked when all are.
    unchecked: RefCell<Vec<Unchecked>>,
}

/// `plugins/a.js`, `/plugins/a.js` and `./plugins/a.js` are one module (a path
/// that leaves the codebase keeps its text, and reading it fails).
fn normalize(path: &str) -> String {
    crate::load::files::codebase_path(path).unwrap_or_else(|_| path.trim().to_string())
}

impl Codebase {
    /// A codebase whose files come from `files`, whose modules may use `filters`.
    pub fn new(
        files: crate::load::files::Files,
        engine: &Rc<Engine>,
        filters: proxy_core::filters::Registry,
    ) -> Rc<Codebase> {
        Rc::new(Codebase {
            files,
            filters,
            loaded: std::cell::Cell::new(false),
            engine: Rc::downgrade(engine),
            modules: RefCell::default(),
            names: RefCell::default(),
            by_key: RefCell::default(),
            exports: RefCell::default(),
            imports: RefCell::default(),
            refs: RefCell::default(),
            evaluated: RefCell::default(),
            unchecked: RefCell::default(),
        })
    }

    /// The bytes of codebase file `path`: `Ok(None)` if there is none, an error
    /// if the path leads outside the codebase.
    pub fn read(&self, path: &str) -> std::result::Result<Option<Vec<u8>>, String> {
        self.files.read(path, self.loaded.get())
    }

    /// Says the script has loaded: from now on reads do not fetch (see `Files::read`).
    pub fn set_loaded(&self) {
        self.loaded.set(true);
    }

    /// Module number `index`, if there is one.
    pub fn module(&self, index: usize) -> Option<Rc<ModuleShared>> {
        self.modules.borrow().get(index).cloned()
    }

    /// The filters its modules may use.
    pub fn filters(&self) -> &proxy_core::filters::Registry {
        &self.filters
    }

    /// True once the script has loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.get()
    }

    /// Drops every module's configuration (script callbacks included), so that a
    /// failed load leaves nothing holding script values when the engine goes away.
    pub fn clear(&self) {
        for m in self.modules.borrow().iter() {
            m.clear();
        }
        self.imports.borrow_mut().clear();
        self.refs.borrow_mut().clear();
        self.exports.borrow_mut().clear();
        self.unchecked.borrow_mut().clear();
    }

    /// Loads codebase file `path` as a module, unless it is loaded already (or
    /// being loaded: modules may refer to each other), and returns its number.
    pub fn load_file(self: &Rc<Self>, ctx: &Ctx<'_>, path: &str) -> Result<usize> {
        let key = normalize(path);
        if let Some(&i) = self.by_key.borrow().get(&key) {
            return Ok(i);
        }
        let bytes = match self.read(&key) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(Exception::throw_message(ctx, &format!("cannot read module {key}"))),
            Err(why) => return Err(Exception::throw_message(ctx, &format!("cannot load module {path}: {why}"))),
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| Exception::throw_message(ctx, &format!("module {key} is not UTF-8 text")))?;
        let file = self.files.display(&key);
        let index = self.create(ctx, &key, &file)?;
        let (imports, refs, unchecked) =
            (self.imports.borrow().len(), self.refs.borrow().len(), self.unchecked.borrow().len());
        let failed = match self.evaluate(ctx, index, &file, &text) {
            Ok(()) => {
                remember_good(&file, &text);
                self.evaluated.borrow_mut().insert(index);
                return Ok(index);
            }
            Err(e) => e,
        };
        // A module other than the main one that worked before keeps its last
        // good version, so a broken edit to one plugin (or one host's handler)
        // does not hold back the rest of the codebase.
        let Some(good) = last_good(&file).filter(|g| *g != text) else { return Err(failed) };
        let err = error::from_rquickjs(ctx, failed);
        tracing::error!("[reload] module {file} failed to load, its last good version stays: {err}");
        self.imports.borrow_mut().truncate(imports);
        self.refs.borrow_mut().truncate(refs);
        self.unchecked.borrow_mut().truncate(unchecked);
        self.modules.borrow()[index].clear();
        self.evaluate(ctx, index, &file, &good)?;
        self.evaluated.borrow_mut().insert(index);
        Ok(index)
    }

    /// Evaluates `text` as the module `key`, shown in errors as `file`.
    pub fn load_text(self: &Rc<Self>, ctx: &Ctx<'_>, key: &str, file: &str, text: &str) -> Result<usize> {
        let index = self.create(ctx, key, file)?;
        self.evaluate(ctx, index, file, text)?;
        self.evaluated.borrow_mut().insert(index);
        Ok(index)
    }

    /// The exports of the module at `path`, written as module `from` wrote it
    /// (`/x.js` from the codebase's root, `./x.js` and `../x.js` from `from`'s
    /// folder), loading it if it is not yet. Once the module has run, each of
    /// `names` must be one of its exports.
    pub fn exports_of<'js>(
        self: &Rc<Self>,
        ctx: &Ctx<'js>,
        from: usize,
        path: &str,
        names: &[String],
    ) -> Result<Object<'js>> {
        let importer = self.modules.borrow().get(from).map(|m| m.name.clone()).unwrap_or_default();
        let key = match resolve(&importer, path) {
            Ok(key) => key,
            Err(why) => return Err(Exception::throw_message(ctx, &why)),
        };
        if self.is_loaded() && !self.by_key.borrow().contains_key(&key) {
            return Err(Exception::throw_message(
                ctx,
                &format!("module {path} was not loaded when the script started: import it at the top level"),
            ));
        }
        let index = self.load_file(ctx, &key)?;
        let exports: Object = scope(ctx, index)?.get("__proxy_exports")?;
        if self.evaluated.borrow().contains(&index) {
            for name in names {
                if !exports.contains_key(name.as_str())? {
                    return Err(Exception::throw_syntax(ctx, &format!("module {path} has no export '{name}'")));
                }
            }
        } else if !names.is_empty() {
            let at = config::call_site(ctx);
            self.unchecked.borrow_mut().push((index, path.to_string(), names.to_vec(), at));
        }
        Ok(exports)
    }

    /// Makes the module `key`: its number, scope, `pipy` and configurator.
    fn create(self: &Rc<Self>, ctx: &Ctx<'_>, key: &str, file: &str) -> Result<usize> {
        let engine = self.engine.upgrade().expect("the engine outlives the codebase");
        let index = self.modules.borrow().len();
        let scope = Object::new(ctx.clone())?;
        let (shared, pipy, pipeline) = config::install(ctx, &engine, self, index, key)?;
        let api: Object = ctx.globals().get("__proxy_pipy_api")?;
        for prop in api.props::<String, Value>() {
            let (name, value) = prop?;
            pipy.set(name, value)?;
        }
        scope.set("pipy", pipy.clone())?;
        scope.set("pipeline", pipeline)?;
        scope.set("__filename", format!("/{key}"))?;
        self.install_esm(ctx, &scope, index)?;
        ctx.globals().prop(scope_key(index).as_str(), rquickjs::object::Property::from(scope))?;
        if index == 0 {
            // Files evaluated by pipy.solve() run in the global scope and see the
            // main module's `pipy`.
            ctx.globals().set("pipy", pipy)?;
        }
        self.modules.borrow_mut().push(shared);
        self.names.borrow_mut().push(file.to_string());
        self.by_key.borrow_mut().insert(key.to_string(), index);
        Ok(index)
    }

    /// Gives module `index`'s scope what its rewritten `import` and `export`
    /// statements call (see `esm`), installing the script side once per engine.
    fn install_esm<'js>(self: &Rc<Self>, ctx: &Ctx<'js>, scope: &Object<'js>, index: usize) -> Result<()> {
        let globals = ctx.globals();
        if !globals.contains_key("__proxy_esm_install")? {
            let mut opts = EvalOptions::default();
            opts.filename = Some("eval_script:esm.js".into());
            ctx.eval_with_options::<(), _>(ESM_JS, opts)?;
        }
        let weak = Rc::downgrade(self);
        let load = rquickjs::Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, from: usize, path: String, names: Vec<String>| -> Result<Object<'js>> {
                let codebase = weak.upgrade().ok_or_else(|| Exception::throw_message(&ctx, "the codebase is gone"))?;
                codebase.exports_of(&ctx, from, &path, &names)
            },
        )?;
        globals.prop("__proxy_module_exports", rquickjs::object::Property::from(load).configurable())?;
        let install: rquickjs::Function = globals.get("__proxy_esm_install")?;
        install.call::<_, ()>((scope.clone(), index))
    }

    /// Makes each top-level `var` of module `index` a property of its scope, so
    /// that it is the module's own; those named `$...` are per-pipeline
    /// variables, as Pipy has them.
    fn declare_vars(&self, ctx: &Ctx<'_>, index: usize, vars: &[String]) -> Result<()> {
        let scope = scope(ctx, index)?;
        let fiber = Object::new(ctx.clone())?;
        let mut any_fiber = false;
        for name in vars {
            if name.starts_with('$') && name.len() > 1 {
                fiber.set(name.as_str(), Value::new_undefined(ctx.clone()))?;
                any_fiber = true;
            } else if !scope.contains_key(name.as_str())? {
                scope.set(name.as_str(), Value::new_undefined(ctx.clone()))?;
            }
        }
        if any_fiber {
            let shared = self.modules.borrow()[index].clone();
            crate::api::vars::declare(ctx, &scope, &shared.vars, &fiber)?;
        }
        Ok(())
    }

    /// Runs `text` as module `index`'s code.
    fn evaluate(&self, ctx: &Ctx<'_>, index: usize, file: &str, text: &str) -> Result<()> {
        // A `#!` first line (a script made executable for Pipy) is a comment;
        // `//` keeps every line and column where it was.
        let unbanged;
        let text = match text.strip_prefix("#!") {
            Some(rest) => {
                unbanged = format!("//{rest}");
                unbanged.as_str()
            }
            None => text,
        };
        // Import and export statements become calls (on the same lines), and the
        // top-level vars the module's own.
        error::note_wrapped(file, 0);
        let scanned = match esm::scan(text) {
            Ok(s) => s,
            Err(e) => return Err(syntax_error(ctx, file, &e)),
        };
        self.declare_vars(ctx, index, &scanned.vars)?;
        let prologue = scanned.prologue;
        let text = scanned.text.as_str();
        // Syntax errors are found in the user's text as written: the wrapper would
        // move an unclosed bracket's error to the wrapper's own closing brace.
        // A top-level `return` (Pipy's scripts may leave early) is the one error
        // that a function around the text answers: then it runs inside one.
        // The check's errors are in the text as written: no wrapper to take off.
        error::note_wrapped(file, 0);
        let in_function = match check_syntax(ctx, text, file) {
            Ok(()) => false,
            Err(_) => {
                let thrown = ctx.catch();
                let message: String = thrown.as_object().and_then(|o| o.get("message").ok()).unwrap_or_default();
                if message != "return not in a function" {
                    return Err(ctx.throw(thrown));
                }
                let wrapped = format!("{}{text}\n}})", error::FUNCTION_PREFIX);
                if check_syntax(ctx, &wrapped, file).is_err() {
                    // Another error after the return: that one is the user's.
                    error::note_wrapped(file, error::FUNCTION_PREFIX.len());
                    return Err(rquickjs::Error::Exception);
                }
                true
            }
        };
        let mut opts = EvalOptions::default();
        opts.global = true;
        opts.strict = false;
        opts.filename = Some(file.to_string());
        let source = if in_function {
            error::note_wrapped(file, error::PREFIX_LEN + error::FUNCTION_PREFIX.len() + prologue.len());
            format!("{}{}{prologue}{text}\n}}).call(this)}}", prefix(index), error::FUNCTION_PREFIX)
        } else {
            error::note_wrapped(file, error::PREFIX_LEN + prologue.len());
            format!("{}{prologue}{text}\n}}", prefix(index))
        };
        match ctx.eval_with_options::<Value, _>(source, opts) {
            Ok(_) => Ok(()),
            Err(e) if e.is_exception() => {
                let thrown = ctx.catch();
                self.name_the_missing_method(&thrown, text);
                Err(ctx.throw(thrown))
            }
            Err(e) => Err(e),
        }
    }

    /// A call of a method that is not there (`.acceptFoo()`, a filter this
    /// proxy lacks or a typo) fails in QuickJS with a bare "not a function":
    /// the method is named from the source at the error's place, with the
    /// nearest filter name if one is close.
    fn name_the_missing_method(&self, thrown: &Value<'_>, text: &str) {
        let Some(ex) = thrown.as_object() else { return };
        let message: String = ex.get("message").unwrap_or_default();
        if message != "not a function" {
            return;
        }
        let stack: String = ex.get("stack").unwrap_or_default();
        let Some(name) = error::stack_location(&stack).and_then(|at| method_at(text, &at)) else { return };
        let hint = match self.filters().find(&name) {
            Some(_) => String::new(),
            None => {
                let near = self
                    .filters()
                    .iter()
                    .map(|d| (strsim::levenshtein(&d.name.to_ascii_lowercase(), &name.to_ascii_lowercase()), d.name))
                    .filter(|(dist, _)| *dist <= 2.max(name.len() / 4))
                    .min();
                match near {
                    Some((_, n)) => format!(" (no filter has that name; did you mean '{n}'?)"),
                    None => " (no filter has that name)".to_string(),
                }
            }
        };
        let _ = ex.set("message", format!("'{name}' is not a function{hint}"));
    }

    /// A pipeline of module `path` (loading it now if needed), found at the end.
    pub fn pipeline_of(
        self: &Rc<Self>,
        ctx: &Ctx<'_>,
        path: &str,
        name: Option<&str>,
        required: bool,
    ) -> Result<LayoutSlot> {
        let location = config::call_site(ctx);
        let module = self.load_file(ctx, path)?;
        let slot: LayoutSlot = proxy_core::Slot::empty();
        let name = name.map(String::from);
        self.refs.borrow_mut().push(PipelineRef { module, name, slot: slot.clone(), required, location });
        Ok(slot)
    }

    /// Adds variables that `namespace` exports.
    pub fn export(&self, namespace: &str, vars: Vec<(String, VarRef)>) {
        self.exports.borrow_mut().entry(namespace.to_string()).or_default().extend(vars);
    }

    /// A variable `namespace` exports as `name`, found at the end.
    pub fn import(&self, ctx: &Ctx<'_>, namespace: &str, name: &str) -> Rc<OnceCell<VarRef>> {
        let target = Rc::new(OnceCell::new());
        self.imports.borrow_mut().push(Import {
            namespace: namespace.to_string(),
            name: name.to_string(),
            target: target.clone(),
            location: config::call_site(ctx),
        });
        target
    }

    /// Checks the imports made from modules still loading (cycles), now that
    /// every module has run: each name must be an export.
    pub fn check_cycles(&self, ctx: &Ctx<'_>) -> std::result::Result<(), ScriptError> {
        for (index, path, names, at) in self.unchecked.borrow_mut().drain(..) {
            let exports: Object =
                scope(ctx, index).and_then(|s| s.get("__proxy_exports")).map_err(|e| error::from_rquickjs(ctx, e))?;
            for name in names {
                if !exports.contains_key(name.as_str()).unwrap_or(false) {
                    let message = format!("SyntaxError: module {path} has no export '{name}'");
                    return Err(ScriptError { message, location: at, stack: None });
                }
            }
        }
        Ok(())
    }

    /// Turns what every module built into one program: layouts made, names,
    /// module references and imports resolved, ports and tasks of every module.
    pub fn finish(&self) -> std::result::Result<Program, ScriptError> {
        let mut program = Program::default();
        let mut built = Vec::new();
        let mut slots = Vec::new();
        for m in self.modules.borrow().iter() {
            let mut b = config::finish(m)?;
            program.ports.append(&mut b.ports);
            program.tasks.append(&mut b.tasks);
            let pipelines = std::mem::take(&mut b.roots);
            slots.append(&mut b.slots);
            program.modules.push(proxy_core::ModuleLayouts { name: m.name.clone(), pipelines });
            built.push(b);
        }
        let fail = |message: String, location: Option<String>| ScriptError { message, location, stack: None };
        for r in self.refs.borrow_mut().drain(..) {
            let b = &built[r.module];
            let found: Option<&Rc<PipelineLayout>> = match &r.name {
                Some(n) => b.named.get(n),
                None => b.entrance.as_ref(),
            };
            match found {
                Some(layout) => {
                    r.slot.set(layout.clone());
                    slots.push(r.slot.clone());
                }
                None if r.required => {
                    let file = &self.names.borrow()[r.module];
                    let what = match &r.name {
                        Some(n) => format!("no pipeline '{n}'"),
                        None => "no entrance pipeline (pipeline() without a name)".to_string(),
                    };
                    return Err(fail(format!("module {file} has {what}"), r.location));
                }
                None => {}
            }
        }
        let exports = self.exports.borrow();
        for i in self.imports.borrow_mut().drain(..) {
            let Some(var) = exports.get(&i.namespace).and_then(|ns| ns.get(&i.name)) else {
                return Err(fail(
                    format!("import: no module exports '{}' in namespace '{}'", i.name, i.namespace),
                    i.location,
                ));
            };
            let _ = i.target.set(var.clone());
        }
        program.generation = Rc::new(proxy_core::Generation::new(slots));
        Ok(program)
    }
}

/// The method called at `at` (`file:line:col`) in `text`: the name after the
/// `.` at that place, the name the place is in, or the one just before it.
fn method_at(text: &str, at: &str) -> Option<String> {
    let mut parts = at.rsplitn(3, ':');
    let col: usize = parts.next()?.parse().ok()?;
    let line: usize = parts.next()?.parse().ok()?;
    let src = text.lines().nth(line.checked_sub(1)?)?;
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let from = src.char_indices().nth(col.checked_sub(1)?).map(|(i, _)| i)?;
    // The start of the name at or after the place (past a `.`), or before a `(`.
    let mut start = if src[from..].starts_with('.') {
        from + 1 + (src[from + 1..].len() - src[from + 1..].trim_start().len())
    } else if src[from..].starts_with('(') {
        let before = src[..from].trim_end();
        before.rfind(|c: char| !is_ident(c)).map(|i| i + 1).unwrap_or(0)
    } else {
        from
    };
    // Back to the start of the name the place is in.
    while let Some(c) = src[..start].chars().next_back().filter(|c| is_ident(*c)) {
        start -= c.len_utf8();
    }
    let name: String = src[start..].chars().take_while(|c| is_ident(*c)).collect();
    (src[..start].trim_end().ends_with('.') && !name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_name_one_module_however_written() {
        assert_eq!(normalize("plugins/a.js"), "plugins/a.js");
        assert_eq!(normalize("/plugins/a.js"), "plugins/a.js");
        assert_eq!(normalize("./plugins/a.js"), "plugins/a.js");
        assert_eq!(prefix(7).len(), crate::engine::error::PREFIX_LEN);
        assert_eq!(prefix(9999).len(), crate::engine::error::PREFIX_LEN);
    }

    #[test]
    fn the_method_is_read_from_where_the_call_failed() {
        let text = "pipy()\n  .listen(8080)\n  .acceptFoo()\npipy().listen(1).muxHTP()";
        assert_eq!(method_at(text, "main.js:3:3").as_deref(), Some("acceptFoo"), "at the dot");
        assert_eq!(method_at(text, "main.js:3:4").as_deref(), Some("acceptFoo"), "at the name");
        assert_eq!(method_at(text, "main.js:3:8").as_deref(), Some("acceptFoo"), "inside the name");
        assert_eq!(method_at(text, "main.js:3:13").as_deref(), Some("acceptFoo"), "at the call's bracket");
        assert_eq!(method_at(text, "main.js:4:17").as_deref(), Some("muxHTP"));
        assert_eq!(method_at(text, "main.js:1:1"), None, "not a method call");
        assert_eq!(method_at(text, "main.js:9:1"), None, "no such line");
    }
}
