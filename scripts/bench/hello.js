// "hello": proxy answers every request with a fixed message (no JavaScript per request).
pipy()
.listen('127.0.0.1:__PORT__')
.serveHTTP(new Message('Hi, there!\n'))
