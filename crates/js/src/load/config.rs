//! The legacy Configuration API: `pipy(vars)` returns a configurator whose methods
//! (`listen`, `pipeline`, `onStart`, `to`, and one per filter of the codebase's
//! `proxy_core::filters::Registry`) build pipeline layouts. Filter methods are
//! generated from that table: each reads its own arguments through `JsArgs`.
//!
//! Configurators are objects with one shared prototype; `__draft` says which layout
//! they add to (-1: the layout of the last `listen` / `pipeline` call). A `$=>$`
//! builder gets a configurator of a fresh anonymous layout.
//!
//! The newer (designer) API is here too, so far as it goes: `pipeline($=>$...)`
//! makes a layout object (a draft of the module, usable wherever a `$=>$`
//! builder is: `.to()`, `link()`, `pipy.listen()`), and `pipy.listen(port,
//! [protocol], [options], builder | layout)` listens with it.

use crate::api::vars::ModuleVars;
use crate::engine::error;
use crate::engine::Engine;
use crate::load::args::{options_of, JsArgs, JsOptions};
use crate::load::module::Codebase;
use proxy_core::OnStart;
use proxy_core::OptionReader;
use proxy_core::LISTEN_OPTIONS;
use proxy_core::{FilterSpec, LayoutSlot, ListenOptions, PipelineLayout, Port, ScriptError};
use rquickjs::function::{Opt, Rest, This};
use rquickjs::{Ctx, Exception, Function, Object, Result, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::{Rc, Weak};

/// A layout being built.
pub struct Draft {
    name: String,
    filters: Vec<FilterSpec>,
    on_start: Option<OnStart>,
    on_end: Option<Rc<dyn proxy_core::Callback>>,
    slot: LayoutSlot,
    /// Where each filter was added, for errors found when loading ends.
    sites: Vec<Option<String>>,
}

/// What a module's configuration calls have built so far.
#[derive(Default)]
pub struct ModuleBuilder {
    drafts: Vec<Draft>,
    current: Option<usize>,
    named: HashMap<String, usize>,
    /// References to named pipelines, resolved when loading ends: name, slot, call site.
    pub(crate) refs: Vec<(String, LayoutSlot, Option<String>)>,
    ports: Vec<(SocketAddr, ListenOptions, usize)>,
    tasks: Vec<(proxy_core::TaskSchedule, usize)>,
    entrance: Option<usize>,
    declared_vars: bool,
}

impl ModuleBuilder {
    fn add_draft(&mut self, name: String) -> usize {
        self.drafts.push(Draft {
            name,
            filters: Vec::new(),
            on_start: None,
            on_end: None,
            slot: proxy_core::Slot::empty(),
            sites: Vec::new(),
        });
        self.drafts.len() - 1
    }
}

/// State shared by a module's configuration functions.
pub struct ModuleShared {
    /// Layouts under construction.
    pub builder: RefCell<ModuleBuilder>,
    engine: Weak<Engine>,
    codebase: Weak<Codebase>,
    /// The module's number in its codebase.
    pub index: usize,
    /// The module's context variables.
    pub vars: Rc<ModuleVars>,
    /// The module's file in its codebase (`plugins/router.js`).
    pub name: String,
}

/// Where module `index`'s configurator prototype is kept: on the script side, so
/// that no Rust value holds a script object across the engine's lifetime.
fn proto_key(index: usize) -> String {
    format!("__proxy_configurator_{index}")
}

impl ModuleShared {
    /// Drops everything built so far (script callbacks included), so that a failed
    /// load leaves nothing holding script values when the engine goes away.
    pub fn clear(&self) {
        *self.builder.borrow_mut() = ModuleBuilder::default();
    }

    /// The engine (alive as long as the host is).
    pub fn engine(&self) -> Rc<Engine> {
        self.engine.upgrade().expect("the engine outlives its modules")
    }

    /// The codebase the module belongs to (alive as long as the host is).
    pub fn codebase(&self) -> Rc<Codebase> {
        self.codebase.upgrade().expect("the codebase outlives its modules")
    }
}

/// `file:line:col` of the script code calling into Rust right now.
pub fn call_site(ctx: &Ctx<'_>) -> Option<String> {
    let e = Exception::from_message(ctx.clone(), "").ok()?;
    error::stack_location(&e.stack().unwrap_or_default())
}

fn throw(ctx: &Ctx<'_>, msg: &str) -> rquickjs::Error {
    Exception::throw_type(ctx, msg)
}

/// Configuration builds layouts while the script loads; afterwards (in a
/// callback) there is nothing left to add to.
fn while_loading(ctx: &Ctx<'_>, shared: &ModuleShared, method: &str) -> Result<()> {
    if shared.codebase.upgrade().is_none_or(|c| c.is_loaded()) {
        return Err(throw(ctx, &format!("{method}(): pipelines can be configured only while the script loads")));
    }
    Ok(())
}

/// The layout `this` adds to (checked: `this` may be any object a script made).
fn draft_of(ctx: &Ctx<'_>, shared: &ModuleShared, this: &Object<'_>, method: &str) -> Result<usize> {
    while_loading(ctx, shared, method)?;
    let b = shared.builder.borrow();
    let d: i32 = this.get("__draft").unwrap_or(-1);
    let d = if d >= 0 {
        d as usize
    } else {
        b.current.ok_or_else(|| throw(ctx, &format!("{method}(): call listen() or pipeline() first")))?
    };
    if d >= b.drafts.len() {
        return Err(throw(ctx, &format!("{method}(): called on an object that is not a configurator of this module")));
    }
    Ok(d)
}

fn configurator<'js>(ctx: &Ctx<'js>, module: usize, draft: i32) -> Result<Object<'js>> {
    let proto: Object = ctx.globals().get(proto_key(module).as_str())?;
    let o = Object::new(ctx.clone())?;
    o.set_prototype(Some(&proto))?;
    o.prop("__draft", rquickjs::object::Property::from(draft))?;
    Ok(o)
}

/// Runs a `$=>$...` builder on a fresh anonymous layout and returns its slot.
pub fn build_sub<'js>(ctx: &Ctx<'js>, shared: &Rc<ModuleShared>, f: Function<'js>) -> Result<LayoutSlot> {
    let draft = build_draft(ctx, shared, "anonymous", f)?;
    Ok(shared.builder.borrow().drafts[draft].slot.clone())
}

/// Runs a `$=>$...` builder on a fresh layout called `name`; its draft.
fn build_draft<'js>(ctx: &Ctx<'js>, shared: &Rc<ModuleShared>, name: &str, f: Function<'js>) -> Result<usize> {
    let draft = shared.builder.borrow_mut().add_draft(name.into());
    let conf = configurator(ctx, shared.index, draft as i32)?;
    let _: Value = f.call((conf,))?;
    Ok(draft)
}

/// The property of a layout object (`pipeline($=>$...)`) that names its draft.
const LAYOUT_DRAFT: &str = "__proxy_layout_draft";
/// The property of a layout object that names its module.
const LAYOUT_MODULE: &str = "__proxy_layout_module";

/// The property of a layout object that finds its slot at run time (see `LAYOUTS`).
const LAYOUT_ID: &str = "__proxy_layout_id";

thread_local! {
    /// The slot of every layout object made on this worker, by id, held weakly:
    /// the program holds the slots, and a script value must not hold Rust values
    /// that hold script values (the engine's collector cannot see such cycles).
    static LAYOUTS: RefCell<(HashMap<u64, std::rc::Weak<proxy_core::Slot>>, u64)> = RefCell::new((HashMap::new(), 0));
}

/// A layout object for `draft` of module `module`, whose slot is `slot`.
fn layout_object<'js>(ctx: &Ctx<'js>, module: usize, draft: usize, slot: &LayoutSlot) -> Result<Object<'js>> {
    let id = LAYOUTS.with(|l| {
        let (map, next) = &mut *l.borrow_mut();
        if map.len() >= 1024 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        *next += 1;
        map.insert(*next, Rc::downgrade(slot));
        *next
    });
    let o = Object::new(ctx.clone())?;
    let proto: Option<Object> = ctx.globals().get(layout_proto_key(module).as_str())?;
    o.set_prototype(proto.as_ref())?;
    o.prop(LAYOUT_DRAFT, rquickjs::object::Property::from(draft as i32))?;
    o.prop(LAYOUT_MODULE, rquickjs::object::Property::from(module as i32))?;
    o.prop(LAYOUT_ID, rquickjs::object::Property::from(id as f64))?;
    Ok(o)
}

/// Where module `index`'s layout objects' prototype (`spawn`) is kept.
fn layout_proto_key(index: usize) -> String {
    format!("__proxy_layout_proto_{index}")
}

/// The slot of a layout object, at run time (a callback returned it); `None`
/// for anything else, or a layout of a program that is gone.
pub fn slot_of_object(v: &Value<'_>) -> Option<LayoutSlot> {
    let id: f64 = v.as_object()?.get::<_, Option<f64>>(LAYOUT_ID).ok()??;
    LAYOUTS.with(|l| l.borrow().0.get(&(id as u64)).and_then(|w| w.upgrade()))
}

/// The module and draft a layout object (`pipeline($=>$...)`, of this module
/// or another) stands for, if `v` is one.
pub fn layout_ref(ctx: &Ctx<'_>, shared: &ModuleShared, v: &Value<'_>) -> Result<Option<(usize, usize)>> {
    let Some(o) = v.as_object() else { return Ok(None) };
    let Some(draft) = o.get::<_, Option<i32>>(LAYOUT_DRAFT)? else { return Ok(None) };
    let module: i32 = o.get(LAYOUT_MODULE)?;
    let owner = (module >= 0).then(|| shared.codebase().module(module as usize)).flatten();
    let known = match &owner {
        Some(m) if m.index == shared.index => draft >= 0 && (draft as usize) < shared.builder.borrow().drafts.len(),
        Some(m) => draft >= 0 && (draft as usize) < m.builder.borrow().drafts.len(),
        None => false,
    };
    if !known {
        return Err(throw(ctx, "not a pipeline of this codebase"));
    }
    Ok(Some((module as usize, draft as usize)))
}

/// The slot a layout object's draft will be built into.
pub fn layout_slot(shared: &ModuleShared, (module, draft): (usize, usize)) -> LayoutSlot {
    if module == shared.index {
        return shared.builder.borrow().drafts[draft].slot.clone();
    }
    let owner = shared.codebase().module(module).expect("checked by layout_ref");
    let slot = owner.builder.borrow().drafts[draft].slot.clone();
    slot
}

/// A draft of this module that runs layout object `v`: its own draft, or, for
/// another module's layout, a new one called `name` that links to it.
fn local_draft(ctx: &Ctx<'_>, shared: &ModuleShared, v: &Value<'_>, name: &str) -> Result<Option<usize>> {
    let Some(r) = layout_ref(ctx, shared, v)? else { return Ok(None) };
    if r.0 == shared.index {
        return Ok(Some(r.1));
    }
    Ok(Some(linking_draft(ctx, shared, layout_slot(shared, r), name)?))
}

/// A new draft called `name` whose one filter links to `slot`.
fn linking_draft(ctx: &Ctx<'_>, shared: &ModuleShared, slot: LayoutSlot, name: &str) -> Result<usize> {
    let spec = (proxy_core::filters::link::DEF.build)(
        &proxy_core::filters::link::DEF,
        &mut proxy_core::ValueArgs(vec![proxy_core::ValueArg::Layout(slot)]),
    )
    .map_err(|e| throw(ctx, &e.0))?;
    let mut b = shared.builder.borrow_mut();
    let d = b.add_draft(name.to_string());
    b.drafts[d].filters.push(spec);
    b.drafts[d].sites.push(None);
    Ok(d)
}

fn parse_listen_addr(ctx: &Ctx<'_>, v: &Value<'_>) -> Result<SocketAddr> {
    let text = if let Some(n) = v.as_number() {
        format!("[::]:{}", n as u32)
    } else if let Some(s) = v.as_string() {
        let s = s.to_string()?;
        if s.chars().all(|c| c.is_ascii_digit()) {
            format!("[::]:{s}")
        } else {
            s
        }
    } else {
        return Err(throw(ctx, "listen(): the port must be a number or an 'ip:port' string"));
    };
    text.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| throw(ctx, &format!("listen(): '{text}' is not a valid port or address")))
}

fn listen_options<'js>(ctx: &Ctx<'js>, shared: &ModuleShared, v: Option<Value<'js>>) -> Result<ListenOptions> {
    let js = match v.as_ref().and_then(|v| v.as_object()) {
        Some(o) => options_of(ctx, shared, o)?,
        None => JsOptions::default(),
    };
    let err = |e: proxy_core::ArgError| throw(ctx, &e.0);
    let r = OptionReader::check("listen", &[LISTEN_OPTIONS], Box::new(js)).map_err(err)?;
    ListenOptions::read(&r).map_err(err)
}

/// Makes module `index`'s configurator prototype and returns the module's state,
/// its `pipy()` function (with `pipy.listen`) and its `pipeline()` function.
pub fn install<'js>(
    ctx: &Ctx<'js>,
    engine: &Rc<Engine>,
    codebase: &Rc<Codebase>,
    index: usize,
    name: &str,
) -> Result<(Rc<ModuleShared>, Function<'js>, Function<'js>)> {
    let shared = Rc::new(ModuleShared {
        builder: RefCell::new(ModuleBuilder::default()),
        engine: Rc::downgrade(engine),
        codebase: Rc::downgrade(codebase),
        index,
        vars: ModuleVars::new(ctx, index, Rc::downgrade(engine))?,
        name: name.to_string(),
    });
    let proto = Object::new(ctx.clone())?;

    for def in codebase.filters().iter() {
        let name = def.name;
        let s = shared.clone();
        let method =
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: This<Object<'js>>, args: Rest<Value<'js>>| {
                let draft = draft_of(&ctx, &s, &this.0, name)?;
                let mut a = JsArgs { ctx: ctx.clone(), args: args.0, shared: &s, thrown: None };
                let spec = match (def.build)(def, &mut a) {
                    Ok(spec) => spec,
                    Err(e) => return Err(a.into_throw(e)),
                };
                let site = if spec.joint { call_site(&ctx) } else { None };
                let mut b = s.builder.borrow_mut();
                b.drafts[draft].filters.push(spec);
                b.drafts[draft].sites.push(site);
                Ok::<_, rquickjs::Error>(this.0)
            })?;
        proto.set(name, method)?;
    }

    let s = shared.clone();
    proto.set(
        "listen",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, this: This<Object<'js>>, port: Value<'js>, opts: Opt<Value<'js>>| {
                while_loading(&ctx, &s, "listen")?;
                let addr = parse_listen_addr(&ctx, &port)?;
                let options = listen_options(&ctx, &s, opts.0)?;
                let mut b = s.builder.borrow_mut();
                let d = b.add_draft(addr.port().to_string());
                b.current = Some(d);
                b.ports.push((addr, options, d));
                Ok::<_, rquickjs::Error>(this.0)
            },
        )?,
    )?;

    let s = shared.clone();
    proto.set(
        "task",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: This<Object<'js>>, when: Opt<Value<'js>>| {
            while_loading(&ctx, &s, "task")?;
            let schedule = match when.0.filter(|v| !v.is_undefined() && !v.is_null()) {
                None => proxy_core::TaskSchedule::Once,
                Some(v) => {
                    let text: String = if let Some(n) = v.as_number() {
                        n.to_string()
                    } else {
                        v.get::<rquickjs::Coerced<String>>()?.0
                    };
                    match proxy_core::parse_duration(&text) {
                        Some(d) if !d.is_zero() => proxy_core::TaskSchedule::Every(d),
                        _ if text.starts_with("SIG") => match proxy_core::SIGNALS.iter().find(|s| **s == text) {
                            Some(name) => proxy_core::TaskSchedule::Signal(name),
                            None => {
                                return Err(throw(
                                    &ctx,
                                    &format!(
                                        "task('{text}'): tasks can run on {} (use exit() to run on shutdown)",
                                        proxy_core::SIGNALS.join(", ")
                                    ),
                                ))
                            }
                        },
                        _ => {
                            return Err(throw(
                                &ctx,
                                &format!("task(): '{text}' is not an interval like '5s' or a signal like 'SIGHUP'"),
                            ))
                        }
                    }
                }
            };
            let mut b = s.builder.borrow_mut();
            let d = b.add_draft("task".into());
            b.current = Some(d);
            b.tasks.push((schedule, d));
            Ok::<_, rquickjs::Error>(this.0)
        })?,
    )?;

    // repeat(n, ($, i) => ...) / repeat([values], ($, value, i) => ...): a load-time
    // loop that calls the builder with this configurator. repeat(condition) alone
    // is the newer API's filter of that name.
    // Kept on the prototype, not in the closure: a script value a Rust closure
    // holds is one the engine's collector cannot see.
    if let Some(filter) = proto.get::<_, Option<Function>>("repeat")? {
        proto.prop("__proxy_repeat_filter", rquickjs::object::Property::from(filter))?;
    }
    proto.set(
        "repeat",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, this: This<Object<'js>>, what: Value<'js>, f: Opt<Function<'js>>| {
                let Some(f) = f.0 else {
                    let filter: Option<Function> = this.0.get("__proxy_repeat_filter")?;
                    return match (filter, what.is_function()) {
                        (Some(filter), true) => filter.call((This(this.0), what)),
                        _ => Err(throw(
                            &ctx,
                            "repeat(): expects a condition function, or a count or an array and a builder",
                        )),
                    };
                };
                if let Some(arr) = what.as_array() {
                    for (i, v) in arr.iter::<Value>().enumerate() {
                        let _: Value = f.call((this.0.clone(), v?, i))?;
                    }
                } else if let Some(n) = what.as_number() {
                    for i in 0..n.max(0.0) as usize {
                        let _: Value = f.call((this.0.clone(), i))?;
                    }
                } else {
                    return Err(throw(&ctx, "repeat(): expects a count or an array, then a function"));
                }
                Ok(this.0)
            },
        )?,
    )?;

    let s = shared.clone();
    proto.set(
        "pipeline",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: This<Object<'js>>, name: Opt<String>| {
            while_loading(&ctx, &s, "pipeline")?;
            let mut b = s.builder.borrow_mut();
            let Some(name) = name.0 else {
                // The module's entrance, run by chain() and use() from other modules.
                if b.entrance.is_some() {
                    return Err(throw(&ctx, "pipeline(): a module has one pipeline without a name"));
                }
                let d = b.add_draft(s.name.clone());
                b.entrance = Some(d);
                b.current = Some(d);
                return Ok(this.0);
            };
            if b.named.contains_key(&name) {
                return Err(throw(&ctx, &format!("pipeline(): '{name}' is defined twice")));
            }
            let d = b.add_draft(name.clone());
            b.named.insert(name, d);
            b.current = Some(d);
            Ok(this.0)
        })?,
    )?;

    let s = shared.clone();
    proto.set(
        "onStart",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: This<Object<'js>>, args: Rest<Value<'js>>| {
            let draft = draft_of(&ctx, &s, &this.0, "onStart")?;
            let mut a = JsArgs { ctx: ctx.clone(), args: args.0, shared: &s, thrown: None };
            let start = {
                use proxy_core::{Args, Param};
                let param = (&mut a as &mut dyn Args).events_param(0);
                match param {
                    Ok(Param::Static(evs)) => OnStart::Events(evs),
                    Ok(Param::Dynamic(cb)) => OnStart::Callback(cb),
                    Err(e) => return Err(a.into_throw(e)),
                }
            };
            s.builder.borrow_mut().drafts[draft].on_start = Some(start);
            Ok::<_, rquickjs::Error>(this.0)
        })?,
    )?;

    // onEnd(fn): called when each pipeline of the layout is gone, in its context.
    let s = shared.clone();
    proto.set(
        "onEnd",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: This<Object<'js>>, f: Value<'js>| {
            let draft = draft_of(&ctx, &s, &this.0, "onEnd")?;
            let Some(f) = f.as_function() else { return Err(throw(&ctx, "onEnd(): takes a function")) };
            let cb = crate::load::args::callback_of(&s, &ctx, f.clone());
            s.builder.borrow_mut().drafts[draft].on_end = Some(cb);
            Ok::<_, rquickjs::Error>(this.0)
        })?,
    )?;

    let s = shared.clone();
    proto.set(
        "to",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: This<Object<'js>>, target: Value<'js>| {
            let draft = draft_of(&ctx, &s, &this.0, "to")?;
            let mut a = JsArgs { ctx: ctx.clone(), args: vec![target], shared: &s, thrown: None };
            let slot = match proxy_core::Args::layout(&mut a, 0) {
                Ok(slot) => slot,
                Err(e) => return Err(a.into_throw(e)),
            };
            let mut b = s.builder.borrow_mut();
            match b.drafts[draft].filters.last_mut() {
                Some(f) if f.joint => f.subs.push(slot),
                Some(f) => return Err(throw(&ctx, &format!("to(): {}() takes no sub-pipeline", f.name))),
                None => return Err(throw(&ctx, "to(): there is no filter before it")),
            }
            Ok(this.0)
        })?,
    )?;

    let s = shared.clone();
    proto.set(
        "export",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, this: This<Object<'js>>, namespace: String, vars: Object<'js>| {
                while_loading(&ctx, &s, "export")?;
                let scope = crate::load::module::scope(&ctx, s.index)?;
                let declared = crate::api::vars::declare(&ctx, &scope, &s.vars, &vars)?;
                s.codebase().export(&namespace, declared);
                Ok::<_, rquickjs::Error>(this.0)
            },
        )?,
    )?;

    let s = shared.clone();
    proto.set(
        "import",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: This<Object<'js>>, map: Object<'js>| {
            while_loading(&ctx, &s, "import")?;
            let scope = crate::load::module::scope(&ctx, s.index)?;
            let codebase = s.codebase();
            for prop in map.props::<String, String>() {
                let (name, namespace) = prop?;
                let target = codebase.import(&ctx, &namespace, &name);
                crate::api::vars::alias(&ctx, &scope, &name, target)?;
            }
            Ok::<_, rquickjs::Error>(this.0)
        })?,
    )?;

    // exit(): a root pipeline run once when the worker stops.
    let s = shared.clone();
    proto.set(
        "exit",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: This<Object<'js>>| {
            while_loading(&ctx, &s, "exit")?;
            let mut b = s.builder.borrow_mut();
            let d = b.add_draft("exit".into());
            b.current = Some(d);
            b.tasks.push((proxy_core::TaskSchedule::Exit, d));
            Ok::<_, rquickjs::Error>(this.0)
        })?,
    )?;

    ctx.globals().prop(proto_key(index).as_str(), rquickjs::object::Property::from(proto))?;

    let s = shared.clone();
    let pipy = Function::new(ctx.clone(), move |ctx: Ctx<'js>, vars: Opt<Value<'js>>| {
        if let Some(v) = vars.0.filter(|v| !v.is_undefined() && !v.is_null()) {
            while_loading(&ctx, &s, "pipy")?;
            let v = match v.as_function() {
                Some(f) => f.call::<_, Value>(())?,
                None => v,
            };
            let o = v.as_object().ok_or_else(|| throw(&ctx, "pipy(): context variables must be an object"))?;
            if std::mem::replace(&mut s.builder.borrow_mut().declared_vars, true) {
                return Err(throw(&ctx, "pipy(): context variables are declared twice in one module"));
            }
            let scope = crate::load::module::scope(&ctx, s.index)?;
            crate::api::vars::declare(&ctx, &scope, &s.vars, o)?;
        }
        configurator(&ctx, s.index, -1)
    })?;

    // pipy.listen(port, [protocol], [options], builder | layout)
    let s = shared.clone();
    pipy.set(
        "listen",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, port: Value<'js>, rest: Rest<Value<'js>>| {
            while_loading(&ctx, &s, "pipy.listen")?;
            let addr = parse_listen_addr(&ctx, &port)?;
            let mut args = rest.0.into_iter().peekable();
            let protocol = match args.peek() {
                Some(v) if v.is_string() => Some(args.next().expect("peeked").get::<String>()?),
                _ => None,
            };
            let options = match args.peek() {
                Some(v) if v.is_object() && !v.is_function() && layout_ref(&ctx, &s, v)?.is_none() => args.next(),
                _ => None,
            };
            let Some(target) = args.next() else {
                return Err(throw(&ctx, "pipy.listen(port, [protocol], [options], pipeline): the pipeline is missing (null closes the port)"));
            };
            if args.next().is_some() {
                return Err(throw(&ctx, "pipy.listen(port, [protocol], [options], pipeline): too many arguments"));
            }
            let mut options = listen_options(&ctx, &s, options)?;
            match protocol.as_deref() {
                None | Some("tcp") => {}
                Some("udp") => options.protocol = proxy_core::Transport::Udp,
                Some(p) => {
                    return Err(throw(
                        &ctx,
                        &format!("pipy.listen(): protocol '{p}'; this proxy supports 'tcp' or 'udp'"),
                    ))
                }
            }
            // As in Pipy, a later call for a port replaces an earlier one, and
            // null closes it.
            let protocol = options.protocol;
            // `8080` ([::]) and '0.0.0.0:8080' are one port, as in Pipy.
            let same = |a: &SocketAddr| {
                *a == addr || (a.port() == addr.port() && a.ip().is_unspecified() && addr.ip().is_unspecified())
            };
            s.builder.borrow_mut().ports.retain(|(a, o, _)| !(same(a) && o.protocol == protocol));
            if target.is_null() {
                return Ok::<_, rquickjs::Error>(());
            }
            let name = addr.port().to_string();
            let draft = match (local_draft(&ctx, &s, &target, &name)?, target.as_function()) {
                (Some(d), _) => d,
                (None, Some(f)) => build_draft(&ctx, &s, &name, f.clone())?,
                (None, None) => {
                    return Err(throw(&ctx, "pipy.listen(): the last argument is a pipeline or a $=>$ builder"));
                }
            };
            s.builder.borrow_mut().ports.push((addr, options, draft));
            Ok(())
        })?,
    )?;

    // pipy.import(path): the exports of a module (`.default` for its default).
    let s = shared.clone();
    pipy.set(
        "import",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, path: String| {
            s.codebase().exports_of(&ctx, s.index, &path, &[])
        })?,
    )?;

    // pipy.read(path, builder | layout): the file's bytes through a pipeline,
    // once, when the worker starts.
    let s = shared.clone();
    pipy.set(
        "read",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, path: String, target: Value<'js>| {
            while_loading(&ctx, &s, "pipy.read")?;
            let bytes = match s.codebase().read(&path) {
                Ok(Some(b)) => b,
                Ok(None) => return Err(throw(&ctx, &format!("pipy.read(): no file '{path}' in the codebase"))),
                Err(why) => return Err(throw(&ctx, &format!("pipy.read(): {why}"))),
            };
            let name = format!("read {path}");
            let draft = match (layout_ref(&ctx, &s, &target)?, target.as_function()) {
                // A layout of its own that runs the given one: its start is this file.
                (Some(r), _) => linking_draft(&ctx, &s, layout_slot(&s, r), &name)?,
                (None, Some(f)) => build_draft(&ctx, &s, &name, f.clone())?,
                (None, None) => {
                    return Err(throw(&ctx, "pipy.read(): the last argument is a pipeline or a $=>$ builder"))
                }
            };
            // The Promise returned settles, with the StreamEnd, when the run
            // puts one out: a handleStreamEnd at the end of its layout.
            let (promise, resolve, _) = ctx.promise()?;
            let mut a = JsArgs { ctx: ctx.clone(), args: vec![resolve.into_value()], shared: &s, thrown: None };
            let settle =
                match (proxy_core::filters::handle::STREAM_END.build)(&proxy_core::filters::handle::STREAM_END, &mut a)
                {
                    Ok(spec) => spec,
                    Err(e) => return Err(a.into_throw(e)),
                };
            let events = vec![proxy_core::Event::Data(proxy_core::Data::from(bytes)), proxy_core::Event::end()];
            let mut b = s.builder.borrow_mut();
            b.drafts[draft].filters.push(settle);
            b.drafts[draft].sites.push(None);
            b.drafts[draft].on_start = Some(OnStart::Events(events));
            b.tasks.push((proxy_core::TaskSchedule::Once, draft));
            Ok::<_, rquickjs::Error>(promise)
        })?,
    )?;

    // pipeline($=>$...): a layout object.
    let s = shared.clone();
    let pipeline = Function::new(ctx.clone(), move |ctx: Ctx<'js>, builder: Value<'js>| {
        while_loading(&ctx, &s, "pipeline")?;
        let Some(f) = builder.as_function() else {
            return Err(throw(&ctx, "pipeline(): takes a $=>$ builder function"));
        };
        let draft = build_draft(&ctx, &s, "pipeline", f.clone())?;
        let slot = s.builder.borrow().drafts[draft].slot.clone();
        layout_object(&ctx, s.index, draft, &slot)
    })?;
    crate::api::hub::install(&pipeline)?;

    // layout.spawn(): runs a pipeline of the layout once when the worker
    // starts (with no input but what its onStart gives).
    let layout_proto = Object::new(ctx.clone())?;
    let s = shared.clone();
    layout_proto.set(
        "spawn",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: This<Object<'js>>| {
            while_loading(&ctx, &s, "spawn")?;
            let Some(r) = layout_ref(&ctx, &s, this.0.as_value())? else {
                return Err(throw(&ctx, "spawn(): call it on a pipeline() layout"));
            };
            let draft = if r.0 == s.index {
                r.1
            } else {
                // Another module's: a task of this one whose empty Data starts it.
                let d = linking_draft(&ctx, &s, layout_slot(&s, r), "spawn")?;
                let start = vec![proxy_core::Event::Data(proxy_core::Data::new())];
                s.builder.borrow_mut().drafts[d].on_start = Some(OnStart::Events(start));
                d
            };
            s.builder.borrow_mut().tasks.push((proxy_core::TaskSchedule::Once, draft));
            Ok::<_, rquickjs::Error>(this.0)
        })?,
    )?;
    ctx.globals().prop(layout_proto_key(index).as_str(), rquickjs::object::Property::from(layout_proto))?;
    Ok((shared, pipy, pipeline))
}

/// What one module built, ready to be joined with the other modules'.
pub struct Built {
    /// Layouts by pipeline name.
    pub named: HashMap<String, Rc<PipelineLayout>>,
    /// The pipeline without a name.
    pub entrance: Option<Rc<PipelineLayout>>,
    /// Its listening ports.
    pub ports: Vec<Port>,
    /// Its tasks.
    pub tasks: Vec<proxy_core::Task>,
    /// Its root pipelines, for showing the layout.
    pub roots: Vec<(String, Rc<PipelineLayout>)>,
    /// Every slot its layouts use (see `proxy_core::Generation`).
    pub slots: Vec<LayoutSlot>,
}

/// Turns what the module built into layouts, ports and tasks; resolves the names
/// of its own pipelines.
pub fn finish(shared: &ModuleShared) -> std::result::Result<Built, ScriptError> {
    let mut b = shared.builder.borrow_mut();
    let at = |message: String, location: Option<String>| ScriptError { message, location, stack: None };
    let mut layouts: Vec<Rc<PipelineLayout>> = Vec::new();
    let mut slots: Vec<LayoutSlot> = Vec::new();
    for d in std::mem::take(&mut b.drafts) {
        if let Some(i) = d.filters.iter().position(|f| f.joint && f.subs.is_empty()) {
            let message = format!("{}() in pipeline '{}' is missing .to(...)", d.filters[i].name, d.name);
            return Err(at(message, d.sites[i].clone()));
        }
        let layout =
            Rc::new(PipelineLayout { name: d.name, filters: d.filters, on_start: d.on_start, on_end: d.on_end });
        d.slot.set(layout.clone());
        slots.push(d.slot.clone());
        layouts.push(layout);
    }
    for (name, slot, location) in std::mem::take(&mut b.refs) {
        let Some(&i) = b.named.get(&name) else {
            return Err(at(format!("unknown pipeline '{name}'"), location));
        };
        slot.set(layouts[i].clone());
        slots.push(slot);
    }
    let ports = b
        .ports
        .iter()
        .map(|(addr, options, d)| Port { addr: *addr, options: options.clone(), layout: layouts[*d].clone() })
        .collect();
    let tasks = b
        .tasks
        .iter()
        .map(|(schedule, d)| proxy_core::Task { schedule: *schedule, layout: layouts[*d].clone() })
        .collect();
    let mut roots: Vec<(usize, String)> = Vec::new();
    roots.extend(b.ports.iter().map(|(addr, _, d)| (*d, format!("listen {addr}"))));
    roots.extend(b.tasks.iter().map(|(schedule, d)| {
        let what = match schedule {
            proxy_core::TaskSchedule::Once => "task()".to_string(),
            proxy_core::TaskSchedule::Every(p) => format!("task('{}s')", p.as_secs_f64()),
            proxy_core::TaskSchedule::Signal(name) => format!("task('{name}')"),
            proxy_core::TaskSchedule::Exit => "exit()".to_string(),
        };
        (*d, what)
    }));
    roots.extend(b.entrance.map(|d| (d, "pipeline()".to_string())));
    roots.extend(b.named.iter().map(|(n, &d)| (d, format!("pipeline('{n}')"))));
    roots.sort_by_key(|(d, _)| *d);
    Ok(Built {
        slots,
        roots: roots.into_iter().map(|(d, what)| (what, layouts[d].clone())).collect(),
        named: b.named.iter().map(|(n, &i)| (n.clone(), layouts[i].clone())).collect(),
        entrance: b.entrance.map(|i| layouts[i].clone()),
        ports,
        tasks,
    })
}
