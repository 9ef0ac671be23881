// Spread requests over several servers, round-robin.
((
  balancer = new algo.RoundRobinLoadBalancer([
    'localhost:8081',
    'localhost:8082',
    'localhost:8083',
  ]),
) => pipy({
  _target: undefined,
})

// Three servers that say who they are.
.listen(8081).serveHTTP(new Message('server 1\n'))
.listen(8082).serveHTTP(new Message('server 2\n'))
.listen(8083).serveHTTP(new Message('server 3\n'))

// The balancer.
.listen(8000)
.demuxHTTP().to(
  $=>$
  .handleMessageStart(
    () => _target = balancer.next()
  )
  .muxHTTP(() => _target).to(
    $=>$.connect(() => _target.id)
  )
)

)()
