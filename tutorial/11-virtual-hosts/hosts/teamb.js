// Team B's API, on api2.example.
pipy()

.pipeline('request')
.replaceMessage(
  req => new Message(
    { headers: { 'content-type': 'application/json' } },
    JSON.stringify({ team: 'b', method: req.head.method }) + '\n'
  )
)
