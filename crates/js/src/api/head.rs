//! Heads and tails as plain script objects (`{method, path, headers, ...}`), both
//! ways: a repeated header field joins with commas, except `set-cookie`, which
//! becomes an array.

use proxy_core::{Head, Headers, RequestHead, ResponseHead, Tail};
use rquickjs::{Coerced, Ctx, Object, Result, Value};

/// A head as a plain script object.
pub fn head_to_js<'js>(ctx: &Ctx<'js>, head: &Head) -> Result<Value<'js>> {
    let o = Object::new(ctx.clone())?;
    match head {
        Head::None => return Ok(Value::new_undefined(ctx.clone())),
        Head::Request(r) => {
            o.set("method", &*r.method)?;
            o.set("path", &*r.path)?;
            o.set("protocol", &*r.protocol)?;
            if let Some(s) = &r.scheme {
                o.set("scheme", &**s)?;
            }
            if let Some(a) = &r.authority {
                o.set("authority", &**a)?;
            }
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
        Head::WebSocket(f) => {
            o.set("opcode", f.opcode)?;
            o.set("masked", f.masked)?;
        }
        Head::Fields(f) => return crate::api::payload::to_js(ctx, f),
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

/// The fields an HTTP or WebSocket head is made of; a head object with a field
/// outside these (and no `method`, `path` or `headers`) is another codec's.
const HTTP_FIELDS: &[&str] = &["status", "statusText", "protocol", "scheme", "authority", "opcode", "masked"];

/// A head from a script object: with `method` or `path` it is a request; a
/// codec's fields (`type`, `seqID`, ...: anything an HTTP head has not, without
/// `headers`) are kept as they are; with `opcode` (and no `status`) it is a
/// WebSocket message's, otherwise a response (status 200 unless given).
pub fn head_from_js<'js>(v: &Value<'js>) -> Result<Head> {
    let Some(o) = v.as_object() else { return Ok(Head::None) };
    if !o.contains_key("method")? && !o.contains_key("path")? && !o.contains_key("headers")? {
        let mut other = false;
        for key in o.keys::<String>() {
            if !HTTP_FIELDS.contains(&key?.as_str()) {
                other = true;
                break;
            }
        }
        if other {
            let fields = crate::api::payload::from_js(o.ctx(), v)?;
            return Ok(Head::Fields(std::rc::Rc::new(fields)));
        }
    }
    let opcode: Option<Coerced<i32>> = o.get("opcode")?;
    if let (Some(op), false) = (opcode, o.contains_key("status")?) {
        let masked: Option<Coerced<bool>> = o.get("masked")?;
        return Ok(Head::WebSocket(proxy_core::FrameHead {
            opcode: op.0.clamp(0, 15) as u8,
            masked: masked.is_some_and(|m| m.0),
        }));
    }
    let headers = match o.get::<_, Option<Object>>("headers")? {
        Some(h) => headers_from_js(&h)?,
        None => Headers::new(),
    };
    let protocol: Option<Coerced<String>> = o.get("protocol")?;
    let method: Option<Coerced<String>> = o.get("method")?;
    let path: Option<Coerced<String>> = o.get("path")?;
    if method.is_some() || path.is_some() {
        let d = RequestHead::default();
        let text = |k: &str| -> Result<Option<proxy_core::Text>> {
            Ok(o.get::<_, Option<Coerced<String>>>(k)?.map(|v| v.0.into()))
        };
        return Ok(Head::Request(RequestHead {
            method: method.map(|m| m.0.into()).unwrap_or(d.method),
            path: path.map(|p| p.0.into()).unwrap_or(d.path),
            protocol: protocol.map(|p| p.0.into()).unwrap_or(d.protocol),
            headers,
            scheme: text("scheme")?,
            authority: text("authority")?,
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
    if let Some(h) = &tail.headers {
        o.set("headers", headers_to_js(ctx, h)?)?;
    }
    Ok(o.into_value())
}
