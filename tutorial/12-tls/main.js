// HTTPS at the edge: a certificate per host name, plain HTTP sent on to HTTPS,
// and TLS again (with a client certificate) to the backend.
var file = name => pipy.load(`certs/${name}`)
var pair = name => ({
  cert: new crypto.Certificate(file(`${name}.crt`)),
  key: new crypto.PrivateKey(file(`${name}.key`)),
})
var ca = new crypto.Certificate(file('ca.crt'))
var sites = { 'a.example': pair('a.example'), 'b.example': pair('b.example') }

pipy()

// HTTPS: the certificate is chosen by the name the client asks for.
.listen(8443)
.acceptTLS({
  certificate: name => sites[name],
  alpn: ['http/1.1'],
})
.to($=>$
  .demuxHTTP().to($=>$
    .muxHTTP().to($=>$
      .connectTLS({
        sni: 'backend.example',
        trusted: [ca],
        certificate: pair('proxy.client'),
      })
      .to($=>$.connect('127.0.0.1:9443'))
    )
  )
)

// Plain HTTP: every request is sent to the same path over HTTPS.
.listen(8000)
.serveHTTP(
  req => new Message({
    status: 301,
    headers: { location: `https://${(req.head.headers.host || 'a.example').split(':')[0]}:8443${req.head.path}` },
  })
)

// The backend: HTTPS that lets in only clients with a certificate from the CA.
// (It lives in this script so that the tutorial runs on its own.)
.listen(9443)
.acceptTLS({
  certificate: pair('backend.example'),
  trusted: [ca],
})
.to($=>$
  .serveHTTP(
    req => new Message(`backend: ${req.head.headers.host}${req.head.path}\n`)
  )
)
