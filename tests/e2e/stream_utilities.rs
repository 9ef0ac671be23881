//! The stream utilities on real connections: `split` answering a line
//! protocol sent in odd pieces, `insert` putting a greeting first, and
//! `throttleConcurrency` letting one connection through at a time, the next
//! going on when the first closes.

use crate::support::{free_port, Proxy, Raw};
use std::time::{Duration, Instant};

/// Reads from `c` until `want` has come, or five seconds pass.
fn read_until(c: &mut Raw, want: &str) -> String {
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !got.contains(want) && Instant::now() < deadline {
        let more = c.read_some();
        if more.is_empty() {
            break;
        }
        got.push_str(&more);
    }
    got
}

#[test]
fn split_answers_each_line_and_insert_puts_its_greeting_first() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
pipy.listen({port}, $=>$
  .split('\r\n')
  .replaceMessage(msg => new Message(`[${{msg.body.toString()}}]`))
  .insert(new Data('hello '))
)
"#
        ),
        &[],
    );
    let mut c = Raw::connect(port);
    for piece in ["on", "e\r", "\ntwo\r\n\r", "\nthr"] {
        c.send(piece.as_bytes());
    }
    assert_eq!(read_until(&mut c, "[]"), "hello [one][two][]");
    c.0.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.read_to_close(), "[thr]", "what follows the last separator is the last message");
}

#[test]
fn throttle_concurrency_lets_the_next_connection_run_when_one_closes() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
var slots = new algo.Quota(1)
pipy.listen({port}, $=>$
  .throttleConcurrency(slots)
  .replaceData(d => new Data(`<${{d.toString()}}>`))
)
"#
        ),
        &[],
    );
    let mut first = Raw::connect(port);
    first.send(b"a");
    assert_eq!(read_until(&mut first, "<a>"), "<a>");
    let mut second = Raw::connect(port);
    second.send(b"b");
    second.0.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    assert_eq!(second.read_some(), "", "the second connection waits while the first holds the slot");
    drop(first);
    second.0.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_until(&mut second, "<b>"), "<b>");
    // And the slot comes back again when the second one goes.
    drop(second);
    let mut third = Raw::connect(port);
    third.send(b"c");
    assert_eq!(read_until(&mut third, "<c>"), "<c>");
}
