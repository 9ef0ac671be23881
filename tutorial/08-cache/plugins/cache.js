// Answers GET requests to the services config.json names from memory when it
// can, and remembers the upstream's 200 answers for a while. The response says
// what happened in an x-cache header: hit, miss, or bypass (not cacheable).
((
  config = pipy.solve('config.js').cache,
  cache = new algo.Cache({ size: config.size, ttl: config.ttl }),
  tagged = (msg, what) => new Message(
    { ...msg.head, headers: { ...msg.head.headers, 'x-cache': what } },
    msg.body,
  ),
) => pipy({
  _key: undefined,
  _hit: undefined,
})

.import({
  __service: 'proxy',
})

.pipeline()
.handleMessageStart(
  msg => (
    _key = (msg.head.method === 'GET' && config.services.includes(__service))
      ? __service + ' ' + msg.head.path
      : undefined,
    _hit = _key && cache.find(_key)
  )
)
.branch(
  () => Boolean(_hit), (
    $=>$.replaceMessage(() => tagged(_hit, 'hit'))
  ), (
    $=>$
    .chain()
    .replaceMessage(
      msg => {
        if (!_key) return tagged(msg, 'bypass');
        if (msg.head.status === 200) cache.set(_key, msg);
        return tagged(msg, 'miss');
      }
    )
  )
)

)()
