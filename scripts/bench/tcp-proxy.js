// "tcp-proxy": layer-4 forwarding to the origin.
pipy()
.listen('127.0.0.1:__PORT__')
.connect('127.0.0.1:__ORIGIN__')
