//! Reloading: an edited codebase is loaded again without dropping a connection;
//! open connections keep the version they started with; a broken edit changes
//! nothing and says where it is broken; ports come and go with the script.

use crate::support::{curl, free_port, Load, Proxy, Raw, TempDir};
use std::time::{Duration, Instant};

fn hello(port: u16, text: &str) -> String {
    format!("pipy().listen({port}).serveHTTP(new Message('{text}'))\n")
}

/// Asks with new connections until the answer is `want` (up to `limit`).
fn answers_within(port: u16, want: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if curl(&[&format!("http://127.0.0.1:{port}/")]) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn start(dir: &TempDir, args: &[&str]) -> Proxy {
    let mut p = Proxy::spawn(&dir.0.join("main.js"), args, None);
    p.ready();
    p
}

#[test]
fn an_edit_is_served_within_2_s_while_open_connections_keep_the_old_version() {
    let port = free_port();
    let dir = TempDir::with_files(&[("main.js", &hello(port, "v1"))]);
    let p = start(&dir, &[]);
    let mut old = Raw::connect(port);
    old.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(old.read_responses(1).ends_with("v1"));

    let t = Instant::now();
    std::fs::write(dir.0.join("main.js"), hello(port, "v2")).unwrap();
    assert!(answers_within(port, "v2", Duration::from_secs(2)), "{}", p.log.text());
    assert!(t.elapsed() < Duration::from_secs(2));
    // The connection opened before the edit still runs the first version.
    old.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(old.read_responses(1).ends_with("v1"));
}

#[test]
fn a_broken_edit_keeps_the_running_version_and_names_the_line() {
    let port = free_port();
    let dir = TempDir::with_files(&[("main.js", &hello(port, "good"))]);
    let p = start(&dir, &[]);
    std::fs::write(dir.0.join("main.js"), format!("pipy()\n.listen({port})\n.serveHTTP(new Message('bad')\n")).unwrap();
    assert!(p.log.wait_for("Not reloaded, the running version stays", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.text().contains("main.js:4:1: SyntaxError"), "{}", p.log.text());
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "good");
    // A module that fails at load time (not a syntax error) is refused the same way.
    std::fs::write(dir.0.join("main.js"), format!("pipy().listen({port}).link('nowhere')\n")).unwrap();
    assert!(p.log.wait_count("Not reloaded", 2, Duration::from_secs(5)), "{}", p.log.text());
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "good");
    std::fs::write(dir.0.join("main.js"), hello(port, "fixed")).unwrap();
    assert!(answers_within(port, "fixed", Duration::from_secs(2)), "{}", p.log.text());
}

#[test]
fn sighup_reloads_new_ports_open_and_dropped_ports_close() {
    let (a, b) = (free_port(), free_port());
    let dir = TempDir::with_files(&[("main.js", &hello(a, "on a"))]);
    let p = start(&dir, &["--no-reload"]);
    std::fs::write(dir.0.join("main.js"), hello(b, "on b")).unwrap();
    // --no-reload: the edit alone changes nothing.
    assert_eq!(curl(&[&format!("http://127.0.0.1:{a}/")]), "on a");
    p.signal("HUP");
    assert!(p.log.wait_for("Reloaded", Duration::from_secs(5)), "{}", p.log.text());
    assert_eq!(curl(&[&format!("http://127.0.0.1:{b}/")]), "on b");
    assert!(std::net::TcpStream::connect(("127.0.0.1", a)).is_err(), "port {a} is closed");
    // A file next to the script that the script does not read changes nothing.
    std::fs::write(dir.0.join("notes.txt"), "x").unwrap();
    assert!(!p.log.wait_count("reloading", 2, Duration::from_millis(600)), "{}", p.log.text());
}

#[test]
fn pipy_restart_reloads_the_codebase_once_even_when_the_new_version_calls_it_too() {
    let port = free_port();
    // Every version calls pipy.restart() at /restart, and the edited one also
    // while it loads: that must not reload again and again.
    let version = |text: &str, at_load: bool| {
        format!(
            "{}pipy.listen({port}, $=>$.serveHTTP(req => {{ if (req.head.path === '/restart') pipy.restart(); return new Message('{text}') }}))\n",
            if at_load { "pipy.restart()\n" } else { "" }
        )
    };
    let dir = TempDir::with_files(&[("main.js", &version("v1", false))]);
    let p = start(&dir, &["--no-reload"]);
    std::fs::write(dir.0.join("main.js"), version("v2", true)).unwrap();
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/restart")]), "v1");
    assert!(p.log.wait_for("Reloaded", Duration::from_secs(5)), "{}", p.log.text());
    assert!(answers_within(port, "v2", Duration::from_secs(2)));
    assert!(!p.log.wait_count("reloading", 2, Duration::from_millis(600)), "one reload only: {}", p.log.text());
}

#[test]
fn clients_see_no_failure_across_five_reloads() {
    let port = free_port();
    let dir = TempDir::with_files(&[("main.js", &hello(port, "r0"))]);
    // Two workers: each reload must switch both, and neither may refuse a client.
    let p = start(&dir, &["--no-reload", "--threads", "2"]);
    // A new connection per request: the listening socket must never close.
    let load = Load::start(port, 4, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", |a| {
        a.starts_with("HTTP/1.1 200 OK") && a.contains("\r\n\r\nr")
    });
    for i in 1..=5 {
        std::fs::write(dir.0.join("main.js"), hello(port, &format!("r{i}"))).unwrap();
        p.signal("HUP");
        assert!(p.log.wait_count("Reloaded", i, Duration::from_secs(5)), "{}", p.log.text());
        assert!(answers_within(port, &format!("r{i}"), Duration::from_secs(2)));
    }
    let (ok, failed) = load.stop();
    assert_eq!(failed, 0, "of {ok} requests");
    assert!(ok > 20, "the clients ran: {ok}");
}

#[test]
fn reloads_free_the_old_version_even_when_its_pipelines_refer_to_each_other() {
    let port = free_port();
    // 'a' and 'b' refer to each other: a cycle of layouts. Each version also holds
    // a large string, so a version that is never freed shows in memory.
    let script = format!(
        "((big = new Array(100000).fill('x').join('')) => pipy({{ _n: 0 }})\n\
         .listen({port}).demuxHTTP().to('a')\n\
         .pipeline('a').branch(() => ++_n > 100 && big.length < 0, 'b', $=>$.replaceMessage(new Message('ok')))\n\
         .pipeline('b').link('a')\n\
         )()\n"
    );
    let dir = TempDir::with_files(&[("main.js", &script)]);
    let p = start(&dir, &["--no-reload"]);
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "ok");
    let before = p.rss_kib();
    for i in 1..=60 {
        p.signal("HUP");
        assert!(p.log.wait_count("Reloaded", i, Duration::from_secs(5)), "{}", p.log.text());
    }
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "ok");
    let grown = p.rss_kib().saturating_sub(before);
    // Kept versions would take over 60 x 300 KiB.
    assert!(grown < 8 * 1024, "memory grew by {grown} KiB over 60 reloads");
}
