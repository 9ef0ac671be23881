// An HTTP/2 front: h2c (prior knowledge) and HTTP/1 on port 8080, TLS with
// ALPN h2 or http/1.1 on port 8443. Both proxy to an HTTP/1 origin on 8081,
// and paths under /h2/ to an h2c origin on 8082, over one HTTP/2 connection.
((
  cert = new crypto.Certificate(pipy.load('certs/server.crt')),
  key = new crypto.PrivateKey(pipy.load('certs/server.key')),
  h2Connections = 0,
) =>

pipy({
  _origin: '',
})

// The HTTP/1 origin: says how the request reached it.
.listen(8081)
.serveHTTP(
  req => new Message(`${req.head.method} ${req.head.path}: the client spoke ${req.head.headers["x-client-protocol"]}, the origin ${req.head.protocol} (host ${req.head.headers.host})\n`)
)

// The h2c origin: serveHTTP takes HTTP/2 with prior knowledge too. It counts
// the connections made to it.
.listen(8082)
.handleStreamStart(() => h2Connections++)
.serveHTTP(
  req => new Message(`${req.head.method} ${req.head.path}: the client spoke ${req.head.headers["x-client-protocol"]}, the origin ${req.head.protocol} (connection ${h2Connections} to it)\n`)
)

// Plain port: HTTP/1 and HTTP/2 with prior knowledge, told apart by the first bytes.
.listen(8080)
.link('front')

// TLS port: ALPN offers h2 first; a client that agrees speaks HTTP/2.
.listen(8443)
.acceptTLS({ certificate: { cert, key }, alpn: ['h2', 'http/1.1'] }).to('front')

// What both ports run: each request (each h2 stream) in a sub-pipeline of its own.
.pipeline('front')
.demuxHTTP().to(
  $=>$
  .handleMessageStart(
    msg => (
      msg.head.headers['x-client-protocol'] = msg.head.protocol,
      _origin = msg.head.path.startsWith('/h2/') ? 'h2c' : 'http1'
    )
  )
  // One session per origin, shared by every client; the version is asked
  // for when a session opens.
  .muxHTTP(
    () => _origin,
    { version: () => _origin === 'h2c' ? 2 : 1 }
  ).to(
    $=>$.connect(() => _origin === 'h2c' ? '127.0.0.1:8082' : '127.0.0.1:8081')
  )
)

)()
