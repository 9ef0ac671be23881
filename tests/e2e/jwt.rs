//! `crypto.JWT`: tokens signed by openssl (RS256, PS256, ES256) and Python's
//! hmac (HS256) are read and checked with the right key, and refused with a
//! wrong key, a changed byte, `alg: none` or an algorithm of another kind;
//! the same keys given as JSON Web Keys (`crypto.JWK`) check the same tokens.

use crate::support::{curl, free_port, Proxy, TempDir};
use std::path::Path;
use std::process::Command;

fn run(dir: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program).args(args).current_dir(dir).output().expect("run");
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Makes `name.jwt` in `dir`: a token with `header` and a payload, signed by
/// `sign.py` (which the test writes) with `alg` and the key file.
const SIGN: &str = r#"
import base64, hashlib, hmac, json, subprocess, sys
alg, key, out = sys.argv[1], sys.argv[2], sys.argv[3]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b'=').decode()
head = b64(json.dumps({'alg': alg, 'typ': 'JWT', 'kid': 'k1'}).encode())
body = b64(json.dumps({'sub': 'alice', 'admin': True}).encode())
data = (head + '.' + body).encode()
if alg == 'HS256':
    sig = hmac.new(open(key, 'rb').read(), data, hashlib.sha256).digest()
elif alg == 'none':
    sig = b''
else:
    opts = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'] if alg == 'PS256' else []
    der = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', key] + opts, input=data, capture_output=True, check=True).stdout
    if alg == 'ES256':
        # DER SEQUENCE { INTEGER r, INTEGER s } to r || s, 32 bytes each.
        i = 2
        parts = []
        for _ in range(2):
            n = der[i + 1]
            parts.append(int.from_bytes(der[i + 2:i + 2 + n], 'big').to_bytes(32, 'big'))
            i += 2 + n
        der = parts[0] + parts[1]
    sig = der
open(out, 'w').write(head + '.' + body + '.' + b64(sig))
"#;

/// Writes `rsa.jwk` and `ec.jwk`: the public keys as JSON Web Keys, read from openssl's text.
const JWK: &str = r#"
import base64, json, re, subprocess
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b'=').decode()
out = lambda *a: subprocess.run(['openssl'] + list(a), capture_output=True, check=True, text=True).stdout
n = bytes.fromhex(out('rsa', '-pubin', '-in', 'rsa.pub', '-noout', '-modulus').strip().split('=')[1])
json.dump({'kty': 'RSA', 'n': b64(n), 'e': 'AQAB'}, open('rsa.jwk', 'w'))
text = out('ec', '-pubin', '-in', 'ec.pub', '-noout', '-text')
point = bytes.fromhex(re.sub(r'[^0-9a-f]', '', text.split('pub:')[1].split('ASN1')[0]))
json.dump({'kty': 'EC', 'crv': 'P-256', 'x': b64(point[1:33]), 'y': b64(point[33:65])}, open('ec.jwk', 'w'))
"#;

#[test]
fn tokens_are_checked_with_the_key_of_their_algorithm() {
    let port = free_port();
    let dir = TempDir::new();
    let d = &dir.0;
    std::fs::write(d.join("sign.py"), SIGN).unwrap();
    run(d, "openssl", &["genrsa", "-out", "rsa.key", "2048"]);
    run(d, "openssl", &["rsa", "-in", "rsa.key", "-pubout", "-out", "rsa.pub"]);
    run(d, "openssl", &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.key"]);
    run(d, "openssl", &["ec", "-in", "ec.key", "-pubout", "-out", "ec.pub"]);
    run(d, "openssl", &["genrsa", "-out", "other.key", "2048"]);
    std::fs::write(d.join("secret"), "s3cret").unwrap();
    std::fs::write(d.join("jwk.py"), JWK).unwrap();
    run(d, "python3", &["jwk.py"]);
    for (alg, key, out) in [
        ("RS256", "rsa.key", "rs.jwt"),
        ("PS256", "rsa.key", "ps.jwt"),
        ("ES256", "ec.key", "es.jwt"),
        ("HS256", "secret", "hs.jwt"),
        ("none", "secret", "none.jwt"),
    ] {
        run(d, "python3", &["sign.py", alg, key, out]);
    }
    std::fs::write(
        d.join("main.js"),
        format!(
            r#"
var keys = {{
  rsa: new crypto.PublicKey(pipy.load('rsa.pub')),
  ec: new crypto.PublicKey(pipy.load('ec.pub')),
  other: new crypto.PrivateKey(pipy.load('other.key')),
  secret: 's3cret',
  wrong: 'not it',
  rsaText: pipy.load('rsa.pub'),
  rsaJwk: new crypto.JWK(JSON.decode(pipy.load('rsa.jwk'))),
  ecJwk: new crypto.JWK(JSON.decode(pipy.load('ec.jwk'))),
}}
pipy.listen({port}, $=>$.serveHTTP(msg => {{
  var [file, key] = msg.head.path.substring(1).split('/')
  var text = pipy.load(file).toString()
  if (key === 'changed') {{ text = text.substring(0, text.length - 2) + (text.endsWith('A') ? 'B' : 'A') + text.substring(text.length - 1); key = 'rsa' }}
  var jwt = new crypto.JWT(text)
  return new Message(`${{jwt.isValid}} ${{jwt.header?.alg}} ${{jwt.payload?.sub}} ${{jwt.isValid && jwt.verify(keys[key])}}\n`)
}}))
"#
        ),
    )
    .unwrap();
    let mut p = Proxy::spawn(&d.join("main.js"), &[], Some(d));
    p.ready();
    let ask = |path: &str| curl(&[&format!("http://127.0.0.1:{port}/{path}")]);
    assert_eq!(ask("rs.jwt/rsa"), "true RS256 alice true\n");
    assert_eq!(ask("rs.jwt/rsaText"), "true RS256 alice true\n");
    assert_eq!(ask("ps.jwt/rsa"), "true PS256 alice true\n");
    assert_eq!(ask("es.jwt/ec"), "true ES256 alice true\n");
    assert_eq!(ask("hs.jwt/secret"), "true HS256 alice true\n");
    assert_eq!(ask("rs.jwt/rsaJwk"), "true RS256 alice true\n");
    assert_eq!(ask("ps.jwt/rsaJwk"), "true PS256 alice true\n");
    assert_eq!(ask("es.jwt/ecJwk"), "true ES256 alice true\n");
    assert_eq!(ask("es.jwt/rsaJwk"), "true ES256 alice false\n");
    assert_eq!(ask("rs.jwt/ecJwk"), "true RS256 alice false\n");
    // Wrong keys, a key of another kind, a changed signature.
    assert_eq!(ask("rs.jwt/other"), "true RS256 alice false\n");
    assert_eq!(ask("rs.jwt/ec"), "true RS256 alice false\n");
    assert_eq!(ask("es.jwt/rsa"), "true ES256 alice false\n");
    assert_eq!(ask("hs.jwt/wrong"), "true HS256 alice false\n");
    assert_eq!(ask("hs.jwt/rsa"), "true HS256 alice false\n");
    assert_eq!(ask("rs.jwt/changed"), "true RS256 alice false\n");
    // An HS256 token made with the public key's PEM text as its secret (which
    // anybody can make) is refused when checked with that text.
    run(d, "python3", &["sign.py", "HS256", "rsa.pub", "forged.jwt"]);
    assert_eq!(ask("forged.jwt/rsaText"), "true HS256 alice false\n");
    assert_eq!(ask("forged.jwt/rsa"), "true HS256 alice false\n");
    // `alg: none` is no token here.
    assert_eq!(ask("none.jwt/secret"), "false undefined undefined false\n");
    let _ = &mut p;
}

#[test]
fn hashes_and_hmacs_are_what_python_computes() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
pipy.listen({port}, $=>$.serveHTTP(msg => {{
  var [kind, alg, enc] = msg.head.path.substring(1).split('/')
  var h = kind === 'hash' ? new crypto.Hash(alg) : new crypto.Hmac(alg, 'k3y')
  h.update('hello ')
  h.update(new Data('776f726c64', 'hex'))
  h.update('', 'utf8')
  var d = h.digest(enc === 'data' ? undefined : enc)
  var again
  try {{ h.digest() }} catch (e) {{ again = e.message }}
  return new Message(`${{enc === 'data' ? d.toString('hex') : d}} ${{again}}`)
}}))
"#
        ),
        &[],
    );
    for (kind, alg, enc) in [
        ("hash", "sha256", "hex"),
        ("hash", "md5", "hex"),
        ("hash", "sha1", "base64"),
        ("hash", "SHA-512", "data"),
        ("hmac", "sha256", "hex"),
        ("hmac", "sha384", "base64url"),
    ] {
        let py = format!(
            "import hashlib, hmac, base64\n\
             a = '{alg}'.lower().replace('-', '')\n\
             d = hashlib.new(a, b'hello world').digest() if '{kind}' == 'hash' else hmac.new(b'k3y', b'hello world', a).digest()\n\
             e = '{enc}'\n\
             print(d.hex() if e in ('hex', 'data') else base64.b64encode(d).decode() if e == 'base64' else base64.urlsafe_b64encode(d).rstrip(b'=').decode(), end='')"
        );
        let out = std::process::Command::new("python3").args(["-c", &py]).output().unwrap();
        let want = String::from_utf8(out.stdout).unwrap();
        let name = if kind == "hash" { "Hash" } else { "Hmac" };
        let got = curl(&[&format!("http://127.0.0.1:{port}/{kind}/{alg}/{enc}")]);
        assert_eq!(got, format!("{want} crypto.{name}: digest() was already taken"), "{kind} {alg} {enc}");
    }
    let err =
        curl(&["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{port}/hash/whirlpool/hex")]);
    assert_eq!(err, "500");
}
