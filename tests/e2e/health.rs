//! tutorial/10-health-checks with real backends: a killed backend leaves the
//! rotation after the probes notice and clients see no error from then on; back
//! up, it gets traffic again; a backend added to config.json is used after the
//! reload the edit causes.

use crate::support::{curl, free_port, repo, Proxy, TempDir};
use std::collections::BTreeSet;
use std::time::Duration;

fn backend(port: u16) -> Proxy {
    Proxy::script(
        &format!("pipy().listen({port}).serveHTTP(msg => new Message(msg.head.path === '/health' ? 'ok' : 'b{port}'))"),
        &[],
    )
}

fn config(listen: u16, backends: &[u16]) -> String {
    let list: Vec<String> = backends.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    format!(
        r#"{{ "listen": {listen}, "status": "/status", "backends": [{}],
  "probe": {{ "every": "0.2s", "path": "/health", "timeout": "0.5s", "downAfter": 2, "upAfter": 2 }} }}"#,
        list.join(", ")
    )
}

/// Which backends answer `n` requests (each on a new connection); failures count as "error".
fn answers(port: u16, n: usize) -> (BTreeSet<String>, usize) {
    let mut seen = BTreeSet::new();
    let mut errors = 0;
    for _ in 0..n {
        let out = curl(&["-w", " %{http_code}", &format!("http://127.0.0.1:{port}/")]);
        match out.strip_suffix(" 200") {
            Some(body) => {
                seen.insert(body.to_string());
            }
            None => errors += 1,
        }
    }
    (seen, errors)
}

#[test]
fn probes_take_a_dead_backend_out_and_put_it_back_and_config_edits_add_backends() {
    let (b1, b2, b3) = (free_port(), free_port(), free_port());
    let _one = backend(b1);
    let mut two = backend(b2);
    let listen = free_port();
    let mut script = std::fs::read_to_string(repo().join("tutorial/10-health-checks/main.js")).unwrap();
    for standin in ["8081", "8082", "8083"] {
        script = script.replace(standin, &free_port().to_string());
    }
    let config_js = "JSON.decode(pipy.load('config.json'))\n";
    let dir = TempDir::with_files(&[
        ("main.js", &script),
        ("config.js", config_js),
        ("config.json", &config(listen, &[b1, b2])),
    ]);
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], None);
    p.ready();
    let (seen, errors) = answers(listen, 6);
    assert_eq!((seen.len(), errors), (2, 0), "{seen:?}");

    // Kill b2: once the probes say so, every request goes to b1 without error.
    two.signal("KILL");
    let _ = two.wait_exit(Duration::from_secs(5));
    assert!(p.log.wait_for(&format!("backend 127.0.0.1:{b2} is down"), Duration::from_secs(5)), "{}", p.log.text());
    let (seen, errors) = answers(listen, 10);
    assert_eq!((seen.into_iter().collect::<Vec<_>>(), errors), (vec![format!("b{b1}")], 0));
    let status = curl(&[&format!("http://127.0.0.1:{listen}/status")]);
    assert!(status.contains("\"healthy\": 1"), "{status}");

    // Back up: it gets traffic again.
    let _two = backend(b2);
    assert!(p.log.wait_for(&format!("backend 127.0.0.1:{b2} is up"), Duration::from_secs(5)), "{}", p.log.text());
    let (seen, errors) = answers(listen, 6);
    assert_eq!((seen.len(), errors), (2, 0), "{seen:?}");

    // A backend added to config.json is in rotation after the reload.
    let _three = backend(b3);
    std::fs::write(dir.0.join("config.json"), config(listen, &[b1, b2, b3])).unwrap();
    assert!(p.log.wait_for("Reloaded", Duration::from_secs(5)), "{}", p.log.text());
    // New connections get the new version once the reload is through: its status page lists b3.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !curl(&[&format!("http://127.0.0.1:{listen}/status")]).contains(&format!("127.0.0.1:{b3}"))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (seen, errors) = answers(listen, 9);
    assert_eq!((seen.len(), errors), (3, 0), "{seen:?}");
}
