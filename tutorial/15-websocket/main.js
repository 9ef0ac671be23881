// 15 · WebSocket: an echo service behind the reverse proxy.
//
// Port 8081 is the service: it takes the upgrade, then reads frames as
// messages, answers each, and writes frames. Port 8080 is the front, a plain
// reverse proxy: the upgrade and then the frames pass through it untouched.

var reply = msg => (
  msg.head.opcode === 9 ? new Message({ opcode: 10 }, msg.body) :    // ping: pong
  msg.head.opcode === 10 ? null :                                     // pong: nothing
  msg.head.opcode === 8 ? [new Message({ opcode: 8 }, msg.body), new StreamEnd] :  // close: close
  new Message({ opcode: msg.head.opcode }, msg.body)                  // text, binary: echo
)

pipy()

.listen(8081)
.demuxHTTP().to($=>$
  .acceptHTTPTunnel(
    msg => (msg.head.headers.upgrade || '').toLowerCase() === 'websocket' ? (
      new Message({ status: 101 })
    ) : (
      new Message({ status: 426, headers: { upgrade: 'websocket' } }, 'WebSocket only\n')
    )
  ).to($=>$
    .decodeWebSocket({ requireMask: true })
    .replaceMessage(reply)
    .encodeWebSocket()
  )
)

.listen(8080)
.demuxHTTP().to($=>$
  .muxHTTP().to($=>$
    .connect('127.0.0.1:8081')
  )
)
