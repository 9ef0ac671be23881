// 14 · A forward proxy: HTTP CONNECT on port 8080 and SOCKS on port 1080,
// letting clients reach only the targets on an allow-list.

var allowed = [
  'localhost:8081',      // in real life: 'example.com:443', 'api.internal:8443', ...
  '127.0.0.1:8081',
]

var allows = target => allowed.indexOf(target) >= 0

pipy({ _target: '' })

// The origin the clients are let through to (in real life: anywhere).
.listen(8081)
.serveHTTP(msg => new Message(`origin: hello, ${msg.head.path}\n`))

// HTTP proxy: CONNECT host:port opens a tunnel when the target is allowed.
.listen(8080)
.demuxHTTP().to($=>$
  .acceptHTTPTunnel(msg => (
    _target = msg.head.path,
    msg.head.method !== 'CONNECT' ? new Message({ status: 405, headers: { allow: 'CONNECT' } }, 'a CONNECT proxy\n') :
    !allows(_target) ? (console.log(`CONNECT ${_target}: refused`), new Message({ status: 403 }, 'not on the allow-list\n')) :
    void console.log(`CONNECT ${_target}: allowed`)
  )).to($=>$
    .connect(() => _target)
  )
)

// SOCKS proxy (versions 4, 4a and 5): the same list.
.listen(1080)
.acceptSOCKS(({ ip, domain, port }) => (
  _target = `${domain || ip}:${port}`,
  console.log(`SOCKS ${_target}: ${allows(_target) ? 'allowed' : 'refused'}`),
  allows(_target)
)).to($=>$
  .connect(() => _target)
)
