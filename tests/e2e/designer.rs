//! Pipy's newer ("designer") API, so far as it goes: `pipeline($=>$...)` makes
//! a layout object used wherever a `$=>$` builder is, and `pipy.listen(port,
//! [protocol], [options], builder | layout)` listens with one.

use crate::support::{binary, curl, free_port, Proxy, Raw, TempDir};
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

#[test]
fn pipe_runs_a_plugin_chain_with_its_arguments_and_on_end_runs_when_each_pipeline_is_gone() {
    let (port, ends) = (free_port(), free_port());
    let main = format!(
        r#"import config from './config.js'
var plugins = config.plugins.map(name => pipy.import(`./plugins/${{name}}.js`).default)
var $ctx
var ended = 0
pipy.listen({port}, $=>$.demuxHTTP().to($=>$
  .onStart(() => void ($ctx = {{ trail: [] }}))
  .pipe(plugins, () => $ctx)
  .onEnd(() => ended++)
))
pipy.listen({ends}, $=>$.serveHTTP(() => new Message(`${{ended}}`)))
"#
    );
    let tag = |name: &str, next: &str| {
        format!(
            "var $ctx\nexport default pipeline($=>$\n  .onStart(c => void ($ctx = c))\n  .handleMessageStart(() => $ctx.trail.push('{name}'))\n  {next}\n)\n"
        )
    };
    let answer = "var $ctx\nexport default pipeline($=>$\n  .onStart(c => void ($ctx = c))\n  \
                  .pipe(msg => msg.head.path === '/pass' ? null : 'answer', {\n    \
                  answer: $=>$.replaceMessage(() => new Message($ctx.trail.join(' ') + '\\n')),\n  })\n)\n";
    let files = [
        ("main.js", main.as_str()),
        ("config.js", "export default { plugins: ['a', 'b', 'answer'] }\n"),
        ("plugins/a.js", &tag("a", ".pipeNext()")),
        ("plugins/b.js", &tag("b", ".pipeNext()")),
        ("plugins/answer.js", answer),
    ];
    let _p = Proxy::files(&files, &[]);
    let url = format!("http://127.0.0.1:{port}/");
    // Each request: a, b and the answer plugin see one $ctx, made per request.
    assert_eq!(curl(&["-s", &url, &url]), "a b\na b\n");
    // A key function returning null passes the request through: the request
    // itself comes back, as the chain's end passes it on.
    assert_eq!(curl(&["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{port}/pass")]), "200");
    // onEnd ran once for each request's pipeline once it was gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while curl(&["-s", &format!("http://127.0.0.1:{ends}/")]) != "3" {
        assert!(std::time::Instant::now() < deadline, "onEnd count");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn pipe_takes_an_array_from_its_function_as_a_chain_and_a_null_map_before_its_arguments() {
    let (a, b) = (free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            r#"
var tag = pipeline($=>$.handleMessageStart(m => {{ m.head.headers['x-t'] = 'b' }}).pipeNext())
var answer = pipeline($=>$.replaceMessage(m => new Message(`t=${{m.head.headers['x-t']}}\n`)))
var greet = pipeline($=>$.onStart(who => void (who)).replaceMessage(() => new Message('hi\n')))
pipy.listen({a}, $=>$.demuxHTTP().to($=>$.pipe([pipeline($=>$.pipe(() => [tag]).pipeNext()), answer])))
pipy.listen({b}, $=>$.demuxHTTP().to($=>$.pipe(greet, null, ['you'])))
"#
        ),
        &[],
    );
    // [tag] is a chain of its own: its pipeNext passes on to the outer chain's answer once.
    assert_eq!(curl(&[&format!("http://127.0.0.1:{a}/")]), "t=b\n");
    assert_eq!(curl(&[&format!("http://127.0.0.1:{b}/")]), "hi\n");
}

#[test]
fn a_port_given_by_number_and_the_same_port_on_0_0_0_0_are_one_port_to_replace() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            "pipy.listen({port}, $=>$.serveHTTP(new Message('first\\n')))\n\
             pipy.listen('0.0.0.0:{port}', $=>$.serveHTTP(new Message('second\\n')))\n"
        ),
        &[],
    );
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "second\n");
}

#[test]
fn fork_join_waits_for_every_branch_and_fork_race_answers_with_the_first() {
    let (join, race, none) = (free_port(), free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            r#"
var done = 0
var $d
pipy.listen({join}, $=>$.demuxHTTP().to($=>$
  .forkJoin([0.1, 0.2]).to($=>$
    .onStart(d => void ($d = d))
    .handleMessageStart(() => new Timeout($d).wait().then(() => void done++))
    .replaceMessage(new StreamEnd)
  )
  .replaceMessage(() => new Message(`done=${{done}}\n`))
))
pipy.listen({race}, $=>$.demuxHTTP().to($=>$
  .forkRace([0.3, 0.05, 0.2]).to($=>$
    .onStart(d => void ($d = d))
    .handleMessageStart(() => new Timeout($d).wait())
    .replaceMessage(() => new Message(`first ${{$d}}\n`))
  )
))
pipy.listen({none}, $=>$.demuxHTTP().to($=>$.forkRace([]).to($=>$.dummy())))
"#
        ),
        &[],
    );
    // Both branches have ended (each ends itself, as Pipy's do) before the request goes on.
    assert_eq!(curl(&[&format!("http://127.0.0.1:{join}/")]), "done=2\n");
    assert_eq!(curl(&[&format!("http://127.0.0.1:{join}/")]), "done=4\n");
    assert_eq!(curl(&[&format!("http://127.0.0.1:{race}/")]), "first 0.05\n");
    // A race with no one in it ends at once: the request gets the 502 of a branch that did not answer.
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{none}/")]), "502");
}

#[test]
fn streams_swapped_through_a_hub_get_what_the_others_send() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
var hubs = {{}}
var $room
pipy.listen({port}, $=>$
  .handleData(d => void ($room ??= d.toString().trim()))
  .swap(() => $room ? (hubs[$room] ??= new pipeline.Hub) : null)
)
"#
        ),
        &[],
    );
    let (mut a, mut b, mut c) = (Raw::connect(port), Raw::connect(port), Raw::connect(port));
    // The first line names the room; a and b meet in one, c is alone in another.
    a.send(b"red\n");
    b.send(b"red\n");
    c.send(b"blue\n");
    let read = |r: &mut Raw, want: &str| {
        let mut got = String::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < want.len() && std::time::Instant::now() < deadline {
            got.push_str(&r.read_some());
        }
        got
    };
    // b joined after a's first line: it gets what a sends from now on, and a gets b's.
    assert_eq!(read(&mut a, "red\n"), "red\n");
    b.send(b"hello a\n");
    assert_eq!(read(&mut a, "hello a\n"), "hello a\n");
    a.send(b"hello b\n");
    assert_eq!(read(&mut b, "hello b\n"), "hello b\n");
    // A stream's end goes to the others, as in Pipy: a pair closes together.
    drop(a);
    assert_eq!(b.read_to_close(), "");
    c.send(b"anyone?\n");
    c.0.set_read_timeout(Some(std::time::Duration::from_millis(300))).unwrap();
    assert_eq!(c.read_some(), "", "nobody else is in blue");
}

#[test]
fn repeat_runs_its_sub_pipeline_again_on_the_same_input_while_the_condition_holds() {
    let (now, later) = (free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            r#"
var runs = {{}}
var $id
var body = $=>$
  .handleStreamStart(() => void (runs[$id] = (runs[$id] || 0) + 1))
  .replaceData(d => [new Data(`run ${{runs[$id]}}: ${{d}} `), new StreamEnd])
pipy.listen({now}, $=>$
  .onStart(() => void ($id = 'now'))
  .repeat(() => runs[$id] < 3).to(body)
)
pipy.listen({later}, $=>$
  .onStart(() => void ($id = 'later'))
  .repeat(() => new Timeout(0.02).wait().then(() => runs[$id] < 2)).to(body)
)

"#
        ),
        &[],
    );
    let mut a = Raw::connect(now);
    a.send(b"x");
    assert_eq!(a.read_to_close(), "run 1: x run 2: x run 3: x ");
    let mut b = Raw::connect(later);
    b.send(b"y");
    assert_eq!(b.read_to_close(), "run 1: y run 2: y ");
}

#[test]
fn a_swapped_reader_that_stops_reading_holds_its_writer_back_and_no_memory() {
    let port = free_port();
    let mut p = Proxy::script(&format!("var hub = new pipeline.Hub\npipy.listen({port}, $=>$.swap(hub))\n"), &[]);
    let reader = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    reader.set_recv_buffer_size(4096).unwrap();
    reader.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into()).unwrap();
    let mut reader: std::net::TcpStream = reader.into();
    use std::io::Write;
    reader.write_all(b"r").unwrap();
    let mut writer = Raw::connect(port);
    writer.0.set_write_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
    let before = p.rss_kib();
    let chunk = vec![b'x'; 64 * 1024];
    let (mut sent, deadline) = (0usize, std::time::Instant::now() + std::time::Duration::from_secs(3));
    while std::time::Instant::now() < deadline {
        match writer.0.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break, // the proxy stopped reading it: backpressure
        }
    }
    let grown = p.rss_kib().saturating_sub(before);
    assert!(sent < 64 << 20, "the writer was never held back: {sent} bytes taken");
    assert!(grown < 64 * 1024, "the proxy grew {grown} KiB for a reader that does not read");
    let _ = &mut p;
}

#[test]
fn a_spawned_layout_runs_once_at_start_and_loop_feeds_its_output_back() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
var seen = []
pipeline($=>$
  .onStart(new Data('1'))
  .loop($=>$
    .replaceData(d => (seen.push(d.toString()), +d.toString() < 5 ? new Data(`${{+d.toString() + 1}}`) : new StreamEnd))
  )
).spawn()
pipy.listen({port}, $=>$.serveHTTP(() => new Message(seen.join(','))))
"#
        ),
        &[],
    );
    // The spawned pipeline counted itself up through its own output.
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while curl(&[&url]) != "1,2,3,4,5" {
        assert!(std::time::Instant::now() < deadline, "{}", curl(&[&url]));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
