//! tutorial/11-virtual-hosts: while one host is under load, the other host's
//! module fails to load, throws, then loops forever; the loaded host sees no
//! failure, and its own edit made meanwhile goes live.

use crate::support::{curl, free_port, repo, Load, Proxy, TempDir};
use std::time::{Duration, Instant};

fn ask(port: u16, host: &str) -> String {
    curl(&["-w", " %{http_code}", "-H", &format!("Host: {host}"), &format!("http://127.0.0.1:{port}/x")])
}

fn answers_within(port: u16, host: &str, want: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ask(port, host) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    false
}

#[test]
fn one_hosts_broken_module_leaves_the_other_host_answering() {
    let port = free_port();
    let tutorial = repo().join("tutorial/11-virtual-hosts");
    let read = |f: &str| std::fs::read_to_string(tutorial.join(f)).unwrap();
    let main = read("main.js").replace("8000", &port.to_string());
    let (a, b) = (read("hosts/teama.js"), read("hosts/teamb.js"));
    let dir = TempDir::with_files(&[
        ("main.js", &main),
        ("hosts.json", &read("hosts.json")),
        ("hosts/teama.js", &a),
        ("hosts/teamb.js", &b),
    ]);
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &["--callback-timeout", "300ms"], None);
    p.ready();
    assert_eq!(ask(port, "api2.example"), "{\"team\":\"b\",\"method\":\"GET\"}\n 200");

    // Load on api1: new connections, keep-alive off, from two threads.
    let load = Load::start(port, 2, b"GET /load HTTP/1.1\r\nhost: api1.example\r\nconnection: close\r\n\r\n", |a| {
        a.starts_with("HTTP/1.1 200 OK") && a.contains("\"team\":\"a")
    });

    // 1. Team B's module stops loading (a syntax error) while team A edits theirs:
    //    A's edit goes live, B keeps its last good version.
    std::fs::write(dir.0.join("hosts/teamb.js"), "pipy()\n.pipeline('request')\n.replaceMessage(\n").unwrap();
    std::fs::write(dir.0.join("hosts/teama.js"), a.replace("team: 'a'", "team: 'a2'")).unwrap();
    assert!(
        p.log.wait_for("teamb.js failed to load, its last good version stays", Duration::from_secs(5)),
        "{}",
        p.log.text()
    );
    assert!(p.log.text().contains("teamb.js:4:1: SyntaxError"), "{}", p.log.text());
    assert!(answers_within(port, "api1.example", "{\"team\":\"a2\",\"path\":\"/x\"}\n 200", Duration::from_secs(3)));
    assert_eq!(ask(port, "api2.example"), "{\"team\":\"b\",\"method\":\"GET\"}\n 200");

    // 2. Team B's handler throws: its requests fail with 500, and only those.
    std::fs::write(
        dir.0.join("hosts/teamb.js"),
        b.replace("req => new Message(", "req => req.no.such.field || new Message("),
    )
    .unwrap();
    assert!(answers_within(port, "api2.example", " 500", Duration::from_secs(3)), "{}", p.log.text());

    // 3. Team B's handler loops forever: stopped at the deadline, 500 again.
    std::fs::write(
        dir.0.join("hosts/teamb.js"),
        b.replace("req => new Message(", "req => (() => { for (;;) {} })() || new Message("),
    )
    .unwrap();
    assert!(p.log.wait_count("Reloaded", 3, Duration::from_secs(5)), "{}", p.log.text());
    let t = Instant::now();
    assert_eq!(ask(port, "api2.example"), " 500");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(p.log.wait_for("ran past its time limit", Duration::from_secs(5)), "{}", p.log.text());

    let (ok, failed) = load.stop();
    assert_eq!(failed, 0, "api1 failed while api2 broke; {ok} ok");
    assert!(ok > 20, "the load ran: {ok}");
}
