// The end of the chain: nobody took the request.
pipy()

.pipeline()
.replaceMessage(
  new Message({ status: 404 }, 'No route\n')
)
