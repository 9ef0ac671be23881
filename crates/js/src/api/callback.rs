//! `JsCallback`: a script function as a `proxy_core::Callback`. It sets the current
//! context, converts the argument, calls under the deadline, converts the result
//! as the filter asked, and turns a returned Promise into a `Pending`.

use crate::api::convert::{event_to_js, events_from_js, message_to_js, write_back_head};
use crate::api::vars::CurrentContext;
use crate::engine::error;
use crate::engine::{self, Engine, EngineValue};
use proxy_core::{Arg, Callback, Context, Event, Pending, Plain, Returned, ScriptError, ScriptValue, Want};
use rquickjs::{Coerced, Ctx, Function, Persistent, Value};
use std::rc::Rc;

/// A script value kept from Rust, as `proxy_core::ScriptValue` carries it.
type Kept = EngineValue<Persistent<Value<'static>>>;

/// Keeps `v` as a `ScriptValue`.
pub fn script_value<'js>(engine: &Rc<Engine>, ctx: &Ctx<'js>, v: Value<'js>) -> ScriptValue {
    Rc::new(EngineValue { value: Persistent::save(ctx, v), engine: engine.clone() })
}

/// The script value inside `v` (undefined if it was not made by this host).
fn restore_value<'js>(ctx: &Ctx<'js>, v: &ScriptValue) -> rquickjs::Result<Value<'js>> {
    match v.downcast_ref::<Kept>() {
        Some(kept) => kept.value.clone().restore(ctx),
        None => Ok(Value::new_undefined(ctx.clone())),
    }
}

/// The native object behind `v`, for filters that take one (`algo.Quota`,
/// `crypto.Certificate`).
pub fn native_of(v: &Value<'_>) -> Option<ScriptValue> {
    let obj = v.as_object()?;
    if let Some(quota) = rquickjs::Class::<crate::api::algo::quota::JsQuota>::from_object(obj) {
        let q = quota.borrow().quota.clone();
        return Some(Rc::new(q));
    }
    if let Some(hub) = crate::api::hub::native_of(obj) {
        return Some(hub);
    }
    crate::api::crypto::native_of(obj)
}

/// A script value of a plain value a filter hands over.
fn plain_to_js<'js>(ctx: &Ctx<'js>, p: &Plain) -> rquickjs::Result<Value<'js>> {
    Ok(match p {
        Plain::Undefined => Value::new_undefined(ctx.clone()),
        Plain::Bool(b) => Value::new_bool(ctx.clone(), *b),
        Plain::Number(n) => Value::new_number(ctx.clone(), *n),
        Plain::Str(s) => rquickjs::String::from_str(ctx.clone(), s)?.into_value(),
        Plain::List(items) => {
            let a = rquickjs::Array::new(ctx.clone())?;
            for (i, item) in items.iter().enumerate() {
                a.set(i, plain_to_js(ctx, item)?)?;
            }
            a.into_value()
        }
        Plain::Object(fields) => {
            let o = rquickjs::Object::new(ctx.clone())?;
            for (name, v) in fields {
                o.set(*name, plain_to_js(ctx, v)?)?;
            }
            o.into_value()
        }
        Plain::Native(v) => match crate::api::crypto::to_js(ctx, v) {
            Some(made) => made?,
            None => restore_value(ctx, v)?,
        },
    })
}

/// A script function that filters can call.
pub struct JsCallback {
    func: EngineValue<Persistent<Function<'static>>>,
    /// The function declares no parameters, so its argument need not be built.
    takes_no_args: bool,
}

impl JsCallback {
    /// Wraps `func`.
    pub fn new<'js>(engine: Rc<Engine>, ctx: &Ctx<'js>, func: Function<'js>) -> Self {
        let takes_no_args = func.get::<_, i32>("length").is_ok_and(|n| n == 0) && !reads_arguments(&func);
        JsCallback { func: EngineValue { value: Persistent::save(ctx, func), engine }, takes_no_args }
    }
}

/// Whether a function that declares no parameters may still read what it is
/// called with (`(...args) => ...`, `arguments`, or code not shown, as of a
/// native or bound function).
fn reads_arguments(func: &Function<'_>) -> bool {
    let text: Option<String> = func
        .get::<_, Function>("toString")
        .and_then(|f| f.call::<_, String>((rquickjs::function::This(func.clone()),)))
        .ok();
    text.is_none_or(|t| t.contains("...") || t.contains("arguments") || t.contains("[native code]"))
}

impl Callback for JsCallback {
    fn call(&self, cx: &Context, arg: Arg<'_>, want: Want) -> Result<Returned, ScriptError> {
        let _current = CurrentContext::enter(cx);
        let engine = &self.func.engine;
        let result = engine.enter(engine.callback_timeout, |ctx| {
            let func = self.func.value.clone().restore(ctx).map_err(|e| error::from_rquickjs(ctx, e))?;
            if let (Arg::Plain(args), false) = (&arg, self.takes_no_args) {
                let mut list = rquickjs::function::Args::new(ctx.clone(), args.len());
                for a in args.iter() {
                    let v = plain_to_js(ctx, a).map_err(|e| error::from_rquickjs(ctx, e))?;
                    list.push_arg(v).map_err(|e| error::from_rquickjs(ctx, e))?;
                }
                let ret: Value = func.call_arg(list).map_err(|e| error::from_rquickjs(ctx, e))?;
                return convert(ctx, ret, want, Some(cx), engine);
            }
            let (js_arg, write_back) = match arg {
                _ if self.takes_no_args => (Value::new_undefined(ctx.clone()), None),
                Arg::Plain(_) => (Value::new_undefined(ctx.clone()), None),
                Arg::None => (Value::new_undefined(ctx.clone()), None),
                Arg::Inbound => {
                    let v = match cx.inbound() {
                        Some(i) => crate::api::vars::inbound_object(ctx, engine, i),
                        None => Ok(Value::new_undefined(ctx.clone())),
                    };
                    (v.map_err(|e| error::from_rquickjs(ctx, e))?, None)
                }
                Arg::Event(ev) => {
                    let v = event_to_js(ctx, ev).map_err(|e| error::from_rquickjs(ctx, e))?;
                    let wb = matches!(ev, Event::MessageStart(_)).then_some(ev);
                    (v, wb)
                }
                Arg::Message(m) => (message_to_js(ctx, m).map_err(|e| error::from_rquickjs(ctx, e))?, None),
                Arg::Value(v) => (restore_value(ctx, v).map_err(|e| error::from_rquickjs(ctx, e))?, None),
                Arg::Values(values) => {
                    let mut list = rquickjs::function::Args::new(ctx.clone(), values.len());
                    for v in values {
                        let v = restore_value(ctx, v).map_err(|e| error::from_rquickjs(ctx, e))?;
                        list.push_arg(v).map_err(|e| error::from_rquickjs(ctx, e))?;
                    }
                    let ret: Value = func.call_arg(list).map_err(|e| error::from_rquickjs(ctx, e))?;
                    return convert(ctx, ret, want, Some(cx), engine);
                }
            };
            let ret: Value = func.call((js_arg.clone(),)).map_err(|e| error::from_rquickjs(ctx, e))?;
            if let Some(Event::MessageStart(head)) = write_back {
                write_back_head(&js_arg, head).map_err(|e| error::from_rquickjs(ctx, e))?;
            }
            convert(ctx, ret, want, Some(cx), engine)
        });
        let result = result.and_then(|r| r);
        cx.touched();
        result
    }

    fn call_soon(&self, cx: &Context) {
        let run = |f: &JsCallback, cx: &Context| {
            if let Err(e) = f.call(cx, Arg::None, Want::Nothing) {
                tracing::error!("{}", e);
            }
        };
        if !engine::busy() {
            return run(self, cx);
        }
        let later = JsCallback {
            func: EngineValue { value: self.func.value.clone(), engine: self.func.engine.clone() },
            takes_no_args: self.takes_no_args,
        };
        let cx = cx.clone();
        engine::after_script(Box::new(move || run(&later, &cx)));
    }
}

/// An object's identity: its address in the engine's heap. Unique while the
/// object lives; whoever keys by it keeps the object alive meanwhile.
#[allow(unsafe_code)]
fn identity(v: &Value<'_>) -> u64 {
    // SAFETY: reads the pointer bits of a value known to be an object (checked by
    // the caller) that `v` holds a reference to; nothing is dereferenced.
    unsafe { rquickjs::qjs::JS_VALUE_GET_PTR(v.as_raw()) as usize as u64 }
}

/// A grouping key of a primitive: a typed prefix and its text.
fn key_of(v: &Value<'_>) -> rquickjs::Result<Option<String>> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    let s: Coerced<String> = v.get()?;
    let tag = if v.is_string() {
        's'
    } else if v.is_number() {
        'n'
    } else {
        'b'
    };
    Ok(Some(format!("{tag}:{}", s.0)))
}

/// Converts a returned value as the filter wants it.
fn convert<'js>(
    ctx: &Ctx<'js>,
    v: Value<'js>,
    want: Want,
    cx: Option<&Context>,
    engine: &Rc<Engine>,
) -> Result<Returned, ScriptError> {
    if let Some(promise) = v.as_promise() {
        let pending = cx.map(Pending::in_context).unwrap_or_default();
        let (ok, fail) = (pending.clone(), pending.clone());
        // Weak: the function lives in the engine, and must not keep it alive.
        let engine = Rc::downgrade(engine);
        let on_ok = Function::new(ctx.clone(), move |ctx: Ctx<'js>, v: Value<'js>| {
            let Some(engine) = engine.upgrade() else { return };
            ok.settle(convert(&ctx, v, want, None, &engine));
            engine::settled(ok.clone());
        });
        let on_err = Function::new(ctx.clone(), move |v: Value<'js>| {
            fail.settle(Err(error::from_value(v)));
            engine::settled(fail.clone());
        });
        let then = promise.then().map_err(|e| error::from_rquickjs(ctx, e))?;
        let (on_ok, on_err) = match (on_ok, on_err) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return Err(error::from_rquickjs(ctx, e)),
        };
        let _: Value = then
            .call((rquickjs::function::This(promise.clone()), on_ok, on_err))
            .map_err(|e| error::from_rquickjs(ctx, e))?;
        return Ok(Returned::Pending(pending));
    }
    match want {
        Want::Nothing => Ok(Returned::Nothing),
        Want::Key if v.is_object() => Ok(Returned::Object(identity(&v), script_value(engine, ctx, v))),
        Want::Key => Ok(Returned::Str(key_of(&v).map_err(|e| error::from_rquickjs(ctx, e))?)),
        Want::Count => Ok(Returned::Count(v.as_array().map(|a| a.len()))),
        Want::Native => Ok(Returned::Native(native_of(&v))),
        Want::Number => Ok(Returned::Number(v.as_number())),
        Want::Layouts if v.is_undefined() || v.is_null() => Ok(Returned::Nothing),
        Want::Layouts if v.is_string() || v.is_number() => {
            let s: Coerced<String> = v.get().map_err(|e| error::from_rquickjs(ctx, e))?;
            Ok(Returned::Str(Some(s.0)))
        }
        Want::Layouts if !v.is_array() => match crate::load::config::slot_of_object(&v) {
            Some(slot) => Ok(Returned::Layout(slot)),
            None => Err(ScriptError::new("the value returned is not a pipeline (made by pipeline())")),
        },
        Want::Layouts => {
            let items: Vec<Value> = match v.as_array() {
                Some(a) => {
                    a.iter::<Value>().collect::<rquickjs::Result<_>>().map_err(|e| error::from_rquickjs(ctx, e))?
                }
                None => vec![v],
            };
            let mut slots = Vec::with_capacity(items.len());
            for item in &items {
                match crate::load::config::slot_of_object(item) {
                    Some(slot) => slots.push(slot),
                    None => return Err(ScriptError::new("the value returned is not a pipeline (made by pipeline())")),
                }
            }
            Ok(Returned::Layouts(slots))
        }
        Want::Fields => match v.as_object() {
            Some(o) if !v.is_array() && !v.is_function() => {
                let fields =
                    crate::load::args::options_of_with(ctx, engine, o).map_err(|e| error::from_rquickjs(ctx, e))?;
                Ok(Returned::Fields(Some(proxy_core::Fields(Rc::new(fields)))))
            }
            _ => Ok(Returned::Fields(None)),
        },
        Want::Values => match v.as_array() {
            Some(a) => {
                let items = a
                    .iter::<Value>()
                    .collect::<rquickjs::Result<Vec<_>>>()
                    .map_err(|e| error::from_rquickjs(ctx, e))?;
                Ok(Returned::Values(items.into_iter().map(|v| script_value(engine, ctx, v)).collect()))
            }
            None if v.is_undefined() || v.is_null() => Ok(Returned::Value(None)),
            None => Ok(Returned::Value(Some(script_value(engine, ctx, v)))),
        },
        Want::Bool => Ok(Returned::Bool(v.get::<Coerced<bool>>().map(|b| b.0).unwrap_or(false))),
        Want::Str => {
            if v.is_undefined() || v.is_null() {
                Ok(Returned::Str(None))
            } else {
                let s: Coerced<String> = v.get().map_err(|e| error::from_rquickjs(ctx, e))?;
                Ok(Returned::Str(Some(s.0)))
            }
        }
        Want::EventObjects if !v.is_object() => Ok(Returned::Events(Vec::new())),
        Want::Events | Want::EventObjects => {
            let mut out = Vec::new();
            events_from_js(ctx, &v, &mut out).map_err(|e| error::from_rquickjs(ctx, e))?;
            Ok(Returned::Events(out))
        }
    }
}
