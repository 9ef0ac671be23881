//! The reference against the real binary: every example in `docs/reference/`
//! loads, and every global a script can reach is declared in `types/proxy.d.ts`
//! and has a reference page. (That each filter and option has its generated entry
//! is checked by the binary's own unit tests, which see the registry.)

use crate::support::{binary, repo, Proxy, TempDir};
use std::process::Command;
use std::time::Duration;

/// The scripts under the `## Example` heading of a page, as codebases: the files
/// of each, the first `main.js`. A block right after a line naming a file
/// (`` `plugins/auth.js`: ``) is that file of the same codebase.
fn examples(page: &str) -> Vec<Vec<(String, String)>> {
    let Some(start) = page.find("## Example") else { return Vec::new() };
    let section = &page[start..];
    let section = match section[3..].find("\n## ") {
        Some(end) => &section[..end + 3],
        None => section,
    };
    let mut codebases: Vec<Vec<(String, String)>> = Vec::new();
    let mut rest = section;
    while let Some(at) = rest.find("```js\n") {
        let before = rest[..at].trim_end();
        let named = before
            .lines()
            .last()
            .and_then(|l| l.trim().strip_prefix('`'))
            .and_then(|l| l.strip_suffix("`:"))
            .filter(|n| n.ends_with(".js"))
            .map(str::to_string);
        let body = &rest[at + 6..];
        let Some(end) = body.find("\n```") else { break };
        let script = body[..end].to_string();
        match (named, codebases.last_mut()) {
            (Some(name), Some(files)) if name != "main.js" => files.push((name, script)),
            _ => codebases.push(vec![("main.js".to_string(), script)]),
        }
        rest = &body[end + 4..];
    }
    codebases
}

fn pages(folder: &str) -> Vec<(String, String)> {
    let dir = repo().join("docs/reference").join(folder);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_in_the_reference_loads() {
    let mut failed = Vec::new();
    let mut count = 0;
    for folder in ["", "filters", "classes"] {
        for (name, page) in pages(folder) {
            let found = examples(&page);
            // Every filter and class page has an example; of the others, those with one.
            if found.is_empty() && !folder.is_empty() {
                failed.push(format!("{folder}/{name}: no ```js example under ## Example"));
            }
            for files in found {
                count += 1;
                let dir = TempDir::new();
                for (file, text) in &files {
                    let path = dir.0.join(file);
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, text).unwrap();
                }
                if files.iter().any(|(_, text)| text.contains("server.crt")) {
                    test_certificate(&dir.0);
                }
                let main = dir.0.join("main.js");
                let out = Command::new(binary()).arg("--check").arg(&main).current_dir(&dir.0).output().unwrap();
                if !out.status.success() {
                    failed.push(format!("{folder}/{name}: {}", String::from_utf8_lossy(&out.stderr).trim()));
                }
            }
        }
    }
    assert!(failed.is_empty(), "{count} examples, these fail: {failed:#?}");
}

/// `server.crt` and `server.key` for an example that loads them: a certificate made
/// here, so that no key is kept in the docs.
fn test_certificate(dir: &std::path::Path) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"])
        .args(["-keyout", "server.key", "-out", "server.crt", "-days", "1", "-subj", "/CN=localhost"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
}

/// Globals every JavaScript engine has: not ours to document.
const STANDARD: &[&str] = &[
    "Object",
    "Function",
    "Array",
    "Number",
    "parseFloat",
    "parseInt",
    "Infinity",
    "NaN",
    "undefined",
    "Boolean",
    "String",
    "Symbol",
    "Date",
    "Promise",
    "RegExp",
    "Error",
    "AggregateError",
    "EvalError",
    "RangeError",
    "ReferenceError",
    "SyntaxError",
    "TypeError",
    "URIError",
    "InternalError",
    "SuppressedError",
    "globalThis",
    "Math",
    "Reflect",
    "JSON",
    "Proxy",
    "Map",
    "Set",
    "WeakMap",
    "WeakSet",
    "WeakRef",
    "FinalizationRegistry",
    "ArrayBuffer",
    "SharedArrayBuffer",
    "Uint8ClampedArray",
    "Int8Array",
    "Uint8Array",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "BigInt64Array",
    "BigUint64Array",
    "Float16Array",
    "Float32Array",
    "Float64Array",
    "DataView",
    "BigInt",
    "Atomics",
    "escape",
    "unescape",
    "isNaN",
    "isFinite",
    "decodeURI",
    "decodeURIComponent",
    "encodeURI",
    "encodeURIComponent",
    "eval",
    "Iterator",
    "queueMicrotask",
    "DisposableStack",
    "AsyncDisposableStack",
    "DOMException",
    "Intl",
];

#[test]
fn every_global_a_script_sees_is_declared_and_documented() {
    // Names a running script sees: its globals, and the members of our namespaces.
    let script = r#"pipy().task().onStart(() => {
  const out = [];
  for (const n of Object.getOwnPropertyNames(globalThis)) {
    if (n.startsWith('__proxy')) continue;
    out.push(n);
    const v = globalThis[n];
    if (v && typeof v === 'object') for (const k of Object.keys(v)) out.push(n + '.' + k);
  }
  out.push('__inbound', '__filename');
  console.log('GLOBALS ' + out.join(' ') + ' END');
  return new StreamEnd;
})
"#;
    let p = Proxy::script(script, &[]);
    assert!(p.log.wait_for(" END", Duration::from_secs(10)), "{}", p.log.text());
    let log = p.log.text();
    let line = log.lines().find_map(|l| l.split_once("GLOBALS ").map(|(_, r)| r.to_string())).unwrap();
    let types = std::fs::read_to_string(repo().join("types/proxy.d.ts")).unwrap();
    let globals_page = std::fs::read_to_string(repo().join("docs/reference/classes/globals.md")).unwrap_or_default();
    let declared = |name: &str| {
        ["class ", "function ", "namespace ", "var ", "const ", "let ", "interface "].iter().any(|kw| {
            types.match_indices(&format!("{kw}{name}")).any(|(i, m)| {
                let next = types[i + m.len()..].chars().next().unwrap_or(' ');
                !next.is_alphanumeric() && next != '_'
            })
        }) || types.contains(&format!("  {name}("))
            || types.contains(&format!("  {name}:"))
    };
    let mut missing = Vec::new();
    for name in line.split_whitespace().filter(|n| !STANDARD.contains(n) && *n != "END") {
        let (top, member) = match name.split_once('.') {
            Some((t, m)) => (t, Some(m)),
            None => (name, None),
        };
        if STANDARD.contains(&top) {
            continue;
        }
        let leaf = member.unwrap_or(top);
        if !declared(leaf) {
            missing.push(format!("{name}: not declared in types/proxy.d.ts"));
        }
        let page = repo().join("docs/reference/classes").join(format!("{name}.md"));
        let documented = page.exists()
            || member.is_some_and(|_| repo().join("docs/reference/classes").join(format!("{top}.md")).exists())
            || globals_page.contains(&format!("`{name}"));
        if !documented {
            missing.push(format!("{name}: no docs/reference/classes/{name}.md and not in globals.md"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
