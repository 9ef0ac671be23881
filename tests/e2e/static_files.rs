//! `http.Directory`: files from the codebase and from a folder on disk, with
//! types, index pages, ranges, revalidation, precompressed siblings, and
//! nothing served from outside the root however the path is written.

use crate::support::{binary, curl, free_port, Proxy, Raw, TempDir};
use std::process::Command;

fn status_and_headers(args: &[&str]) -> String {
    let mut all = vec!["-s", "-o", "/dev/null", "-D", "-"];
    all.extend_from_slice(args);
    curl(&all).replace("\r\n", "\n")
}

#[test]
fn files_on_disk_are_served_with_validators_ranges_and_precompressed_siblings() {
    let port = free_port();
    let dir = TempDir::new();
    let www = dir.0.join("www");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::write(www.join("a.txt"), "0123456789").unwrap();
    std::fs::write(www.join("big.bin"), vec![7u8; 3000]).unwrap();
    std::fs::write(www.join("page.html"), "<p>plain</p>").unwrap();
    std::fs::write(www.join("page.html.gz"), "pretend gzip").unwrap();
    std::fs::write(www.join("sub/index.html"), "sub index").unwrap();
    std::fs::write(dir.0.join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(dir.0.join("secret.txt"), www.join("link.txt")).unwrap();
    std::fs::write(
        dir.0.join("main.js"),
        format!(
            "var d = new http.Directory('/www', {{ fs: true, maxFileSize: 2000, contentTypes: {{ txt: 'text/x-test', html: 'text/html' }} }})\n\
             pipy.listen({port}, $=>$.serveHTTP(msg => d.serve(msg) || new Message({{ status: 404 }}, 'none\\n')))\n"
        ),
    )
    .unwrap();
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], None);
    p.ready();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let h = status_and_headers(&[&url("/a.txt")]);
    assert!(h.starts_with("HTTP/1.1 200 OK\n"), "{h}");
    assert!(h.contains("content-type: text/x-test\n") && h.contains("accept-ranges: bytes\n"), "{h}");
    let etag = h.lines().find_map(|l| l.strip_prefix("etag: ")).expect("an etag").to_string();
    let modified = h.lines().find_map(|l| l.strip_prefix("last-modified: ")).expect("a last-modified").to_string();
    assert_eq!(curl(&[&url("/a.txt")]), "0123456789");
    // Revalidation by tag and by date.
    assert!(status_and_headers(&["-H", &format!("if-none-match: {etag}"), &url("/a.txt")]).starts_with("HTTP/1.1 304"));
    assert!(status_and_headers(&["-H", &format!("if-modified-since: {modified}"), &url("/a.txt")])
        .starts_with("HTTP/1.1 304"));
    assert!(status_and_headers(&["-H", "if-none-match: \"other\"", &url("/a.txt")]).starts_with("HTTP/1.1 200"));
    assert!(status_and_headers(&["-H", "if-modified-since: Thu, 01 Jan 1970 00:00:00 GMT", &url("/a.txt")])
        .starts_with("HTTP/1.1 200"));
    // Ranges: a part, the end, past the end, and a stale If-Range.
    assert_eq!(curl(&["-r", "2-4", &url("/a.txt")]), "234");
    assert_eq!(curl(&["-H", "range: bytes=-3", &url("/a.txt")]), "789");
    let h = status_and_headers(&["-r", "2-4", &url("/a.txt")]);
    assert!(h.starts_with("HTTP/1.1 206") && h.contains("content-range: bytes 2-4/10\n"), "{h}");
    let h = status_and_headers(&["-r", "10-20", &url("/a.txt")]);
    assert!(h.starts_with("HTTP/1.1 416") && h.contains("content-range: bytes */10\n"), "{h}");
    assert_eq!(curl(&["-r", "2-4", "-H", "if-range: \"stale\"", &url("/a.txt")]), "0123456789");
    assert_eq!(curl(&["-r", "2-4", "-H", &format!("if-range: {etag}"), &url("/a.txt")]), "234");
    // HEAD: the length, no body.
    let mut raw = Raw::connect(port);
    raw.send(b"HEAD /a.txt HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let got = raw.read_to_close();
    assert!(got.contains("content-length: 10\r\n") && got.ends_with("\r\n\r\n"), "{got}");
    // A precompressed sibling for a client that takes it, and the plain file otherwise.
    assert_eq!(curl(&["-H", "accept-encoding: gzip", &url("/page.html")]), "pretend gzip");
    let h = status_and_headers(&["-H", "accept-encoding: gzip", &url("/page.html")]);
    assert!(h.contains("content-encoding: gzip\n") && h.contains("vary: Accept-Encoding\n"), "{h}");
    assert_eq!(curl(&["-H", "accept-encoding: gzip;q=0", &url("/page.html")]), "<p>plain</p>");
    assert_eq!(curl(&[&url("/page.html")]), "<p>plain</p>");
    // Index pages and the redirect to a folder's slash.
    assert_eq!(curl(&[&url("/sub/")]), "sub index");
    let h = status_and_headers(&[&url("/sub?x=1")]);
    assert!(h.starts_with("HTTP/1.1 301") && h.contains("location: /sub/?x=1\n"), "{h}");
    // The redirect stays on this host however the path starts.
    let h = status_and_headers(&["--path-as-is", &url("//evil.example/..%2fsub")]);
    assert!(!h.contains("location: //"), "{h}");
    // Nothing from outside the root: dot segments, encoded or not, and a link out.
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/sub/../../secret.txt",
        "/link.txt",
        "/a.txt%00",
        "/x\\..\\secret.txt",
    ] {
        assert_eq!(curl(&["--path-as-is", &url(path)]), "none\n", "{path}");
    }
    // Past maxFileSize nothing is read: a 500 and a log line; a shorter range of it is served.
    assert!(status_and_headers(&[&url("/big.bin")]).starts_with("HTTP/1.1 500"));
    assert!(p.log.wait_for("more than maxFileSize", std::time::Duration::from_secs(5)), "{}", p.log.text());
    assert_eq!(curl(&["-r", "0-9", &url("/big.bin")]).len(), 10);
    assert!(
        status_and_headers(&["-r", "0-2499", &url("/big.bin")]).starts_with("HTTP/1.1 500"),
        "a range past maxFileSize"
    );
    assert!(status_and_headers(&["-I", &url("/big.bin")]).starts_with("HTTP/1.1 200"), "HEAD reads nothing");
    // Another method is not the directory's to answer.
    assert_eq!(curl(&["-X", "POST", &url("/a.txt")]), "none\n");
    let _ = &mut p;
}

#[test]
fn codebase_files_are_served_and_options_it_does_not_have_are_load_errors() {
    let port = free_port();
    let main = format!(
        "var d = new http.Directory('/site')\n\
         pipy.listen({port}, $=>$.serveHTTP(msg => d.serve(msg) || new Message({{ status: 404 }}, 'none\\n')))\n"
    );
    let _p = Proxy::files(
        &[("main.js", &main), ("site/index.html", "home"), ("site/app.js", "let x"), ("site/docs/index", "docs")],
        &[],
    );
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    assert_eq!(curl(&[&url("/")]), "home");
    assert_eq!(curl(&["-s", "-o", "/dev/null", "-w", "%{content_type}", &url("/app.js")]), "text/javascript");
    assert_eq!(curl(&[&url("/docs/")]), "docs");
    assert!(status_and_headers(&[&url("/docs")]).contains("location: /docs/\n"));
    // The codebase's own files outside the served folder stay out of reach.
    assert_eq!(curl(&["--path-as-is", &url("/../main.js")]), "none\n");
    assert_eq!(curl(&[&url("/%2e%2e/main.js")]), "none\n");
    // A validator from the content: the same bytes, the same tag.
    let a = status_and_headers(&[&url("/app.js")]);
    let b = status_and_headers(&[&url("/app.js")]);
    assert_eq!(a, b);
    for (opts, want) in [
        ("{ tarball: true }", "option 'tarball' is not supported"),
        ("{ bogus: 1 }", "unknown option 'bogus'"),
        ("{ fs: true }", "cannot open folder"),
    ] {
        let dir = TempDir::with_files(&[("main.js", &format!("var d = new http.Directory('/nowhere', {opts})\n"))]);
        let out = Command::new(binary()).arg("--check").arg(dir.0.join("main.js")).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("main.js:1:") && err.contains(want), "{opts}: {err}");
    }
    // A folder on disk is one of the codebase's: not above it, not through a link out of it.
    let outside = TempDir::new();
    for root in ["../", "/link"] {
        let dir =
            TempDir::with_files(&[("main.js", &format!("var d = new http.Directory('{root}', {{ fs: true }})\n"))]);
        std::os::unix::fs::symlink(&outside.0, dir.0.join("link")).unwrap();
        let out = Command::new(binary()).arg("--check").arg(dir.0.join("main.js")).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("outside the codebase's folder"), "{root}: {err}");
    }
}
