// Team A's API, on api1.example.
pipy()

.pipeline('request')
.replaceMessage(
  req => new Message(
    { headers: { 'content-type': 'application/json' } },
    JSON.stringify({ team: 'a', path: req.head.path }) + '\n'
  )
)
