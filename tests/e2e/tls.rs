//! TLS: termination (`acceptTLS`) with fixed and per-name certificates, ALPN and
//! client certificates; origination (`connectTLS`) with certificate checks; the
//! ClientHello filters; and what bad input, bad files and stalled handshakes get.
//! Certificates are made by each test with the openssl command line, under a test
//! CA; clients are curl, `openssl s_client` and Python's `ssl` module.

use crate::support::{curl, free_port, Proxy, Raw, TempDir};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA in `dir` (`ca.crt`, `ca.key`).
fn make_ca(dir: &Path, name: &str) {
    let key = format!("{name}.key");
    let crt = format!("{name}.crt");
    openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key]);
    openssl(dir, &["req", "-x509", "-new", "-key", &key, "-out", &crt, "-days", "30", "-subj", &format!("/CN={name}")]);
}

/// `NAME.crt` and `NAME.key` for `cn` (also its one DNS name), signed by CA `ca`,
/// valid from now for `days` days (0: expired long ago).
fn make_cert(dir: &Path, ca: &str, name: &str, cn: &str, days: i64) {
    let key = format!("{name}.key");
    openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key]);
    openssl(dir, &["req", "-new", "-key", &key, "-out", &format!("{name}.csr"), "-subj", &format!("/CN={cn}/O=Test")]);
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("subjectAltName=DNS:{cn}\nextendedKeyUsage=serverAuth,clientAuth\n"),
    )
    .unwrap();
    if days > 0 {
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-extfile",
                &format!("{name}.ext"),
                "-days",
                &days.to_string(),
            ],
        );
        return;
    }
    // Already expired: valid for one day in 2020 (`openssl ca` takes the dates).
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
         default_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\norganizationName = optional\n",
    )
    .unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            &format!("{ca}.crt"),
            "-keyfile",
            &format!("{ca}.key"),
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            &format!("{name}.ext"),
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
        ],
    );
}

/// A codebase folder with a CA and certificates for `localhost`, `a.test`,
/// `b.test` and a client, plus the script.
fn codebase(script: &str) -> TempDir {
    let dir = TempDir::new();
    make_ca(&dir.0, "ca");
    make_cert(&dir.0, "ca", "server", "localhost", 30);
    make_cert(&dir.0, "ca", "a", "a.test", 30);
    make_cert(&dir.0, "ca", "b", "b.test", 30);
    make_cert(&dir.0, "ca", "client", "client.test", 30);
    std::fs::write(dir.0.join("main.js"), script).unwrap();
    dir
}

fn start(dir: &TempDir) -> Proxy {
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], Some(&dir.0));
    p.ready();
    p
}

/// An `openssl s_client` connection kept open, closed when dropped.
struct Kept {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::process::ChildStdout,
}

impl Kept {
    fn open(dir: &Path, port: u16) -> Kept {
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-CAfile", "ca.crt", "-quiet"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        Kept { child, stdin, stdout }
    }

    /// Asks `GET /` and reads until the answer ends with `ok\n`.
    fn ask(&mut self) {
        self.stdin.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.ends_with(b"ok\n") {
            let n = self.stdout.read(&mut buf).unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl s_client` sending `request` after the handshake; its stdout and stderr.
fn s_client(dir: &Path, port: u16, extra: &[&str], request: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-CAfile", "ca.crt", "-ign_eof"])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    child.stdin.take().unwrap().write_all(request.as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

const GET: &str = "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

/// The `certificate` option for `server.crt` and its key, as the scripts below give it.
const CERT: &str =
    "certificate: { cert: new crypto.Certificate(pipy.load('server.crt')), key: new crypto.PrivateKey(pipy.load('server.key')) }";

/// Python's ssl module: the body of GET / over TLS with `server_hostname`, and the
/// protocol ALPN agreed on.
fn python_get(dir: &Path, port: u16, server_hostname: &str, alpn: &str) -> String {
    let code = format!(
        r#"
import socket, ssl
ctx = ssl.create_default_context(cafile="ca.crt")
ctx.set_alpn_protocols([{alpn}])
with socket.create_connection(("127.0.0.1", {port}), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="{server_hostname}") as s:
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        print(s.selected_alpn_protocol(), data.split(b"\r\n\r\n", 1)[1].decode())
"#
    );
    python(dir, &code)
}

#[test]
fn https_in_front_of_an_http_upstream_with_alpn() {
    let (port, origin) = (free_port(), free_port());
    let dir = codebase(&format!(
        r#"
var cert = new crypto.Certificate(pipy.load('server.crt'))
var key = new crypto.PrivateKey(pipy.load('server.key'))
pipy()
.listen({origin})
.serveHTTP(new Message('from the origin\n'))

.listen({port})
.acceptTLS({{
  certificate: {{ cert, key }},
  alpn: ['http/1.1'],
  handshake: info => console.log(`handshake alpn=${{info.alpn}} name=${{info.serverName}} ${{info.version}}`),
}})
.to($=>$.demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{origin}'))))
"#
    ));
    let p = start(&dir);
    let ca = dir.0.join("ca.crt");
    let url = format!("https://localhost:{port}/");
    let resolve = format!("localhost:{port}:127.0.0.1");
    assert_eq!(curl(&["--cacert", ca.to_str().unwrap(), "--resolve", &resolve, &url]), "from the origin\n");
    assert!(
        p.log.wait_for("handshake alpn=http/1.1 name=localhost TLSv1.3", Duration::from_secs(5)),
        "{}",
        p.log.text()
    );
    // Python negotiates http/1.1 from its offer of h2 and http/1.1.
    assert_eq!(python_get(&dir.0, port, "localhost", "'h2', 'http/1.1'"), "http/1.1 from the origin\n\n");
    // A client offering only protocols the server does not take fails the handshake.
    let out = s_client(&dir.0, port, &["-alpn", "h2", "-servername", "localhost"], GET);
    assert!(out.contains("no application protocol") || out.contains("alert"), "{out}");
    assert!(p.log.wait_for("acceptTLS: handshake with 127.0.0.1:", Duration::from_secs(5)), "{}", p.log.text());
    // Never -k: curl refuses a certificate it cannot check.
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code}", "--resolve", &resolve, &url]), "000");
    assert_eq!(curl(&["--cacert", ca.to_str().unwrap(), "--resolve", &resolve, &url]), "from the origin\n");
}

#[test]
fn each_server_name_gets_its_own_certificate() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
var certs = {{
  'a.test': {{ cert: new crypto.Certificate(pipy.load('a.crt')), key: new crypto.PrivateKey(pipy.load('a.key')) }},
  'b.test': {{ cert: new crypto.Certificate(pipy.load('b.crt')), key: new crypto.PrivateKey(pipy.load('b.key')) }},
}}
pipy()
.listen({port})
.acceptTLS({{ certificate: sni => certs[sni] }})
.to($=>$.serveHTTP(() => new Message('served\n')))
"#
    ));
    let p = start(&dir);
    for name in ["a.test", "b.test"] {
        let out = s_client(&dir.0, port, &["-servername", name, "-verify_hostname", name, "-verify_return_error"], GET);
        assert!(out.contains(&format!("subject=CN = {name}")), "{name}: {out}");
        assert!(out.contains("Verify return code: 0 (ok)"), "{name}: {out}");
        assert!(out.contains("served"), "{name}: {out}");
        let ca = dir.0.join("ca.crt");
        let url = format!("https://{name}:{port}/");
        let resolve = format!("{name}:{port}:127.0.0.1");
        assert_eq!(curl(&["--cacert", ca.to_str().unwrap(), "--resolve", &resolve, &url]), "served\n");
    }
    // A name the function has no certificate for fails that handshake only.
    let out = s_client(&dir.0, port, &["-servername", "c.test"], GET);
    assert!(!out.contains("served"), "{out}");
    assert!(p.log.wait_for("no certificate for server name c.test", Duration::from_secs(5)), "{}", p.log.text());
    let out = s_client(&dir.0, port, &["-servername", "a.test"], GET);
    assert!(out.contains("served"), "{out}");
}

#[test]
fn mutual_tls_lets_in_only_clients_with_a_trusted_certificate() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port})
.acceptTLS({{
  {CERT},
  trusted: [new crypto.Certificate(pipy.load('ca.crt'))],
  handshake: info => console.log(`client is ${{info.peer.subject.commonName}} of ${{info.peer.subject.organizationName}}`),
}})
.to($=>$.serveHTTP(new Message('welcome\n')))
"#
    ));
    let p = start(&dir);
    let out = s_client(&dir.0, port, &["-cert", "client.crt", "-key", "client.key"], GET);
    assert!(out.contains("welcome"), "{out}");
    assert!(p.log.wait_for("client is client.test of Test", Duration::from_secs(5)), "{}", p.log.text());
    // No certificate, or one from another CA: no answer, one log line each.
    let out = s_client(&dir.0, port, &[], GET);
    assert!(!out.contains("welcome"), "{out}");
    make_ca(&dir.0, "other");
    make_cert(&dir.0, "other", "stranger", "client.test", 30);
    let out = s_client(&dir.0, port, &["-cert", "stranger.crt", "-key", "stranger.key"], GET);
    assert!(!out.contains("welcome"), "{out}");
    assert!(p.log.wait_count("acceptTLS: handshake with", 2, Duration::from_secs(5)), "{}", p.log.text());
    // Python with the client certificate gets in.
    let code = format!(
        r#"
import socket, ssl
ctx = ssl.create_default_context(cafile="ca.crt")
ctx.load_cert_chain("client.crt", "client.key")
with socket.create_connection(("127.0.0.1", {port}), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        data = b""
        while not data.endswith(b"welcome\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        print(data.split(b"\r\n\r\n", 1)[1].decode(), end="")
"#
    );
    assert_eq!(python(&dir.0, &code), "welcome\n");
}

#[test]
fn a_verify_callback_sees_the_check_and_the_certificate_and_decides() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port})
.acceptTLS({{
  {CERT},
  trusted: [new crypto.Certificate(pipy.load('ca.crt'))],
  verify: (ok, cert) => (console.log(`verify ${{ok}} ${{cert.subject.commonName}} ${{cert.subjectAltNames}}`), ok || cert.subject.commonName === 'friend.test'),
}})
.to($=>$.serveHTTP(new Message('welcome\n')))
"#
    ));
    let p = start(&dir);
    let out = s_client(&dir.0, port, &["-cert", "client.crt", "-key", "client.key"], GET);
    assert!(out.contains("welcome"), "{out}");
    assert!(p.log.wait_for("verify true client.test client.test", Duration::from_secs(5)), "{}", p.log.text());
    make_ca(&dir.0, "other");
    make_cert(&dir.0, "other", "friend", "friend.test", 30);
    make_cert(&dir.0, "other", "stranger", "stranger.test", 30);
    let out = s_client(&dir.0, port, &["-cert", "friend.crt", "-key", "friend.key"], GET);
    assert!(out.contains("welcome"), "{out}");
    assert!(p.log.wait_for("verify false friend.test", Duration::from_secs(5)), "{}", p.log.text());
    let out = s_client(&dir.0, port, &["-cert", "stranger.crt", "-key", "stranger.key"], GET);
    assert!(!out.contains("welcome"), "{out}");
    assert!(p.log.wait_for("verify refused the client's certificate", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn connect_tls_checks_the_upstream_certificate() {
    let (front, good, expired, upstream) = (free_port(), free_port(), free_port(), free_port());
    let dir = codebase("");
    make_cert(&dir.0, "ca", "old", "localhost", 0);
    std::fs::write(
        dir.0.join("main.js"),
        format!(
            r#"
var ca = new crypto.Certificate(pipy.load('ca.crt'))
var tls = (crt, key) => ({{ certificate: {{ cert: new crypto.Certificate(pipy.load(crt)), key: new crypto.PrivateKey(pipy.load(key)) }} }})
pipy({{ _to: '' }})
.listen({upstream})
.acceptTLS(tls('server.crt', 'server.key')).to($=>$.serveHTTP(new Message('secret\n')))
.listen({expired})
.acceptTLS(tls('old.crt', 'old.key')).to($=>$.serveHTTP(new Message('stale\n')))

.listen({good})
.demuxHTTP().to($=>$.muxHTTP().to($=>$
  .connectTLS({{ sni: 'localhost', trusted: [ca], handshake: i => console.log(`upstream cert ${{i.peer.subject.commonName}}`) }})
  .to($=>$.connect('127.0.0.1:{upstream}'))
))

.listen({front})
.demuxHTTP().to($=>$
  .handleMessageStart(msg => _to = msg.head.path)
  .muxHTTP(() => _to).to($=>$
    .branch(
      () => _to === '/mozilla', $=>$.connectTLS({{ sni: 'localhost', verify: ok => ok }}).to($=>$.connect('127.0.0.1:{upstream}')),
      () => _to === '/unchecked', $=>$.connectTLS({{ sni: 'a.test' }}).to($=>$.connect('127.0.0.1:{expired}')),
      () => _to === '/expired', $=>$.connectTLS({{ sni: 'localhost', trusted: [ca] }}).to($=>$.connect('127.0.0.1:{expired}')),
      () => _to === '/name', $=>$.connectTLS({{ sni: 'a.test', trusted: [ca] }}).to($=>$.connect('127.0.0.1:{upstream}')),
      () => _to === '/anyway', $=>$.connectTLS({{ sni: 'a.test', verify: () => true }}).to($=>$.connect('127.0.0.1:{upstream}')),
      $=>$.connectTLS({{ trusted: [ca] }}).to($=>$.connect('127.0.0.1:{upstream}'))
    )
  )
)
"#
        ),
    )
    .unwrap();
    let p = start(&dir);
    assert_eq!(curl(&[&format!("http://127.0.0.1:{good}/")]), "secret\n");
    assert!(p.log.wait_for("upstream cert localhost", Duration::from_secs(5)), "{}", p.log.text());
    // Without sni the chain alone is checked.
    assert_eq!(curl(&[&format!("http://127.0.0.1:{front}/nosni")]), "secret\n");
    let status =
        |path: &str| curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{front}{path}")]);
    // Not under the Mozilla roots, expired, or for another name: 502, and a log line saying why.
    assert_eq!(status("/mozilla"), "502");
    assert!(p.log.wait_for("UnknownIssuer", Duration::from_secs(5)), "{}", p.log.text());
    assert_eq!(status("/expired"), "502");
    assert!(p.log.wait_for("certificate expired", Duration::from_secs(5)), "{}", p.log.text());
    assert_eq!(status("/name"), "502");
    assert!(p.log.wait_for("certificate not valid for name \"a.test\"", Duration::from_secs(5)), "{}", p.log.text());
    // Taking any certificate can be said.
    assert_eq!(curl(&[&format!("http://127.0.0.1:{front}/anyway")]), "secret\n");
    // With neither `trusted` nor `verify` nothing is checked, as in Pipy (here an
    // expired certificate for another name), and the load said so, where, once.
    assert_eq!(curl(&[&format!("http://127.0.0.1:{front}/unchecked")]), "stale\n");
    let warning = "main.js:22:40: connectTLS takes any server certificate";
    assert_eq!(p.log.text().matches(warning).count(), 1, "{}", p.log.text());
}

#[test]
fn an_upstream_with_an_x509_version_1_certificate_is_reached_over_tls_1_2_and_1_3() {
    // What `openssl x509 -req` makes without extensions, as Pipy's own test
    // certificates are: webpki refuses to read it, the handshake's signature is
    // still checked with its key.
    let (front, rsa, ec) = (free_port(), free_port(), free_port());
    let dir = codebase("");
    for (name, keygen) in [
        ("rsa1", vec!["genrsa", "-out", "rsa1.key", "2048"]),
        ("ec1", vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec1.key"]),
    ] {
        openssl(&dir.0, &keygen);
        let (key, csr, crt) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"));
        openssl(&dir.0, &["req", "-new", "-key", &key, "-subj", "/CN=v1.test", "-out", &csr]);
        openssl(&dir.0, &["x509", "-req", "-in", &csr, "-signkey", &key, "-days", "30", "-out", &crt]);
        let text = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in", &crt])
            .current_dir(&dir.0)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"));
    }
    std::fs::write(
        dir.0.join("main.js"),
        format!(
            r#"
var tls = name => ({{ certificate: {{ cert: new crypto.Certificate(pipy.load(name + '.crt')), key: new crypto.PrivateKey(pipy.load(name + '.key')) }} }})
pipy({{ _path: '' }})
.listen({rsa}).acceptTLS(tls('rsa1')).to($=>$.serveHTTP(new Message('rsa\n')))
.listen({ec}).acceptTLS(tls('ec1')).to($=>$.serveHTTP(new Message('ec\n')))
.listen({front})
.demuxHTTP().to($=>$
  .handleMessageStart(msg => _path = msg.head.path)
  .muxHTTP().to($=>$
    .branch(
      () => _path === '/rsa13', $=>$.connectTLS().to($=>$.connect('127.0.0.1:{rsa}')),
      () => _path === '/rsa12', $=>$.connectTLS({{ maxVersion: 'TLS1.2' }}).to($=>$.connect('127.0.0.1:{rsa}')),
      () => _path === '/ec13', $=>$.connectTLS().to($=>$.connect('127.0.0.1:{ec}')),
      () => _path === '/trusted', $=>$.connectTLS({{ trusted: [new crypto.Certificate(pipy.load('rsa1.crt'))] }}).to($=>$.connect('127.0.0.1:{rsa}')),
      $=>$.connectTLS({{ maxVersion: 'TLS1.2' }}).to($=>$.connect('127.0.0.1:{ec}'))
    )
  )
)
"#
        ),
    )
    .unwrap();
    let p = start(&dir);
    for (path, want) in [("/rsa13", "rsa\n"), ("/rsa12", "rsa\n"), ("/ec13", "ec\n"), ("/ec12", "ec\n")] {
        assert_eq!(curl(&[&format!("http://127.0.0.1:{front}{path}")]), want, "{path}: {}", p.log.text());
    }
    // Checked, it is refused, even as its own trust anchor: webpki reads no version 1.
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{front}/trusted")]), "502");
    assert!(p.log.wait_for("UnsupportedCertVersion", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn plain_http_and_garbage_on_a_tls_port_are_closed_at_once_and_nothing_else_is_touched() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port})
.acceptTLS({{ {CERT} }})
.to($=>$.serveHTTP(new Message('ok\n')))
"#
    ));
    let p = start(&dir);
    // An open TLS connection stays usable meanwhile.
    let mut kept = Kept::open(&dir.0, port);
    kept.ask();

    let t = Instant::now();
    let mut raw = Raw::connect(port);
    raw.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    let answer = raw.read_to_close();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(!answer.contains("ok"), "{answer:?}");
    let mut rng = 12345u64;
    for _ in 0..20 {
        let mut raw = Raw::connect(port);
        let bytes: Vec<u8> = (0..200)
            .map(|i| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if i == 0 {
                    22
                } else {
                    rng as u8
                }
            })
            .collect();
        raw.send(&bytes);
        let _ = raw.read_to_close();
    }
    kept.ask();
    assert!(p.log.text().contains("acceptTLS: handshake with 127.0.0.1:"), "{}", p.log.text());
}

#[test]
fn a_stalled_handshake_is_closed_by_the_port_timeout_and_a_flood_of_records_holds_no_memory() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port}, {{ readTimeout: '1s' }})
.acceptTLS({{ {CERT} }})
.to($=>$.serveHTTP(new Message('ok\n')))
"#
    ));
    let p = start(&dir);
    let t = Instant::now();
    let mut raw = Raw::connect(port);
    raw.send(&[22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]);
    let _ = raw.read_to_close();
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(5), "{waited:?}");
    // Handshake records that never end a ClientHello: refused past the bound, not kept.
    let before = p.rss_kib();
    let mut raw = Raw::connect(port);
    let mut record = vec![22, 3, 1, 0x40, 0];
    record.extend(std::iter::repeat_n(0u8, 0x4000));
    let mut hello = vec![22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff];
    hello.extend(std::iter::repeat_n(record, 200).flatten());
    let _ = raw.0.write_all(&hello);
    let _ = raw.read_to_close();
    assert!(p.rss_kib() < before + 8 * 1024, "{} KiB after, {before} before", p.rss_kib());
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{port}/")]), "000");
}

#[test]
fn bad_certificate_files_are_load_errors_that_name_the_place() {
    let port = free_port();
    let dir = codebase("");
    std::fs::write(dir.0.join("junk.crt"), "this is not a certificate\n").unwrap();
    let cases = [
        ("pipy.load('missing.crt')", "pipy.load('server.key')", "no file 'missing.crt' in the codebase"),
        ("pipy.load('junk.crt')", "pipy.load('server.key')", "crypto.Certificate: no certificate"),
        ("pipy.load('server.crt')", "pipy.load('server.crt')", "crypto.PrivateKey: no private key"),
        ("pipy.load('server.crt')", "pipy.load('a.key')", "the private key does not match the certificate"),
    ];
    for (cert, key, says) in cases {
        let script = format!(
            "var cert = new crypto.Certificate({cert})\nvar key = new crypto.PrivateKey({key})\npipy()\n.listen({port})\n.acceptTLS({{ certificate: {{ cert, key }} }})\n.to($=>$.serveHTTP(new Message('x')))\n"
        );
        std::fs::write(dir.0.join("main.js"), script).unwrap();
        let out =
            Command::new(crate::support::binary()).arg("--check").arg("main.js").current_dir(&dir.0).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(says), "{says}: {text}");
        assert!(text.contains("main.js:"), "{text}");
    }
}

#[test]
fn a_replaced_certificate_is_used_by_new_handshakes_after_the_reload() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port})
.acceptTLS({{ certificate: {{ cert: new crypto.Certificate(pipy.load('live.crt')), key: new crypto.PrivateKey(pipy.load('live.key')) }} }})
.to($=>$.serveHTTP(new Message('ok\n')))
"#
    ));
    std::fs::copy(dir.0.join("a.crt"), dir.0.join("live.crt")).unwrap();
    std::fs::copy(dir.0.join("a.key"), dir.0.join("live.key")).unwrap();
    let p = start(&dir);
    assert!(s_client(&dir.0, port, &[], GET).contains("subject=CN = a.test"));
    // A broken certificate file: the running version stays.
    std::fs::write(dir.0.join("live.crt"), "broken").unwrap();
    assert!(p.log.wait_for("Not reloaded", Duration::from_secs(5)), "{}", p.log.text());
    assert!(s_client(&dir.0, port, &[], GET).contains("subject=CN = a.test"));
    // The key first, then the certificate: the pair is taken once both match.
    std::fs::copy(dir.0.join("b.key"), dir.0.join("live.key")).unwrap();
    std::fs::copy(dir.0.join("b.crt"), dir.0.join("live.crt")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = s_client(&dir.0, port, &[], GET);
        if out.contains("subject=CN = b.test") {
            assert!(out.contains("ok"), "{out}");
            break;
        }
        assert!(Instant::now() < deadline, "still the old certificate: {out}\n{}", p.log.text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tls_versions_can_be_narrowed() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port})
.acceptTLS({{ minVersion: 'TLS1.3', {CERT} }})
.to($=>$.serveHTTP(new Message('ok\n')))
"#
    ));
    let _p = start(&dir);
    assert!(s_client(&dir.0, port, &["-tls1_3"], GET).contains("ok"));
    let out = s_client(&dir.0, port, &["-tls1_2"], GET);
    assert!(!out.contains("\nok"), "{out}");
    assert!(out.contains("alert") || out.contains("version"), "{out}");
}

#[test]
fn one_port_tells_tls_from_http_and_reads_the_client_hello() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
var cert = new crypto.Certificate(pipy.load('server.crt'))
var key = new crypto.PrivateKey(pipy.load('server.key'))
pipy({{ _tls: false }})
.listen({port})
.detectProtocol(name => void (_tls = name === 'TLS', console.log(`detected '${{name}}'`)))
.branch(
  () => _tls, $=>$
    .handleTLSClientHello(h => console.log(`hello for ${{h.serverNames}} offering ${{h.protocolNames}}`))
    .acceptTLS({{ certificate: {{ cert, key }} }}).to('http'),
  'http'
)
.pipeline('http')
.serveHTTP(() => new Message(_tls ? 'secure\n' : 'plain\n'))
"#
    ));
    let p = start(&dir);
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "plain\n");
    assert!(p.log.wait_for("detected 'HTTP'", Duration::from_secs(5)), "{}", p.log.text());
    let ca = dir.0.join("ca.crt");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/");
    assert_eq!(curl(&["--cacert", ca.to_str().unwrap(), "--resolve", &resolve, &url]), "secure\n");
    assert!(p.log.wait_for("detected 'TLS'", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("hello for localhost offering h2,http/1.1", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn a_renegotiation_attempt_is_refused_and_the_server_goes_on() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port})
.acceptTLS({{ {CERT} }})
.to($=>$.serveHTTP(new Message('ok\n')))
"#
    ));
    let p = start(&dir);
    // s_client renegotiates when it reads a line "R" (TLS 1.2 has renegotiation; rustls refuses it).
    let script = format!(
        "(printf 'GET / HTTP/1.1\\r\\nhost: x\\r\\n\\r\\n'; sleep 0.5; printf 'R\\n'; sleep 1) | \
         timeout 10 openssl s_client -connect 127.0.0.1:{port} -tls1_2 -CAfile ca.crt 2>&1"
    );
    let out = Command::new("bash").arg("-c").arg(script).current_dir(&dir.0).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RENEGOTIATING") && text.contains("no renegotiation"), "{text}");
    assert!(p.log.wait_for("acceptTLS: connection with 127.0.0.1:", Duration::from_secs(5)), "{}", p.log.text());
    assert!(s_client(&dir.0, port, &[], GET).contains("ok"));
}

#[test]
fn alpn_and_sni_functions_chains_max_version_and_certificate_fields() {
    let (port, upstream, front) = (free_port(), free_port(), free_port());
    let dir = codebase("");
    // An intermediate CA under the root, and a leaf under it: served as a chain.
    openssl(&dir.0, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "mid.key"]);
    openssl(&dir.0, &["req", "-new", "-key", "mid.key", "-out", "mid.csr", "-subj", "/CN=mid"]);
    std::fs::write(dir.0.join("mid.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
        .unwrap();
    openssl(
        &dir.0,
        &[
            "x509",
            "-req",
            "-in",
            "mid.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "mid.crt",
            "-days",
            "30",
            "-extfile",
            "mid.ext",
        ],
    );
    make_cert(&dir.0, "mid", "leaf", "localhost", 30);
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(dir.0.join("leaf.crt")).unwrap(),
        std::fs::read_to_string(dir.0.join("mid.crt")).unwrap()
    );
    std::fs::write(dir.0.join("chain.crt"), chain).unwrap();
    std::fs::write(
        dir.0.join("main.js"),
        format!(
            r#"
var chain = new crypto.CertificateChain(pipy.load('chain.crt'))
var key = new crypto.PrivateKey(pipy.load('leaf.key'))
var ca = new crypto.Certificate(pipy.load('ca.crt'))
var leaf = new crypto.Certificate(pipy.load('leaf.crt'))
console.log(`chain of ${{chain.size}}; leaf by ${{leaf.issuer.commonName}} for ${{leaf.subjectAltNames}}, ${{leaf.notAfter > leaf.notBefore}}, ${{leaf.toPEM().toString().startsWith('-----BEGIN CERTIFICATE-----')}}`)
console.log(`public key ${{new crypto.PublicKey(key).toPEM().toString().split('\n')[0]}}`)
pipy()
.listen({port})
.acceptTLS({{
  certificate: {{ cert: chain, key }},
  maxVersion: 'TLS1.2',
  alpn: names => (console.log(`offered ${{names}}`), names.indexOf('second')),
  handshake: i => console.log(`chose ${{i.alpn}} over ${{i.version}}`),
}})
.to($=>$.serveHTTP(new Message('chained\n')))

.listen({upstream})
.acceptTLS({{ certificate: {{ cert: chain, key }}, alpn: ['http/1.1'], handshake: i => console.log(`upstream got ${{i.alpn}} for ${{i.serverName}}`) }})
.to($=>$.serveHTTP(new Message('up\n')))

.listen({front})
.demuxHTTP().to($=>$.muxHTTP().to($=>$
  .connectTLS({{ sni: () => 'localhost', alpn: ['h2', 'http/1.1'], trusted: [ca], handshake: i => console.log(`front chose ${{i.alpn}}`) }})
  .to($=>$.connect('127.0.0.1:{upstream}'))
))
"#
        ),
    )
    .unwrap();
    let p = start(&dir);
    assert!(
        p.log.wait_for("chain of 2; leaf by mid for localhost, true, true", Duration::from_secs(5)),
        "{}",
        p.log.text()
    );
    assert!(p.log.text().contains("public key -----BEGIN PUBLIC KEY-----"), "{}", p.log.text());
    // The client verifies through the intermediate the server sends; ALPN by the function.
    let out = s_client(
        &dir.0,
        port,
        &["-alpn", "first,second", "-verify_return_error", "-verify_hostname", "localhost"],
        GET,
    );
    assert!(out.contains("chained") && out.contains("ALPN protocol: second"), "{out}");
    assert!(out.contains("Protocol  : TLSv1.2") || out.contains("TLSv1.2"), "{out}");
    assert!(p.log.wait_for("offered first,second", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("chose second over TLSv1.2", Duration::from_secs(5)), "{}", p.log.text());
    // An index the function cannot give fails the handshake.
    let out = s_client(&dir.0, port, &["-alpn", "first"], GET);
    assert!(!out.contains("chained"), "{out}");
    // maxVersion TLS1.2: a TLS 1.3-only client gets no handshake.
    let out = s_client(&dir.0, port, &["-tls1_3"], GET);
    assert!(!out.contains("chained"), "{out}");
    // connectTLS: the sni function's name is sent and checked, ALPN offered in order.
    assert_eq!(curl(&[&format!("http://127.0.0.1:{front}/")]), "up\n");
    assert!(p.log.wait_for("upstream got http/1.1 for localhost", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("front chose http/1.1", Duration::from_secs(5)), "{}", p.log.text());
}

/// Runs Python `code` in `dir`; its stdout and stderr.
fn python(dir: &Path, code: &str) -> String {
    let out = Command::new("timeout").args(["20", "python3", "-c", code]).current_dir(dir).output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn bytes_after_close_notify_are_dropped_and_the_worker_goes_on() {
    let (port, idle) = (free_port(), free_port());
    let dir = codebase(&format!(
        r#"
pipy()
.listen({idle})
.dummy()
.listen({port})
.acceptTLS({{ {CERT} }})
.to($=>$.connect('127.0.0.1:{idle}'))
"#
    ));
    let _p = start(&dir);
    // close_notify and more bytes in one write, on a stream whose sub-pipeline stays open.
    let out = python(
        &dir.0,
        &format!(
            r#"
import socket, ssl
ctx = ssl.create_default_context(cafile="ca.crt")
raw = socket.create_connection(("127.0.0.1", {port}), timeout=5)
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(b"hello")
inner = s.unwrap()
inner.sendall(b"\x17\x03\x03" + b"x" * 6000)
print("sent")
"#
        ),
    );
    assert!(out.contains("sent"), "{out}");
    // The worker is not stuck (it spun on those bytes once): a new handshake is done at once.
    let out = python(
        &dir.0,
        &format!(
            r#"
import socket, ssl
ctx = ssl.create_default_context(cafile="ca.crt")
with socket.create_connection(("127.0.0.1", {port}), timeout=3) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        print("handshake", s.version())
"#
        ),
    );
    assert!(out.contains("handshake TLSv1.3"), "{out}");
}

#[test]
fn certificates_made_per_handshake_are_never_served_for_another_name() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
var pem = {{ 'a.test': ['a.crt', 'a.key'], 'b.test': ['b.crt', 'b.key'] }}
pipy()
.listen({port})
.acceptTLS({{
  certificate: name => ({{ cert: new crypto.Certificate(pipy.load(pem[name][0])), key: new crypto.PrivateKey(pipy.load(pem[name][1])) }}),
}})
.to($=>$.serveHTTP(new Message('ok\n')))
"#
    ));
    // Without glibc's thread cache, freed objects' addresses come back at once: the
    // case where a cache keyed by address without keeping the objects goes wrong.
    let mut cmd = Command::new(crate::support::binary());
    cmd.arg(dir.0.join("main.js")).current_dir(&dir.0).env("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0");
    let mut p = Proxy::from_command(cmd);
    p.ready();
    let out = python(
        &dir.0,
        &format!(
            r#"
import socket, ssl, random
ctx = ssl.create_default_context(cafile="ca.crt")
wrong = 0
for i in range(120):
    name = random.choice(["a.test", "b.test"])
    with socket.create_connection(("127.0.0.1", {port}), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            got = dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
            wrong += got != name
print("wrong", wrong)
"#
        ),
    );
    assert!(out.contains("wrong 0"), "{out}\n{}", p.log.text());
}

#[test]
fn an_answer_cut_off_is_not_ended_with_close_notify() {
    let (port, backend) = (free_port(), free_port());
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port})
.acceptTLS({{ {CERT} }})
.to($=>$.connect('127.0.0.1:{backend}'))
"#
    ));
    let _p = start(&dir);
    // A backend that sends part of an answer, then resets the connection.
    let listener = std::net::TcpListener::bind(("127.0.0.1", backend)).unwrap();
    let backend_thread = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf);
        conn.write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 100\r\n\r\npartial").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let _ = socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO));
    });
    let out = python(
        &dir.0,
        &format!(
            r#"
import socket, ssl
ctx = ssl.create_default_context(cafile="ca.crt")
with socket.create_connection(("127.0.0.1", {port}), timeout=5) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
            print("clean end after", data)
        except (ssl.SSLError, ConnectionError) as e:
            print("cut off after", data, type(e).__name__)
"#
        ),
    );
    backend_thread.join().unwrap();
    assert!(out.contains("cut off after b'HTTP/1.0 200 OK"), "{out}");
}

#[test]
fn an_alpn_function_that_declines_gets_the_client_an_alert() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port})
.acceptTLS({{
  {CERT},
  alpn: () => -1,
}})
.to($=>$.serveHTTP(new Message('ok\n')))
"#
    ));
    let _p = start(&dir);
    let out = s_client(&dir.0, port, &["-alpn", "http/1.1"], GET);
    assert!(out.contains("no application protocol"), "{out}");
}

#[test]
fn connect_tls_ends_its_output_at_the_servers_close_notify() {
    let (front, upstream) = (free_port(), free_port());
    let dir = codebase(&format!(
        r#"
pipy()
.listen({front})
.connectTLS({{ sni: 'localhost', trusted: [new crypto.Certificate(pipy.load('ca.crt'))] }})
.to($=>$.connect('127.0.0.1:{upstream}'))
"#
    ));
    let _p = start(&dir);
    // An upstream that answers, says close_notify, and waits for ours before it closes.
    let server = format!(
        r#"
import socket, ssl
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain("server.crt", "server.key")
l = socket.create_server(("127.0.0.1", {upstream}))
print("listening", flush=True)
c, _ = l.accept()
s = ctx.wrap_socket(c, server_side=True)
s.recv(1024)
s.sendall(b"answer\n")
s.settimeout(5)
s.unwrap()
print("got close_notify back", flush=True)
"#
    );
    let mut up =
        Command::new("python3").arg("-c").arg(server).current_dir(&dir.0).stdout(Stdio::piped()).spawn().unwrap();
    let mut up_out = std::io::BufReader::new(up.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut up_out, &mut line).unwrap();
    assert_eq!(line, "listening\n");
    let started = Instant::now();
    let mut raw = Raw::connect(front);
    raw.send(b"question\n");
    let got = raw.read_to_close();
    assert_eq!(got, "answer\n");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    line.clear();
    std::io::BufRead::read_line(&mut up_out, &mut line).unwrap();
    assert_eq!(line, "got close_notify back\n");
    let _ = up.wait();
}

#[test]
fn on_state_follows_the_session_from_handshake_to_failure() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port})
.acceptTLS({{
  {CERT},
  alpn: ['http/1.1'],
  onState: s => console.log(`state ${{s.state}} protocol=${{s.protocol}} host=${{s.hostname}} error=${{s.error}}`),
}})
.to($=>$.serveHTTP(new Message('ok\n')))
"#
    ));
    let p = start(&dir);
    let out = s_client(&dir.0, port, &["-servername", "localhost", "-alpn", "http/1.1"], GET);
    assert!(out.contains("ok"), "{out}");
    assert!(
        p.log.wait_for("state handshake protocol=http/1.1 host=localhost error=undefined", Duration::from_secs(5)),
        "{}",
        p.log.text()
    );
    assert!(
        p.log.wait_for("state connected protocol=http/1.1 host=localhost error=undefined", Duration::from_secs(5)),
        "{}",
        p.log.text()
    );
    let mut raw = Raw::connect(port);
    raw.send(b"GET / HTTP/1.1\r\n\r\n");
    let _ = raw.read_to_close();
    assert!(
        p.log.wait_for("state closed protocol=undefined host=undefined error=", Duration::from_secs(5)),
        "{}",
        p.log.text()
    );
}

#[test]
fn a_handshake_that_stalls_ends_at_the_handshake_timeout() {
    let port = free_port();
    let dir = codebase(&format!(
        r#"
pipy()
.listen({port})
.acceptTLS({{
  handshakeTimeout: '1s',
  {CERT},
}})
.to($=>$.serveHTTP(new Message('ok\n')))
"#
    ));
    let p = start(&dir);
    let t = Instant::now();
    let mut raw = Raw::connect(port);
    raw.send(&[22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]);
    let _ = raw.read_to_close();
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(5), "{waited:?}");
    assert!(p.log.wait_for("failed: not done within 1s", Duration::from_secs(5)), "{}", p.log.text());
    // A handshake done in time is not cut by the timer firing later.
    let mut kept = Kept::open(&dir.0, port);
    kept.ask();
    // Past the timeout (nothing to wait on: the timer of a finished handshake does nothing).
    std::thread::sleep(Duration::from_millis(1500));
    kept.ask();
}
