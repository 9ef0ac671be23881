//! Conversions between script values and events: `Message` / `MessageStart` /
//! `MessageEnd` / `StreamEnd` / `Data` to and from events.

use super::data::{from_data, to_data};
use super::head::{head_from_js, tail_to_js};
use super::kind::{kind_of, Kind};
use proxy_core::{Event, Head, Message, ResponseHead, StreamError};
use rquickjs::{Coerced, Ctx, Exception, Result, Value};

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
            let start = crate::api::message::JsMessageStart::native((**h).clone());
            Ok(rquickjs::Class::instance(ctx.clone(), start)?.into_value())
        }
        Event::MessageEnd(t) => {
            let mut args = vec![tail_to_js(ctx, t)?];
            if let Some(p) = &t.payload {
                args.push(crate::api::payload::to_js(ctx, p)?);
            }
            construct(ctx, "MessageEnd", args)
        }
        Event::StreamEnd(e) => {
            let name = e.map(|e| e.name()).unwrap_or("");
            construct(ctx, "StreamEnd", vec![rquickjs::String::from_str(ctx.clone(), name)?.into_value()])
        }
    }
}

/// A message as a script `Message` (its parts are converted when a script reads them).
pub fn message_to_js<'js>(ctx: &Ctx<'js>, m: Message) -> Result<Value<'js>> {
    Ok(rquickjs::Class::instance(ctx.clone(), crate::api::message::JsMessage::native(ctx, m)?)?.into_value())
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
            let m = rquickjs::Class::<crate::api::message::JsMessage>::from_value(v)?;
            let m = m.borrow().to_message(ctx)?;
            m.write_events(out);
        }
        Some(Kind::MessageStart) => {
            let start = rquickjs::Class::<crate::api::message::JsMessageStart>::from_value(v)?;
            let head = start.borrow().to_head()?;
            out.push(Event::start(head));
        }
        Some(Kind::MessageEnd) => {
            let payload: Value = o.expect("an object").get("payload")?;
            if payload.is_undefined() {
                out.push(Event::message_end());
            } else {
                let payload = crate::api::payload::from_js(ctx, &payload)?;
                let tail = proxy_core::Tail { payload: Some(std::rc::Rc::new(payload)), ..Default::default() };
                out.push(Event::MessageEnd(Box::new(tail)));
            }
        }
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
    let Ok(start) = rquickjs::Class::<crate::api::message::JsMessageStart>::from_value(v) else { return Ok(()) };
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
