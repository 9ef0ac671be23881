//! `XML`: documents as trees of `XML.Node` (`{name, attributes, children}`,
//! a child a Node or a string of text), as Pipy has them. `XML.parse(text)`
//! and `XML.decode(data)` read one (null if it is not well-formed XML),
//! `XML.stringify(node, space?)` and `XML.encode(node, space?)` write one.
//! Reading is quick-xml's, here (`read`); the Node class and the writer are
//! `xml.js`. Entities other than XML's five and character references are not
//! expanded (there is no DTD processing, so no entity bombs): they stay as
//! written.

use quick_xml::events::Event;
use quick_xml::Reader;
use rquickjs::{Array, Ctx, Function, Object, Result, Value};

/// Deepest element nesting read.
pub const MAX_DEPTH: usize = 256;

/// One element being read: its name, attributes and children so far, and the
/// text that follows its last child (pieces of it are gathered here, so a run of
/// entities costs its length, not its square).
struct Open<'js> {
    name: String,
    attributes: Value<'js>,
    children: Array<'js>,
    text: String,
}

impl<'js> Open<'js> {
    fn push_text(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Puts the gathered text in as a child.
    fn flush(&mut self) -> Result<()> {
        if !self.text.is_empty() {
            let text = std::mem::take(&mut self.text);
            self.children.set(self.children.len(), text)?;
        }
        Ok(())
    }

    fn push_child(&mut self, child: Value<'js>) -> Result<()> {
        self.flush()?;
        self.children.set(self.children.len(), child)
    }

    fn into_value(mut self, ctx: &Ctx<'js>) -> Result<Value<'js>> {
        self.flush()?;
        let a = Array::new(ctx.clone())?;
        a.set(0, self.name)?;
        a.set(1, self.attributes)?;
        a.set(2, self.children)?;
        Ok(a.into_value())
    }
}

fn start<'js>(ctx: &Ctx<'js>, e: &quick_xml::events::BytesStart<'_>) -> Option<Open<'js>> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut attributes = Value::new_null(ctx.clone());
    for a in e.attributes() {
        let a = a.ok()?;
        if attributes.is_null() {
            attributes = Object::new(ctx.clone()).ok()?.into_value();
        }
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let raw = String::from_utf8_lossy(&a.value).into_owned();
        let value = quick_xml::escape::unescape(&raw).map(|v| v.into_owned()).unwrap_or(raw);
        attributes.as_object()?.set(key, value).ok()?;
    }
    Some(Open { name, attributes, children: Array::new(ctx.clone()).ok()?, text: String::new() })
}

/// The document in `text` as nested `[name, attributes, children]` arrays under
/// a root of name `''`; `None` if it is not well-formed.
fn read<'js>(ctx: &Ctx<'js>, text: &str) -> Result<Option<Value<'js>>> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let root = Open {
        name: String::new(),
        attributes: Object::new(ctx.clone())?.into_value(),
        children: Array::new(ctx.clone())?,
        text: String::new(),
    };
    let mut stack = vec![root];
    let mut elements = 0;
    loop {
        let Ok(event) = reader.read_event() else { return Ok(None) };
        match event {
            Event::Start(e) | Event::Empty(e) if stack.len() == 1 && elements > 0 => {
                let _ = e;
                return Ok(None); // a second root element
            }
            Event::Start(e) => {
                let Some(open) = start(ctx, &e) else { return Ok(None) };
                if stack.len() > MAX_DEPTH {
                    return Ok(None);
                }
                elements += 1;
                stack.push(open);
            }
            Event::Empty(e) => {
                let Some(open) = start(ctx, &e) else { return Ok(None) };
                elements += 1;
                let v = open.into_value(ctx)?;
                stack.last_mut().expect("the root is always open").push_child(v)?;
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Ok(None);
                }
                let done = stack.pop().expect("checked").into_value(ctx)?;
                stack.last_mut().expect("the root is always open").push_child(done)?;
            }
            Event::Text(t) if stack.len() > 1 => {
                let Ok(s) = t.decode() else { return Ok(None) };
                stack.last_mut().expect("open").push_text(&s);
            }
            Event::CData(t) if stack.len() > 1 => {
                stack.last_mut().expect("open").push_text(&String::from_utf8_lossy(&t));
            }
            Event::GeneralRef(r) if stack.len() > 1 => {
                let raw = format!("&{};", String::from_utf8_lossy(&r));
                let text = quick_xml::escape::unescape(&raw).map(|v| v.into_owned()).unwrap_or(raw);
                stack.last_mut().expect("open").push_text(&text);
            }
            Event::Eof => break,
            // Text outside the root element, comments, declarations, processing instructions.
            _ => {}
        }
    }
    if stack.len() != 1 || elements == 0 {
        return Ok(None);
    }
    Ok(Some(stack.pop().expect("the root").into_value(ctx)?))
}

/// Installs `XML` (with `XML.Node`).
pub fn install<'js>(ctx: &Ctx<'js>) -> Result<()> {
    let parse = Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| -> Result<Value<'js>> {
        Ok(read(&ctx, &text)?.unwrap_or_else(|| Value::new_null(ctx.clone())))
    })?;
    let define: Function = ctx.eval(include_str!("xml.js"))?;
    define.call::<_, ()>((parse,))
}
