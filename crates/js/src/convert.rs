//! Conversions between script values and events: heads to and from plain objects,
//! `Message` / `MessageStart` / `MessageEnd` / `StreamEnd` / `Data` to and from events.

use crate::data::{from_data, to_data};
use proxy_core::{Data, Event, Head, Headers, Message, RequestHead, ResponseHead, StreamError, Tail};
use rquickjs::{Coerced, Ctx, Exception, Object, Result, Value};

/// A head as a plain script object.
pub fn head_to_js<'js>(ctx: &Ctx<'js>, head: &Head) -> Result<Value<'js>> {
    let o = Object::new(ctx.clone())?;
    match head {
        Head::None => return Ok(Value::new_undefined(ctx.clone())),
        Head::Request(r) => {
            o.set("method", &*r.method)?;
            o.set("path", &*r.path)?;
            o.set("protocol", &*r.protocol)?;
            o.set("headers", headers_to_js(ctx, &r.headers)?)?;
        }
        Head::Response(r) => {
            o.set("status", r.status)?;
            if let Some(t) = &r.status_text {
                o.set("statusText", &**t)?;
            }
            o.set("protocol", &*r.protocol)?;
            o.set("headers", headers_to_js(ctx, &r.headers)?)?;
        }
    }
    Ok(o.into_value())
}

fn headers_to_js<'js>(ctx: &Ctx<'js>, headers: &Headers) -> Result<Object<'js>> {
    let o = Object::new(ctx.clone())?;
    for (name, value) in headers.iter() {
        let prev: Value<'js> = o.get(name)?;
        if prev.is_undefined() {
            o.set(name, value)?;
        } else if name == "set-cookie" {
            // Set-Cookie cannot be joined with commas: repeated ones make an array.
            let arr = match prev.as_array() {
                Some(a) => a.clone(),
                None => {
                    let a = rquickjs::Array::new(ctx.clone())?;
                    a.set(0, prev)?;
                    o.set(name, a.clone())?;
                    a
                }
            };
            arr.set(arr.len(), value)?;
        } else {
            let prev: String = prev.get()?;
            o.set(name, format!("{prev}, {value}"))?;
        }
    }
    Ok(o)
}

/// A head from a script object: with `method` or `path` it is a request, otherwise a
/// response (status 200 unless given).
pub fn head_from_js<'js>(v: &Value<'js>) -> Result<Head> {
    let Some(o) = v.as_object() else { return Ok(Head::None) };
    let headers = match o.get::<_, Option<Object>>("headers")? {
        Some(h) => headers_from_js(&h)?,
        None => Headers::new(),
    };
    let protocol: Option<Coerced<String>> = o.get("protocol")?;
    let method: Option<Coerced<String>> = o.get("method")?;
    let path: Option<Coerced<String>> = o.get("path")?;
    if method.is_some() || path.is_some() {
        let d = RequestHead::default();
        return Ok(Head::Request(RequestHead {
            method: method.map(|m| m.0.into()).unwrap_or(d.method),
            path: path.map(|p| p.0.into()).unwrap_or(d.path),
            protocol: protocol.map(|p| p.0.into()).unwrap_or(d.protocol),
            headers,
        }));
    }
    let status: Option<Coerced<i32>> = o.get("status")?;
    let status_text: Option<Coerced<String>> = o.get("statusText")?;
    Ok(Head::Response(ResponseHead {
        status: status.map(|s| s.0.clamp(100, 999) as u16).unwrap_or(200),
        status_text: status_text.map(|s| s.0.into()),
        protocol: protocol.map(|p| p.0.into()).unwrap_or_else(|| "HTTP/1.1".into()),
        headers,
    }))
}

fn headers_from_js(o: &Object<'_>) -> Result<Headers> {
    let mut headers = Headers::new();
    for prop in o.props::<String, Value>() {
        let (name, value) = prop?;
        if let Some(arr) = value.as_array() {
            for v in arr.iter::<Coerced<String>>() {
                headers.append(&name, v?.0);
            }
        } else if !value.is_undefined() && !value.is_null() {
            let s: Coerced<String> = value.get()?;
            headers.append(&name, s.0);
        }
    }
    Ok(headers)
}

/// A tail as a plain script object.
pub fn tail_to_js<'js>(ctx: &Ctx<'js>, tail: &Tail) -> Result<Value<'js>> {
    let o = Object::new(ctx.clone())?;
    o.set("headSize", tail.head_size)?;
    o.set("bodySize", tail.body_size)?;
    Ok(o.into_value())
}

fn construct<'js>(ctx: &Ctx<'js>, class: &str, args: Vec<Value<'js>>) -> Result<Value<'js>> {
    let ctor: rquickjs::Function = ctx.globals().get(class)?;
    let mut a = rquickjs::function::Args::new(ctx.clone(), args.len());
    for v in args {
        a.push_arg(v)?;
    }
    a.apply(&ctor)
}

/// An event as the script object of its class.
pub fn event_to_js<'js>(ctx: &Ctx<'js>, ev: &Event) -> Result<Value<'js>> {
    match ev {
        Event::Data(d) => from_data(ctx, d.clone()),
        Event::MessageStart(h) => {
            let start = crate::message::JsMessageStart::native((**h).clone());
            Ok(rquickjs::Class::instance(ctx.clone(), start)?.into_value())
        }
        Event::MessageEnd(t) => construct(ctx, "MessageEnd", vec![tail_to_js(ctx, t)?]),
        Event::StreamEnd(e) => {
            let name = e.map(|e| e.name()).unwrap_or("");
            construct(ctx, "StreamEnd", vec![rquickjs::String::from_str(ctx.clone(), name)?.into_value()])
        }
    }
}

/// A message as a script `Message` (its parts are converted when a script reads them).
pub fn message_to_js<'js>(ctx: &Ctx<'js>, m: Message) -> Result<Value<'js>> {
    Ok(rquickjs::Class::instance(ctx.clone(), crate::message::JsMessage::native(ctx, m)?)?.into_value())
}

/// What a script value is, from the `__kind` number its prototype carries
/// (a number, so telling kinds apart allocates nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A native `Data`.
    Data = 1,
    /// A native `Message`.
    Message = 2,
    /// A `MessageStart` event.
    MessageStart = 3,
    /// A `MessageEnd` event.
    MessageEnd = 4,
    /// A `StreamEnd` event.
    StreamEnd = 5,
}

/// The kind of an event, Message or Data object.
pub fn kind_of(v: &Value<'_>) -> Option<Kind> {
    let n: i32 = v.as_object()?.get::<_, Option<i32>>("__kind").ok().flatten()?;
    Some(match n {
        1 => Kind::Data,
        2 => Kind::Message,
        3 => Kind::MessageStart,
        4 => Kind::MessageEnd,
        5 => Kind::StreamEnd,
        _ => return None,
    })
}

/// Events from a script value: an Event, a Message, Data, a string (its bytes),
/// an array of them, or nothing (null / undefined).
pub fn events_from_js<'js>(ctx: &Ctx<'js>, v: &Value<'js>, out: &mut Vec<Event>) -> Result<()> {
    events_from_js_at(ctx, v, out, 0)
}

/// How deeply arrays of events may nest (the conversion recurses on the native stack).
const MAX_EVENT_NESTING: usize = 32;

fn events_from_js_at<'js>(ctx: &Ctx<'js>, v: &Value<'js>, out: &mut Vec<Event>, depth: usize) -> Result<()> {
    if v.is_undefined() || v.is_null() {
        return Ok(());
    }
    if let Some(arr) = v.as_array() {
        if depth >= MAX_EVENT_NESTING {
            return Err(Exception::throw_range(ctx, "arrays of events nest too deeply"));
        }
        for item in arr.iter::<Value>() {
            events_from_js_at(ctx, &item?, out, depth + 1)?;
        }
        return Ok(());
    }
    if v.is_string() {
        // Text stands for its bytes (a new body from replaceMessageBody, say).
        out.push(Event::Data(to_data(ctx, v, None)?));
        return Ok(());
    }
    let o = v.as_object();
    match kind_of(v) {
        Some(Kind::Data) => out.push(Event::Data(to_data(ctx, v, None)?)),
        Some(Kind::Message) => {
            let m = rquickjs::Class::<crate::message::JsMessage>::from_value(v)?;
            let m = m.borrow().to_message(ctx)?;
            m.write_events(out);
        }
        Some(Kind::MessageStart) => {
            let start = rquickjs::Class::<crate::message::JsMessageStart>::from_value(v)?;
            let head = start.borrow().to_head()?;
            out.push(Event::start(head));
        }
        Some(Kind::MessageEnd) => out.push(Event::message_end()),
        Some(Kind::StreamEnd) => {
            let err: Option<Coerced<String>> = o.expect("an object").get("error")?;
            let err = err.map(|e| e.0).filter(|e| !e.is_empty());
            out.push(Event::StreamEnd(err.map(|e| StreamError::from_name(&e).unwrap_or(StreamError::RuntimeError))));
        }
        _ => return Err(Exception::throw_type(ctx, "expected an Event, a Message, Data or an array of them")),
    }
    Ok(())
}

/// Writes a script's changes to the head of a `MessageStart` it was given back
/// into `head`; nothing to do if the script never read the head.
pub fn write_back_head(v: &Value<'_>, head: &mut Head) -> Result<()> {
    let Ok(start) = rquickjs::Class::<crate::message::JsMessageStart>::from_value(v) else { return Ok(()) };
    let Some(h) = start.borrow().seen_head() else { return Ok(()) };
    if h.is_object() {
        let new = head_from_js(&h)?;
        // A response head stays a response even if a script adds a `path` field.
        *head = match (&*head, new) {
            (Head::Response(_), Head::Request(r)) => {
                Head::Response(ResponseHead { headers: r.headers, ..ResponseHead::default() })
            }
            (_, n) => n,
        };
    }
    Ok(())
}

/// `Data` of a script value, for callers outside this module.
pub fn data_of<'js>(ctx: &Ctx<'js>, v: &Value<'js>) -> Result<Data> {
    to_data(ctx, v, None)
}
