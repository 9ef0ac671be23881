//! Every folder in `tutorial/` is checked: its `setup.sh`, if it has one, makes
//! what it needs (certificates), `proxy --check` loads it, then start
//! proxy on its `main.js`, run its
//! `test.sh` (curl commands) and compare the output with its `test.out`. The
//! folders are listed, not named, so every tutorial (`07-plugins`, `08-cache`
//! and any added later) is checked.

use crate::support::{repo, Proxy};
use std::process::Command;

#[test]
fn every_tutorial_does_what_its_readme_says() {
    let root = repo().join("tutorial");
    let mut dirs: Vec<_> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for f in ["main.js", "README.md", "test.sh", "test.out"] {
            assert!(dir.join(f).is_file(), "tutorial {name} has no {f}");
        }
        if dir.join("setup.sh").is_file() {
            let setup = Command::new("bash").arg("setup.sh").current_dir(&dir).output().unwrap();
            assert!(setup.status.success(), "tutorial {name}: setup.sh: {}", String::from_utf8_lossy(&setup.stderr));
        }
        // `--check` loads it and prints its layouts without serving.
        let check = Command::new(crate::support::binary()).arg("--check").arg(dir.join("main.js")).output().unwrap();
        let graph = String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success() && graph.starts_with("module /main.js\n"), "tutorial {name}: --check: {graph}");
        let mut p = Proxy::spawn(&dir.join("main.js"), &[], Some(&dir));
        p.ready();
        let out = Command::new("bash").arg("test.sh").current_dir(&dir).output().unwrap();
        let got = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        let want = std::fs::read_to_string(dir.join("test.out")).unwrap();
        assert_eq!(got, want, "tutorial {name}: output differs\nlog:\n{}", p.log.text());
        drop(p);
    }
}
