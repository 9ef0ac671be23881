//! Script behaviour: load errors, exceptions and runaway callbacks in one stream
//! only, Promises, and the filters of the configuration API.

use crate::support::{binary, curl, free_port, Proxy, Raw, TempDir};
use std::process::Command;
use std::time::{Duration, Instant};

fn run_to_exit(script: &str) -> (i32, String) {
    let dir = TempDir::new();
    let path = dir.0.join("main.js");
    std::fs::write(&path, script).unwrap();
    let out = Command::new(binary()).arg(&path).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_script_that_fails_to_load_exits_non_zero_naming_file_line_and_column() {
    let (code, err) = run_to_exit("pipy()\n.listen(8099)\n.serveHTTP(new Message(\n  'x' +\n))\n");
    assert_eq!(code, 1);
    assert!(err.contains("main.js:5:1: SyntaxError"), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear message: {err}");

    let (code, err) = run_to_exit("pipy()\n.listen(8099)\n  .link('missing')\n");
    assert_eq!(code, 1);
    assert!(err.contains("main.js:3:4: unknown pipeline 'missing'"), "{err}");

    let (code, err) = run_to_exit("pipy()\n.listen(8099)\n.serveHTTP(new Message('x'), { maxHeaderSize: 'lots' })\n");
    assert_eq!(code, 1);
    assert!(
        err.contains("main.js:3:") && err.contains("TypeError: serveHTTP: option 'maxHeaderSize' must be a size"),
        "{err}"
    );

    let (code, err) = run_to_exit("pipy()\n.serveHTTP(new Message('x'))\n");
    assert_eq!(code, 1);
    assert!(err.contains("main.js:2:") && err.contains("call listen() or pipeline() first"), "{err}");

    let out = Command::new(binary()).arg("no-such-file.js").output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read no-such-file.js"));
}

#[test]
fn an_unknown_mistyped_or_unsupported_option_is_a_load_error_naming_filter_option_and_place() {
    let check = |script: &str| {
        let dir = TempDir::new();
        let path = dir.0.join("main.js");
        std::fs::write(&path, script).unwrap();
        let out = Command::new(binary()).arg("--check").arg(&path).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let cases = [
        (
            "pipy()\n.listen(8099)\n.demuxHTTP().to($=>$\n  .muxHTTP().to($=>$\n    .connect('127.0.0.1:1', { idleTimout: 5 })))\n",
            "main.js:5:6: TypeError: connect: unknown option 'idleTimout' (did you mean 'idleTimeout'?)",
        ),
        (
            "pipy()\n.listen(8099, { protocol: 'udq' })\n.dummy()\n",
            "main.js:2:2: TypeError: listen: option 'protocol' is 'udq'; this proxy supports only 'tcp' or 'udp' so far",
        ),
        (
            "pipy()\n.listen(8099)\n.demuxHTTP().to($=>$\n  .muxHTTP({ version: 3 }).to($=>$.connect('127.0.0.1:1')))\n",
            "main.js:4:4: TypeError: muxHTTP: version 3: use 1 or 2",
        ),
        (
            "pipy()\n.listen(8099)\n.serveHTTP(new Message('x'), { colour: 'red' })\n",
            "TypeError: serveHTTP: unknown option 'colour' (it knows maxHeaderSize",
        ),
        (
            "pipy()\n.listen(8099, { transparent: true })\n.dummy()\n",
            "main.js:2:2: TypeError: listen: option 'transparent' is not supported by this proxy yet",
        ),
        ("pipy()\n.listen(8099)\n.dummy()\n.wait(() => true, { timeout: true })\n", "main.js:4:2: TypeError: wait: option 'timeout' must be a duration"),
        (
            "pipy()\n.listen(8099)\n.demuxHTTP().to($=>$\n  .muxHTP().to($=>$.connect('127.0.0.1:1')))\n",
            "main.js:4:4: TypeError: 'muxHTP' is not a function (no filter has that name; did you mean 'muxHTTP'?)",
        ),
        ("pipy().listen(8099).acceptFoo()\n", "TypeError: 'acceptFoo' is not a function (no filter has that name)"),
    ];
    for (script, want) in cases {
        let (code, err) = check(script);
        assert_eq!(code, Some(1), "{script}: {err}");
        assert!(err.contains(want), "{script}\nwanted: {want}\ngot: {err}");
    }
    // A top-level `return` leaves the script early, as in Pipy's samples; an
    // error on line 1 of such a script still names its own column.
    let (code, err) =
        check("var quit = true\nif (quit) return pipy().listen(8099).dummy()\npipy().listen(8098).dummy()\n");
    assert_eq!(code, Some(0), "{err}");
    // A syntax error after a top-level return is the one reported.
    let (code, err) = check("if (true) return\nfoo(;\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("main.js:2:5: SyntaxError"), "{err}");
    let (code, err) = check("nope(); return\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("main.js:1:1: ReferenceError: nope is not defined"), "{err}");
    // A `#!` first line is a comment, as in Pipy.
    let (code, err) = check("#!/usr/bin/env pipy\npipy()\n.listen(8099)\n.dummy()\n");
    assert_eq!(code, Some(0), "{err}");
    // Options Pipy has and that change nothing here are accepted.
    let (code, err) = check(
        "pipy()\n.listen(8099, { noDelay: true, keepAlive: true })\n.connect('127.0.0.1:1', { noDelay: true })\n",
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn check_prints_the_layouts_or_the_error_and_binds_nothing() {
    let port = free_port();
    let dir = TempDir::new();
    let path = dir.0.join("main.js");
    std::fs::write(
        &path,
        format!("pipy()\n.listen({port})\n.demuxHTTP().to($=>$.link('x'))\n.pipeline('x').dummy()\n"),
    )
    .unwrap();
    let out = Command::new(binary()).arg("--check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "module /main.js\n  listen [::]:{port}\n    -> demuxHTTP\n       => anonymous\n        -> link\n           => x\n            -> dummy\n  pipeline('x')\n    -> dummy\n"
        )
    );
    // Nothing was bound.
    assert!(std::net::TcpListener::bind(("0.0.0.0", port)).is_ok());
    std::fs::write(&path, "pipy()\n.listen(8099)\n.link('missing')\n").unwrap();
    let out = Command::new(binary()).arg("--check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("main.js:3:2: unknown pipeline 'missing'"));
}

#[test]
fn an_exception_fails_one_request_with_500_and_is_logged_with_location() {
    let port = free_port();
    let p = Proxy::script(
        &format!(
            "pipy()\n.listen({port})\n.serveHTTP(msg =>\n  msg.head.path === '/bad' ? msg.no.such.thing : new Message('fine'))\n"
        ),
        &[],
    );
    let base = format!("http://127.0.0.1:{port}");
    let out = curl(&["-i", &format!("{base}/bad")]);
    assert!(out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{out}");
    assert!(p.log.wait_for("main.js:4:", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("TypeError", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("    at ", Duration::from_secs(5)), "the JS stack is logged: {}", p.log.text());
    assert_eq!(curl(&[&format!("{base}/good")]), "fine");
}

#[test]
fn a_runaway_callback_is_stopped_at_the_deadline_and_the_next_request_works() {
    let port = free_port();
    let p = Proxy::script(
        &format!("pipy().listen({port}).serveHTTP(msg => msg.head.path === '/loop' ? (() => {{ for (;;) {{}} }})() : new Message('fine'))"),
        &["--callback-timeout", "200ms"],
    );
    let base = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    let out = curl(&["-i", &format!("{base}/loop")]);
    assert!(out.starts_with("HTTP/1.1 500"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(3), "stopped near the deadline, took {:?}", t.elapsed());
    assert!(p.log.wait_for("time limit", Duration::from_secs(5)), "{}", p.log.text());
    assert_eq!(curl(&[&format!("{base}/ok")]), "fine");
}

#[test]
fn a_promise_pauses_its_stream_until_it_settles() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(msg => msg.head.path === '/slow' ? new Timeout(0.3).wait().then(() => new Message('slow')) : Promise.resolve(new Message('fast')))"
        ),
        &[],
    );
    let mut c = Raw::connect(port);
    let t = Instant::now();
    c.send(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\nGET /fast HTTP/1.1\r\nhost: x\r\n\r\n");
    let out = c.read_responses(2);
    assert!(t.elapsed() >= Duration::from_millis(250));
    let slow = out.find("slow").unwrap();
    let fast = out.find("fast").unwrap();
    assert!(slow < fast, "in request order: {out}");
    // A rejected promise is a failed request, not a failed server.
    let port2 = free_port();
    let _q = Proxy::script(&format!("pipy().listen({port2}).serveHTTP(() => Promise.reject(new Error('nope')))"), &[]);
    assert!(curl(&["-i", &format!("http://127.0.0.1:{port2}/")]).starts_with("HTTP/1.1 500"));
}

#[test]
fn codec_handler_replacer_link_and_branch_filters_compose() {
    let port = free_port();
    let script = format!(
        r#"pipy({{ _seen: '' }})

.pipeline('answer')
.replaceMessage(msg => new Message({{ status: 200, headers: {{ 'x-seen': _seen }} }}, 'R:' + msg.head.path + ':' + msg.body.toString()))

.listen({port})
.decodeHTTPRequest()
.handleMessageStart(msg => {{ _seen = msg.head.headers['x-tag'] || 'none'; msg.head.path = msg.head.path.toUpperCase() }})
.handleMessage(msg => console.log('saw', msg.head.method, msg.body.size))
.branch(
  () => _seen === 'teapot', $=>$.replaceMessage(new Message({{ status: 418 }}, 'short and stout')),
  'answer'
)
.encodeHTTPResponse()
.handleStreamEnd(() => console.log('stream ended'))
"#
    );
    let p = Proxy::script(&script, &[]);
    let url = format!("http://127.0.0.1:{port}/abc");
    let out = curl(&["-i", "-H", "x-tag: blue", "-d", "xyz", &url]);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nx-seen: blue\r\ncontent-length: 10\r\nconnection: keep-alive\r\n\r\nR:/ABC:xyz"
    );
    let out = curl(&["-i", "-H", "x-tag: teapot", &url]);
    assert!(out.starts_with("HTTP/1.1 418 \r\n") || out.starts_with("HTTP/1.1 418 OK\r\n"), "{out}");
    assert!(out.ends_with("short and stout"));
    assert!(p.log.wait_for("saw POST 3", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("stream ended", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn eval_mode_and_dump_print_events() {
    let port = free_port();
    let dir = TempDir::new();
    let mut p = Proxy::spawn(
        std::path::Path::new("-e"),
        &[&format!("pipy().listen({port}).dump('in').serveHTTP(new Message('hi'))")],
        Some(&dir.0),
    );
    p.ready();
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "hi");
    assert!(p.log.wait_for("[dump] in Data", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn task_runs_once_and_the_process_exits_when_nothing_is_left() {
    let dir = TempDir::new();
    let path = dir.0.join("main.js");
    std::fs::write(&path, "pipy().task().onStart(new StreamEnd).handleStreamEnd(() => console.log('task ran once'))")
        .unwrap();
    let out = Command::new(binary()).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("task ran once"));
}

#[test]
fn periodic_task_probes_a_server_like_a_health_check() {
    let port = free_port();
    let script = format!(
        r#"pipy({{ _runs: {{ n: 0 }} }})
.listen({port}).serveHTTP(new Message({{ status: 204 }}))
.task('0.2s')
.onStart(() => new Message({{ method: 'GET', path: '/health', headers: {{ host: 'probe' }} }}))
.encodeHTTPRequest()
.connect('127.0.0.1:{port}')
.decodeHTTPResponse()
.handleMessageStart(msg => console.log(`probe ${{++_runs.n}}: ${{msg.head.status}}`))
.replaceMessageEnd(() => new StreamEnd)
"#
    );
    let p = Proxy::script(&script, &[]);
    assert!(p.log.wait_for("probe 1: 204", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("probe 3: 204", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn fork_copies_events_to_sub_pipelines_and_passes_them_on() {
    let port = free_port();
    let script = format!(
        r#"pipy({{ _who: 'main' }})
.listen({port})
.decodeHTTPRequest()
.fork(['a', 'b']).to($=>$.handleMessageStart(() => console.log('forked copy ' + (_who = _who + '+'))))
.fork().to($=>$.handleMessageStart(() => _who = 'shared'))
.replaceMessage(() => new Message(_who))
.encodeHTTPResponse()
"#
    );
    let p = Proxy::script(&script, &[]);
    let out = crate::support::curl(&[&format!("http://127.0.0.1:{port}/")]);
    // Array forks clone the context (their writes stay theirs); a plain fork shares it.
    assert_eq!(out, "shared");
    assert!(p.log.wait_for("forked copy main+", Duration::from_secs(5)), "{}", p.log.text());
    assert!(!p.log.text().contains("main++"), "each array branch has its own copy: {}", p.log.text());
}

#[test]
fn replace_message_body_and_the_repeat_helper() {
    let ports = [free_port(), free_port()];
    let script = format!(
        r#"pipy()
.repeat([{}, {}], ($, port) => $
  .listen(port)
  .decodeHTTPRequest()
  .replaceMessageBody(body => body.toString().toUpperCase() + ' via ' + port)
  .replaceMessageStart(() => new MessageStart({{ status: 200 }}))
  .encodeHTTPResponse()
)
"#,
        ports[0], ports[1]
    );
    let _p = Proxy::script(&script, &[]);
    for port in ports {
        let out = crate::support::curl(&["-d", "shout", &format!("http://127.0.0.1:{port}/")]);
        assert_eq!(out, format!("SHOUT via {port}"));
    }
}

#[test]
fn wait_holds_a_stream_until_script_state_lets_it_go_or_the_timeout_passes() {
    // The fork's Promise callback sets the stream's _ready (Promise callbacks run
    // in the context they were made in), and that wakes the wait.
    let (port, other) = (free_port(), free_port());
    let p = Proxy::script(
        &format!(
            "pipy({{ _ready: false }})\n\
             .listen({port})\n\
             .demuxHTTP().to($=>$\n\
               .fork().to($=>$.handleMessageStart(() => new Timeout(0.3).wait().then(() => {{ _ready = true }})))\n\
               .wait(() => _ready)\n\
               .replaceMessage(new Message('released'))\n\
             )\n\
             .listen({other})\n\
             .demuxHTTP().to($=>$.wait(() => false, {{ timeout: 0.2 }}).replaceMessage(new Message('timed out')))\n"
        ),
        &[],
    );
    let t = Instant::now();
    assert_eq!(curl(&["-s", &format!("http://127.0.0.1:{port}/")]), "released", "{}", p.log.text());
    assert!(t.elapsed() >= Duration::from_millis(250), "{:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(curl(&["-s", &format!("http://127.0.0.1:{other}/")]), "timed out");
    assert!(t.elapsed() >= Duration::from_millis(150), "{:?}", t.elapsed());
}

#[test]
fn fork_values_reach_the_sub_pipelines_on_start() {
    let port = free_port();
    let script = format!(
        r#"pipy()
.listen({port})
.decodeHTTPRequest()
.fork([{{ n: 1 }}, {{ n: 2 }}]).to($=>$.onStart(v => void console.log('array value ' + v.n)).dummy())
.fork('one').to($=>$.onStart(v => void console.log('single value ' + v)).dummy())
.fork(() => ['x', 'y']).to($=>$.onStart(v => void console.log('computed value ' + v)).dummy())
.replaceMessage(new Message('done'))
.encodeHTTPResponse()
"#
    );
    let p = Proxy::script(&script, &[]);
    assert_eq!(crate::support::curl(&[&format!("http://127.0.0.1:{port}/")]), "done");
    for line in ["array value 1", "array value 2", "single value one", "computed value x", "computed value y"] {
        assert!(p.log.wait_for(line, Duration::from_secs(5)), "{line}: {}", p.log.text());
    }
}

#[test]
fn throttle_filters_pace_messages_and_bytes_by_a_quota() {
    let ports = [free_port(), free_port()];
    let body = "z".repeat(200 * 1024);
    let script = format!(
        r#"((
  q = new algo.Quota(10),
  messages = new algo.Quota(2, {{ per: '0.3s' }}),
  bytes = new algo.Quota(64 * 1024, {{ per: '0.1s' }}),
) => (
  console.log(`quota consume ${{q.consume(4)}} ${{q.consume(10)}} current ${{q.current}} initial ${{q.initial}}`),
  q.produce(3), console.log(`after produce ${{q.current}}`),
  q.reset(), console.log(`after reset ${{q.current}}`),
  pipy()
  .listen({})
  .demuxHTTP().to($=>$.throttleMessageRate(messages).replaceMessage(new Message('ok')))
  .listen({})
  .serveHTTP(new Message('{body}'))
  .throttleDataRate(() => bytes)
))()
"#,
        ports[0], ports[1]
    );
    let p = Proxy::script(&script, &[]);
    assert!(p.log.wait_for("quota consume 4 6 current 0 initial 10", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("after produce 3", Duration::from_secs(5)));
    assert!(p.log.wait_for("after reset 10", Duration::from_secs(5)));
    // 2 messages per 0.3 s: the 5th request on one connection waits two refills.
    let t = Instant::now();
    let url = format!("http://127.0.0.1:{}/", ports[0]);
    let out = curl(&["-s", &url, &url, &url, &url, &url]);
    assert_eq!(out, "okokokokok");
    assert!(t.elapsed() >= Duration::from_millis(500), "{:?}", t.elapsed());
    // 64 KiB per 0.1 s: 200 KiB takes at least three refills.
    let t = Instant::now();
    let out = curl(&["-s", &format!("http://127.0.0.1:{}/", ports[1])]);
    assert_eq!(out.len(), body.len());
    assert!(t.elapsed() >= Duration::from_millis(250), "{:?}", t.elapsed());
}

#[test]
fn a_port_pipelines_on_start_gets_its_inbound_connection() {
    let port = free_port();
    let p = Proxy::script(
        &format!(
            "pipy().listen({port}).onStart(ib => (console.log(`start on ${{ib.localPort}} same ${{ib === __inbound}}`), [])).serveHTTP(new Message('x'))"
        ),
        &[],
    );
    assert_eq!(crate::support::curl(&[&format!("http://127.0.0.1:{port}/")]), "x");
    assert!(p.log.wait_for(&format!("start on {port} same true"), Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn a_callback_declaring_no_parameters_still_gets_its_argument_through_rest_or_arguments() {
    let (a, b, c) = (free_port(), free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            "pipy().listen({a}).serveHTTP((...m) => new Message('rest ' + m[0].head.path))\n\
             pipy().listen({b}).serveHTTP(function () {{ return new Message('arguments ' + arguments[0].head.path) }})\n\
             pipy().listen({c}).serveHTTP(() => new Message('none'))\n"
        ),
        &[],
    );
    assert_eq!(curl(&[&format!("http://127.0.0.1:{a}/x")]), "rest /x");
    assert_eq!(curl(&[&format!("http://127.0.0.1:{b}/y")]), "arguments /y");
    assert_eq!(curl(&[&format!("http://127.0.0.1:{c}/z")]), "none");
}

#[test]
fn then_with_a_value_that_is_not_a_function_settles_with_that_value_as_in_pipy() {
    let port = free_port();
    let _p = Proxy::script(
        &format!("pipy().listen({port}).serveHTTP(() => Promise.resolve('ignored').then(new Message('the value\\n')))"),
        &[],
    );
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "the value\n");
}

#[test]
fn yaml_configures_a_script_and_bad_yaml_is_a_load_error_with_its_line() {
    let port = free_port();
    let p = Proxy::files(
        &[
            (
                "main.js",
                &format!(
                    "var config = YAML.decode(pipy.load('config.yaml'))\n\
                     pipy()\n.listen({port})\n\
                     .serveHTTP(msg => new Message({{ headers: {{ 'content-type': 'application/yaml' }} }},\n\
                       YAML.encode({{ greeting: config.greeting, path: msg.head.path, backends: config.backends.length }})))\n"
                ),
            ),
            ("config.yaml", "greeting: hello\nbackends:\n  - 127.0.0.1:8081\n  - 127.0.0.1:8082\n"),
        ],
        &[],
    );
    let got = curl(&[&format!("http://127.0.0.1:{port}/a")]);
    assert_eq!(got, "greeting: hello\npath: /a\nbackends: 2\n");
    drop(p);
    let dir = TempDir::with_files(&[("main.js", "var c = YAML.parse('a: [1, 2\\n')\n")]);
    let out = Command::new(binary()).arg("--check").arg(dir.0.join("main.js")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("main.js:1:") && err.contains("SyntaxError: YAML:"), "{err}");
}

#[test]
fn netmask_answers_by_the_network_a_client_is_in() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            "var inside = new Netmask('127.0.0.0/8'), other = new Netmask(24, '10.1.2.3')\n\
             pipy()\n.listen({port})\n\
             .serveHTTP(() => new Message(`${{inside.contains(__inbound.remoteAddress)}} ${{other.contains(__inbound.remoteAddress)}} ${{other.base}} ${{other.size}} ${{other}}\\n`))\n"
        ),
        &[],
    );
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "true false 10.1.2.0 256 10.1.2.3/24\n");
}

#[test]
fn data_shift_to_and_shift_while_take_bytes_by_a_scanner() {
    let dir = TempDir::with_files(&[(
        "main.js",
        "var d = new Data('GET / HTTP/1.1\\r\\nHost: x\\r\\n')\n\
         var line = d.shiftTo(b => b === 10)\n\
         var spaces = new Data('   abc').shiftWhile(b => b === 32)\n\
         var all = new Data('xyz').shiftTo(b => b === 10)\n\
         println(JSON.stringify(line.toString()), JSON.stringify(d.toString()), spaces.size, all.toString())\n\
         pipy().task().onStart(new StreamEnd).dummy()\n",
    )]);
    let out = Command::new(binary()).arg(dir.0.join("main.js")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "\"GET / HTTP/1.1\\r\\n\" \"Host: x\\r\\n\" 3 xyz\n");
}

#[test]
fn pipy_says_its_pid_and_start_time() {
    let dir = TempDir::with_files(&[(
        "main.js",
        "println(pipy.pid, pipy.since <= pipy.now(), pipy.now() - pipy.since < 60000)\n\
         pipy().task().onStart(new StreamEnd).dummy()\n",
    )]);
    let child = Command::new(binary()).arg(dir.0.join("main.js")).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{pid} true true\n"));
}

#[test]
fn a_timeout_runs_from_when_it_is_made_and_can_be_restarted_or_cancelled() {
    let dir = TempDir::with_files(&[(
        "main.js",
        "var order = []\n\
         pipy().task().onStart(() => {\n\
           var restarted = new Timeout(0.3), plain = new Timeout(0.2), cancelled = new Timeout(0.2)\n\
           new Timeout(0.1).wait().then(() => { restarted.restart(); cancelled.cancel() })\n\
           cancelled.wait().then(() => order.push('cancelled fired'), t => order.push('cancelled ' + (t === cancelled)))\n\
           plain.wait().then(t => order.push('plain ' + (t === plain)))\n\
           return restarted.wait().then(() => {\n\
             order.push('restarted')\n\
             return restarted.wait().then(() => { println(order.join(', '), '| again at once'); return new StreamEnd })\n\
           })\n\
         })\n",
    )]);
    let out = Command::new(binary()).arg(dir.0.join("main.js")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cancelled true, plain true, restarted | again at once\n");
}

#[test]
fn xml_is_read_into_nodes_changed_and_written_back() {
    let dir = TempDir::with_files(&[(
        "main.js",
        "var doc = XML.decode(new Data('<?xml version=\"1.0\"?><order id=\"7\"><sku>300688</sku><t>a &amp; b</t></order>'))\n\
         var order = doc.children[0]\n\
         order.children.push(new XML.Node('note', { by: 'x\"y' }, ['ok']))\n\
         println(order.attributes.id, order.children[1].children[0], XML.encode(doc).toString())\n\
         println(XML.parse('<a><b></a>'), XML.parse('<a/><b/>'), XML.stringify(doc, 1).split('\\n').length)\n\
         pipy().task().onStart(new StreamEnd).dummy()\n",
    )]);
    let out = Command::new(binary()).arg(dir.0.join("main.js")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "7 a & b <order id=\"7\"><sku>300688</sku><t><![CDATA[a & b]]></t><note by=\"x&quot;y\">ok</note></order>\nnull null 6\n"
    );
}

/// Runs openssl with `args` in `dir`, asserting it succeeds; gives its stdout.
fn openssl(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn crypto_sign_and_verify_agree_with_openssl_both_ways() {
    let dir = TempDir::with_files(&[
        ("msg", "hello world"),
        (
            "main.js",
            "var keys = { rsa: ['rsa.pem', 'rsa.pub'], ec: ['ec.pem', 'ec.pub'] }\n\
             var lines = []\n\
             for (var k in keys) {\n\
               var key = new crypto.PrivateKey(pipy.load(keys[k][0])), pub = new crypto.PublicKey(pipy.load(keys[k][1]))\n\
               var s = new crypto.Sign('sha256'); s.update('hello '); s.update(new Data('world'))\n\
               lines.push(s.sign(key, 'hex'))\n\
               var theirs = new crypto.Verify('sha256'); theirs.update(pipy.load('msg'))\n\
               var tampered = new crypto.Verify('sha256'); tampered.update('hello world!')\n\
               lines.push(theirs.verify(pub, pipy.load(k + '.sig')) + ' ' + tampered.verify(pub, pipy.load(k + '.sig')))\n\
             }\n\
             println(lines.join('\\n'))\n\
             pipy().task().onStart(new StreamEnd).dummy()\n",
        ),
    ]);
    let d = &dir.0;
    openssl(d, &["genrsa", "-out", "rsa.pem", "2048"]);
    openssl(d, &["rsa", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub"]);
    openssl(d, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.pem"]);
    openssl(d, &["ec", "-in", "ec.pem", "-pubout", "-out", "ec.pub"]);
    for k in ["rsa", "ec"] {
        openssl(d, &["dgst", "-sha256", "-sign", &format!("{k}.pem"), "-out", &format!("{k}.sig"), "msg"]);
    }
    let out = Command::new(binary()).arg(d.join("main.js")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[1], "true false", "the RSA signature openssl made checks, and not for another message");
    assert_eq!(lines[3], "true false", "the ECDSA one too");
    for (k, hex) in [("rsa", lines[0]), ("ec", lines[2])] {
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        std::fs::write(d.join(format!("{k}.ours")), bytes).unwrap();
        let said =
            openssl(d, &["dgst", "-sha256", "-verify", &format!("{k}.pub"), "-signature", &format!("{k}.ours"), "msg"]);
        assert!(said.contains("Verified OK"), "openssl checks the {k} signature the script made: {said}");
    }
}

#[test]
fn least_work_sends_each_connection_where_fewest_are_and_counts_closed_ones_out() {
    let (front, a, b) = (free_port(), free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            "var lb = new algo.LeastWorkLoadBalancer(['127.0.0.1:{a}', '127.0.0.1:{b}'])\n\
             var h = new algo.HashingLoadBalancer(['127.0.0.1:{a}', '127.0.0.1:{b}'])\n\
             pipy.listen({a}, $=>$.replaceData(() => new Data('a')))\n\
             pipy.listen({b}, $=>$.replaceData(() => new Data('b')))\n\
             pipy.listen({front}, $=>$.connect(() => lb.next().id))\n"
        ),
        &[],
    );
    let ask = |c: &mut Raw| {
        c.send(b"?");
        c.read_some()
    };
    let mut first = Raw::connect(front);
    assert_eq!(ask(&mut first), "a");
    let mut second = Raw::connect(front);
    assert_eq!(ask(&mut second), "b", "a has one, b none");
    let mut third = Raw::connect(front);
    assert_eq!(ask(&mut third), "a", "one each: the first target");
    assert_eq!(ask(&mut first), "a", "a connection keeps its target");
    drop(first);
    drop(third);
    // Once both of a's have closed, a (none) has less than b (one).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = Raw::connect(front);
        let got = ask(&mut c);
        if got == "a" {
            break;
        }
        assert!(Instant::now() < deadline, "a never came back: {got}");
        drop(c);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ask(&mut second), "b");
}

#[test]
fn least_work_counts_a_closed_borrower_out_at_the_next_pick_and_hashing_keeps_keys_in_place() {
    let dir = TempDir::with_files(&[(
        "main.js",
        "var lb = new algo.LeastWorkLoadBalancer({ a: 1, b: 1 })\n\
         var c = [0, 1, 2, 3].map(() => ({ closed: false }))\n\
         var first = c.map(x => lb.next(x).id).join('')\n\
         c[1].closed = c[3].closed = true\n\
         var after = lb.next({ closed: false }).id\n\
         var h = new algo.HashingLoadBalancer(['x', 'y', 'z'])\n\
         var keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6']\n\
         var before = keys.map(k => h.select(k)).join('')\n\
         var again = keys.map(k => h.select(k)).join('')\n\
         var down = { find: id => id === h.select('k1') }\n\
         println(first, after, before === again, new Set(before).size > 1, h.select('k1', down))\n\
         pipy().task().onStart(new StreamEnd).dummy()\n",
    )]);
    let out = Command::new(binary()).arg(dir.0.join("main.js")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "abab b true true undefined\n");
}

#[test]
fn crypto_cipher_and_decipher_agree_with_openssl_enc() {
    let dir = TempDir::with_files(&[
        ("msg", "hello cipher world, more than one block of text here!"),
        (
            "main.js",
            "var hex = s => new Data(s, 'hex')\n\
             var key = hex('0'.repeat(63) + '1'), iv = hex('0'.repeat(31) + '2')\n\
             var d = new crypto.Decipher('aes-256-cbc', { key, iv })\n\
             var cbc = pipy.load('msg.cbc'), out = new Data()\n\
             for (var i = 0; i < cbc.size; i += 7) out.push(d.update(new Data(cbc.toString('hex').substring(2 * i, 2 * i + 14), 'hex')))\n\
             out.push(d.final())\n\
             var c = new crypto.Cipher('aes-256-cbc', { key, iv }), enc = new Data()\n\
             enc.push(c.update(new Data('hello cipher world, '))); enc.push(c.update(new Data('more than one block of text here!'))); enc.push(c.final())\n\
             var ctr = new crypto.Decipher('aes-128-ctr', { key: hex('0'.repeat(31) + '3'), iv: hex('0'.repeat(31) + '4') })\n\
             var plain = ctr.update(pipy.load('msg.ctr')).toString() + ctr.final().toString()\n\
             var wrong = new crypto.Decipher('aes-256-cbc', { key: hex('0'.repeat(63) + '9'), iv }), why\n\
             wrong.update(cbc)\n\
             try { wrong.final() } catch (e) { why = e.message }\n\
             var short; try { new crypto.Cipher('aes-128-cbc', { key: hex('00'), iv }) } catch (e) { short = e.message }\n\
             println(out.toString() === pipy.load('msg').toString(), enc.toString('hex') === cbc.toString('hex'), plain === pipy.load('msg').toString())\n\
             println(why)\n\
             println(short)\n\
             pipy().task().onStart(new StreamEnd).dummy()\n",
        ),
    ]);
    let d = &dir.0;
    let hex = |n: u32, width: usize| format!("{n:0width$x}");
    openssl(d, &["enc", "-aes-256-cbc", "-K", &hex(1, 64), "-iv", &hex(2, 32), "-in", "msg", "-out", "msg.cbc"]);
    openssl(d, &["enc", "-aes-128-ctr", "-K", &hex(3, 32), "-iv", &hex(4, 32), "-in", "msg", "-out", "msg.ctr"]);
    let out = Command::new(binary()).arg(d.join("main.js")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "true true true\ncrypto.Decipher: bad decrypt (wrong key, IV or padding)\ncrypto.Cipher: options.key expected to have a length of 16\n"
    );
}

#[test]
fn a_round_robin_target_added_later_starts_level_with_the_least_used() {
    let dir = TempDir::with_files(&[(
        "main.js",
        "var lb = new algo.RoundRobinLoadBalancer({ a: 2, b: 1 })\n\
         var before = [1, 2, 3, 4, 5, 6, 7, 8].map(() => lb.select()).join('')\n\
         lb.set('c', 1)\n\
         println(before, [1, 2, 3, 4, 5, 6, 7, 8].map(() => lb.select()).join(''))\n\
         pipy().task().onStart(new StreamEnd).dummy()\n",
    )]);
    let out = Command::new(binary()).arg(dir.0.join("main.js")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // c takes its share (one in four) from the start, no more and no less.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "abaabaab caabcaab\n");
}
