//! `JsArgs`: the arguments of one filter call in a script, read through
//! `proxy_core::Args` by the filter's own `build` function.

use crate::api::callback::JsCallback;
use crate::api::convert::events_from_js;
use crate::engine::Engine;
use crate::load::config::{self, ModuleShared};
use proxy_core::{ArgError, ArgResult, Args, OptValue, Options};
use proxy_core::{Callback, Event, LayoutSlot};
use rquickjs::{Coerced, Ctx, Function, Object, Value};
use std::collections::HashMap;
use std::rc::Rc;

/// Script arguments of a filter call.
pub struct JsArgs<'a, 'js> {
    pub(crate) ctx: Ctx<'js>,
    pub(crate) args: Vec<Value<'js>>,
    pub(crate) shared: &'a Rc<ModuleShared>,
    /// What script code run while reading the arguments threw (a `$=>$` builder,
    /// another module), to be thrown on as it is rather than as a new error.
    pub(crate) thrown: Option<Value<'js>>,
}

impl<'js> JsArgs<'_, 'js> {
    fn get(&self, i: usize) -> Option<&Value<'js>> {
        self.args.get(i).filter(|v| !v.is_undefined() && !v.is_null())
    }

    fn js_err(&self, e: rquickjs::Error) -> ArgError {
        ArgError(crate::engine::error::from_rquickjs(&self.ctx, e).message)
    }

    /// Keeps the exception script code threw, to throw it on unchanged.
    fn keep_thrown(&mut self, e: rquickjs::Error) -> ArgError {
        if !e.is_exception() {
            return ArgError(e.to_string());
        }
        let thrown = self.ctx.catch();
        let message = crate::engine::error::from_value(thrown.clone()).message;
        self.thrown = Some(thrown);
        ArgError(message)
    }

    /// The error to throw for `e`: the kept exception, or a TypeError saying `e`.
    pub(crate) fn into_throw(self, e: ArgError) -> rquickjs::Error {
        match self.thrown {
            Some(v) => self.ctx.throw(v),
            None => rquickjs::Exception::throw_type(&self.ctx, &e.0),
        }
    }
}

/// Makes a callback of a script function.
pub fn callback_of<'js>(shared: &ModuleShared, ctx: &Ctx<'js>, f: Function<'js>) -> Rc<dyn Callback> {
    Rc::new(JsCallback::new(shared.engine(), ctx, f))
}

impl<'js> Args for JsArgs<'_, 'js> {
    fn len(&self) -> usize {
        self.args.len()
    }

    fn is_nullish(&self, i: usize) -> bool {
        self.get(i).is_none()
    }

    fn is_function(&self, i: usize) -> bool {
        self.get(i).is_some_and(|v| v.is_function())
    }

    fn is_string(&self, i: usize) -> bool {
        self.get(i).is_some_and(|v| v.is_string())
    }

    fn is_object(&self, i: usize) -> bool {
        self.get(i).is_some_and(|v| v.is_object() && !v.is_function() && !v.is_array())
    }

    fn array_len(&self, i: usize) -> Option<usize> {
        self.get(i).and_then(|v| v.as_array()).map(|a| a.len())
    }

    fn truthy(&mut self, i: usize) -> bool {
        self.get(i).is_some_and(|v| v.get::<Coerced<bool>>().map(|b| b.0).unwrap_or(false))
    }

    fn callback(&mut self, i: usize) -> ArgResult<Option<Rc<dyn Callback>>> {
        Ok(match self.get(i).and_then(|v| v.as_function()) {
            Some(f) => Some(callback_of(self.shared, &self.ctx, f.clone())),
            None => None,
        })
    }

    fn events(&mut self, i: usize) -> ArgResult<Vec<Event>> {
        let mut out = Vec::new();
        if let Some(v) = self.get(i).cloned() {
            events_from_js(&self.ctx, &v, &mut out).map_err(|e| self.js_err(e))?;
        }
        Ok(out)
    }

    fn string(&mut self, i: usize) -> ArgResult<Option<String>> {
        match self.get(i) {
            None => Ok(None),
            Some(v) => v.get::<Coerced<String>>().map(|s| Some(s.0)).map_err(|e| self.js_err(e)),
        }
    }

    fn layout(&mut self, i: usize) -> ArgResult<LayoutSlot> {
        if let Some(v) = self.get(i).cloned() {
            if let Some(r) = config::layout_ref(&self.ctx, self.shared, &v).map_err(|e| self.keep_thrown(e))? {
                return Ok(config::layout_slot(self.shared, r));
            }
        }
        match self.get(i).cloned() {
            Some(v) if v.is_function() => {
                let f = v.as_function().expect("checked").clone();
                config::build_sub(&self.ctx, self.shared, f).map_err(|e| self.keep_thrown(e))
            }
            Some(v) if v.is_string() => {
                let name: String = v.get().map_err(|e| self.js_err(e))?;
                let slot: LayoutSlot = proxy_core::Slot::empty();
                let location = config::call_site(&self.ctx);
                self.shared.builder.borrow_mut().refs.push((name, slot.clone(), location));
                Ok(slot)
            }
            _ => Err(ArgError(format!(
                "argument {} must be a pipeline name, a $=>$ builder function or a pipeline() layout",
                i + 1
            ))),
        }
    }

    fn values(&mut self, i: usize) -> ArgResult<Option<Vec<proxy_core::ScriptValue>>> {
        let Some(v) = self.get(i).cloned() else { return Ok(None) };
        let engine = self.shared.engine();
        let keep = |v: Value<'js>| crate::api::callback::script_value(&engine, &self.ctx, v);
        match v.as_array() {
            Some(a) => {
                let items = a.iter::<Value>().collect::<rquickjs::Result<Vec<_>>>().map_err(|e| self.js_err(e))?;
                Ok(Some(items.into_iter().map(keep).collect()))
            }
            None => Ok(Some(vec![keep(v)])),
        }
    }

    fn native(&mut self, i: usize) -> ArgResult<Option<proxy_core::ScriptValue>> {
        Ok(self.get(i).and_then(crate::api::callback::native_of))
    }

    fn strings(&mut self, i: usize) -> ArgResult<Option<Vec<String>>> {
        let Some(v) = self.get(i).cloned() else { return Ok(None) };
        if let Some(a) = v.as_array() {
            let items = a.iter::<Coerced<String>>().map(|s| s.map(|s| s.0)).collect::<rquickjs::Result<Vec<_>>>();
            return items.map(Some).map_err(|e| self.js_err(e));
        }
        Ok(self.string(i)?.map(|s| vec![s]))
    }

    fn module_layout(&mut self, file: &str, name: Option<&str>, required: bool) -> ArgResult<LayoutSlot> {
        let codebase = self.shared.codebase();
        codebase.pipeline_of(&self.ctx, file, name, required).map_err(|e| self.keep_thrown(e))
    }

    fn layouts(&mut self, i: usize) -> ArgResult<Option<Vec<LayoutSlot>>> {
        let Some(a) = self.get(i).and_then(|v| v.as_array()).cloned() else { return Ok(None) };
        let mut out = Vec::with_capacity(a.len());
        for (k, v) in a.iter::<Value>().enumerate() {
            let v = v.map_err(|e| self.js_err(e))?;
            let r = config::layout_ref(&self.ctx, self.shared, &v).map_err(|e| self.keep_thrown(e))?;
            match r {
                Some(r) => out.push(config::layout_slot(self.shared, r)),
                None => return Err(ArgError(format!("element {k} of argument {} is not a pipeline", i + 1))),
            }
        }
        Ok(Some(out))
    }

    fn layout_map(&mut self, i: usize) -> ArgResult<Option<Vec<(String, LayoutSlot)>>> {
        let Some(o) = self.get(i).filter(|v| !v.is_array() && !v.is_function()).and_then(|v| v.as_object()).cloned()
        else {
            return Ok(None);
        };
        if config::layout_ref(&self.ctx, self.shared, o.as_value()).map_err(|e| self.keep_thrown(e))?.is_some() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for prop in o.props::<String, Value>() {
            let (name, v) = prop.map_err(|e| self.js_err(e))?;
            let slot = match config::layout_ref(&self.ctx, self.shared, &v).map_err(|e| self.keep_thrown(e))? {
                Some(r) => config::layout_slot(self.shared, r),
                None => match v.as_function() {
                    Some(f) => config::build_sub(&self.ctx, self.shared, f.clone()).map_err(|e| self.keep_thrown(e))?,
                    None => return Err(ArgError(format!("'{name}' of argument {} is not a pipeline", i + 1))),
                },
            };
            out.push((name, slot));
        }
        Ok(Some(out))
    }

    fn warn(&mut self, message: &str) {
        static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let location = config::call_site(&self.ctx).unwrap_or_else(|| "a script".into());
        let line = format!("{location}: {message}");
        let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
        // Each worker loads the same script: a location is said once (again after
        // many reloads have filled the list, which stays bounded).
        if !warned.contains(&line) {
            tracing::warn!("{line}");
            if warned.len() >= 256 {
                warned.clear();
            }
            warned.push(line);
        }
    }

    fn options(&mut self, i: usize) -> ArgResult<Box<dyn Options>> {
        let Some(v) = self.get(i).cloned() else { return Ok(Box::new(JsOptions::default())) };
        let Some(o) = v.as_object() else {
            return Err(ArgError(format!("argument {} must be an options object", i + 1)));
        };
        options_of(&self.ctx, self.shared, o).map(|o| Box::new(o) as Box<dyn Options>).map_err(|e| self.js_err(e))
    }
}

/// Options read once from a script object.
#[derive(Default)]
pub struct JsOptions(HashMap<String, OptValue>);

impl Options for JsOptions {
    fn get(&self, name: &str) -> Option<OptValue> {
        self.0.get(name).cloned()
    }
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.keys().cloned().collect();
        names.sort();
        names
    }
}

/// Reads every property of an options object.
pub fn options_of<'js>(ctx: &Ctx<'js>, shared: &ModuleShared, o: &Object<'js>) -> rquickjs::Result<JsOptions> {
    options_of_with(ctx, &shared.engine(), o)
}

/// Objects inside options are read this deep (`certificate: { cert, key }` is 2),
/// so that an object referring to itself ends.
const DEPTH: usize = 4;

/// Reads every property of an options object, with callbacks run by `engine`.
pub fn options_of_with<'js>(ctx: &Ctx<'js>, engine: &Rc<Engine>, o: &Object<'js>) -> rquickjs::Result<JsOptions> {
    fields_of(ctx, engine, o, DEPTH)
}

fn fields_of<'js>(ctx: &Ctx<'js>, engine: &Rc<Engine>, o: &Object<'js>, depth: usize) -> rquickjs::Result<JsOptions> {
    let mut map = HashMap::new();
    for prop in o.props::<String, Value>() {
        let (name, v) = prop?;
        if v.is_undefined() || v.is_null() {
            continue;
        }
        map.insert(name, option_value(ctx, engine, v, depth)?);
    }
    Ok(JsOptions(map))
}

fn option_value<'js>(ctx: &Ctx<'js>, engine: &Rc<Engine>, v: Value<'js>, depth: usize) -> rquickjs::Result<OptValue> {
    Ok(if let Some(n) = v.as_number() {
        OptValue::Number(n)
    } else if let Some(s) = v.as_string() {
        OptValue::Str(s.to_string()?)
    } else if let Some(b) = v.as_bool() {
        OptValue::Bool(b)
    } else if let Some(f) = v.as_function() {
        OptValue::Callback(Rc::new(JsCallback::new(engine.clone(), ctx, f.clone())))
    } else if let Some(native) = crate::api::callback::native_of(&v) {
        OptValue::Native(native)
    } else if depth == 0 {
        OptValue::Other
    } else if let Some(a) = v.as_array() {
        let items = a.iter::<Value>().collect::<rquickjs::Result<Vec<_>>>()?;
        OptValue::List(
            items.into_iter().map(|v| option_value(ctx, engine, v, depth - 1)).collect::<rquickjs::Result<_>>()?,
        )
    } else if let Some(o) = v.as_object() {
        OptValue::Fields(proxy_core::Fields(Rc::new(fields_of(ctx, engine, o, depth - 1)?)))
    } else {
        OptValue::Other
    })
}
