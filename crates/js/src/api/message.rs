//! The script's `Message` class, native so that a request handed to a callback is
//! not converted up front: its head becomes a script object only when the callback
//! reads `msg.head`, and its body a `Data` object only when it reads `msg.body`.
//! A message a script builds keeps the values it was given until the host reads
//! them back.

#![allow(unsafe_code)] // rquickjs' class macros generate `unsafe impl`s of its own traits.

use crate::api::data::{from_data, to_data};
use crate::api::head::{head_from_js, head_to_js, tail_to_js};
use proxy_core::{Data, Head, Message, Tail};
use rquickjs::class::{Trace, Tracer};
use rquickjs::function::Opt;
use rquickjs::{Ctx, JsLifetime, Result, Value};

/// A field held natively until a script looks at it.
pub enum Slot<'js, T: 'static> {
    /// Not yet seen by the script.
    Native(T),
    /// What the script sees (or set).
    Js(Value<'js>),
}

// SAFETY: the only thing in a `Slot` tied to `'js` is a `Value<'js>` (`T` is
// 'static), so changing the lifetime only renames the lifetime of that `Value`,
// which is the contract rquickjs itself implements `JsLifetime` for `Value` with.
// The derive macro cannot express the `T: 'static` bound, hence this by hand.
unsafe impl<'js, T: 'static> JsLifetime<'js> for Slot<'js, T> {
    type Changed<'to> = Slot<'to, T>;
}

impl<'js, T: 'static> Slot<'js, T> {
    /// What the script sees: made by `convert` on first read, the same value after.
    fn value(&mut self, convert: impl FnOnce(&T) -> Result<Value<'js>>) -> Result<Value<'js>> {
        if let Slot::Native(t) = self {
            *self = Slot::Js(convert(t)?);
        }
        match self {
            Slot::Js(v) => Ok(v.clone()),
            Slot::Native(_) => unreachable!("converted above"),
        }
    }
}

impl<'js, T: 'static> Trace<'js> for Slot<'js, T> {
    fn trace<'a>(&self, tracer: Tracer<'a, 'js>) {
        if let Slot::Js(v) = self {
            tracer.mark(v);
        }
    }
}

/// `Message` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Message")]
pub struct JsMessage<'js> {
    head: Slot<'js, Head>,
    body: Slot<'js, Data>,
    tail: Slot<'js, Tail>,
    /// The native body's bytes, counted against the scripts' Data budget.
    #[qjs(skip_trace)]
    held: crate::api::data::Held,
}

fn is_body(v: &Value<'_>) -> bool {
    v.is_string()
        || v.is_undefined()
        || v.is_null()
        || crate::api::kind::kind_of(v) == Some(crate::api::kind::Kind::Data)
}

impl<'js> JsMessage<'js> {
    /// Wraps a message from the pipeline; nothing is converted yet.
    pub fn native(ctx: &Ctx<'js>, m: Message) -> Result<Self> {
        let held = crate::api::data::Held::new(ctx, m.body.len())?;
        Ok(JsMessage { head: Slot::Native(m.head), body: Slot::Native(m.body), tail: Slot::Native(m.tail), held })
    }

    /// The message as the pipeline needs it (the object stays usable).
    pub fn to_message(&self, ctx: &Ctx<'js>) -> Result<Message> {
        let head = match &self.head {
            Slot::Native(h) => h.clone(),
            Slot::Js(v) => head_from_js(v)?,
        };
        let body = match &self.body {
            Slot::Native(d) => d.clone(),
            Slot::Js(v) => to_data(ctx, v, None)?,
        };
        Ok(Message { head, body, tail: Tail::default() })
    }
}

#[rquickjs::methods]
impl<'js> JsMessage<'js> {
    /// `new Message()`, `new Message(body)`, `new Message(head, body?, tail?)`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'js>, first: Opt<Value<'js>>, second: Opt<Value<'js>>, third: Opt<Value<'js>>) -> Result<Self> {
        let (first, second, third) = (first.0, second.0, third.0);
        let body_of = |v: Option<Value<'js>>| -> Result<(Slot<'js, Data>, crate::api::data::Held)> {
            Ok(match v {
                Some(v) if v.is_string() => {
                    let data = to_data(&ctx, &v, None)?;
                    let held = crate::api::data::Held::new(&ctx, data.len())?;
                    (Slot::Native(data), held)
                }
                Some(v) if !v.is_undefined() && !v.is_null() => (Slot::Js(v), Default::default()),
                _ => (Slot::Native(Data::new()), Default::default()),
            })
        };
        let undefined = || Slot::Js(Value::new_undefined(ctx.clone()));
        Ok(match (first, second) {
            (Some(f), None) if is_body(&f) => {
                let (body, held) = body_of(Some(f))?;
                JsMessage { head: Slot::Native(Head::None), body, tail: undefined(), held }
            }
            (first, second) => {
                let (body, held) = body_of(second)?;
                JsMessage {
                    head: first.map(Slot::Js).unwrap_or(Slot::Native(Head::None)),
                    body,
                    tail: third.map(Slot::Js).unwrap_or_else(undefined),
                    held,
                }
            }
        })
    }

    /// The head, as a plain object (made on first read).
    #[qjs(get)]
    pub fn head(&mut self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.head.value(|h| head_to_js(&ctx, h))
    }

    /// Replaces the head.
    #[qjs(set, rename = "head")]
    pub fn set_head(&mut self, v: Value<'js>) {
        self.head = Slot::Js(v);
    }

    /// The body, as `Data` (made on first read; later reads see the same object).
    #[qjs(get)]
    pub fn body(&mut self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        // The bytes are about to belong to the Data object (counted there).
        self.held.clear();
        self.body.value(|d| from_data(&ctx, d.clone()))
    }

    /// Replaces the body.
    #[qjs(set, rename = "body")]
    pub fn set_body(&mut self, v: Value<'js>) {
        self.body = Slot::Js(v);
        self.held.clear();
    }

    /// The tail (`headSize`, `bodySize` of a decoded message).
    #[qjs(get)]
    pub fn tail(&mut self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.tail.value(|t| tail_to_js(&ctx, t))
    }

    /// What a codec decoded the message into (`decodeRESP`'s value), if it did.
    #[qjs(get)]
    pub fn payload(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        match &self.tail {
            Slot::Native(Tail { payload: Some(p), .. }) => crate::api::payload::to_js(&ctx, p),
            _ => Ok(Value::new_undefined(ctx)),
        }
    }

    /// Replaces the tail.
    #[qjs(set, rename = "tail")]
    pub fn set_tail(&mut self, v: Value<'js>) {
        self.tail = Slot::Js(v);
    }
}

/// `MessageStart` as scripts see it: native, so that an event handed to a
/// callback (`handleMessageStart`) makes its head a script object only if the
/// callback reads `evt.head`, and needs no writing back if it does not.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "MessageStart")]
pub struct JsMessageStart<'js> {
    head: Slot<'js, Head>,
}

impl<'js> JsMessageStart<'js> {
    /// Wraps a head from the pipeline; nothing is converted yet.
    pub fn native(head: Head) -> Self {
        JsMessageStart { head: Slot::Native(head) }
    }

    /// The head as the script left it: `None` if the script never looked at it.
    pub fn seen_head(&self) -> Option<Value<'js>> {
        match &self.head {
            Slot::Js(v) => Some(v.clone()),
            Slot::Native(_) => None,
        }
    }

    /// The head as the pipeline needs it.
    pub fn to_head(&self) -> Result<Head> {
        match &self.head {
            Slot::Native(h) => Ok(h.clone()),
            Slot::Js(v) if v.is_undefined() || v.is_null() => Ok(Head::None),
            Slot::Js(v) => head_from_js(v),
        }
    }
}

#[rquickjs::methods]
impl<'js> JsMessageStart<'js> {
    /// `new MessageStart(head?)`.
    #[qjs(constructor)]
    pub fn new(head: Opt<Value<'js>>) -> Self {
        JsMessageStart { head: head.0.map(Slot::Js).unwrap_or(Slot::Native(Head::None)) }
    }

    /// The head, as a plain object (made on first read).
    #[qjs(get)]
    pub fn head(&mut self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.head.value(|h| match h {
            Head::None => Ok(Value::new_undefined(ctx.clone())),
            h => head_to_js(&ctx, h),
        })
    }

    /// Replaces the head.
    #[qjs(set, rename = "head")]
    pub fn set_head(&mut self, v: Value<'js>) {
        self.head = Slot::Js(v);
    }
}
