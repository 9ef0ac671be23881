// "http-proxy": HTTP/1.1 keep-alive reverse proxy to the origin.
pipy()
.listen('127.0.0.1:__PORT__')
.demuxHTTP().to(
  $=>$.muxHTTP().to(
    $=>$.connect('127.0.0.1:__ORIGIN__')
  )
)
