//! HTTP/1.x encoder: message events in, bytes out. The head is written as Pipy
//! writes it: start line, the script's headers in order, then `content-length`
//! (or `transfer-encoding: chunked` once the body outgrows the buffer), then
//! `connection`. Output keeps the MessageStart / MessageEnd markers around the bytes.

use super::status;
use crate::data::Data;
use crate::event::Event;
use crate::head::{Head, Headers, RequestHead, ResponseHead};
use bytes::{BufMut, BytesMut};

/// What a response encoder must know about the request it answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseInfo {
    /// The request was `HEAD`: send the head only.
    pub head_request: bool,
    /// Close the connection after this response.
    pub is_final: bool,
}

struct Current {
    head: Head,
    info: ResponseInfo,
    buffer: Data,
    length: usize,
    chunked: bool,
}

/// Encodes a stream of HTTP/1.x requests or responses.
pub struct Encoder {
    response: bool,
    buffer_size: usize,
    next_info: ResponseInfo,
    current: Option<Current>,
}

impl Encoder {
    /// An encoder of responses (a server's side).
    pub fn responses(buffer_size: usize) -> Self {
        Encoder { response: true, buffer_size, next_info: ResponseInfo::default(), current: None }
    }

    /// An encoder of requests (a client's side).
    pub fn requests(buffer_size: usize) -> Self {
        Encoder { response: false, buffer_size, next_info: ResponseInfo::default(), current: None }
    }

    /// Sets what the next response answers.
    pub fn set_response_info(&mut self, info: ResponseInfo) {
        self.next_info = info;
    }

    /// True while a message is being encoded.
    pub fn in_message(&self) -> bool {
        self.current.is_some()
    }

    /// Encodes one event, calling `out` with what goes on the wire.
    pub fn encode(&mut self, ev: Event, out: &mut impl FnMut(Event)) {
        match ev {
            Event::MessageStart(head) => {
                if self.current.is_none() {
                    let info = std::mem::take(&mut self.next_info);
                    self.current = Some(Current { head: *head, info, buffer: Data::new(), length: 0, chunked: false });
                }
            }
            Event::Data(d) => {
                let buffer_size = self.buffer_size;
                let response = self.response;
                let Some(cur) = &mut self.current else { return };
                if cur.info.head_request {
                    cur.length += d.len();
                } else if cur.chunked {
                    if !d.is_empty() {
                        out(Event::Data(chunk(d)));
                    }
                } else {
                    cur.length += d.len();
                    cur.buffer.push(d);
                    if cur.buffer.len() > buffer_size {
                        cur.chunked = true;
                        let body = std::mem::take(&mut cur.buffer);
                        out(Event::start(cur.head.clone()));
                        out(Event::Data(write_head(cur, response)));
                        out(Event::Data(chunk(body)));
                    }
                }
            }
            Event::MessageEnd(tail) => {
                let Some(mut cur) = self.current.take() else { return };
                if cur.chunked {
                    out(Event::Data(Data::from("0\r\n\r\n")));
                } else {
                    out(Event::start(cur.head.clone()));
                    // Head and body as one Data: one write, one segment on the wire.
                    let mut wire = write_head(&mut cur, self.response);
                    if !cur.info.head_request && !cur.buffer.is_empty() && !bodiless(&cur.head) {
                        wire.push(std::mem::take(&mut cur.buffer));
                    }
                    out(Event::Data(wire));
                }
                if self.response && cur.info.is_final {
                    out(Event::end());
                } else {
                    out(Event::MessageEnd(tail));
                }
            }
            ev @ Event::StreamEnd(_) => {
                self.current = None;
                out(ev);
            }
        }
    }
}

fn bodiless(head: &Head) -> bool {
    matches!(head, Head::Response(r) if r.status < 200 || r.status == 204 || r.status == 304)
}

fn chunk(d: Data) -> Data {
    let mut out = Data::from(format!("{:X}\r\n", d.len()));
    out.push(d);
    out.push(Data::from("\r\n"));
    out
}

fn write_head(cur: &mut Current, response: bool) -> Data {
    let mut b = BytesMut::with_capacity(128);
    let default_request;
    let default_response;
    let mut no_length = false;
    let mut method_sets_length = false;
    let headers: &Headers = if response {
        let r = match &cur.head {
            Head::Response(r) => r,
            _ => {
                default_response = ResponseHead::default();
                &default_response
            }
        };
        put(&mut b, if r.protocol.is_empty() { "HTTP/1.1" } else { &r.protocol });
        b.put_u8(b' ');
        put(&mut b, &r.status.to_string());
        b.put_u8(b' ');
        put(&mut b, r.status_text.as_deref().or(status::reason(r.status)).unwrap_or("OK"));
        put(&mut b, "\r\n");
        if r.status < 200 || r.status == 204 {
            no_length = true;
        }
        &r.headers
    } else {
        let r = match &cur.head {
            Head::Request(r) => r,
            _ => {
                default_request = RequestHead::default();
                &default_request
            }
        };
        put(&mut b, if r.method.is_empty() { "GET" } else { &r.method });
        b.put_u8(b' ');
        put(&mut b, if r.path.is_empty() { "/" } else { &r.path });
        b.put_u8(b' ');
        put(&mut b, if r.protocol.is_empty() { "HTTP/1.1" } else { &r.protocol });
        put(&mut b, "\r\n");
        method_sets_length = matches!(r.method.as_str(), "POST" | "PUT" | "PATCH");
        &r.headers
    };
    let mut connection: Option<&str> = None;
    for (name, value) in headers.iter() {
        match name {
            "keep-alive" | "transfer-encoding" => continue,
            "content-length" => {
                if cur.info.head_request {
                    no_length = true;
                } else {
                    continue;
                }
            }
            "connection" => {
                connection = Some(value);
                continue;
            }
            _ => {}
        }
        put(&mut b, name);
        put(&mut b, ": ");
        put(&mut b, value);
        put(&mut b, "\r\n");
    }
    if !no_length {
        if cur.chunked {
            put(&mut b, "transfer-encoding: chunked\r\n");
        } else if cur.length > 0 || response || method_sets_length {
            put(&mut b, "content-length: ");
            put(&mut b, &cur.length.to_string());
            put(&mut b, "\r\n");
        }
    }
    if response && cur.info.is_final {
        put(&mut b, "connection: close\r\n");
    } else if let Some(c) = connection {
        put(&mut b, "connection: ");
        put(&mut b, c);
        put(&mut b, "\r\n");
    } else {
        put(&mut b, "connection: keep-alive\r\n");
    }
    put(&mut b, "\r\n");
    Data::from(b.freeze())
}

fn put(b: &mut BytesMut, s: &str) {
    b.put_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Message;

    fn wire(enc: &mut Encoder, events: Vec<Event>) -> String {
        let mut s = Vec::new();
        for ev in events {
            enc.encode(ev, &mut |e| match e {
                Event::Data(d) => s.extend(d.to_vec()),
                Event::StreamEnd(_) => s.extend(b"<EOS>"),
                _ => {}
            });
        }
        String::from_utf8(s).unwrap()
    }

    #[test]
    fn response_head_matches_pipy_byte_for_byte() {
        let mut enc = Encoder::responses(16);
        let out = wire(&mut enc, Message::new(Head::None, "Hello!\n").into_events());
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: keep-alive\r\n\r\nHello!\n");

        let mut head = ResponseHead::with_status(201);
        head.headers.set("x-path", "/a");
        head.headers.set("Content-Length", "999");
        let out = wire(&mut enc, Message::new(Head::Response(head), "").into_events());
        assert_eq!(out, "HTTP/1.1 201 Created\r\nx-path: /a\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n");
    }

    #[test]
    fn large_bodies_switch_to_chunked_and_final_responses_close() {
        let mut enc = Encoder::responses(4);
        enc.set_response_info(ResponseInfo { head_request: false, is_final: true });
        let out = wire(
            &mut enc,
            vec![Event::start(Head::None), Event::Data("abc".into()), Event::Data("defg".into()), Event::message_end()],
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n7\r\nabcdefg\r\n0\r\n\r\n<EOS>"
        );
    }

    #[test]
    fn head_and_204_responses_carry_no_body() {
        let mut enc = Encoder::responses(64);
        enc.set_response_info(ResponseInfo { head_request: true, is_final: false });
        let out = wire(&mut enc, Message::new(Head::None, "body").into_events());
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: keep-alive\r\n\r\n");
        let out = wire(&mut enc, Message::new(Head::Response(ResponseHead::with_status(204)), "x").into_events());
        assert_eq!(out, "HTTP/1.1 204 No Content\r\nconnection: keep-alive\r\n\r\n");
    }

    #[test]
    fn requests_get_defaults_and_lengths() {
        let mut enc = Encoder::requests(64);
        let out = wire(&mut enc, Message::new(Head::None, "").into_events());
        assert_eq!(out, "GET / HTTP/1.1\r\nconnection: keep-alive\r\n\r\n");
        let head = RequestHead { method: "POST".into(), path: "/x".into(), ..Default::default() };
        let out = wire(&mut enc, Message::new(Head::Request(head), "").into_events());
        assert_eq!(out, "POST /x HTTP/1.1\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n");
    }
}
