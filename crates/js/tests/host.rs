//! The script host without sockets: load a script, run its port's pipeline with
//! the core test harness, and check what scripts see and produce.

use proxy_core::{Context, Event, Pipeline, Sink};
use proxy_js::{Host, HostOptions, Source};
use std::rc::Rc;

fn load(script: &str) -> (proxy_core::Program, Host) {
    Host::load(&Source::Eval(script.into()), &HostOptions::default()).unwrap_or_else(|e| panic!("load: {e}"))
}

/// Sends raw requests on a fresh connection of the first port; returns the bodies.
fn ask(program: &proxy_core::Program, requests: &str) -> Vec<String> {
    let text = Rc::new(std::cell::RefCell::new(String::new()));
    let t = text.clone();
    // Each call is a new client connection.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let addr: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let inbound = Rc::new(proxy_core::Inbound::new(id, addr, addr));
    let p = Pipeline::new(
        &program.ports[0].layout,
        Context::new(Some(inbound)),
        Sink::Func(Box::new(move |ev| {
            if let Event::Data(d) = ev {
                t.borrow_mut().push_str(&String::from_utf8_lossy(&d.to_vec()));
            }
        })),
    );
    p.input(Event::Data(requests.to_string().into()));
    let all = text.borrow().clone();
    all.split("HTTP/1.1 ").skip(1).map(|r| r.split("\r\n\r\n").nth(1).unwrap_or("").to_string()).collect()
}

fn get(program: &proxy_core::Program, path: &str) -> String {
    ask(program, &format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n")).remove(0)
}

#[test]
fn data_encodings_and_editing() {
    let (program, _host) = load(
        r#"pipy().listen(1).serveHTTP(() => {
  var d = new Data('hello');
  var hex = d.toString('hex');
  var b64 = new Data(hex, 'hex').toString('base64');
  var back = new Data(b64, 'base64').toString();
  var e = new Data([104, 105]);
  e.push(' there');
  e.push(new Data('!'));
  var head = e.shift(2).toString();
  var tail = e.pop(1).toString();
  return new Message([hex, b64, back, head, e.toString(), tail, e.size, new Data().size,
    Data.from('aGk', 'base64url').toString(), typeof e.toArray()[0]].join('|'));
})"#,
    );
    assert_eq!(get(&program, "/"), "68656c6c6f|aGVsbG8=|hello|hi| there|!|6|0|hi|number");
}

#[test]
fn messages_keep_what_scripts_give_them() {
    let (program, _host) = load(
        r#"pipy().listen(1).serveHTTP(msg => {
  var a = new Message('body only');
  var b = new Message({ status: 404 });
  var c = new Message({ status: 201 }, new Data('data body'));
  msg.head.headers['x-added'] = 'yes';
  return new Message([
    a.body.toString(), a.head === undefined, b.body.size, c.head.status, c.body.toString(),
    msg.head.method, msg.head.path, msg.head.headers['x-added'], msg.body.toString(),
    msg instanceof Message, typeof msg.tail.headSize,
  ].join('|'));
})"#,
    );
    assert_eq!(
        ask(&program, "POST /p?q HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc")[0],
        "body only|true|0|201|data body|POST|/p?q|yes|abc|true|number"
    );
}

#[test]
fn context_variables_are_per_stream_and_shared_objects_are_shared() {
    let (program, _host) = load(
        r#"pipy({ _n: 0, _shared: { hits: 0 } })
.listen(1)
.serveHTTP(() => new Message(`${++_n} ${++_shared.hits}`))"#,
    );
    // Each `ask` is a new connection: _n starts again, the object's count goes on.
    assert_eq!(get(&program, "/"), "1 1");
    assert_eq!(get(&program, "/"), "1 2");
    assert_eq!(ask(&program, "GET / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n"), vec!["1 3", "2 4"]);
}

#[test]
fn context_variables_outside_a_pipeline_are_their_initial_values() {
    // While the script configures itself, `_x` is the value every stream starts
    // with: reading gives it, writing changes it for the streams to come.
    let (program, _host) = load("pipy({ _x: 41 }).listen(1).serveHTTP(new Message(String(_x + 1)))");
    assert_eq!(get(&program, "/"), "42");
    let (program, _host) = load("pipy({ _y: 'a' }); _y = 'b'; pipy().listen(1).serveHTTP(() => new Message(_y))");
    assert_eq!(get(&program, "/"), "b");
}

#[test]
fn pipyjs_idioms_work() {
    // A module that is one expression; constants as default parameters of an IIFE;
    // `?.`, `??`, template literals, arrow functions, destructuring and spread.
    let (program, _host) = load(
        r#"((
  greeting = 'hi',
  routes = { '/a': 'A', '/b': 'B' },
  pick = ({ head: { path } }) => routes[path] ?? 'none',
) => pipy({ _last: undefined })

.listen(1)
.serveHTTP(
  msg => (
    _last = pick(msg),
    new Message(`${greeting} ${_last} ${msg.head.headers?.['x-missing']?.length ?? 0} ${[...'ab'].length}`)
  )
)

)()"#,
    );
    assert_eq!(get(&program, "/a"), "hi A 0 2");
    assert_eq!(get(&program, "/zzz"), "hi none 0 2");
}

#[test]
fn routers_config_files_json_and_env() {
    let dir = std::env::temp_dir().join(format!("proxy-host-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), r#"{ "routes": { "/api/*": "api", "/": "home" } }"#).unwrap();
    std::fs::write(dir.join("config.js"), "JSON.decode(pipy.load('config.json'))").unwrap();
    std::fs::write(dir.join("loop.js"), "pipy.solve('loop.js')").unwrap();
    std::fs::write(
        dir.join("main.js"),
        r#"((config = pipy.solve('config.js'), router = new algo.URLRouter(config.routes)) =>
pipy().listen(1).serveHTTP(msg => new Message([
  router.find('a.com:80', msg.head.path) ?? 'none',
  pipy.solve('config.js') === config,
  pipy.load('missing') === null,
  JSON.encode({ a: [1] }).toString(),
  typeof os.env.PATH,
].join(' ')))
)()"#,
    )
    .unwrap();
    let (program, _host) = Host::load(&Source::File(dir.join("main.js")), &HostOptions::default()).unwrap();
    assert_eq!(get(&program, "/api/users"), "api true true {\"a\":[1]} string");
    assert_eq!(get(&program, "/"), "home true true {\"a\":[1]} string");
    assert_eq!(get(&program, "/other"), "none true true {\"a\":[1]} string");

    std::fs::write(dir.join("main.js"), "pipy.solve('loop.js'); pipy()").unwrap();
    let err = Host::load(&Source::File(dir.join("main.js")), &HostOptions::default()).err().expect("a cycle fails");
    assert!(err.message.contains("loop.js depends on itself"), "{}", err.message);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn round_robin_order_weights_and_stickiness() {
    let (program, _host) = load(
        r#"((
  rr = new algo.RoundRobinLoadBalancer(['a', 'b', 'c']),
  weighted = new algo.RoundRobinLoadBalancer({ x: 2, y: 1 }),
  sticky = new algo.RoundRobinLoadBalancer(['p', 'q']),
  seen = [],
) => pipy().listen(1).serveHTTP(msg => {
  if (msg.head.path === '/order') {
    var picks = [];
    for (var i = 0; i < 7; i++) picks.push(rr.next({}).id);
    for (var i = 0; i < 6; i++) picks.push(weighted.select());
    return new Message(picks.join(''));
  }
  // The default borrower is the client connection: one target per connection.
  var r = sticky.next();
  seen.push(r);
  return new Message(r.id + ' ' + (seen.length > 1 && seen[seen.length - 2] === r));
}))()"#,
    );
    assert_eq!(get(&program, "/order"), "abcabcaxyxxyx");
    // Two requests on one connection: the same resource object.
    assert_eq!(
        ask(&program, "GET / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n"),
        vec!["p false", "p true"]
    );
    // The next connection goes to the next target.
    assert_eq!(get(&program, "/"), "q false");
}

#[test]
fn cache_allocates_evicts_least_recently_used_and_frees() {
    let (program, _host) = load(
        r#"((
  freed = [],
  cache = new algo.Cache(k => k.toUpperCase(), (k, v) => freed.push(k), { size: 2 }),
  plain = new algo.Cache(),
) => pipy().listen(1).serveHTTP(() => {
  var a = cache.get('a');           // allocated
  cache.get('b');                   // allocated
  cache.get('a');                   // hit: 'a' is now the most recent
  cache.get('c');                   // allocated: evicts 'b', the least recent
  plain.set('x', 1);
  return new Message([
    a, cache.has('a'), cache.has('b'), cache.find('c'), cache.size, freed.join(','),
    cache.remove('a'), freed.join(','), plain.find('x'), plain.get('nope'),
    typeof algo.hash({ q: 1 }), algo.hash('same') === algo.hash('same'),
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(algo.uuid()),
  ].join(' '));
}))()"#,
    );
    assert_eq!(get(&program, "/"), "A true false C 2 b true b,a 1  number true true");
}

#[test]
fn url_and_search_params() {
    let (program, _host) = load(
        r#"pipy().listen(1).serveHTTP(msg => {
  var u = new URL('HTTP://user:pw@Example.com:8080/a/b?x=1&y=two%20words&x=3#frag');
  var rel = new URL(msg.head.path, 'http://h.test/base/');
  var q = new URLSearchParams({ k: 'v w', n: [1, 2] });
  return new Message([
    u.protocol, u.username, u.password, u.hostname, u.port, u.pathname, u.query, u.hash,
    u.searchParams.get('y'), u.searchParams.getAll('x').join('+'), u.origin,
    new URL('https://s.test/').port, rel.href, rel.searchParams.get('q'),
    q.toString(), JSON.stringify(new URLSearchParams('a=1&a=2&b=').toObject()),
    URL.encodeComponent('a b&'),
  ].join(' | '));
})"#,
    );
    assert_eq!(
        get(&program, "/p/q?q=z"),
        "http: | user | pw | example.com | 8080 | /a/b | x=1&y=two%20words&x=3 | #frag | two words | 1+3 | \
http://Example.com:8080 | 443 | http://h.test/p/q?q=z | z | k=v%20w&n=1&n=2 | {\"a\":[\"1\",\"2\"],\"b\":\"\"} | a%20b%26"
    );
}

#[test]
fn load_balancer_weights_validators_keys_capacity_and_least_load() {
    let (program, _host) = load(
        r#"((
  rr = new algo.LoadBalancer(['a', 'b', 'c']),
  weighted = new algo.LoadBalancer([{ id: 'x', w: 2 }, { id: 'y', w: 1 }], { key: t => t.id, weight: t => t.w }),
  least = new algo.LoadBalancer(['p', 'q'], { algorithm: 'least-load' }),
  capped = new algo.LoadBalancer(['only'], { capacity: 2 }),
) => pipy().listen(1).serveHTTP(() => {
  var out = [];
  out.push(rr.schedule(7).join(''));
  out.push(rr.schedule(3, t => t !== 'b').join(''));
  out.push(weighted.schedule(6).map(t => t.id).join(''));
  // By key: that target, without a turn; an unknown key: the next in turn (b, skipped above).
  out.push(rr.allocate('c').target + rr.allocate('nope').target);
  // least-load: a freed resource makes its target the least loaded again.
  var r1 = least.allocate(), r2 = least.allocate();
  r1.free();
  out.push(r1.target + r2.target + least.allocate().target);
  // capacity 2: a third concurrent allocation shares one of the two resources.
  var c1 = capped.allocate(), c2 = capped.allocate(), c3 = capped.allocate();
  out.push([c1 !== c2, c3 === c1 || c3 === c2].join(','));
  rr.provision(['c', 'd']);
  out.push(rr.schedule(4).join(''));
  out.push(String(new algo.LoadBalancer([]).allocate()));
  return new Message(out.join(' '));
}))()"#,
    );
    assert_eq!(get(&program, "/"), "abcabca cac xyxxyx cb pqp true,true cdcd null");
}

#[test]
fn message_start_events_write_back_what_scripts_change_and_only_that() {
    let (program, _host) = load(
        r#"pipy().listen(1)
.decodeHTTPRequest()
.handleMessageStart(evt => { if (evt.head.path === '/edit') evt.head.headers['x-added'] = 'yes'; })
.handleMessageStart(evt => { if (evt instanceof MessageStart && evt.head.path === '/swap') evt.head = { method: 'GET', path: '/swapped', headers: { 'x-new': '1' } }; })
.handleMessageStart(() => {})
.replaceMessageStart(evt => evt.head.path === '/same' ? evt : new MessageStart({ ...evt.head, path: evt.head.path + '!' }))
.replaceMessage(msg => new Message(msg.head.path + ' ' + JSON.stringify(msg.head.headers)))
.encodeHTTPResponse()"#,
    );
    assert_eq!(ask(&program, "GET /edit HTTP/1.1\r\nhost: h\r\n\r\n"), vec![r#"/edit! {"host":"h","x-added":"yes"}"#]);
    assert_eq!(ask(&program, "GET /swap HTTP/1.1\r\nhost: h\r\n\r\n"), vec![r#"/swapped! {"x-new":"1"}"#]);
    assert_eq!(ask(&program, "GET /same HTTP/1.1\r\nhost: h\r\n\r\n"), vec![r#"/same {"host":"h"}"#]);
}
