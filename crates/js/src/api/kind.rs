//! What a script value is among the native kinds (Data, Message, the events),
//! told apart without allocating.

use rquickjs::Value;

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
