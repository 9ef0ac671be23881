// "routed": per request, a script callback routes by host and path and picks a
// target from a round-robin balancer, then proxies (a typical gateway script).
((
  router = new algo.URLRouter({
    '/api/*': new algo.RoundRobinLoadBalancer(['127.0.0.1:__ORIGIN__']),
    '/*': new algo.RoundRobinLoadBalancer(['127.0.0.1:__ORIGIN__']),
  }),
) => pipy({
  _target: undefined,
})
.listen('127.0.0.1:__PORT__')
.demuxHTTP().to(
  $=>$
  .handleMessageStart(
    msg => _target = router.find(msg.head.headers.host, msg.head.path)?.next?.()
  )
  .branch(
    () => Boolean(_target), (
      $=>$.muxHTTP(() => _target).to($=>$.connect(() => _target.id))
    ), (
      $=>$.replaceMessage(new Message({ status: 404 }, 'No route'))
    )
  )
)
)()
