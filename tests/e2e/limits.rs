//! Script code that recurses, loops, allocates or misuses the API fails its own
//! request; the worker, the other connections and the process carry on.

use crate::support::{free_port, Proxy, Raw, TempDir};
use std::process::Command;
use std::time::{Duration, Instant};

/// One request on a new connection; the whole answer.
fn ask(port: u16, request: &[u8]) -> String {
    let mut c = Raw::connect(port);
    c.0.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.send(request);
    c.read_responses(1)
}

fn get(port: u16, path: &str) -> String {
    ask(port, format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
}

fn post(port: u16, path: &str, body: &[u8]) -> String {
    let mut req = format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(body);
    ask(port, &req)
}

/// A server whose paths run the snippets of `routes` (path → function body).
fn routes(port: u16, routes: &[(&str, &str)], args: &[&str]) -> Proxy {
    let mut cases = String::new();
    for (path, body) in routes {
        cases.push_str(&format!("    case '{path}': {{ {body} }}\n"));
    }
    let script = format!(
        "pipy().listen({port}).serveHTTP(req => {{\n  switch (req.head.path) {{\n{cases}  }}\n  return new Message('ok');\n}})\n"
    );
    Proxy::script(&script, args)
}

fn status(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

#[test]
fn deep_recursion_and_deeply_nested_json_fail_their_request_and_the_worker_lives() {
    let port = free_port();
    let p = routes(
        port,
        &[
            ("/recurse", "function f(n) { return f(n + 1) + 1; } return new Message('' + f(0));"),
            ("/parse", "return new Message('' + JSON.decode(req.body).length);"),
            (
                "/stringify",
                "var a = []; for (var i = 0; i < 100000; i++) a = [a]; return new Message(JSON.stringify(a));",
            ),
        ],
        &[],
    );
    let open = Raw::connect(port);
    assert!(status(&get(port, "/recurse")).starts_with("HTTP/1.1 500"));
    let nested = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    assert!(status(&post(port, "/parse", nested.as_bytes())).starts_with("HTTP/1.1 500"));
    assert!(status(&get(port, "/stringify")).starts_with("HTTP/1.1 500"));
    assert!(get(port, "/").ends_with("ok"), "the worker still answers:\n{}", p.log.text());
    let mut open = open;
    open.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(open.read_responses(1).ends_with("ok"), "a connection open all along still works");
    assert!(p.log.wait_for("Maximum call stack size exceeded", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn a_loop_of_expensive_builtins_is_stopped_at_the_deadline() {
    let port = free_port();
    let p = routes(
        port,
        &[("/spin", "var s = 'x'.repeat(1 << 24); for (;;) s.indexOf('y');")],
        &["--callback-timeout", "500ms"],
    );
    let t = Instant::now();
    let answer = get(port, "/spin");
    let took = t.elapsed();
    assert!(status(&answer).starts_with("HTTP/1.1 500"), "{answer}\n{}", p.log.text());
    assert!(took < Duration::from_secs(3), "stopped after {took:?}");
    assert!(get(port, "/").ends_with("ok"));
    assert!(p.log.wait_for("ran past its time limit", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn a_callback_allocating_without_bound_fails_and_the_memory_comes_back() {
    let port = free_port();
    let p = routes(
        port,
        &[("/grow", "var keep = []; for (;;) keep.push('x'.repeat(1 << 24) + keep.length);")],
        &["--js-memory-limit", "128m", "--callback-timeout", "20s"],
    );
    let before = p.rss_kib();
    let answer = get(port, "/grow");
    assert!(status(&answer).starts_with("HTTP/1.1 500"), "{answer}\n{}", p.log.text());
    assert!(p.log.wait_for("out of memory", Duration::from_secs(5)), "{}", p.log.text());
    assert!(get(port, "/").ends_with("ok"));
    let after = p.rss_kib();
    assert!(after < before + 64 * 1024, "RSS {before} KiB before, {after} KiB after");
}

#[test]
fn configuration_calls_with_a_forged_this_or_at_request_time_are_script_errors() {
    let port = free_port();
    let p = routes(
        port,
        &[
            ("/forged", "var c = Object.create(Object.getPrototypeOf(pipy())); Object.defineProperty(c, '__draft', { value: 99 }); c.dummy();"),
            ("/export", "pipy().export('late', { __late: 1 }); return new Message('exported');"),
            ("/listen", "pipy().listen(1).dummy(); return new Message('listened');"),
        ],
        &[],
    );
    for path in ["/forged", "/export", "/listen", "/export"] {
        assert!(status(&get(port, path)).starts_with("HTTP/1.1 500"), "{path}:\n{}", p.log.text());
        assert!(get(port, "/").ends_with("ok"), "after {path}:\n{}", p.log.text());
    }
    assert!(p.log.wait_for("only while the script loads", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn a_reload_to_a_script_with_a_forged_this_keeps_the_running_version() {
    let port = free_port();
    let dir = TempDir::with_files(&[("main.js", &format!("pipy().listen({port}).serveHTTP(new Message('v1'))\n"))]);
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], None);
    p.ready();
    let forged = format!(
        "var c = Object.create(Object.getPrototypeOf(pipy())); Object.defineProperty(c, '__draft', {{ value: 7 }});\n\
         c.dummy();\npipy().listen({port}).serveHTTP(new Message('v2'))\n"
    );
    std::fs::write(dir.0.join("main.js"), forged).unwrap();
    assert!(p.log.wait_for("Not reloaded, the running version stays", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("main.js:2:", Duration::from_secs(5)), "the error names the line:\n{}", p.log.text());
    assert!(get(port, "/").ends_with("v1"), "{}", p.log.text());
    assert_eq!(p.child.try_wait().unwrap(), None, "the process is still running");
}

#[test]
fn check_runs_a_script_that_waits_at_top_level() {
    let dir = TempDir::with_files(&[(
        "main.js",
        "new Timeout(0.1).wait().then(() => console.log('waited'));\npipy().listen(1).serveHTTP(new Message('x'))\n",
    )]);
    let out = Command::new(crate::support::binary()).arg("--check").arg(dir.0.join("main.js")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("serveHTTP"));
}

#[test]
fn data_a_script_builds_or_keeps_is_held_to_the_memory_limit() {
    let port = free_port();
    let p = Proxy::script(
        &format!(
            "var kept = [];\n\
             pipy().listen({port}).serveHTTP(req => {{\n\
               if (req.head.path === '/double') {{ var d = new Data('x'); for (;;) d.push(d); }}\n\
               if (req.head.path === '/keep') {{ for (;;) kept.push(new Data('x'.repeat(1 << 22))); }}\n\
               if (req.head.path === '/bodies') {{ kept.push(req); return new Message('' + kept.length); }}\n\
               if (req.head.path === '/free') {{ kept = []; return new Message('freed'); }}\n\
               return new Message('ok');\n\
             }})\n"
        ),
        &["--js-memory-limit", "64m", "--callback-timeout", "20s"],
    );
    for path in ["/double", "/keep"] {
        let answer = get(port, path);
        assert!(status(&answer).starts_with("HTTP/1.1 500"), "{path}: {answer}\n{}", p.log.text());
        assert!(p.rss_kib() < 400 * 1024, "{path}: RSS {} KiB", p.rss_kib());
    }
    assert!(p.log.wait_for("out of memory: Data objects would hold over", Duration::from_secs(5)), "{}", p.log.text());
    // Request bodies a script keeps count too: past the limit, the callback fails.
    get(port, "/free");
    let body = vec![b'b'; 4 << 20];
    let mut failed = false;
    for _ in 0..40 {
        if status(&post(port, "/bodies", &body)).starts_with("HTTP/1.1 500") {
            failed = true;
            break;
        }
    }
    assert!(failed, "keeping 160 MiB of bodies under a 64 MiB limit fails");
    assert!(get(port, "/free").ends_with("freed"));
    assert!(get(port, "/").ends_with("ok"));
}

#[test]
fn a_pipeline_that_links_to_itself_fails_its_stream_and_the_worker_lives() {
    let (port, other) = (free_port(), free_port());
    let p = Proxy::script(
        &format!(
            "pipy()\n.listen({port}).link('again')\n.pipeline('again').link('again')\n\
             .listen({other}).serveHTTP(new Message('ok'))\n"
        ),
        &[],
    );
    let mut c = Raw::connect(port);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(c.read_to_close(), "");
    assert!(p.log.wait_for("nest more than", Duration::from_secs(5)), "{}", p.log.text());
    assert!(get(other, "/").ends_with("ok"));
}

#[test]
fn a_chain_of_microtasks_that_each_spin_fails_its_request_and_the_worker_lives() {
    let port = free_port();
    let p = routes(
        port,
        &[("/chain", "function f() { Promise.resolve().then(f); for (;;) {} } f();")],
        &["--callback-timeout", "300ms"],
    );
    let t = Instant::now();
    assert!(status(&get(port, "/chain")).starts_with("HTTP/1.1 500"), "{}", p.log.text());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(get(port, "/").ends_with("ok"));
}
