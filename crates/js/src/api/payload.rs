//! Codec payloads (`MessageEnd.payload`) to and from script values: text,
//! numbers, booleans, `null`, `Data`, `Error`s, arrays and plain objects.

use proxy_core::payload::{Payload, MAX_DEPTH};
use rquickjs::{Coerced, Ctx, Exception, Object, Result, Value};

/// The script value of `p`.
pub fn to_js<'js>(ctx: &Ctx<'js>, p: &Payload) -> Result<Value<'js>> {
    Ok(match p {
        Payload::Null => Value::new_null(ctx.clone()),
        Payload::Bool(b) => Value::new_bool(ctx.clone(), *b),
        Payload::Int(n) => Value::new_number(ctx.clone(), *n as f64),
        Payload::Number(n) => Value::new_number(ctx.clone(), *n),
        Payload::Str(s) => rquickjs::String::from_str(ctx.clone(), s)?.into_value(),
        Payload::Bytes(d) => crate::api::data::from_data(ctx, d.clone())?,
        Payload::Error(m) => Exception::from_message(ctx.clone(), m)?.into_value(),
        Payload::Array(items) => {
            let a = rquickjs::Array::new(ctx.clone())?;
            for (i, item) in items.iter().enumerate() {
                a.set(i, to_js(ctx, item)?)?;
            }
            a.into_value()
        }
        Payload::Map(fields) => {
            let o = Object::new(ctx.clone())?;
            for (k, v) in fields {
                o.set(k.as_str(), to_js(ctx, v)?)?;
            }
            o.into_value()
        }
    })
}

/// The most values one payload made from a script value may hold (a tree that
/// shares a subtree many times counts each time it is reached).
pub const MAX_VALUES: usize = 1 << 20;

/// The payload of a script value (a function or another native object is its text).
pub fn from_js<'js>(ctx: &Ctx<'js>, v: &Value<'js>) -> Result<Payload> {
    let mut left = MAX_VALUES;
    from_js_at(ctx, v, 0, &mut left)
}

fn from_js_at<'js>(ctx: &Ctx<'js>, v: &Value<'js>, depth: usize, left: &mut usize) -> Result<Payload> {
    if depth > MAX_DEPTH {
        return Err(Exception::throw_range(ctx, &format!("a payload nests deeper than {MAX_DEPTH}")));
    }
    if *left == 0 {
        return Err(Exception::throw_range(ctx, &format!("a payload holds more than {MAX_VALUES} values")));
    }
    *left -= 1;
    if v.is_undefined() || v.is_null() {
        return Ok(Payload::Null);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Payload::Bool(b));
    }
    if let Some(n) = v.as_number() {
        return Ok(if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
            Payload::Int(n as i64)
        } else {
            Payload::Number(n)
        });
    }
    if let Some(s) = v.as_string() {
        // A lone surrogate (which JSON.parse of client text can make) becomes U+FFFD.
        let text =
            s.to_string().or_else(|_| v.get::<Coerced<String>>().map(|c| c.0)).unwrap_or_else(|_| "\u{fffd}".into());
        return Ok(Payload::Str(text));
    }
    if crate::api::kind::kind_of(v) == Some(crate::api::kind::Kind::Data) {
        return Ok(Payload::Bytes(crate::api::data::to_data(ctx, v, None)?));
    }
    if let Some(e) = v.as_object().and_then(|o| Exception::from_object(o.clone())) {
        return Ok(Payload::Error(e.message().unwrap_or_default()));
    }
    if let Some(a) = v.as_array() {
        // The length is read as a number: a sparse array may claim 2^32 - 1.
        let len: f64 = a.as_object().get("length")?;
        if len > *left as f64 {
            return Err(Exception::throw_range(ctx, &format!("a payload holds more than {MAX_VALUES} values")));
        }
        let mut items = Vec::with_capacity((len as usize).min(1024));
        for i in 0..len as usize {
            let item: Value = a.as_object().get(i as u32)?;
            items.push(from_js_at(ctx, &item, depth + 1, left)?);
        }
        return Ok(Payload::Array(items));
    }
    if let Some(o) = v.as_object().filter(|_| !v.is_function()) {
        let mut fields = Vec::new();
        for prop in o.props::<String, Value>() {
            let (k, item) = prop?;
            fields.push((k, from_js_at(ctx, &item, depth + 1, left)?));
        }
        return Ok(Payload::Map(fields));
    }
    Ok(Payload::Str(v.get::<Coerced<String>>()?.0))
}

/// Installs `RESP`: `RESP.decode(data)` gives the array of the values in it
/// (a malformed one throws), `RESP.encode(value)` the Data of one value.
pub fn install_resp<'js>(ctx: &Ctx<'js>) -> Result<()> {
    let resp = Object::new(ctx.clone())?;
    resp.set(
        "decode",
        rquickjs::Function::new(ctx.clone(), |ctx: Ctx<'js>, data: Value<'js>| -> Result<Value<'js>> {
            if data.is_undefined() || data.is_null() {
                return Ok(Value::new_null(ctx));
            }
            let data = crate::api::data::to_data(&ctx, &data, None)?;
            let mut d = proxy_core::resp::Decoder::new(crate::api::data::budget_left());
            let mut values = Vec::new();
            let mut take = |f| {
                if let proxy_core::resp::Found::Value(v) = f {
                    values.push(v)
                }
            };
            if let Err(e) = data.chunks().try_for_each(|chunk| d.feed(chunk, &mut take)) {
                return Err(Exception::throw_type(&ctx, &format!("RESP.decode: {e}")));
            }
            to_js(&ctx, &Payload::Array(values))
        })?,
    )?;
    resp.set(
        "encode",
        rquickjs::Function::new(ctx.clone(), |ctx: Ctx<'js>, v: Value<'js>| -> Result<Value<'js>> {
            let mut out = Vec::new();
            proxy_core::resp::encode(&from_js(&ctx, &v)?, &mut out);
            crate::api::data::from_data(&ctx, proxy_core::Data::from(out))
        })?,
    )?;
    ctx.globals().set("RESP", resp)
}
