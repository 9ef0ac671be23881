// "hello-js": as hello, but a JavaScript callback builds each response.
pipy()
.listen('127.0.0.1:__PORT__')
.serveHTTP(msg => new Message('Hi, there!\n'))
