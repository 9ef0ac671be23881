//! Pipy's newer ("designer") API, so far as it goes: `pipeline($=>$...)` makes
//! a layout object used wherever a `$=>$` builder is, and `pipy.listen(port,
//! [protocol], [options], builder | layout)` listens with one.

use crate::support::{binary, curl, free_port, Proxy, TempDir};
use std::process::Command;

#[test]
fn pipy_listen_takes_builders_and_layout_objects_and_pipeline_makes_them() {
    let (a, b, c, u) = (free_port(), free_port(), free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            r#"
var answer = pipeline($=>$
  .replaceMessage(req => new Message(`answered ${{req.head.path}}\n`))
)
var front = pipeline($=>$.demuxHTTP().to(answer))

pipy.listen({a}, front)
pipy.listen('127.0.0.1:{b}', {{ idleTimeout: 5 }}, front)
pipy.listen({c}, $=>$.serveHTTP(new Message('inline\n')))
pipy.listen({u}, 'udp', $=>$.replaceData(d => new Data(`udp ${{d.toString()}}`)))
"#
        ),
        &[],
    );
    assert_eq!(curl(&[&format!("http://127.0.0.1:{a}/x")]), "answered /x\n");
    assert_eq!(curl(&[&format!("http://127.0.0.1:{b}/y")]), "answered /y\n");
    assert_eq!(curl(&[&format!("http://127.0.0.1:{c}/")]), "inline\n");
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    s.send_to(b"hi", ("127.0.0.1", u)).unwrap();
    let mut buf = [0u8; 64];
    let n = s.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"udp hi");
}

#[test]
fn a_later_pipy_listen_of_a_port_replaces_the_earlier_and_null_closes_it() {
    let dir = TempDir::new();
    let path = dir.0.join("main.js");
    std::fs::write(
        &path,
        "pipy.listen(8091, $=>$.serveHTTP(new Message('a')))\n\
         pipy.listen(8091, $=>$.dummy())\n\
         pipy.listen(8092, $=>$.dummy())\n\
         pipy.listen(8092, null)\n",
    )
    .unwrap();
    let out = Command::new(binary()).arg("--check").arg(&path).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "module /main.js\n  listen [::]:8091\n    -> dummy\n");
}

#[test]
fn what_pipy_listen_cannot_take_is_a_load_error_at_its_place() {
    let dir = TempDir::new();
    let path = dir.0.join("main.js");
    let cases = [
        (
            "pipy.listen(8099, 42)\n",
            "main.js:1:5: TypeError: pipy.listen(): the last argument is a pipeline or a $=>$ builder",
        ),
        ("pipy.listen(8099, 'sctp', $=>$.dummy())\n", "protocol 'sctp'"),
        ("pipy.listen(8099, { bogus: 1 }, $=>$.dummy())\n", "unknown option 'bogus'"),
        ("var p = pipeline(42)\n", "pipeline(): takes a $=>$ builder function"),
        ("pipy.listen(8099, $=>$.demuxHTTP())\n", "demuxHTTP() in pipeline '8099' is missing .to(...)"),
        ("pipy.listen(8099, { idleTimeout: '1s' })\n", "the pipeline is missing (null closes the port)"),
    ];
    for (script, want) in cases {
        std::fs::write(&path, script).unwrap();
        let out = Command::new(binary()).arg("--check").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{script}: {err}");
        assert!(err.contains(want), "{script}\nwanted: {want}\ngot: {err}");
    }
}

#[test]
fn pipy_read_streams_a_codebase_file_through_a_pipeline_once_and_tee_prints_it() {
    let body = "line one\nline two\n".repeat(500);
    let dir = TempDir::with_files(&[
        (
            "main.js",
            "var twice = pipeline($=>$.compress('gzip').decompress('gzip').tee('-'))\n\
             pipy.read('input.txt', $=>$.tee('-'))\n\
             pipy.read('input.txt', twice).then(end => println(end instanceof StreamEnd ? 'done' : end))\n",
        ),
        ("input.txt", &body),
    ]);
    let out = Command::new(binary()).arg(dir.0.join("main.js")).output().unwrap();
    // Nothing listens: the process ends once both runs are done.
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), body.repeat(2) + "done\n");
}

#[test]
fn pipy_read_and_tee_refuse_what_they_cannot_do_at_load() {
    let dir = TempDir::new();
    let path = dir.0.join("main.js");
    let cases = [
        ("pipy.read('missing.txt', $=>$.dummy())\n", "pipy.read(): no file 'missing.txt' in the codebase"),
        ("pipy.read('../../etc/passwd', $=>$.dummy())\n", "pipy.read()"),
        ("pipy.read('main.js', $=>$.tee('/tmp/out.txt'))\n", "only '-' (standard output) is written"),
    ];
    for (script, want) in cases {
        std::fs::write(&path, script).unwrap();
        let out = Command::new(binary()).arg("--check").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{script}: {err}");
        assert!(err.contains(want), "{script}\nwanted: {want}\ngot: {err}");
    }
}
