//! The container entrypoint (`docker/entrypoint.sh`), run without Docker: cgroup
//! files are faked in a folder and proxy is replaced by a stub that prints its
//! arguments.

use crate::support::{repo, TempDir};
use std::process::Command;

struct Case {
    dir: TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = TempDir::new();
        let stub = dir.0.join("proxy-stub");
        std::fs::write(&stub, "#!/bin/sh\necho \"$@\"\n").unwrap();
        std::process::Command::new("chmod").arg("+x").arg(&stub).status().unwrap();
        std::fs::create_dir_all(dir.0.join("cgroup")).unwrap();
        Case { dir }
    }

    fn file(&self, name: &str, text: &str) -> &Case {
        let path = self.dir.0.join("cgroup").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Runs the entrypoint with `env`; returns (exit code, stdout, stderr).
    fn run(&self, env: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = Command::new("sh");
        cmd.arg(repo().join("docker/entrypoint.sh"))
            .arg("--log-level=warn")
            .env_remove("PROXY_CONFIG_FILE")
            .env_remove("PIPY_CONFIG_FILE")
            .env_remove("PROXY_THREADS")
            .env("CGROUP_ROOT", self.dir.0.join("cgroup"))
            .env("PROXY_BIN", self.dir.0.join("proxy-stub"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn visible_cpus() -> usize {
    let out = Command::new("nproc").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn threads_follow_the_cgroup_v2_quota_capped_by_visible_cpus() {
    let cpus = visible_cpus();
    let url = ("PROXY_CONFIG_FILE", "http://example/app/main.js");
    let c = Case::new();
    c.file("cpu.max", "100000 100000\n");
    assert_eq!(c.run(&[url]), (0, "--threads 1 http://example/app/main.js --log-level=warn".into(), String::new()));
    // Half a CPU still gets one worker; a fraction above one rounds down.
    c.file("cpu.max", "50000 100000\n");
    assert_eq!(c.run(&[url]).1, "--threads 1 http://example/app/main.js --log-level=warn");
    c.file("cpu.max", "150000 100000\n");
    assert_eq!(c.run(&[url]).1, "--threads 1 http://example/app/main.js --log-level=warn");
    // No quota, or more than the CPUs in sight: the CPUs in sight.
    c.file("cpu.max", "max 100000\n");
    assert_eq!(c.run(&[url]).1, format!("--threads {cpus} http://example/app/main.js --log-level=warn"));
    c.file("cpu.max", "6400000 100000\n");
    assert_eq!(c.run(&[url]).1, format!("--threads {cpus} http://example/app/main.js --log-level=warn"));
}

#[test]
fn threads_follow_the_cgroup_v1_quota_and_proxy_threads_overrides() {
    let c = Case::new();
    c.file("cpu/cpu.cfs_quota_us", "100000\n").file("cpu/cpu.cfs_period_us", "100000\n");
    let cfg = ("PIPY_CONFIG_FILE", "/app/main.js");
    assert_eq!(c.run(&[cfg]).1, "--threads 1 /app/main.js --log-level=warn");
    c.file("cpu/cpu.cfs_quota_us", "-1\n");
    assert_eq!(c.run(&[cfg]).1, format!("--threads {} /app/main.js --log-level=warn", visible_cpus()));
    assert_eq!(c.run(&[cfg, ("PROXY_THREADS", "4")]).1, "--threads 4 /app/main.js --log-level=warn");
    // PROXY_CONFIG_FILE wins over PIPY_CONFIG_FILE.
    assert_eq!(
        c.run(&[cfg, ("PROXY_CONFIG_FILE", "/b.js"), ("PROXY_THREADS", "2")]).1,
        "--threads 2 /b.js --log-level=warn"
    );
}

#[test]
fn without_a_config_file_it_says_what_to_set() {
    let (code, out, err) = Case::new().run(&[]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("set PROXY_CONFIG_FILE"), "{err}");
}
