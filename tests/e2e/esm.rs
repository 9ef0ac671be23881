//! ES modules: `import` / `export` in their forms, live bindings, per-pipeline
//! `$` variables, each module's own `var`s, `pipy.import`, layouts used across
//! modules, `pipy.argv`, mistakes named by file, line and column, and an edit
//! to an imported module reloading the codebase.

use crate::support::{binary, curl, free_port, Proxy, TempDir};
use std::process::Command;
use std::time::{Duration, Instant};

fn load_error(files: &[(&str, &str)]) -> String {
    let dir = TempDir::with_files(files);
    let out = Command::new(binary()).arg("--check").arg(dir.0.join(files[0].0)).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const UTIL: &str = r#"import config from '../config.js'
export var counter = 0
export function bump() { counter++ }
export function greet(who) { return `hello ${who} from ${config.name}` }
var mine = 'util'
"#;

const AGAIN: &str = r#"export * from './util.js'
export { default as hello } from '../hello.js'
export var name = 'again'
"#;

const HELLO: &str = "export default pipeline($=>$.serveHTTP(new Message('hello from another module\\n')))\n";

#[test]
fn imports_are_live_dollar_variables_are_per_pipeline_and_each_module_has_its_own_vars() {
    let port = free_port();
    let main = format!(
        r#"import config from './config.js'
import {{ greet, counter as count, bump }} from './lib/util.js'
import * as util from './lib/util.js'
import {{ name }} from './lib/again.js'

var $n = 0
var hits = 0
var mine = 'main'

pipy.listen({port}, $=>$.serveHTTP(() => (
  hits++, $n++, bump(),
  new Message(`${{greet(config.name)}} hits=${{hits}} n=${{$n}} count=${{count}}/${{util.counter}}/${{pipy.import('./lib/util.js').counter}} ${{name}} ${{mine}} ${{pipy.argv.join(',')}}\n`)
)))
"#
    );
    let files = [
        ("main.js", main.as_str()),
        ("config.js", "export default { name: 'esm' }\n"),
        ("lib/util.js", UTIL),
        ("lib/again.js", AGAIN),
        ("hello.js", HELLO),
    ];
    let dir = TempDir::with_files(&files);
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &["--", "one", "two"], None);
    p.ready();
    let url = format!("http://127.0.0.1:{port}/");
    let line = |hits: u32, n: u32| {
        format!("hello esm from esm hits={hits} n={n} count={hits}/{hits}/{hits} again main proxy,one,two\n")
    };
    // Each connection is a pipeline with its own $n; `hits` is the worker's.
    assert_eq!(curl(&["-s", &url]), line(1, 1));
    assert_eq!(curl(&["-s", &url]), line(2, 1));
    // Two requests on one connection: one pipeline, so $n goes on.
    assert_eq!(curl(&["-s", &url, &url]), line(3, 1) + &line(4, 2));
}

#[test]
fn a_layout_made_in_one_module_runs_wherever_another_module_puts_it() {
    let (a, b) = (free_port(), free_port());
    let main = format!(
        "import {{ hello }} from './lib/again.js'\n\
         import plugin from './plugin.js'\n\
         pipy.listen({a}, hello)\n\
         pipy.listen({b}, $=>$.demuxHTTP().to(plugin))\n"
    );
    let plugin = "var $seen = 0\n\
                  export default pipeline($=>$\n\
                    .handleMessageStart(() => $seen++)\n\
                    .replaceMessage(() => new Message(`plugin seen=${$seen}\\n`))\n\
                  )\n";
    let files = [
        ("main.js", main.as_str()),
        ("config.js", "export default { name: 'esm' }\n"),
        ("lib/util.js", UTIL),
        ("lib/again.js", AGAIN),
        ("hello.js", HELLO),
        ("plugin.js", plugin),
    ];
    let _p = Proxy::files(&files, &[]);
    assert_eq!(curl(&["-s", &format!("http://127.0.0.1:{a}/")]), "hello from another module\n");
    // demuxHTTP: one pipeline per request, each with its own $seen.
    let url = format!("http://127.0.0.1:{b}/");
    assert_eq!(curl(&["-s", &url, &url]), "plugin seen=1\nplugin seen=1\n");
}

#[test]
fn mistakes_in_modules_are_load_errors_that_say_where() {
    let lib = ("lib.js", "export var here = 1\nexport default 2\n");
    let err = load_error(&[("main.js", "var a = 1\nimport { nope } from './lib.js'\n"), lib]);
    assert!(err.contains("main.js:2:") && err.contains("SyntaxError: module ./lib.js has no export 'nope'"), "{err}");
    let err = load_error(&[("main.js", "import x from '../../etc/passwd'\n")]);
    assert!(
        err.contains("main.js:1:")
            && err.contains("cannot import '../../etc/passwd'")
            && err.contains("outside the codebase"),
        "{err}"
    );
    let err = load_error(&[("main.js", "import x from 'lib.js'\n"), lib]);
    assert!(err.contains("module path 'lib.js' must start with '/', './' or '../'"), "{err}");
    let err = load_error(&[("main.js", "import x from './none.js'\n")]);
    assert!(err.contains("main.js:1:") && err.contains("none.js"), "{err}");
    let err = load_error(&[("main.js", "var a\n\nexport 1\n")]);
    assert!(
        err.contains("main.js:3:8: SyntaxError: expected 'default', a declaration, '{' or '*' after 'export'"),
        "{err}"
    );
    let err = load_error(&[("main.js", "import { here } from './lib.js'\nhere = 2\n"), lib]);
    assert!(
        err.contains("main.js:2:")
            && err.contains("TypeError: 'here' is imported from ./lib.js and cannot be assigned"),
        "{err}"
    );
    // The place of a missing export is the import's own column.
    let err = load_error(&[("main.js", "export var q = 1\nimport { nope } from './lib.js'\n"), lib]);
    assert!(err.contains("main.js:2:1: SyntaxError: module ./lib.js has no export 'nope'"), "{err}");
    // Also inside a cycle of imports, once every module has run.
    let err = load_error(&[
        ("main.js", "import { a } from './a.js'\n"),
        ("a.js", "import { b } from './b.js'\nexport var a = 1\n"),
        ("b.js", "import { nope } from './a.js'\nexport var b = 2\n"),
    ]);
    assert!(err.contains("b.js:1:1") && err.contains("module ./a.js has no export 'nope'"), "{err}");
    let err = load_error(&[("main.js", "import d from './d.json' with { type: 'json' }\n"), ("d.json", "{}")]);
    assert!(err.contains("main.js:1:26") && err.contains("import attributes are not supported"), "{err}");
    // A mistake inside the imported module is named in that module.
    let err = load_error(&[("main.js", "import x from './bad.js'\n"), ("bad.js", "var ok = 1\nvar x = (\n")]);
    assert!(err.contains("bad.js:3:"), "{err}");
}

#[test]
fn an_edit_to_an_imported_module_reloads_the_codebase() {
    let port = free_port();
    let main = format!("import text from './text.js'\npipy.listen({port}, $=>$.serveHTTP(() => new Message(text)))\n");
    let dir = TempDir::with_files(&[("main.js", &main), ("text.js", "export default 'v1'\n")]);
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], None);
    p.ready();
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(curl(&["-s", &url]), "v1");
    std::fs::write(dir.0.join("text.js"), "export default 'v2'\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while curl(&["-s", &url]) != "v2" {
        assert!(Instant::now() < deadline, "{}", p.log.text());
        std::thread::sleep(Duration::from_millis(20));
    }
}
