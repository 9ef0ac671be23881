// "ws-echo": the reverse proxy of http-proxy; WebSocket upgrades become tunnels.
pipy()
.listen('127.0.0.1:__PORT__')
.demuxHTTP().to(
  $=>$.muxHTTP().to(
    $=>$.connect('127.0.0.1:__ORIGIN__')
  )
)
