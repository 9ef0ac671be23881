// Routes and services come from config.json, not from the script.
((
  config = pipy.solve('config.js'),
  router = new algo.URLRouter(config.routes),
  services = Object.fromEntries(
    Object.entries(config.services).map(
      ([name, targets]) => [name, new algo.RoundRobinLoadBalancer(targets)]
    )
  ),
) => pipy({
  _target: undefined,
})

// Stand-in servers.
.listen(8081).serveHTTP(new Message('hi from 8081\n'))
.listen(8082).serveHTTP(new Message('hi from 8082\n'))
.listen(8083).serveHTTP(msg => new Message(msg.body))

.listen(config.listen)
.demuxHTTP().to(
  $=>$
  .handleMessageStart(
    msg => _target = services[router.find(msg.head.headers.host, msg.head.path)]?.next?.()
  )
  .branch(
    () => Boolean(_target), (
      $=>$.muxHTTP(() => _target).to(
        $=>$.connect(() => _target.id)
      )
    ), (
      $=>$.replaceMessage(new Message({ status: 404 }, 'No route\n'))
    )
  )
)

)()
