// Picks the service by host and path, then hands the request on.
import config from '../config.js'

var router = new algo.URLRouter(config.routes)

var $ctx

export default pipeline($=>$
  .onStart(ctx => void ($ctx = ctx))
  .handleMessageStart(
    msg => $ctx.service = router.find(msg.head.headers.host, msg.head.path)
  )
  .pipeNext()
)
