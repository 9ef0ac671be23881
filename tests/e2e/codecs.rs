//! Codecs whose messages carry a payload: `decodeRESP` / `encodeRESP` as a
//! small Redis-speaking server over a raw socket (any pieces, pipelined
//! commands), `RESP.encode` / `RESP.decode`, and garbage ending the stream.

use crate::support::{free_port, Proxy, Raw};

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
    let mut got = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while got.len() < want.len() && std::time::Instant::now() < deadline {
        got.push_str(&c.read_some());
    }
    assert_eq!(got, want);
    // A byte that starts no RESP value closes the connection.
    c.send(b"?garbage\r\n");
    assert_eq!(c.read_to_close(), "");
}
