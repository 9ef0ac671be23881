//! `http.Agent`: HTTP requests made by scripts. `new http.Agent('host:port')`
//! then `agent.request(method, path, headers?, body?)` gives a Promise of the
//! response `Message`; it rejects with an Error naming the failure (refused,
//! timed out, cut off). Requests run through a pipeline of the same filters
//! scripts use (`muxHTTP` over `connect`), one per host on a worker, so upstream
//! connections are kept alive and reused; each in-flight request has a
//! connection of its own. The Promise settles from the event loop, never inside
//! the call that made the request. `promise.cancel()` gives the request up: the
//! Promise rejects and, if the answer has not come yet, the upstream connection
//! is closed.

use crate::api::convert::{events_from_js, message_to_js};
use crate::engine::{Engine, EngineValue};
use proxy_core::filters::FilterDef;
use proxy_core::{Collected, MessageCollector};
use proxy_core::{Context, Event, Message, Pipeline, PipelineLayout, Sink, StreamError};
use proxy_core::{ValueArg, ValueArgs};
use rquickjs::{Ctx, Exception, Function, Object, Persistent, Result, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Responses larger than this reject instead of filling memory.
const MAX_RESPONSE: usize = 64 << 20;

/// The layout requests to `host` run through: muxHTTP (a connection per
/// in-flight request, idle ones reused) over connect(host).
fn agent_layout(
    connect: &'static FilterDef,
    host: &str,
    connect_options: HashMap<String, String>,
) -> std::result::Result<Rc<PipelineLayout>, String> {
    let connect = (connect.build)(
        connect,
        &mut ValueArgs(vec![ValueArg::Str(host.to_string()), ValueArg::Options(connect_options)]),
    )
    .map_err(|e| e.0)?;
    let upstream = PipelineLayout::new(format!("http.Agent {host}"), vec![connect]).into_slot();
    let mux_options = HashMap::from([("maxQueue".to_string(), "1".to_string())]);
    let mux_def = &proxy_core::filters::mux_http::DEF;
    let mut mux = (mux_def.build)(mux_def, &mut ValueArgs(vec![ValueArg::Null, ValueArg::Options(mux_options)]))
        .map_err(|e| e.0)?;
    mux.subs.push(upstream);
    Ok(Rc::new(PipelineLayout::new(format!("http.Agent {host}"), vec![mux])))
}

/// How one request ended.
// (One per request, moved once.)
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Response(Message),
    Failed(String),
}

/// Settles the Promise of a request, from the event loop.
fn settle(
    engine: Rc<Engine>,
    resolve: Persistent<Function<'static>>,
    reject: Persistent<Function<'static>>,
    outcome: Outcome,
) {
    let ran = proxy_core::call_after(Duration::ZERO, move || {
        let (resolve, reject) = (
            EngineValue { value: resolve, engine: engine.clone() },
            EngineValue { value: reject, engine: engine.clone() },
        );
        let result = engine.enter(engine.callback_timeout, |ctx| -> Result<()> {
            match outcome {
                Outcome::Response(m) => {
                    let f = resolve.value.clone().restore(ctx)?;
                    f.call::<_, ()>((message_to_js(ctx, m)?,))
                }
                Outcome::Failed(why) => {
                    let f = reject.value.clone().restore(ctx)?;
                    let err = Exception::from_message(ctx.clone(), &why)?;
                    f.call::<_, ()>((err,))
                }
            }
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("http.Agent: settling a request failed: {e}"),
            Err(e) => tracing::warn!("http.Agent: settling a request failed: {e}"),
        }
    });
    if !ran {
        tracing::warn!("http.Agent: no event loop to settle the request on");
    }
}

/// Installs the native half of `http.Agent` (`__proxy_http_request`); the class
/// itself is script code (`http.js`).
/// `connect` is the filter requests go out through (none: `http.Agent` requests
/// fail with a clear error).
pub fn install<'js>(ctx: &Ctx<'js>, engine: Weak<Engine>, connect: Option<&'static FilterDef>) -> Result<()> {
    let layouts: Rc<RefCell<HashMap<String, Rc<PipelineLayout>>>> = Rc::default();
    let connect_filter = connect;
    let request = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, host: String, msg: Value<'js>, options: Option<Object<'js>>| -> Result<Value<'js>> {
            let Some(engine) = engine.upgrade() else { return Ok(Value::new_undefined(ctx)) };
            let known = layouts.borrow().get(&host).cloned();
            let layout = match known {
                Some(l) => l,
                None => {
                    let mut connect = HashMap::new();
                    if let Some(o) = &options {
                        for name in ["connectTimeout", "readTimeout", "writeTimeout", "idleTimeout"] {
                            let v: Value = o.get(name)?;
                            if !v.is_undefined() && !v.is_null() {
                                connect.insert(name.to_string(), v.get::<rquickjs::Coerced<String>>()?.0);
                            }
                        }
                    }
                    let Some(build) = connect_filter else {
                        return Err(Exception::throw_type(&ctx, "http.Agent: this build has no connect filter"));
                    };
                    let l = agent_layout(build, &host, connect)
                        .map_err(|e| Exception::throw_type(&ctx, &format!("http.Agent: {e}")))?;
                    layouts.borrow_mut().insert(host.clone(), l.clone());
                    l
                }
            };
            let mut events = Vec::new();
            events_from_js(&ctx, &msg, &mut events)?;
            let (promise, resolve, reject) = ctx.promise()?;
            let pending =
                Rc::new(RefCell::new(Some((Persistent::save(&ctx, resolve), Persistent::save(&ctx, reject)))));
            let pending_for_cancel = pending.clone();
            // The request's pipeline keeps itself alive until its answer is in.
            let holder: Rc<RefCell<Option<Pipeline>>> = Rc::default();
            let collector = RefCell::new(MessageCollector::new(Some(MAX_RESPONSE)));
            let (h, e) = (holder.clone(), Rc::downgrade(&engine));
            let sink = Sink::Func(Box::new(move |ev| {
                let outcome = match collector.borrow_mut().feed(ev) {
                    Collected::Message(m) => Outcome::Response(m),
                    Collected::Overflow => Outcome::Failed(format!("the response is larger than {MAX_RESPONSE} bytes")),
                    Collected::Other(Event::StreamEnd(err)) => {
                        let why = err.unwrap_or(StreamError::ConnectionReset);
                        Outcome::Failed(format!("the request failed: {why}"))
                    }
                    _ => return,
                };
                let Some((resolve, reject)) = pending.borrow_mut().take() else { return };
                if let Some(engine) = e.upgrade() {
                    settle(engine, resolve, reject, outcome);
                }
                // Let go of the pipeline from the event loop, not from inside it.
                if let Some(p) = h.borrow_mut().take() {
                    proxy_core::call_after(Duration::ZERO, move || drop(p));
                }
            }));
            let pipeline = Pipeline::new(&layout, Context::new(None), sink);
            *holder.borrow_mut() = Some(pipeline.clone());
            for ev in events {
                pipeline.input(ev);
            }
            // promise.cancel(): gives up the request (closing its upstream
            // connection if the answer has not come yet); the Promise rejects.
            let (h, e) = (Rc::downgrade(&holder), Rc::downgrade(&engine));
            let cancel = Function::new(ctx.clone(), move || {
                let Some(p) = h.upgrade().and_then(|h| h.borrow_mut().take()) else { return };
                if let (Some(engine), Some((resolve, reject))) = (e.upgrade(), pending_for_cancel.borrow_mut().take()) {
                    settle(engine, resolve, reject, Outcome::Failed("the request was cancelled".into()));
                }
                proxy_core::call_after(Duration::ZERO, move || drop(p));
            })?;
            promise.set("cancel", cancel)?;
            Ok(promise.into_value())
        },
    )?;
    ctx.globals().prop("__proxy_http_request", rquickjs::object::Property::from(request))?;
    ctx.eval::<(), _>(include_str!("http.js"))
}
