// The WebSocket service behind "ws-echo": it takes the upgrade and sends every
// byte back as it came (a tunnel whose pipeline is empty), so the service
// costs next to nothing and what is measured is the proxy in front of it.
pipy()
.listen('127.0.0.1:__ORIGIN__')
.demuxHTTP().to($=>$
  .acceptHTTPTunnel(msg => msg.head.path === '/' ? new Message('ws origin\n') : new Message({ status: 101 }))
  .to($=>$)
)
