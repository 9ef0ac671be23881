// Picks the service by host and path, then hands the request on.
((
  router = new algo.URLRouter(pipy.solve('config.js').routes),
) => pipy()

.import({
  __service: 'proxy',
})

.pipeline()
.handleMessageStart(
  msg => __service = router.find(msg.head.headers.host, msg.head.path)
)
.chain()

)()
