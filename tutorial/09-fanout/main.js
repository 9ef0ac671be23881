// A fan-out proxy: a request is put to several endpoints and the first usable
// answer goes back to the client. "Usable" is a status class config.json lists
// (1xx-4xx by default: a 404 is an answer, a 503 is not). Sequential mode asks
// endpoint 1, then 2 if needed, and so on, so a paid API further down the list
// is only called when the ones before it failed; parallel mode asks them all at
// once and takes the first usable answer.
((
  config = JSON.decode(pipy.load('config.json')),

  // Each front: a port, a mode, its endpoints and what counts as usable.
  fronts = config.fronts.map(f => ({
    listen: f.listen,
    mode: f.mode || 'sequential',
    usable: f.usable || config.usable,
    agents: (f.endpoints || config.endpoints).map(e => new http.Agent(e)),
  })),

  send = (front, req, i) => front.agents[i].request(req.head.method, req.head.path, req.head.headers, req.body),

  // Resolves to { res, i } if endpoint i's answer is usable.
  usable = (front, request, i) => request.then(
    res => front.usable.includes(Math.floor(res.head.status / 100))
      ? { res, i }
      : Promise.reject(new Error(`endpoint ${i + 1} answered ${res.head.status}`))
  ),

  sequential = (front, req, i) => usable(front, send(front, req, i), i).catch(
    err => i + 1 < front.agents.length ? sequential(front, req, i + 1) : Promise.reject(err)
  ),

  // All at once; when one wins, the others are cancelled (their connections
  // closed), so the endpoints stop working on answers nobody will read.
  parallel = (front, req) => {
    var requests = front.agents.map((_, i) => send(front, req, i));
    return Promise.any(requests.map((r, i) => usable(front, r, i)))
      .finally(() => requests.forEach(r => r.cancel()));
  },

) => pipy()

// Stand-in endpoints: one always busy, one slow (and without /missing), one fast.
.listen(8081).serveHTTP(new Message({ status: 503 }, 'busy\n'))
.listen(8082).serveHTTP(
  msg => msg.head.path === '/missing'
    ? new Message({ status: 404 }, 'not here\n')
    : new Timeout(0.2).wait().then(() => new Message('hello from 8082\n'))
)
.listen(8083).serveHTTP(new Message('hello from 8083\n'))

.repeat(fronts, ($, front) => $
  .listen(front.listen)
  .serveHTTP(req => {
    var start = performance.now();
    var answer = front.mode === 'parallel' ? parallel(front, req) : sequential(front, req, 0);
    return answer.then(
      ({ res, i }) => {
        console.log(`request ${req.head.path} served in ${(performance.now() - start).toFixed(1)}ms by endpoint ${i + 1}`);
        return res;
      },
      () => {
        console.log('failed to return a valid answer, returning 500');
        return new Message({ status: 500 }, 'no endpoint gave a usable answer\n');
      }
    );
  })
)

)()
