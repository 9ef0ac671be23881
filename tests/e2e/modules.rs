//! Modules: `chain`, `use`, `export` / `import`, `__filename`, and load errors
//! inside modules named by their own file, line and column.

use crate::support::{binary, curl, free_port, Proxy, TempDir};
use std::process::Command;
use std::time::Duration;

fn load_error(files: &[(&str, &str)]) -> String {
    let dir = TempDir::with_files(files);
    let out = Command::new(binary()).arg(dir.0.join(files[0].0)).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn each_module_has_its_own_variables_and_exported_ones_are_shared() {
    let port = free_port();
    let main = format!(
        "pipy({{ _who: 'main' }})\n\
         .export('main', {{ __trail: '' }})\n\
         .listen({port})\n\
         .demuxHTTP().to($=>$\n\
           .handleMessageStart(() => __trail += _who + ' ')\n\
           .chain(['a.js', 'sub/b.js'])\n\
         )\n"
    );
    let a = "pipy({ _who: 'a' })\n\
             .import({ __trail: 'main' })\n\
             .pipeline()\n\
             .handleMessageStart(() => __trail += _who + ':' + __filename + ' ')\n\
             .chain()\n";
    // b.js ends with chain() past the last module: events pass through it.
    let b = "pipy({ _who: 'b' })\n\
             .import({ __trail: 'main' })\n\
             .pipeline()\n\
             .replaceMessage(() => new Message(__trail + _who + ':' + __filename))\n\
             .chain()\n";
    let _p = Proxy::files(&[("main.js", &main), ("a.js", a), ("sub/b.js", b)], &[]);
    let url = format!("http://127.0.0.1:{port}/");
    // Twice: every request starts from the declared initial values.
    for _ in 0..2 {
        assert_eq!(curl(&["-s", &url]), "main a:/a.js b:/sub/b.js");
    }
}

#[test]
fn use_runs_named_pipelines_of_modules_up_then_down_and_turn_down_cuts_short() {
    let port = free_port();
    let main = format!(
        "pipy({{ _n: 0, _stop: false }})\n\
         .listen({port})\n\
         .demuxHTTP().to($=>$\n\
           .handleMessageStart(msg => _stop = msg.head.path === '/stop')\n\
           .branch(\n\
             () => _stop || msg_all(), $=>$.use(['p1.js', 'p2.js'], 'up', 'down', () => ++_n === 2 && _stop),\n\
             $=>$.use('p1.js', 'up')\n\
           )\n\
         )\n"
    )
    .replace("msg_all()", "__inbound.localPort && true");
    let plugin = |name: &str| {
        format!(
            "pipy()\n\
             .pipeline('up').replaceMessage(msg => new Message(msg.body.toString() + '>{name}'))\n\
             .pipeline('down').replaceMessage(msg => new Message(msg.body.toString() + '<{name}'))\n"
        )
    };
    let (p1, p2) = (plugin("p1"), plugin("p2"));
    let _p = Proxy::files(&[("main.js", &main), ("p1.js", &p1), ("p2.js", &p2)], &[]);
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(curl(&["-s", "-d", "x", &format!("{base}/go")]), "x>p1>p2<p2<p1");
    assert_eq!(curl(&["-s", "-d", "x", &format!("{base}/stop")]), "x>p1<p1");
}

#[test]
fn use_of_one_module_runs_that_pipeline() {
    let port = free_port();
    let main = format!("pipy().listen({port}).demuxHTTP().to($=>$.use('lib/p.js', 'greet'))");
    let lib = "pipy().pipeline('greet').replaceMessage(msg => new Message('hello ' + msg.body.toString()))";
    let _p = Proxy::files(&[("main.js", &main), ("lib/p.js", lib)], &[]);
    assert_eq!(curl(&["-s", "-d", "you", &format!("http://127.0.0.1:{port}/")]), "hello you");
}

#[test]
fn errors_in_modules_name_the_module_file_line_and_column() {
    let main = "pipy()\n.listen(8099)\n.demuxHTTP().to($=>$.chain(['bad.js']))\n";
    let err = load_error(&[("main.js", main), ("bad.js", "pipy()\n.pipeline()\n.replaceMessage(new Message(\n")]);
    assert!(err.contains("bad.js:4:1: SyntaxError"), "{err}");

    let err = load_error(&[("main.js", main), ("bad.js", "pipy().pipeline('named').dummy()\n")]);
    assert!(err.contains("main.js:3:") && err.contains("bad.js has no entrance pipeline"), "{err}");

    let err =
        load_error(&[("main.js", main), ("bad.js", "pipy()\n.import({ __x: 'nowhere' })\n.pipeline().dummy()\n")]);
    assert!(err.contains("bad.js:2:") && err.contains("no module exports '__x' in namespace 'nowhere'"), "{err}");

    let err = load_error(&[("main.js", main)]);
    assert!(err.contains("main.js:3:") && err.contains("cannot read module bad.js"), "{err}");

    // Line 1 of a module: the column is the user's, not shifted by the scope.
    let err = load_error(&[("main.js", main), ("bad.js", "pipy().pipeline().link(\"x\", 1, 2).dummy()")]);
    assert!(err.contains("bad.js:1:18: unknown pipeline 'x'"), "{err}");
}

#[test]
fn an_exception_on_line_1_of_a_module_reports_the_users_column() {
    let port = free_port();
    let main = format!("pipy().listen({port}).demuxHTTP().to($=>$.chain(['a.js']))");
    let a = "pipy().pipeline().replaceMessage(() => new Message(undefinedThing))";
    let p = Proxy::files(&[("main.js", &main), ("a.js", a)], &[]);
    let out = curl(&["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{port}/")]);
    assert_eq!(out, "500");
    assert!(p.log.wait_for("a.js:1:52", Duration::from_secs(5)), "{}", p.log.text());
}
