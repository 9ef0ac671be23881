// Round-robin load balancing over health-checked backends. A task probes every
// backend periodically; a backend is taken out after `downAfter` failed probes
// in a row and put back after `upAfter` good ones. Each probe's round-trip time
// is kept, and a status page shows health and timing. Backends start out as up.
// Editing config.json reloads the script (new backends, new settings).
((
  config = pipy.solve('config.js'),

  // Backends taken out of rotation: the balancer skips what this cache holds.
  down = new algo.Cache(),
  balancer = new algo.RoundRobinLoadBalancer(config.backends, down),

  // What the probes found out, per backend.
  health = config.backends.map(target => ({
    target,
    healthy: true,
    failures: 0,
    successes: 0,
    rtt_ms: null,
    checked: null,
    agent: new http.Agent(target, { connectTimeout: config.probe.timeout, readTimeout: config.probe.timeout }),
  })),

  probe = b => {
    var start = performance.now();
    var result = ok => {
      b.checked = new Date().toISOString();
      if (ok) {
        b.rtt_ms = Math.round((performance.now() - start) * 100) / 100;
        b.failures = 0;
        if (!b.healthy && ++b.successes >= config.probe.upAfter) {
          b.healthy = true;
          down.remove(b.target);
          console.log(`backend ${b.target} is up`);
        }
      } else {
        b.successes = 0;
        if (b.healthy && ++b.failures >= config.probe.downAfter) {
          b.healthy = false;
          down.set(b.target, true);
          console.log(`backend ${b.target} is down`);
        }
      }
    };
    return b.agent.request('GET', config.probe.path).then(
      res => result(res.head.status >= 200 && res.head.status < 300),
      () => result(false),
    );
  },

  status = () => new Message(
    { headers: { 'content-type': 'application/json' } },
    JSON.stringify({
      healthy: health.filter(b => b.healthy).length,
      backends: health.map(({ target, healthy, rtt_ms, checked }) => ({ target, healthy, rtt_ms, checked })),
    }, null, 2) + '\n',
  ),

) => pipy({
  _target: undefined,
  _status: false,
})

// Stand-in backends: two healthy, one whose health check fails.
.listen(8081).serveHTTP(msg => new Message(msg.head.path === '/health' ? 'ok' : 'hello from 8081\n'))
.listen(8082).serveHTTP(msg => new Message(msg.head.path === '/health' ? 'ok' : 'hello from 8082\n'))
.listen(8083).serveHTTP(msg => msg.head.path === '/health'
  ? new Message({ status: 500 }, 'sick')
  : new Message('hello from 8083, which should be out of rotation\n'))

// The probes: every backend, every `probe.every`; a run ends when all answered.
.task(config.probe.every)
.onStart(() => Promise.all(health.map(probe)).then(() => new StreamEnd))

.listen(config.listen)
.demuxHTTP().to($=>$
  .handleMessageStart(msg => (
    _status = msg.head.path === config.status,
    _target = _status ? undefined : balancer.next({})
  ))
  .branch(
    () => _status, $=>$.replaceMessage(status),
    () => Boolean(_target), $=>$.muxHTTP(() => _target).to(
      $=>$.connect(() => _target.id)
    ),
    $=>$.replaceMessage(new Message({ status: 503 }, 'no healthy backend\n'))
  )
)

)()
