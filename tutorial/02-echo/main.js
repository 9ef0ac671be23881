// Answers computed per request: a function gets each request as a Message.
pipy({
  _count: 0, // a context variable: every connection has its own
})

// Echo: send the request body back.
.listen(8080)
.serveHTTP(
  msg => new Message(msg.body)
)

// Describe the request and who sent it.
.listen(8081)
.serveHTTP(
  msg => new Message(
    {
      status: 200,
      headers: { 'content-type': 'text/plain' },
    },
    `request #${++_count} on this connection: ${msg.head.method} ${msg.head.path}` +
    ` (${msg.body.size} bytes) from ${__inbound.remoteAddress}\n`
  )
)

// Choose the status from the request.
.listen(8082)
.serveHTTP(
  msg => msg.head.path === '/' ? (
    new Message('home\n')
  ) : (
    new Message({ status: 404 }, `no page at ${msg.head.path}\n`)
  )
)
