//! Codecs whose messages carry a payload: `decodeRESP` / `encodeRESP` as a
//! small Redis-speaking server over a raw socket (any pieces, pipelined
//! commands), `RESP.encode` / `RESP.decode`, and garbage ending the stream;
//! `decodeMQTT` / `encodeMQTT` as a tiny broker; `decodeThrift` /
//! `encodeThrift` as a service answering binary and compact calls;
//! `decodeDubbo` / `encodeDubbo` answering heartbeats and echoing calls;
//! `decodeMultipart` on an upload sent in small pieces; `protobuf` reading
//! a posted message and answering with one it builds.

use crate::support::{free_port, Proxy, Raw};
use std::io::Read;

#[test]
fn a_script_answers_redis_commands_through_decode_and_encode_resp() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
var store = {{}}
pipy.listen({port}, $=>$
  .decodeRESP()
  .replaceMessage(msg => {{
    var [cmd, ...args] = msg.payload.map(a => a.toString())
    var answer
    switch (cmd.toUpperCase()) {{
      case 'PING': answer = 'PONG'; break
      case 'SET': store[args[0]] = args[1]; answer = 'OK'; break
      case 'GET': answer = args[0] in store ? new Data(store[args[0]]) : null; break
      case 'INCR': answer = (store[args[0]] = (+store[args[0]] || 0) + 1); break
      case 'ROUNDTRIP': answer = RESP.decode(RESP.encode([1, 'two', new Data('3'), null, new Error('E')]))[0]; break
      default: answer = new Error(`ERR unknown command '${{cmd}}'`)
    }}
    return [new MessageStart, new MessageEnd(null, answer)]
  }})
  .encodeRESP()
)
"#
        ),
        &[],
    );
    let mut c = Raw::connect(port);
    // Pipelined, and split in odd places.
    let commands = b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n$1\r\nz\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nNOPE\r\n*1\r\n$9\r\nROUNDTRIP\r\n";
    for piece in commands.chunks(7) {
        c.send(piece);
    }
    let want = "+PONG\r\n+OK\r\n$5\r\nhello\r\n$-1\r\n:1\r\n-ERR unknown command 'NOPE'\r\n*5\r\n:1\r\n+two\r\n$1\r\n3\r\n$-1\r\n-E\r\n";
    assert_eq!(String::from_utf8_lossy(&c.read_bytes(want.len())), want);
    // A byte that starts no RESP value closes the connection.
    c.send(b"?garbage\r\n");
    assert_eq!(c.read_to_close(), "");
}

#[test]
fn a_script_speaks_mqtt_through_decode_and_encode_mqtt() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
pipy.listen({port}, $=>$
  .decodeMQTT()
  .replaceMessage(msg => {{
    var h = msg.head
    var level = h.protocolLevel
    switch (h.type) {{
      case 'CONNECT':
        return new Message({{ type: 'CONNACK', protocolLevel: level, sessionPresent: false, reasonCode: 0 }})
      case 'SUBSCRIBE':
        return [
          new MessageStart({{ type: 'SUBACK', protocolLevel: level, packetIdentifier: h.packetIdentifier }}),
          new MessageEnd(null, msg.payload.topicFilters.map(f => f.qos)),
        ]
      case 'PUBLISH':
        return [
          new Message({{ type: 'PUBACK', protocolLevel: level, packetIdentifier: h.packetIdentifier }}),
          new Message({{ type: 'PUBLISH', protocolLevel: level, qos: 0, topicName: h.topicName.toUpperCase() }}, msg.body),
        ]
      case 'PINGREQ':
        return new Message({{ type: 'PINGRESP', protocolLevel: level }})
    }}
    return null
  }})
  .encodeMQTT()
)
"#
        ),
        &[],
    );
    let mut c = Raw::connect(port);
    let packets: &[u8] = &[
        // CONNECT, MQTT 3.1.1, clean session, keep-alive 60, client "c"
        0x10, 0x0d, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'c', //
        // SUBSCRIBE id 1 to "t" at QoS 1
        0x82, 0x06, 0, 1, 0, 1, b't', 1, //
        // PUBLISH QoS 1 id 2 to "t": "hi"
        0x32, 0x07, 0, 1, b't', 0, 2, b'h', b'i', //
        // PINGREQ
        0xc0, 0x00,
    ];
    for piece in packets.chunks(3) {
        c.send(piece);
    }
    let want: &[u8] = &[
        0x20, 0x02, 0, 0, // CONNACK
        0x90, 0x03, 0, 1, 1, // SUBACK id 1, QoS 1 granted
        0x40, 0x02, 0, 2, // PUBACK id 2
        0x30, 0x05, 0, 1, b'T', b'h', b'i', // PUBLISH to "T": "hi"
        0xd0, 0x00, // PINGRESP
    ];
    let got = c.read_bytes(want.len());
    assert_eq!(got, want);
    // The reserved packet type 0 closes the connection.
    c.send(&[0x00, 0x00]);
    assert_eq!(c.read_to_close(), "");
}

#[test]
fn an_upload_sent_in_small_pieces_is_split_into_its_parts() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
var parts = []
pipy.listen({port}, $=>$
  .demuxHTTP().to($=>$
    .fork().to($=>$
      .decodeMultipart()
      .handleMessage(msg => parts.push(
        `${{msg.head.headers['content-disposition']}}=${{JSON.stringify(msg.body.toString())}}`
      ))
    )
    .replaceMessage(() => {{
      var answer = new Message(parts.join('\n'))
      parts = []
      return answer
    }})
  )
)
"#
        ),
        &[],
    );
    let body = "preamble\r\n--XyZ\r\ncontent-disposition: form-data; name=\"a\"\r\n\r\nline one\r\nline two\r\n--XyZ\r\ncontent-disposition: form-data; name=\"b\"\r\n\r\n--XyZ-- is not a delimiter here\r\n--XyZ--\r\nepilogue";
    let request = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary=XyZ\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut c = Raw::connect(port);
    for piece in request.as_bytes().chunks(5) {
        c.send(piece);
    }
    let response = c.read_responses(1);
    assert!(
        response.ends_with(
            "\r\n\r\nform-data; name=\"a\"=\"line one\\r\\nline two\"\nform-data; name=\"b\"=\"--XyZ-- is not a delimiter here\""
        ),
        "{response}"
    );
}

#[test]
fn a_script_answers_thrift_calls_in_the_protocol_they_came_in() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
pipy.listen({port}, $=>$
  .decodeThrift()
  .replaceMessage(msg => {{
    var call = msg.payload
    var sum = call.fields.reduce((s, f) => s + f.value, 0)
    return [
      new MessageStart,
      new MessageEnd(null, {{
        protocol: call.protocol, type: 'reply', seqID: call.seqID, name: call.name,
        fields: [{{ id: 0, type: 'I32', value: sum }}],
      }}),
    ]
  }})
  .encodeThrift()
)
"#
        ),
        &[],
    );
    let mut c = Raw::connect(port);
    // add(2, 3) with seqID 5 in the strict binary protocol, then with seqID 6 in the compact one.
    let calls: &[u8] = b"\x80\x01\x00\x01\x00\x00\x00\x03add\x00\x00\x00\x05\x08\x00\x01\x00\x00\x00\x02\x08\x00\x02\x00\x00\x00\x03\x00\
\x82\x21\x06\x03add\x15\x04\x15\x06\x00";
    for piece in calls.chunks(3) {
        c.send(piece);
    }
    let want: &[u8] = b"\x80\x01\x00\x02\x00\x00\x00\x03add\x00\x00\x00\x05\x08\x00\x00\x00\x00\x00\x05\x00\
\x82\x41\x06\x03add\x05\x00\x0a\x00";
    let got = c.read_bytes(want.len());
    assert_eq!(got, want);
    // A byte that starts no Thrift message closes the connection.
    c.send(b"\xff");
    assert_eq!(c.read_to_close(), "");
}

#[test]
fn a_script_reads_a_posted_protobuf_message_and_answers_with_one() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
pipy.listen({port}, $=>$
  .serveHTTP(req => {{
    var m = protobuf.decode(req.body)
    if (!m) return new Message({{ status: 400 }}, 'not a message')
    var answer = new protobuf.Message()
    answer.setString(1, m.getString(1).toUpperCase())
    answer.setSint64Array(2, m.getInt32Array(2).map(n => -n))
    answer.setMessage(3, m.getMessage(3))
    return new Message(protobuf.encode(answer))
  }})
)
"#
        ),
        &[],
    );
    // {1: "abc", 2: [5, 300] packed, 3: {1: 1}}
    let body: &[u8] = b"\x0a\x03abc\x12\x03\x05\xac\x02\x1a\x02\x08\x01";
    let request = format!("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n", body.len());
    let mut c = Raw::connect(port);
    c.send(&[request.as_bytes(), body].concat());
    c.send(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n\x0b\x0c");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let want: &[u8] = b"\x0a\x03ABC\x12\x03\x09\xd7\x04\x1a\x02\x08\x01";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains("not a message") && std::time::Instant::now() < deadline {
        match c.0.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    let first_end = got.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    assert_eq!(&got[first_end..first_end + want.len()], want, "{:?}", String::from_utf8_lossy(&got));
    assert!(String::from_utf8_lossy(&got).contains("HTTP/1.1 400"), "a group is not a message");
}

#[test]
fn a_script_answers_dubbo_heartbeats_and_echoes_calls() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
pipy.listen({port}, $=>$
  .decodeDubbo()
  .replaceMessage(msg => new Message(
    {{ ...msg.head, isRequest: false, isTwoWay: false, status: 20 }},
    msg.head.isEvent ? msg.body : new Data('echo:' + msg.body.toString())
  ))
  .encodeDubbo()
)
"#
        ),
        &[],
    );
    let mut c = Raw::connect(port);
    // A heartbeat (event, id 1, body "N") and a call (id 2^63 + 2, body "hi"), in small pieces.
    let frames: &[u8] = b"\xda\xbb\xe2\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01N\
\xda\xbb\xc2\x00\x80\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x02hi";
    for piece in frames.chunks(3) {
        c.send(piece);
    }
    let want: &[u8] = b"\xda\xbb\x22\x14\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01N\
\xda\xbb\x02\x14\x80\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x07echo:hi";
    let got = c.read_bytes(want.len());
    assert_eq!(got, want, "the id past 2^53 comes back exact");
    c.send(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(c.read_to_close(), "", "bytes that are not a Dubbo frame close the connection");
}
