// The same gateway as tutorial 07, in the newer API: ES modules, pipeline()
// values, $-variables and pipe(). The proxy only listens; what happens to a
// request is up to the plugins config.json lists, run one after the other.
import config from './config.js'

var plugins = config.plugins.map(
  name => pipy.import(`./plugins/${name}.js`).default
)

// Per request (each pipeline demuxHTTP starts has its own): what the plugins
// share. The router fills in the service; the balancer reads it.
var $ctx

// Stand-in upstream servers.
pipy.listen(8081, $=>$.serveHTTP(new Message('hi from 8081\n')))
pipy.listen(8082, $=>$.serveHTTP(new Message('hi from 8082\n')))
pipy.listen(8083, $=>$.serveHTTP(msg => new Message(msg.body)))

pipy.listen(config.listen, $=>$
  .demuxHTTP().to($=>$
    .onStart(() => void ($ctx = { service: undefined }))
    .pipe(plugins, () => $ctx)
  )
)
