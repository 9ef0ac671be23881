//! Codebases served over HTTP. `proxy http://host/app/main.js` runs that script,
//! and the files it names (`pipy.load`, `pipy.solve`, `chain`) are fetched next to
//! it. `proxy http://host/app/` reads a manifest, Pipy's format: a body of paths,
//! one per line, each starting with `/`, the first being the main script. Every
//! poll interval the codebase is fetched again; if any file differs, the new
//! version replaces the current one and the workers reload.

use proxy_js::{Fetch, RemoteFiles};
use std::collections::HashMap;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// True if `target` names a codebase on an HTTP server.
pub fn is_url(target: &str) -> bool {
    target.starts_with("http://") || target.starts_with("https://")
}

/// A fetcher with bounded timeouts.
pub fn fetcher() -> Arc<Fetch> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout_read(Duration::from_secs(10))
        .timeout_write(Duration::from_secs(10))
        .build();
    Arc::new(move |url: &str| match agent.get(url).call() {
        Ok(resp) => {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut resp.into_reader().take(64 << 20), &mut body)
                .map_err(|e| format!("reading the body: {e}"))?;
            Ok(Some(body))
        }
        Err(ureq::Error::Status(404, _)) => Ok(None),
        Err(ureq::Error::Status(code, resp)) => Err(format!("HTTP {code} {}", resp.status_text())),
        Err(e) => Err(e.to_string()),
    })
}

/// A manifest is a list of paths: lines starting with `/` (not a `//` comment)
/// without spaces.
fn manifest(body: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(body).ok()?;
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let is_path = |l: &&str| l.starts_with('/') && !l.starts_with("//") && !l.starts_with("/*") && !l.contains(' ');
    if lines.is_empty() || !lines.iter().all(is_path) {
        return None;
    }
    Some(lines.iter().map(|l| l.trim_start_matches('/').to_string()).collect())
}

/// Fetches the codebase at `url` now.
pub fn snapshot(url: &str, fetch: &Arc<Fetch>) -> Result<RemoteFiles, String> {
    let Some(slash) = url.rfind('/').filter(|&i| i > url.find("://").map_or(0, |s| s + 2)) else {
        return Err(format!("{url}: a codebase URL needs a path, like http://host/app/ or http://host/app/main.js"));
    };
    let base = url[..=slash].to_string();
    let body = fetch(url).map_err(|e| format!("cannot fetch {url}: {e}"))?;
    let body = body.ok_or_else(|| format!("cannot fetch {url}: no such file (404)"))?;
    let mut known = HashMap::new();
    let entry = match manifest(&body) {
        Some(paths) => {
            for path in &paths {
                if let Err(why) = proxy_js::codebase_path(path) {
                    return Err(format!("{url} lists {path}, which cannot be fetched: {why}"));
                }
                let file = format!("{base}{path}");
                match fetch(&file) {
                    Ok(Some(bytes)) => {
                        known.insert(path.clone(), bytes);
                    }
                    Ok(None) => return Err(format!("cannot fetch {file} (listed in {url}): no such file (404)")),
                    Err(e) => return Err(format!("cannot fetch {file} (listed in {url}): {e}")),
                }
            }
            paths[0].clone()
        }
        None => {
            let entry = url[slash + 1..].to_string();
            if entry.is_empty() {
                return Err(format!("{url} is neither a script nor a manifest (lines like /main.js)"));
            }
            known.insert(entry.clone(), body);
            entry
        }
    };
    Ok(RemoteFiles::new(base, entry, known, fetch.clone()))
}

/// Every file's bytes, by path.
fn contents(files: &RemoteFiles) -> HashMap<String, Option<Vec<u8>>> {
    files.fetched().into_iter().collect()
}

/// Polls `url` every `interval`: when the codebase differs from `current`, makes
/// the new version current and sends `url` on `changed`.
pub fn poll(
    url: String,
    fetch: Arc<Fetch>,
    current: Arc<Mutex<Arc<RemoteFiles>>>,
    interval: Duration,
    changed: UnboundedSender<String>,
) {
    std::thread::Builder::new()
        .name("codebase-poll".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            if changed.is_closed() {
                return;
            }
            let Ok(running) = current.lock().map(|c| c.clone()) else { return };
            let fresh = match snapshot(&url, &fetch) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!("[codebase] {e}; the running version stays");
                    continue;
                }
            };
            // Files the running version fetched as it loaded (pipy.load, chain)
            // are fetched again too, so a change to any of them is seen.
            for (path, _) in running.fetched() {
                let _ = fresh.read(&path);
            }
            if contents(&fresh) != contents(&running) {
                if let Ok(mut c) = current.lock() {
                    *c = Arc::new(fresh);
                }
                let _ = changed.send(url.clone());
            }
        })
        .map(drop)
        .unwrap_or_else(|e| tracing::error!("cannot start polling {e}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_path_lists_and_scripts_starting_with_comments_are_not() {
        assert_eq!(manifest(b"/main.js\n/plugins/a.js\n"), Some(vec!["main.js".into(), "plugins/a.js".into()]));
        assert_eq!(manifest(b"// a script\npipy()\n"), None);
        assert_eq!(manifest(b"/* a script */ pipy()"), None);
        assert_eq!(manifest(b"pipy().listen(8080)"), None);
        assert_eq!(manifest(b""), None);
    }

    #[test]
    fn a_url_without_a_path_is_refused() {
        let fetch: Arc<Fetch> = Arc::new(|_: &str| Ok(None));
        assert!(snapshot("http://host", &fetch).err().unwrap().contains("needs a path"));
        assert!(snapshot("http://host/app/main.js", &fetch).err().unwrap().contains("no such file"));
    }
}
