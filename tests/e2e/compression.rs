//! `compressHTTP` and `decompressHTTP` with real clients: curl `--compressed`
//! reads what the proxy compressed (gzip and deflate), the proxy inflates an
//! origin's compressed answers for clients that asked for nothing, a body that
//! already has a coding is left alone, brotli is read, and a compression bomb ends its stream
//! at `maxSize` instead of taking the memory.

use crate::support::{curl, free_port, Proxy};
use std::process::Command;

fn page() -> String {
    (0..200).map(|i| format!("<p>line {i}: the quick brown fox jumps over the lazy dog</p>\n")).collect()
}

#[test]
fn compressed_answers_read_back_and_an_origin_s_codings_are_removed_through_the_proxy() {
    let (gz, df, via_gz, via_df, coded) = (free_port(), free_port(), free_port(), free_port(), free_port());
    let body = page();
    let script = format!(
        r#"
var page = {body:?}
pipy()
.listen({gz}).demuxHTTP().to($=>$.replaceMessage(new Message(page)).compressHTTP('gzip'))
.listen({df}).demuxHTTP().to($=>$.replaceMessage(new Message(page)).compressHTTP({{ method: 'deflate', level: 9 }}))
.listen({coded}).serveHTTP(new Message({{ headers: {{ 'content-encoding': 'br' }} }}, 'already coded'))
.listen({via_gz}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{gz}')).decompressHTTP())
.listen({via_df}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{df}')).decompressHTTP())
"#
    );
    let _p = Proxy::script(&script, &[]);
    for port in [gz, df] {
        let head = curl(&["-sI", "-X", "GET", &format!("http://127.0.0.1:{port}/")]).to_ascii_lowercase();
        assert!(head.contains("content-encoding: gzip") || head.contains("content-encoding: deflate"), "{head}");
        assert!(!head.contains(&format!("content-length: {}", body.len())), "not the uncompressed length: {head}");
        let size: usize =
            curl(&["-s", "-o", "/dev/null", "-w", "%{size_download}", &format!("http://127.0.0.1:{port}/")])
                .parse()
                .unwrap();
        assert!(size < body.len() / 5, "compressed: {size} bytes for {}", body.len());
        assert_eq!(curl(&["--compressed", &format!("http://127.0.0.1:{port}/")]), body, "port {port}");
    }
    for port in [via_gz, via_df] {
        let r = curl(&["-si", &format!("http://127.0.0.1:{port}/")]);
        assert!(!r.to_ascii_lowercase().contains("content-encoding"), "{r}");
        assert!(r.ends_with(&body), "inflated by the proxy: {}", &r[..200.min(r.len())]);
    }
    let r = curl(&["-si", &format!("http://127.0.0.1:{coded}/")]);
    assert!(r.contains("content-encoding: br") && r.ends_with("already coded"), "{r}");
}

#[test]
fn a_compression_bomb_ends_its_stream_at_max_size() {
    let (origin, front) = (free_port(), free_port());
    // 64 MiB of zeros, gzipped: some 64 KiB on the wire.
    let bomb = Command::new("sh").args(["-c", "head -c 67108864 /dev/zero | gzip -9 | base64 -w0"]).output().unwrap();
    let bomb = String::from_utf8(bomb.stdout).unwrap();
    let script = format!(
        r#"
var bomb = new Data({bomb:?}, 'base64')
pipy()
.listen({origin}).serveHTTP(new Message({{ headers: {{ 'content-encoding': 'gzip' }} }}, bomb))
.listen({front}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{origin}')).decompressHTTP({{ maxSize: '1m' }}))
"#
    );
    let p = Proxy::script(&script, &[]);
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{size_download}"])
        .arg(format!("http://127.0.0.1:{front}/"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let size: usize = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
    assert!(size <= 1 << 20, "at most maxSize went out: {text}");
    assert!(p.log.wait_for("inflates past", std::time::Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.rss_kib() < 200 << 10, "memory stayed bounded: {} KiB", p.rss_kib());
    p.signal("TERM");
}

#[test]
fn a_brotli_answer_is_inflated_for_a_client_that_asked_for_no_coding() {
    let (origin, front) = (free_port(), free_port());
    // 200 lines of "line N: the quick brown fox", by the `brotli` tool.
    let br = "0Qi4AGCkVN0e6XAqbXOBSbFWAHnDQyE7ADl8pCUYRpwNJnLzODuFH3t93+3Ik0fvb7xCqVJrtDq6enuMswZMFpvD5eHVy3wMJovN4fLw6mU9BpPF5nB5ePWyH4PJYnO4PLx6OY/BZLE5XB5evdzHYLLYHC4Pr16ex2Cy2BwuD69e3sdgstgcLg+vXr7HYLLYHC4P70c17h8Op8vt8fr48nU8h9Pl9nh9fPk6n8Ppcnu8Pr58Xc/hdLk9Xh9fvu7ncLrcHq+PL1/Pczhdbo/Xx5ev9zmcLrfH6+PL1+c5nC63x+vjy9f3OZwut8fr48vX7zmcLrfH6+MLBw==";
    let script = format!(
        r#"
pipy()
.listen({origin}).serveHTTP(new Message({{ headers: {{ 'content-encoding': 'br' }} }}, new Data({br:?}, 'base64')))
.listen({front}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{origin}')).decompressHTTP())
"#
    );
    let _p = Proxy::script(&script, &[]);
    let want: String = (0..200).map(|i| format!("line {i}: the quick brown fox\n")).collect();
    assert_eq!(curl(&[&format!("http://127.0.0.1:{front}/")]), want);
}
