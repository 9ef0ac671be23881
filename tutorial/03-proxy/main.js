// A layer-7 reverse proxy and a layer-4 (TCP) proxy in front of one origin.
pipy()

// The origin: a small web server standing in for a real backend.
.listen(8080)
.serveHTTP(
  msg => new Message(
    { headers: { 'x-origin': 'yes' } },
    `origin got ${msg.head.method} ${msg.head.path} with ${msg.body.size} bytes\n`
  )
)

// Layer 7: read HTTP requests, forward each one, send back the answer.
.listen(8000)
.demuxHTTP().to(
  $=>$.muxHTTP().to(
    $=>$.connect('localhost:8080')
  )
)

// Layer 4: pass the bytes of every connection through, untouched.
.listen(8001)
.connect('localhost:8080')

// Layer 7 to a server that is not there: the client gets 502.
.listen(8002)
.demuxHTTP().to(
  $=>$.muxHTTP().to(
    $=>$.connect('localhost:8099')
  )
)
