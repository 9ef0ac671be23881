//! Context variables. `pipy({_n: 0})` declares `_n`; inside callbacks it is read and
//! assigned as a bare identifier, but every root pipeline has its own value. Each
//! name is an accessor property of the module's scope object (see `module`) that
//! reads and writes the slot of the *current* context, which `JsCallback` sets
//! around every call. Imported variables are accessors to the exporting module's
//! slots, so one context holds one value for every module that sees the name. Initial
//! values are evaluated once at load, so an object given as initial value is shared
//! by reference by every pipeline of the worker, as in Pipy.

use proxy_core::Context;
use proxy_core::ContextVars;
use rquickjs::object::Accessor;
use rquickjs::{Ctx, Exception, Object, Persistent, Result, Value};
use std::any::Any;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

type Slot = Persistent<Value<'static>>;

thread_local! {
    static CURRENT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Makes `cx` the current context until dropped (restoring the previous one).
pub struct CurrentContext(Option<Context>);

impl CurrentContext {
    /// Sets the current context.
    pub fn enter(cx: &Context) -> Self {
        CurrentContext(CURRENT.with(|c| c.replace(Some(cx.clone()))))
    }
}

impl Drop for CurrentContext {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

thread_local! {
    /// Contexts that Promise callbacks were bound to, by id (see `bind_promises`).
    static BOUND: RefCell<(std::collections::HashMap<u64, proxy_core::WeakContext>, usize)> =
        RefCell::new((std::collections::HashMap::new(), 64));
}

/// Makes Promise callbacks run in the context that was current when `then` was
/// called, so that `new Timeout(1).wait().then(() => _done = true)` inside a
/// filter's callback sets that stream's `_done`; and says the context was touched
/// afterwards, so that a `wait()` on it checks again.
pub fn bind_promises<'js>(ctx: &Ctx<'js>) -> Result<()> {
    let g = ctx.globals();
    g.prop(
        "__proxy_context_token",
        rquickjs::object::Property::from(rquickjs::Function::new(ctx.clone(), || -> f64 {
            let Some(cx) = current() else { return 0.0 };
            BOUND.with(|b| {
                let (map, sweep_at) = &mut *b.borrow_mut();
                if map.len() >= *sweep_at {
                    map.retain(|_, w| w.upgrade().is_some());
                    *sweep_at = (map.len() * 2).max(64);
                }
                map.insert(cx.id(), cx.downgrade());
            });
            cx.id() as f64
        })?),
    )?;
    g.prop(
        "__proxy_in_context",
        rquickjs::object::Property::from(rquickjs::Function::new(
            ctx.clone(),
            |id: f64, f: rquickjs::Function<'js>, v: Value<'js>| -> Result<Value<'js>> {
                let cx = BOUND.with(|b| b.borrow().0.get(&(id as u64)).and_then(|w| w.upgrade()));
                let _current = cx.as_ref().map(CurrentContext::enter);
                let r = f.call((v,));
                if let Some(cx) = &cx {
                    cx.touched();
                }
                r
            },
        )?),
    )?;
    ctx.eval::<(), _>(
        r#"(function () {
  var then = Promise.prototype.then, token = __proxy_context_token, run = __proxy_in_context;
  function bind(f, id) { return typeof f === 'function' ? function (v) { return run(id, f, v); } : f; }
  Object.defineProperty(Promise.prototype, 'then', {
    value: function then_in_context(onFulfilled, onRejected) {
      var id = token();
      return id === 0 ? then.call(this, onFulfilled, onRejected) : then.call(this, bind(onFulfilled, id), bind(onRejected, id));
    },
    writable: true, configurable: true,
  });
})();"#,
    )
}

/// The current context, if a callback is running.
pub fn current() -> Option<Context> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The values of every module's variables in one context.
#[derive(Default, Clone)]
struct JsVars {
    modules: Vec<Option<Vec<Slot>>>,
    /// The engine the values live in (declared after them: dropped after them).
    /// A context can outlive every pipeline that holds script callbacks (an idle
    /// upstream session after a reload), and its values must not outlive the engine.
    engine: Option<Rc<crate::engine::Engine>>,
}

impl ContextVars for JsVars {
    fn fork(&self) -> Box<dyn ContextVars> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The variables a module declared (with `pipy({...})` and `.export()`). Their
/// initial values are kept on the script side (a `Persistent` holds its context, so
/// one captured by a script function would be a cycle the engine's collector
/// cannot see).
pub struct ModuleVars {
    module: usize,
    init_key: String,
    count: std::cell::Cell<usize>,
    engine: std::rc::Weak<crate::engine::Engine>,
}

impl ModuleVars {
    /// The (still empty) variables of module `module`.
    pub fn new(ctx: &Ctx<'_>, module: usize, engine: std::rc::Weak<crate::engine::Engine>) -> Result<Rc<ModuleVars>> {
        let init_key = format!("__proxy_vars_{module}");
        ctx.globals().prop(init_key.as_str(), rquickjs::object::Property::from(rquickjs::Array::new(ctx.clone())?))?;
        Ok(Rc::new(ModuleVars { module, init_key, count: std::cell::Cell::new(0), engine }))
    }
}

/// One variable: which module declared it, and its place there.
#[derive(Clone)]
pub struct VarRef {
    vars: Rc<ModuleVars>,
    index: usize,
}

fn initial_values(ctx: &Ctx<'_>, vars: &ModuleVars) -> Result<Vec<Slot>> {
    let init: rquickjs::Array = ctx.globals().get(vars.init_key.as_str())?;
    init.iter::<Value>().map(|v| v.map(|v| Persistent::save(ctx, v))).collect()
}

fn with_slots<R>(ctx: &Ctx<'_>, cx: &Context, vars: &ModuleVars, f: impl FnOnce(&mut Vec<Slot>) -> R) -> Result<R> {
    let needs_init = cx.with_vars(|slot| {
        let js = slot.as_ref().and_then(|b| b.as_any().downcast_ref::<JsVars>());
        js.and_then(|js| js.modules.get(vars.module)).is_none_or(|m| m.is_none())
    });
    let initial = if needs_init { Some(initial_values(ctx, vars)?) } else { None };
    Ok(cx.with_vars(|slot| {
        let boxed = slot.get_or_insert_with(|| Box::new(JsVars::default()));
        let js = boxed.as_any_mut().downcast_mut::<JsVars>().expect("context vars belong to the script host");
        if js.engine.is_none() {
            js.engine = vars.engine.upgrade();
        }
        if js.modules.len() <= vars.module {
            js.modules.resize(vars.module + 1, None);
        }
        let slots = js.modules[vars.module].get_or_insert_with(|| initial.unwrap_or_default());
        f(slots)
    }))
}

/// Outside a pipeline (while the script configures itself) a variable is its
/// initial value: reading gives it, writing changes what every stream starts with.
fn initial<'js>(ctx: &Ctx<'js>, var: &VarRef) -> Result<rquickjs::Array<'js>> {
    ctx.globals().get(var.vars.init_key.as_str())
}

fn read<'js>(ctx: &Ctx<'js>, var: &VarRef) -> Result<Value<'js>> {
    match current() {
        None => initial(ctx, var)?.get(var.index),
        Some(cx) => with_slots(ctx, &cx, &var.vars, |s| s[var.index].clone())?.restore(ctx),
    }
}

fn write<'js>(ctx: &Ctx<'js>, var: &VarRef, v: Value<'js>) -> Result<()> {
    match current() {
        None => initial(ctx, var)?.set(var.index, v),
        Some(cx) => {
            let p = Persistent::save(ctx, v);
            with_slots(ctx, &cx, &var.vars, |s| s[var.index] = p)
        }
    }
}

/// Declares the properties of `init` as variables of `vars`, each an accessor of
/// the same name on `scope`, and returns them by name.
pub fn declare<'js>(
    ctx: &Ctx<'js>,
    scope: &Object<'js>,
    vars: &Rc<ModuleVars>,
    init: &Object<'js>,
) -> Result<Vec<(String, VarRef)>> {
    let values: rquickjs::Array = ctx.globals().get(vars.init_key.as_str())?;
    let mut declared = Vec::new();
    for prop in init.props::<String, Value>() {
        let (name, value) = prop?;
        let index = vars.count.get();
        values.set(index, value)?;
        vars.count.set(index + 1);
        let var = VarRef { vars: vars.clone(), index };
        let (gv, sv) = (var.clone(), var.clone());
        let get = move |ctx: Ctx<'js>| read(&ctx, &gv);
        let set = move |ctx: Ctx<'js>, v: Value<'js>| write(&ctx, &sv, v);
        scope.prop(name.as_str(), Accessor::new(get, set).configurable())?;
        declared.push((name, var));
    }
    Ok(declared)
}

/// Makes `name` on `scope` stand for a variable of another module, which `target`
/// holds once every module is loaded.
pub fn alias<'js>(ctx: &Ctx<'js>, scope: &Object<'js>, name: &str, target: Rc<OnceCell<VarRef>>) -> Result<()> {
    let missing =
        |ctx: &Ctx<'_>| Exception::throw_reference(ctx, "an imported variable is used before every module is loaded");
    let (gt, st) = (target.clone(), target);
    let get = move |ctx: Ctx<'js>| match gt.get() {
        Some(var) => read(&ctx, var),
        None => Err(missing(&ctx)),
    };
    let set = move |ctx: Ctx<'js>, v: Value<'js>| match st.get() {
        Some(var) => write(&ctx, var, v),
        None => Err(missing(&ctx)),
    };
    let _ = ctx;
    scope.prop(name, Accessor::new(get, set).configurable())
}

/// Defines `__inbound`: the current stream's client connection, one object per
/// connection.
pub fn declare_inbound<'js>(ctx: &Ctx<'js>, engine: std::rc::Weak<crate::engine::Engine>) -> Result<()> {
    let get = move |ctx: Ctx<'js>| -> Result<Value<'js>> {
        let (Some(inbound), Some(engine)) = (current().and_then(|c| c.inbound().cloned()), engine.upgrade()) else {
            return Ok(Value::new_undefined(ctx));
        };
        inbound_object(&ctx, &engine, &inbound)
    };
    ctx.globals().prop("__inbound", Accessor::new_get(get).configurable())
}

/// The script object of a client connection: one per connection.
pub fn inbound_object<'js>(
    ctx: &Ctx<'js>,
    engine: &crate::engine::Engine,
    inbound: &Rc<proxy_core::Inbound>,
) -> Result<Value<'js>> {
    let make = || {
        let o = Object::new(ctx.clone())?;
        o.set("id", inbound.id as f64)?;
        // Getters: an accepted PROXY protocol header changes them.
        let w = Rc::downgrade(inbound);
        o.prop("remoteAddress", Accessor::new_get(move || w.upgrade().map(|i| i.client().ip().to_string())))?;
        let w = Rc::downgrade(inbound);
        o.prop("remotePort", Accessor::new_get(move || w.upgrade().map(|i| i.client().port())))?;
        let w = Rc::downgrade(inbound);
        o.prop("localAddress", Accessor::new_get(move || w.upgrade().map(|i| i.destination().ip().to_string())))?;
        let w = Rc::downgrade(inbound);
        o.prop("localPort", Accessor::new_get(move || w.upgrade().map(|i| i.destination().port())))?;
        // True once the connection has closed: what a client borrowed from a
        // balancer can go back to the pool then, not only when collected.
        let weak = Rc::downgrade(inbound);
        let closed = move || weak.upgrade().is_none_or(|i| i.closed.get());
        o.prop("closed", Accessor::new_get(closed))?;
        Ok(o)
    };
    let obj = engine.inbounds.borrow_mut().get(ctx, inbound, make)?;
    Ok(obj.into_value())
}
