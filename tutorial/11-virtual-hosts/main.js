// One port, several host names. Each host's requests are handled by a module
// of its own (hosts.json maps names to files), so each team edits its own file.
// A handler that throws or runs away fails its own requests only; a handler
// that fails to load on a reload keeps its last good version; the other hosts
// carry on either way.
((
  hosts = JSON.decode(pipy.load('hosts.json')),
) => pipy({
  _host: undefined,
})

.listen(8000)
.demuxHTTP().to($=>$
  .handleMessageStart(
    msg => _host = (msg.head.headers.host || '').split(':')[0].toLowerCase()
  )
  .branch(
    // One branch per host: its module's 'request' pipeline answers.
    ...Object.entries(hosts).flatMap(
      ([name, file]) => [() => _host === name, $=>$.use(file, 'request')]
    ),
    $=>$.replaceMessage(
      () => new Message({ status: 404 }, `no such host: ${_host}\n`)
    )
  )
)

)()
