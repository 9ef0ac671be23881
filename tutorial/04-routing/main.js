// Route requests by path (and host) to different services.
((
  router = new algo.URLRouter({
    '/hi/*': 'localhost:8081',
    '/echo': 'localhost:8082',
    '/ip/*': 'localhost:8083',
  }),
) => pipy({
  _target: undefined,
})

// Three small services standing in for real ones.
.listen(8081).serveHTTP(new Message('Hi, there!\n'))
.listen(8082).serveHTTP(msg => new Message(msg.body))
.listen(8083).serveHTTP(msg => new Message(`You are requesting ${msg.head.path} from ${__inbound.remoteAddress}\n`))

// The router in front of them.
.listen(8000)
.demuxHTTP().to(
  $=>$
  .handleMessageStart(
    msg => _target = router.find(msg.head.headers.host, msg.head.path)
  )
  .branch(
    () => Boolean(_target), (
      $=>$.muxHTTP(() => _target).to(
        $=>$.connect(() => _target)
      )
    ), (
      $=>$.replaceMessage(
        new Message({ status: 404 }, 'No route\n')
      )
    )
  )
)

)()
