//! A codebase's files stay its own: `pipy.load`, modules and URL codebases cannot
//! reach outside the codebase's folder (after symlinks) or its base URL; and a
//! codebase mounted the way Kubernetes mounts a ConfigMap reloads when it changes.

use crate::support::{curl, free_port, Proxy, Raw, TempDir};
use std::time::{Duration, Instant};

fn ask(port: u16, path: &str) -> String {
    let mut c = Raw::connect(port);
    c.send(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes());
    c.read_responses(1)
}

#[test]
fn a_file_server_script_cannot_serve_files_outside_its_codebase() {
    let port = free_port();
    let outside = TempDir::with_files(&[("secret.txt", "top secret")]);
    let dir = TempDir::with_files(&[
        (
            "main.js",
            &format!(
                "pipy().listen({port}).serveHTTP(req => {{\n\
                   var d = pipy.load('www' + req.head.path);\n\
                   return d ? new Message(d) : new Message({{ status: 404 }}, 'no such file');\n\
                 }})\n"
            ),
        ),
        ("www/index.html", "hello"),
    ]);
    std::os::unix::fs::symlink(outside.0.join("secret.txt"), dir.0.join("www/leak")).unwrap();
    std::os::unix::fs::symlink(dir.0.join("www/index.html"), dir.0.join("www/alias")).unwrap();
    let p = Proxy::spawn(&dir.0.join("main.js"), &[], None);
    let mut p = p;
    p.ready();
    assert!(ask(port, "/index.html").ends_with("hello"));
    assert!(ask(port, "/alias").ends_with("hello"), "a symlink inside the codebase is followed");
    assert!(ask(port, "/missing").ends_with("no such file"));
    let up = "/..".repeat(12);
    for path in [format!("{up}/etc/passwd"), "/leak".to_string(), "/%2e%2e/%2e%2e/etc/passwd".to_string()] {
        let answer = ask(port, &path);
        assert!(answer.starts_with("HTTP/1.1 500") || answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(!answer.contains("root:") && !answer.contains("top secret"), "{path}: {answer}");
    }
    assert!(p.log.wait_for("outside the codebase", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn loading_a_file_outside_the_codebase_is_a_load_error_naming_it() {
    let outside = TempDir::with_files(&[("x.json", "{}")]);
    let rel = format!("../{}/x.json", outside.0.file_name().unwrap().to_string_lossy());
    let dir = TempDir::with_files(&[("main.js", &format!("var x = pipy.load('{rel}');\npipy().listen(1).dummy()\n"))]);
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], None);
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(1), "{}", p.log.text());
    assert!(p.log.wait_for("outside the codebase", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.text().contains(&rel) && p.log.text().contains("main.js:1:"), "{}", p.log.text());
}

#[test]
fn a_url_codebase_fetches_nothing_outside_its_base_path() {
    let port = free_port();
    let site = TempDir::with_files(&[
        (
            "app/main.js",
            &format!(
                "var s = null;\ntry {{ s = pipy.load('../secret.txt'); }} catch (e) {{ console.log('refused: ' + e.message); }}\n\
                 pipy().listen({port}).serveHTTP(new Message(s ? 'leaked ' + s : 'kept'))\n"
            ),
        ),
        ("secret.txt", "s3cret"),
    ]);
    let server = crate::support::FileServer::start(&site);
    let mut p = Proxy::spawn(std::path::Path::new(&format!("http://127.0.0.1:{}/app/main.js", server.port)), &[], None);
    p.ready();
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "kept");
    assert!(p.log.wait_for("refused: pipy.load: '../secret.txt' is outside the codebase", Duration::from_secs(5)));
}

#[test]
fn a_codebase_mounted_like_a_configmap_reloads_when_its_data_link_is_swapped() {
    let port = free_port();
    let dir = TempDir::new();
    let script = |text: &str| format!("pipy().listen({port}).serveHTTP(new Message('{text}'))\n");
    std::fs::create_dir(dir.0.join("..2026_01")).unwrap();
    std::fs::write(dir.0.join("..2026_01/main.js"), script("v1")).unwrap();
    std::os::unix::fs::symlink("..2026_01", dir.0.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/main.js", dir.0.join("main.js")).unwrap();
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], None);
    p.ready();
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "v1");
    // What the kubelet does: a new folder, a new link beside the old, renamed over it.
    std::fs::create_dir(dir.0.join("..2026_02")).unwrap();
    std::fs::write(dir.0.join("..2026_02/main.js"), script("v2")).unwrap();
    std::os::unix::fs::symlink("..2026_02", dir.0.join("..data_tmp")).unwrap();
    std::fs::rename(dir.0.join("..data_tmp"), dir.0.join("..data")).unwrap();
    std::fs::remove_dir_all(dir.0.join("..2026_01")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while curl(&[&format!("http://127.0.0.1:{port}/")]) != "v2" {
        assert!(Instant::now() < deadline, "not reloaded:\n{}", p.log.text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn os_read_file_reads_the_codebase_and_nothing_outside_it() {
    let dir = TempDir::with_files(&[
        ("sub/a.txt", "inside\n"),
        (
            "main.js",
            "var why\n\
             try { os.readFile('../outside.txt') } catch (e) { why = e.message }\n\
             println(os.readFile('sub/a.txt').toString().trim(), os.readFile('missing.txt'), why)\n\
             pipy().task().onStart(new StreamEnd).dummy()\n",
        ),
    ]);
    let out = std::process::Command::new(crate::support::binary()).arg(dir.0.join("main.js")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "inside null os.readFile: '../outside.txt' is outside the codebase\n"
    );
}
