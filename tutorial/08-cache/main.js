// The proxy only listens; what happens to a request is up to the plugins that
// config.json lists, run one after the other as a chain. Each plugin is a module
// of its own, with its own variables.
((
  config = pipy.solve('config.js'),
) => pipy()

// Variables other modules may import, by the namespace 'proxy'.
.export('proxy', {
  __service: undefined, // which service a request goes to: set by the router
})

// Stand-in upstream servers.
.listen(8081).serveHTTP(new Message('hi from 8081\n'))
.listen(8082).serveHTTP(new Message('hi from 8082\n'))
.listen(8083).serveHTTP(msg => new Message(msg.body))

.listen(config.listen)
.demuxHTTP().to(
  $=>$.chain(config.plugins)
)

)()
