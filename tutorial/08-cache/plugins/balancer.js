// Sends the request to a target of its service, round robin. A request without
// a service (or a service without targets) goes on down the chain.
((
  services = Object.fromEntries(
    Object.entries(pipy.solve('config.js').services).map(
      ([name, targets]) => [name, new algo.RoundRobinLoadBalancer(targets)]
    )
  ),
) => pipy({
  _target: undefined,
})

.import({
  __service: 'proxy',
})

.pipeline()
.branch(
  () => Boolean(_target = services[__service]?.next?.()), (
    $=>$.muxHTTP(() => _target).to(
      $=>$.connect(() => _target.id)
    )
  ),
  $=>$.chain()
)

)()
