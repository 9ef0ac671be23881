//! Starting the real `proxy` binary on loopback and talking to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The binary under test: this build's, or the one `PROXY_E2E_BINARY` names (to
/// show that a test fails on an older build).
pub fn binary() -> String {
    std::env::var("PROXY_E2E_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_proxy").to_string())
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Everything the process wrote to stderr, shared with a reader thread.
#[derive(Clone, Default)]
pub struct Log(Arc<(Mutex<String>, Condvar)>);

impl Log {
    /// Waits up to `limit` for `needle` to appear; true if it did.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        let (text, cv) = &*self.0;
        let deadline = Instant::now() + limit;
        let mut guard = text.lock().unwrap();
        while !guard.contains(needle) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = cv.wait_timeout(guard, deadline - now).unwrap().0;
        }
        true
    }

    /// Waits up to `limit` for `needle` to appear `n` times; true if it did.
    pub fn wait_count(&self, needle: &str, n: usize, limit: Duration) -> bool {
        let (text, cv) = &*self.0;
        let deadline = Instant::now() + limit;
        let mut guard = text.lock().unwrap();
        while guard.matches(needle).count() < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = cv.wait_timeout(guard, deadline - now).unwrap().0;
        }
        true
    }

    /// The log so far.
    pub fn text(&self) -> String {
        self.0 .0.lock().unwrap().clone()
    }
}

/// A running `proxy`, killed when dropped.
pub struct Proxy {
    pub child: Child,
    pub log: Log,
    _dir: Option<TempDir>,
}

/// A temporary folder removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("proxy-e2e-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// A temporary folder holding these files (name, text).
    pub fn with_files(files: &[(&str, &str)]) -> Self {
        let dir = TempDir::new();
        for (name, text) in files {
            let path = dir.0.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Proxy {
    /// Writes `script` to `main.js` in a temp folder and starts proxy on it.
    pub fn script(script: &str, args: &[&str]) -> Proxy {
        let dir = TempDir::new();
        let path = dir.0.join("main.js");
        std::fs::write(&path, script).unwrap();
        let mut p = Proxy::spawn(&path, args, None);
        p._dir = Some(dir);
        p.ready();
        p
    }

    /// Writes a codebase (file name, text; the first is the main script) to a temp
    /// folder and starts proxy on it.
    pub fn files(files: &[(&str, &str)], args: &[&str]) -> Proxy {
        let dir = TempDir::with_files(files);
        let mut p = Proxy::spawn(&dir.0.join(files[0].0), args, None);
        p._dir = Some(dir);
        p.ready();
        p
    }

    /// Starts proxy on a script file with the given working folder.
    pub fn spawn(path: &Path, args: &[&str], cwd: Option<&Path>) -> Proxy {
        let mut cmd = Command::new(binary());
        cmd.arg(path).args(args);
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        Proxy::from_command(cmd)
    }

    /// Starts `cmd` (which runs proxy, perhaps through a shell) and reads its log.
    pub fn from_command(mut cmd: Command) -> Proxy {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start proxy");
        let log = Log::default();
        let stderr = child.stderr.take().unwrap();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let (text, cv) = &*l.0;
                let mut t = text.lock().unwrap();
                t.push_str(&line);
                t.push('\n');
                cv.notify_all();
            }
        });
        Proxy { child, log, _dir: None }
    }

    /// Waits until the proxy says it is serving.
    pub fn ready(&mut self) {
        if !self.log.wait_for("Thread 0 started", Duration::from_secs(10)) {
            panic!("proxy did not start:\n{}", self.log.text());
        }
    }

    /// Sends a signal by PID.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(ok.success());
    }

    /// Waits up to `limit` for the process to exit; its exit code if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU time the process has used so far (user and system), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let num = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        num(11) + num(12)
    }

    /// Resident memory of the process now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs curl with `args` (plus -s and a time limit) and returns its stdout.
pub fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").args(["-s", "--max-time", "10"]).args(args).output().expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A raw client connection.
pub struct Raw(pub TcpStream);

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw(s)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).unwrap();
    }

    /// Whatever one read gives (empty at the end or on a timeout).
    pub fn read_some(&mut self) -> String {
        let mut chunk = [0u8; 65536];
        match self.0.read(&mut chunk) {
            Ok(n) => String::from_utf8_lossy(&chunk[..n]).into_owned(),
            Err(_) => String::new(),
        }
    }

    /// Reads until `n` bytes have come, the server closes, or the read timeout
    /// passes; gives what came (binary protocols compare it byte for byte).
    pub fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while got.len() < n {
            match self.0.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(k) => got.extend_from_slice(&chunk[..k]),
            }
        }
        got
    }

    /// Reads until the server closes the connection (bounded by the read timeout).
    pub fn read_to_close(&mut self) -> String {
        let mut buf = Vec::new();
        let _ = self.0.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Reads until `n` complete responses with content-length bodies have arrived.
    pub fn read_responses(&mut self, n: usize) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        while count_responses(&buf) < n {
            match self.0.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Counts complete HTTP responses (content-length framed) at the start of `buf`.
pub fn count_responses(buf: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = buf;
    loop {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else { return n };
        let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap_or(0))
            .unwrap_or(0);
        if rest.len() < end + 4 + len {
            return n;
        }
        rest = &rest[end + 4 + len..];
        n += 1;
    }
}

/// Clients on threads sending one request per new connection until stopped, and
/// counting the answers `good` accepts and the rest (errors included).
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    counts: std::sync::Arc<(std::sync::atomic::AtomicUsize, std::sync::atomic::AtomicUsize)>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// Starts `clients` threads sending `request` to `port`.
    pub fn start(port: u16, clients: usize, request: &'static [u8], good: fn(&str) -> bool) -> Load {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let counts = std::sync::Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let threads = (0..clients)
            .map(|_| {
                let (stop, counts) = (stop.clone(), counts.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let answer = (|| -> std::io::Result<String> {
                            let mut s = TcpStream::connect(("127.0.0.1", port))?;
                            s.set_read_timeout(Some(Duration::from_secs(5)))?;
                            s.write_all(request)?;
                            let mut out = String::new();
                            s.read_to_string(&mut out)?;
                            Ok(out)
                        })();
                        let ok = answer.map(|a| good(&a)).unwrap_or(false);
                        if ok { &counts.0 } else { &counts.1 }.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Load { stop, counts, threads }
    }

    /// Stops the clients; returns (good answers, failures).
    pub fn stop(self) -> (usize, usize) {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        (self.counts.0.load(Ordering::SeqCst), self.counts.1.load(Ordering::SeqCst))
    }
}

/// What a `RawOrigin` saw of one connection.
#[derive(Default)]
pub struct Seen {
    /// The bytes the client sent.
    pub bytes: Mutex<Vec<u8>>,
    /// Set when the client closed the connection (read returned 0 or failed).
    pub closed: std::sync::atomic::AtomicBool,
}

impl Seen {
    /// The bytes received so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }

    /// Waits up to `limit` for the client to close; true if it did.
    pub fn wait_closed(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Waits up to `limit` until `pred` holds for the received text.
    pub fn wait_text(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if pred(&self.text()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

/// A TCP server on loopback whose every connection is handled by `serve`, on a
/// thread of its own, while a reader records what the client sends.
pub struct RawOrigin {
    pub port: u16,
    pub conns: Arc<Mutex<Vec<Arc<Seen>>>>,
}

impl RawOrigin {
    /// Starts the origin; `serve` gets a writable clone of each connection and
    /// what is seen of it.
    pub fn start(serve: impl Fn(TcpStream, Arc<Seen>) + Send + Sync + 'static) -> RawOrigin {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<Arc<Seen>>>> = Arc::default();
        let (c, serve) = (conns.clone(), Arc::new(serve));
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { break };
                let seen = Arc::new(Seen::default());
                c.lock().unwrap().push(seen.clone());
                let mut reader = s.try_clone().unwrap();
                let recorder = seen.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    loop {
                        match reader.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => recorder.bytes.lock().unwrap().extend_from_slice(&buf[..n]),
                        }
                    }
                    recorder.closed.store(true, std::sync::atomic::Ordering::SeqCst);
                });
                let serve = serve.clone();
                std::thread::spawn(move || serve(s, seen));
            }
        });
        RawOrigin { port, conns }
    }

    /// The `n`th connection (from 0), waiting up to 5 s for it.
    pub fn conn(&self, n: usize) -> Arc<Seen> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(c) = self.conns.lock().unwrap().get(n) {
                return c.clone();
            }
            assert!(Instant::now() < deadline, "no connection {n} reached the origin");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A script line that proxies port `front` to `origin` through demuxHTTP and
/// muxHTTP (with `mux` as muxHTTP's arguments).
pub fn reverse_proxy(front: u16, origin: u16, mux: &str) -> String {
    format!(".listen({front}).demuxHTTP().to($=>$.muxHTTP({mux}).to($=>$.connect('127.0.0.1:{origin}')))\n")
}

/// A static file server over a folder, stopped when dropped.
pub struct FileServer {
    child: Child,
    pub port: u16,
}

impl FileServer {
    pub fn start(dir: &TempDir) -> FileServer {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the file server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        FileServer { child, port }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
