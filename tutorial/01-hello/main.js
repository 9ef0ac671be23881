// The smallest useful script: one port, one fixed answer.
pipy()

.listen(8080)
.serveHTTP(
  new Message('Hi, there!\n')
)
