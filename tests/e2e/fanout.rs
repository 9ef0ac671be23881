//! tutorial/09-fanout against flaky upstreams: one that fails every other time
//! (502), one that is slow (0.8 s), one a little slow (0.3 s) that stops. Sequential mode asks the next
//! endpoint only when the one before failed; parallel mode takes the first usable
//! answer; when nothing is usable the client gets 500; every request is logged.

use crate::support::{curl, free_port, repo, Proxy, TempDir};
use std::time::Duration;

#[test]
fn fanout_uses_the_first_usable_answer_in_both_modes() {
    let (u1, u2, u3) = (free_port(), free_port(), free_port());
    let flaky = Proxy::script(
        &format!(
            "pipy({{ _n: {{ c: 0 }} }}).listen({u1}).serveHTTP(() => ++_n.c % 2 ? new Message({{ status: 502 }}, 'u1 failed') : new Message('u1 ok'))"
        ),
        &[],
    );
    let slow = Proxy::script(
        &format!("pipy().listen({u2}).serveHTTP(() => (console.log('u2 asked'), new Timeout(0.8).wait().then(() => new Message('u2 ok'))))"),
        &[],
    );
    let mut stopping = Proxy::script(
        &format!("pipy().listen({u3}).serveHTTP(() => new Timeout(0.3).wait().then(() => new Message('u3 ok')))"),
        &[],
    );

    // The tutorial's script as it is, with its stand-in ports moved out of the way
    // of the tutorial test, and a config.json naming the flaky upstreams.
    let (seq, par, dead) = (free_port(), free_port(), free_port());
    let mut script = std::fs::read_to_string(repo().join("tutorial/09-fanout/main.js")).unwrap();
    for standin in ["8081", "8082", "8083"] {
        script = script.replace(standin, &free_port().to_string());
    }
    let config = format!(
        r#"{{
  "endpoints": ["127.0.0.1:{u1}", "127.0.0.1:{u2}", "127.0.0.1:{u3}"],
  "usable": [1, 2, 3, 4],
  "fronts": [
    {{ "listen": {seq}, "mode": "sequential" }},
    {{ "listen": {par}, "mode": "parallel" }},
    {{ "listen": {dead}, "mode": "parallel", "endpoints": ["127.0.0.1:{u3}"] }}
  ]
}}"#
    );
    let dir = TempDir::with_files(&[("main.js", &script), ("config.json", &config)]);
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], None);
    p.ready();
    let get = |port: u16| curl(&["-w", " %{http_code}", &format!("http://127.0.0.1:{port}/x")]);

    // Sequential: u1 fails, so u2 is asked; next time u1 answers and u2 is not asked.
    assert_eq!(get(seq), "u2 ok 200");
    assert!(p.log.wait_for("request /x served in ", Duration::from_secs(5)));
    assert!(p.log.text().contains("ms by endpoint 2"), "{}", p.log.text());
    assert_eq!(get(seq), "u1 ok 200");
    assert!(p.log.wait_for("ms by endpoint 1", Duration::from_secs(5)), "{}", p.log.text());
    assert!(slow.log.wait_count("u2 asked", 1, Duration::from_secs(5)));
    assert!(!slow.log.wait_count("u2 asked", 2, Duration::from_millis(300)), "u2 asked again");

    // Parallel: u1 fails (its 3rd request), u3 is quicker than u2.
    assert_eq!(get(par), "u3 ok 200");
    assert!(p.log.wait_for("ms by endpoint 3", Duration::from_secs(5)), "{}", p.log.text());
    // u1 answers at once this time and wins.
    assert_eq!(get(par), "u1 ok 200");

    // u3 stops: parallel still answers (u1 fails now, u2 is slow but usable).
    stopping.signal("KILL");
    let _ = stopping.wait_exit(Duration::from_secs(5));
    assert_eq!(get(par), "u2 ok 200");

    // A front whose only endpoint is gone: 500, and the log says so.
    assert_eq!(get(dead), "no endpoint gave a usable answer\n 500");
    assert!(p.log.wait_for("failed to return a valid answer, returning 500", Duration::from_secs(5)));
    drop(flaky);
}

#[test]
fn cancelling_a_request_closes_its_upstream_connection_before_the_answer() {
    use std::io::Read;
    // An origin that waits 2 s before answering, and reports whether the
    // connection was closed on it first.
    let origin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let slow = origin.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = origin.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let closed_first = matches!(s.read(&mut buf), Ok(0));
        tx.send(closed_first).unwrap();
    });
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(() => {{\n\
               var r = new http.Agent('127.0.0.1:{slow}').request('GET', '/');\n\
               return new Timeout(0.1).wait()\n\
                 .then(() => (r.cancel(), r.then(() => 'answered', e => e.message)))\n\
                 .then(text => new Message(text));\n\
             }})"
        ),
        &[],
    );
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "the request was cancelled");
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(true), "the origin's connection stayed open");
}
