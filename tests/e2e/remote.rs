//! Codebases served over HTTP (by `python3 -m http.server`): a script URL whose
//! relative files are fetched next to it, a manifest URL, changes picked up by
//! polling, and a clear error when the codebase cannot be fetched at start.

use crate::support::{binary, curl, free_port, FileServer, Proxy, TempDir};
use std::process::Command;
use std::time::{Duration, Instant};

fn answers_within(port: u16, path: &str, want: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if curl(&[&format!("http://127.0.0.1:{port}{path}")]) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn codebase(port: u16, greeting: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "app/main.js",
            "((config = pipy.solve('config.js')) => pipy().listen(config.port).demuxHTTP().to($=>$.chain(config.plugins)))()\n"
                .to_string(),
        ),
        ("app/config.js", "JSON.decode(pipy.load('config.json'))\n".to_string()),
        ("app/config.json", format!("{{ \"port\": {port}, \"plugins\": [\"plugins/greet.js\"] }}\n")),
        ("app/plugins/greet.js", format!("pipy().pipeline().replaceMessage(new Message('{greeting}'))\n")),
    ]
}

fn write(dir: &TempDir, files: &[(&str, String)]) {
    for (name, text) in files {
        let path = dir.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn a_script_url_fetches_its_relative_files_and_polling_picks_up_a_change() {
    let port = free_port();
    let dir = TempDir::new();
    write(&dir, &codebase(port, "hello over http"));
    let server = FileServer::start(&dir);
    let url = format!("http://127.0.0.1:{}/app/main.js", server.port);
    let mut p = Proxy::spawn(std::path::Path::new(&url), &["--poll-interval", "0.3s"], None);
    p.ready();
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "hello over http");
    // A change to a file the script fetched (a plugin) is seen by polling.
    write(&dir, &[("app/plugins/greet.js", "pipy().pipeline().replaceMessage(new Message('changed'))\n".into())]);
    assert!(answers_within(port, "/", "changed", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.text().contains(&format!("[reload] {url} changed")), "{}", p.log.text());
    // The server going away is a warning at the next poll; the running version stays.
    drop(server);
    assert!(p.log.wait_for("the running version stays", Duration::from_secs(5)), "{}", p.log.text());
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "changed");
}

#[test]
fn a_manifest_url_lists_the_files_and_the_first_is_the_main_script() {
    let port = free_port();
    let dir = TempDir::new();
    write(&dir, &codebase(port, "from a manifest"));
    // http.server answers a folder URL with its index.html: the manifest.
    write(&dir, &[("app/index.html", "/main.js\n/config.js\n/config.json\n/plugins/greet.js\n".into())]);
    let server = FileServer::start(&dir);
    let url = format!("http://127.0.0.1:{}/app/", server.port);
    let mut p = Proxy::spawn(std::path::Path::new(&url), &["--poll-interval", "0.3s"], None);
    p.ready();
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "from a manifest");
    // A broken plugin served by the URL keeps its last good version, and the log says where.
    write(&dir, &[("app/plugins/greet.js", "pipy().pipeline().replaceMessage(new Message('x'\n".into())]);
    assert!(
        p.log.wait_for("greet.js failed to load, its last good version stays", Duration::from_secs(5)),
        "{}",
        p.log.text()
    );
    assert!(p.log.text().contains("/app/plugins/greet.js:2:1: SyntaxError"), "{}", p.log.text());
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "from a manifest");
    // A broken main script is refused as a whole.
    write(&dir, &[("app/main.js", "pipy(\n".into())]);
    assert!(p.log.wait_for("Not reloaded", Duration::from_secs(5)), "{}", p.log.text());
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "from a manifest");
}

#[test]
fn a_codebase_that_cannot_be_fetched_at_start_is_a_clear_error() {
    let dir = TempDir::new();
    let server = FileServer::start(&dir);
    let url = format!("http://127.0.0.1:{}/missing/main.js", server.port);
    let out = Command::new(binary()).arg(&url).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot fetch {url}: no such file (404)")), "{err}");
    let out = Command::new(binary()).arg(format!("http://127.0.0.1:{}/", free_port())).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot fetch"));
}

#[test]
fn a_running_script_reads_only_what_was_fetched_while_it_loaded() {
    let port = free_port();
    let dir = TempDir::new();
    write(
        &dir,
        &[
            (
                "app/main.js",
                format!(
                    "((early = pipy.load('early.txt').toString()) => pipy().listen({port}).serveHTTP(() => new Message(early + ' ' + pipy.load('early.txt') + ' ' + pipy.load('late.txt'))))()\n"
                ),
            ),
            ("app/early.txt", "e".into()),
            ("app/late.txt", "l".into()),
        ],
    );
    let server = FileServer::start(&dir);
    let url = format!("http://127.0.0.1:{}/app/main.js", server.port);
    let mut p = Proxy::spawn(std::path::Path::new(&url), &["--no-reload"], None);
    p.ready();
    // A fetch at run time would block the worker: late.txt is not fetched.
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "e e null");
    assert!(p.log.wait_for("late.txt was not fetched while the script loaded", Duration::from_secs(5)));
}
