//! Loading and dropping a codebase frees everything: the engine asserts at teardown
//! that no script object is left, so a reference cycle through Rust aborts here.

use proxy_js::{Host, HostOptions, Source};

fn load_and_drop(script: &str) {
    let r = Host::load(&Source::Eval(script.into()), &HostOptions::default());
    drop(r);
}

#[test]
fn scripts_that_load_are_freed() {
    load_and_drop("pipy({ _a: 1, _o: { x: [1, 2] } }).listen(1).serveHTTP(msg => new Message(String(_a)))");
    load_and_drop("pipy().pipeline('p').serveHTTP(new Message('x')).listen(1).link('p')");
    load_and_drop("pipy().listen(1).branch(() => true, $=>$.dummy(), $=>$.dump('x'))");
}

#[test]
fn scripts_that_fail_are_freed() {
    load_and_drop("pipy({ _a: 1 }).listen(1).serveHTTP(() => 1); throw new Error('after')");
    load_and_drop("pipy().listen(1).link('missing')");
    load_and_drop("pipy({ _a: 1 }).listen(1).serveHTTP(new Message(String(_a)))");
}

#[test]
fn a_program_that_ran_callbacks_is_freed_whatever_is_dropped_first() {
    use proxy_core::{Context, Event, Pipeline, Sink};
    for host_first in [true, false] {
        let script = "pipy({ _n: 0 }).listen(1).serveHTTP(m => new Message(m.head.path + (++_n)))";
        let (program, host) = Host::load(&Source::Eval(script.into()), &HostOptions::default()).unwrap();
        let p = Pipeline::new(&program.ports[0].layout, Context::new(None), Sink::Discard);
        p.input(Event::Data("GET / HTTP/1.1\r\nhost: x\r\n\r\n".to_string().into()));
        drop(p);
        if host_first {
            drop(host);
            drop(program);
        } else {
            drop(program);
            drop(host);
        }
    }
}
