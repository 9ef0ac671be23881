//! `protobuf`: Protocol Buffers messages without a schema, as Pipy has them.
//! `protobuf.decode(data)` gives a `protobuf.Message` (null if the bytes are
//! not one), `protobuf.encode(message)` its Data, and `new protobuf.Message()`
//! an empty one. A script reads a field by saying what it is: `getInt32(1)`,
//! `getString(2)`, `getMessage(3)`, `getInt32Array(4)`..., and writes one the
//! same way (`setString(2, 'x')`); `getWireType(n)` says how field `n` came.
//! The wire format is `proxy_core::protobuf`.

#![allow(unsafe_code)] // rquickjs' class macros generate `unsafe impl`s of its own traits.

use crate::api::data::{from_data, to_data};
use proxy_core::protobuf::{Kind, Message, Record, KINDS};
use rquickjs::class::Trace;
use rquickjs::function::This;
use rquickjs::{Class, Ctx, Exception, Function, JsLifetime, Object, Result, Value};

/// `protobuf.Message` as scripts see it.
#[derive(Trace, JsLifetime, Default)]
#[rquickjs::class(rename = "Message")]
pub struct JsProtoMessage {
    #[qjs(skip_trace)]
    msg: Message,
}

#[rquickjs::methods]
impl JsProtoMessage {
    /// `new protobuf.Message()`: a message with no fields.
    #[qjs(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    /// How field `n` came: `'VARINT'`, `'I32'`, `'I64'`, `'LEN'`, or `''` if it is absent.
    #[qjs(rename = "getWireType")]
    pub fn wire_type(&self, field: u32) -> &'static str {
        self.msg.last(field).map_or("", |r| r.wire.name())
    }
}

/// The shapes a field is read and written as, besides numbers.
#[derive(Clone, Copy)]
enum Shape {
    Number(Kind),
    String,
    Bytes,
    Message,
}

fn shapes() -> impl Iterator<Item = (Shape, &'static str)> {
    KINDS.iter().map(|&(k, name)| (Shape::Number(k), name)).chain([
        (Shape::String, "String"),
        (Shape::Bytes, "Bytes"),
        (Shape::Message, "Message"),
    ])
}

fn field_number(ctx: &Ctx<'_>, method: &str, n: f64) -> Result<u32> {
    if n.fract() == 0.0 && (1.0..=536_870_911.0).contains(&n) {
        Ok(n as u32)
    } else {
        Err(Exception::throw_range(ctx, &format!("protobuf.Message.{method}: field number {n} is not 1 to 2^29-1")))
    }
}

/// A record read as `shape`.
fn read<'js>(ctx: &Ctx<'js>, shape: Shape, r: &Record) -> Result<Value<'js>> {
    Ok(match shape {
        Shape::Number(Kind::Bool) => Value::new_bool(ctx.clone(), r.bits != 0),
        Shape::Number(k) => Value::new_number(ctx.clone(), k.value(r.bits)),
        Shape::String => rquickjs::String::from_str(ctx.clone(), &String::from_utf8_lossy(&r.bytes))?.into_value(),
        Shape::Bytes => from_data(ctx, proxy_core::Data::from(r.bytes.clone()))?,
        Shape::Message => match Message::decode(&r.bytes) {
            Some(msg) => Class::instance(ctx.clone(), JsProtoMessage { msg })?.into_value(),
            None => Value::new_null(ctx.clone()),
        },
    })
}

/// A script value written as a record of `shape`.
fn write<'js>(ctx: &Ctx<'js>, method: &str, shape: Shape, v: &Value<'js>) -> Result<Record> {
    Ok(match shape {
        Shape::Number(k) => {
            let n = if let Some(b) = v.as_bool() { b as u8 as f64 } else { v.get::<rquickjs::Coerced<f64>>()?.0 };
            Record::number(k.wire(), k.bits(n))
        }
        Shape::String | Shape::Bytes => Record::bytes(to_data(ctx, v, None)?.to_vec()),
        Shape::Message => {
            let Some(m) = v.as_object().and_then(Class::<JsProtoMessage>::from_object) else {
                return Err(Exception::throw_type(
                    ctx,
                    &format!("protobuf.Message.{method}: expects a protobuf.Message"),
                ));
            };
            let mut out = Vec::new();
            m.borrow().msg.encode(&mut out);
            Record::bytes(out)
        }
    })
}

/// Adds `get<Shape>`, `get<Shape>Array`, `set<Shape>` and `set<Shape>Array`
/// for every shape to the class's prototype.
fn add_accessors<'js>(ctx: &Ctx<'js>, proto: &Object<'js>) -> Result<()> {
    type Me<'js> = This<Class<'js, JsProtoMessage>>;
    for (shape, name) in shapes() {
        let method = format!("get{name}");
        proto.set(
            method.clone().as_str(),
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: Me<'js>, field: f64| -> Result<Value<'js>> {
                let field = field_number(&ctx, &method, field)?;
                let me = this.0.borrow();
                match me.msg.last(field) {
                    Some(r) => read(&ctx, shape, r),
                    None => Ok(match shape {
                        Shape::Number(Kind::Bool) => Value::new_bool(ctx.clone(), false),
                        Shape::Number(_) => Value::new_number(ctx.clone(), 0.0),
                        _ => Value::new_null(ctx.clone()),
                    }),
                }
            })?,
        )?;
        let method = format!("get{name}Array");
        proto.set(
            method.clone().as_str(),
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: Me<'js>, field: f64| -> Result<Value<'js>> {
                let field = field_number(&ctx, &method, field)?;
                let me = this.0.borrow();
                let records = me.msg.records(field);
                let a = rquickjs::Array::new(ctx.clone())?;
                match shape {
                    Shape::Number(k) => {
                        let Some(values) = k.values(records) else { return Ok(Value::new_null(ctx)) };
                        for (i, v) in values.into_iter().enumerate() {
                            a.set(
                                i,
                                if k == Kind::Bool {
                                    Value::new_bool(ctx.clone(), v != 0.0)
                                } else {
                                    Value::new_number(ctx.clone(), v)
                                },
                            )?;
                        }
                    }
                    _ => {
                        for (i, r) in records.iter().filter(|r| r.wire == proxy_core::protobuf::Wire::Len).enumerate() {
                            a.set(i, read(&ctx, shape, r)?)?;
                        }
                    }
                }
                Ok(a.into_value())
            })?,
        )?;
        let method = format!("set{name}");
        proto.set(
            method.clone().as_str(),
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: Me<'js>, field: f64, v: Value<'js>| -> Result<()> {
                let field = field_number(&ctx, &method, field)?;
                let records =
                    if v.is_undefined() || v.is_null() { Vec::new() } else { vec![write(&ctx, &method, shape, &v)?] };
                this.0.borrow_mut().msg.set(field, records);
                Ok(())
            })?,
        )?;
        let method = format!("set{name}Array");
        proto.set(
            method.clone().as_str(),
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, this: Me<'js>, field: f64, v: Value<'js>| -> Result<()> {
                let field = field_number(&ctx, &method, field)?;
                let items: Vec<Value<'js>> = match v.as_array() {
                    Some(a) => a.iter().collect::<Result<_>>()?,
                    None if v.is_undefined() || v.is_null() => Vec::new(),
                    None => {
                        return Err(Exception::throw_type(
                            &ctx,
                            &format!("protobuf.Message.{method}: expects an array"),
                        ))
                    }
                };
                let records = match shape {
                    // Numbers are packed into one record, as proto3 writes repeated scalars.
                    Shape::Number(k) if !items.is_empty() => {
                        let mut values = Vec::with_capacity(items.len());
                        for item in &items {
                            values.push(match item.as_bool() {
                                Some(b) => b as u8 as f64,
                                None => item.get::<rquickjs::Coerced<f64>>()?.0,
                            });
                        }
                        vec![k.packed(&values)]
                    }
                    Shape::Number(_) => Vec::new(),
                    _ => items.iter().map(|item| write(&ctx, &method, shape, item)).collect::<Result<_>>()?,
                };
                this.0.borrow_mut().msg.set(field, records);
                Ok(())
            })?,
        )?;
    }
    Ok(())
}

/// Installs `protobuf`: `Message`, `decode` and `encode`.
pub fn install<'js>(ctx: &Ctx<'js>) -> Result<()> {
    let protobuf = Object::new(ctx.clone())?;
    Class::<JsProtoMessage>::define(&protobuf)?;
    if let Some(proto) = Class::<JsProtoMessage>::prototype(ctx)? {
        add_accessors(ctx, &proto)?;
    }
    protobuf.set(
        "decode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, data: Value<'js>| -> Result<Value<'js>> {
            if data.is_undefined() || data.is_null() {
                return Ok(Value::new_null(ctx));
            }
            match Message::decode(&to_data(&ctx, &data, None)?.to_vec()) {
                Some(msg) => Ok(Class::instance(ctx, JsProtoMessage { msg })?.into_value()),
                None => Ok(Value::new_null(ctx)),
            }
        })?,
    )?;
    protobuf.set(
        "encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, v: Value<'js>| -> Result<Value<'js>> {
            if v.is_undefined() || v.is_null() {
                return Ok(Value::new_null(ctx));
            }
            let Some(m) = v.as_object().and_then(Class::<JsProtoMessage>::from_object) else {
                return Err(Exception::throw_type(&ctx, "protobuf.encode: expects a protobuf.Message"));
            };
            let mut out = Vec::new();
            m.borrow().msg.encode(&mut out);
            from_data(&ctx, proxy_core::Data::from(out))
        })?,
    )?;
    ctx.globals().set("protobuf", protobuf)
}
