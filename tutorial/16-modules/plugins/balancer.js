// Sends the request to a target of its service, round robin. A request without
// a service (or a service without targets) goes on to the next plugin.
import config from '../config.js'

var services = Object.fromEntries(
  Object.entries(config.services).map(
    ([name, targets]) => [name, new algo.RoundRobinLoadBalancer(targets)]
  )
)

var $ctx
var $target

export default pipeline($=>$
  .onStart(ctx => void ($ctx = ctx))
  .pipe(
    () => ($target = services[$ctx.service]?.next?.()) ? 'proxy' : 'pass', {
      proxy: $=>$.muxHTTP(() => $target).to($=>$.connect(() => $target.id)),
      pass: $=>$.pipeNext(),
    }
  )
)
