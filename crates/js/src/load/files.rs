//! Where a codebase's files come from: a folder on disk, or a URL. For a URL the
//! binary supplies the fetching (this crate knows scripts, not HTTP); files
//! fetched once are kept, so every worker and every `pipy.load` of a version sees
//! the same bytes, and a reload starts from a fresh `RemoteFiles`. Every file a
//! load reads is noted (`codebase_files`), so that a watcher reloads for those.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Fetches the file at a URL: its bytes, `Ok(None)` if there is no such file, or
/// an error saying why it could not be fetched.
pub type Fetch = dyn Fn(&str) -> Result<Option<Vec<u8>>, String> + Send + Sync;

/// The files of a codebase served over HTTP.
pub struct RemoteFiles {
    base: String,
    entry: String,
    fetch: Arc<Fetch>,
    cache: Mutex<HashMap<String, Option<Vec<u8>>>>,
}

impl RemoteFiles {
    /// The codebase under `base` (a URL ending in `/`) whose main script is
    /// `entry`, with files already fetched (`known`, by path under `base`).
    pub fn new(base: String, entry: String, known: HashMap<String, Vec<u8>>, fetch: Arc<Fetch>) -> RemoteFiles {
        let cache = known.into_iter().map(|(k, v)| (k, Some(v))).collect();
        RemoteFiles { base, entry, fetch, cache: Mutex::new(cache) }
    }

    /// The URL the codebase's paths are relative to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The main script's path under `base`.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The file at `path` under `base`, fetched the first time it is asked for.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        if let Some(known) = self.cache.lock().map_err(|_| "codebase cache poisoned")?.get(path) {
            return Ok(known.clone());
        }
        let fetched = (self.fetch)(&format!("{}{path}", self.base))?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(path.to_string(), fetched.clone());
        }
        Ok(fetched)
    }

    /// The file at `path` if it was fetched already; never fetches.
    pub fn cached(&self, path: &str) -> Option<Vec<u8>> {
        self.cache.lock().ok()?.get(path).cloned().flatten()
    }

    /// Every file fetched so far (for noticing changes).
    pub fn fetched(&self) -> Vec<(String, Option<Vec<u8>>)> {
        self.cache.lock().map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }
}

/// Where files are read from.
#[derive(Clone)]
pub enum Files {
    /// A folder.
    Dir(PathBuf),
    /// A URL.
    Remote(Arc<RemoteFiles>),
}

/// A path inside a codebase, as the codebase's files are keyed: `a/./b`, `/a/b`
/// and `./a/b` are all `a/b`, and `a/../b` is `b`. Refused, with the reason: a
/// `..` that climbs out of the codebase, and anything a server or a file system
/// might read as a dot segment or a separator later (`%2e%2e`, `%2f`, `\`, NUL).
pub fn codebase_path(path: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.trim().split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("'{path}' is outside the codebase"));
                }
            }
            seg => {
                if seg.contains(['\\', '\0']) {
                    return Err(format!("'{path}' has a backslash or a NUL in it"));
                }
                if seg.contains('%') {
                    let decoded = percent_decoded(seg);
                    if decoded == "." || decoded == ".." || decoded.contains(['/', '\\', '\0']) {
                        return Err(format!("'{path}' has an encoded dot segment or separator in it"));
                    }
                }
                parts.push(seg);
            }
        }
    }
    Ok(parts.join("/"))
}

/// `%xx` escapes decoded (others kept as they are), for telling what a segment means.
fn percent_decoded(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Files {
    /// The bytes of `path`: `Ok(None)` if there is no such file, an error if the
    /// path leads outside the codebase (for a folder, after following symlinks).
    /// Once the script has loaded (`loaded`), a URL codebase answers only from
    /// what it fetched while loading: a fetch would block the worker.
    pub fn read(&self, path: &str, loaded: bool) -> Result<Option<Vec<u8>>, String> {
        let path = codebase_path(path)?;
        match self {
            Files::Dir(root) => {
                let file = root.join(&path);
                // What loading reads is what a change must reload; a running
                // script reads the file afresh each time anyway.
                if !loaded {
                    note_read(&file);
                }
                let Ok(real) = std::fs::canonicalize(&file) else { return Ok(None) };
                let real_root = std::fs::canonicalize(if root.as_os_str().is_empty() { Path::new(".") } else { root })
                    .map_err(|e| format!("cannot open the codebase folder {}: {e}", root.display()))?;
                if !real.starts_with(&real_root) {
                    return Err(format!("'{path}' leads outside the codebase (to {})", real.display()));
                }
                Ok(std::fs::read(real).ok())
            }
            Files::Remote(r) if loaded => {
                let found = r.cached(&path);
                if found.is_none() {
                    tracing::warn!(
                        "{}{path} was not fetched while the script loaded; a running script cannot fetch it",
                        r.base()
                    );
                }
                Ok(found)
            }
            Files::Remote(r) => match r.read(&path) {
                Ok(found) => Ok(found),
                Err(e) => {
                    tracing::warn!("cannot fetch {}{path}: {e}", r.base());
                    Ok(None)
                }
            },
        }
    }

    /// How errors and logs name `path`.
    pub fn display(&self, path: &str) -> String {
        match self {
            Files::Dir(root) => root.join(path).display().to_string(),
            Files::Remote(r) => format!("{}{path}", r.base()),
        }
    }
}

/// Every codebase file any load on any worker has read (or tried to), so that a
/// watcher reloads for those and not for, say, a log file in the same folder.
static READ: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Notes that the codebase uses `path`.
pub fn note_read(path: &std::path::Path) {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if let Ok(mut read) = READ.lock() {
        read.insert(path);
    }
}

/// Every codebase file a load has read (or tried to read).
pub fn codebase_files() -> Vec<PathBuf> {
    READ.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default()
}

/// True if a load has read (or tried to read) `path`.
pub fn is_codebase_file(path: &std::path::Path) -> bool {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    READ.lock().map(|r| r.contains(&path)).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codebase_paths_stay_inside_the_codebase() {
        assert_eq!(codebase_path("plugins/a.js").unwrap(), "plugins/a.js");
        assert_eq!(codebase_path("/plugins/./a.js").unwrap(), "plugins/a.js");
        assert_eq!(codebase_path("./x/../plugins//a.js").unwrap(), "plugins/a.js");
        assert_eq!(codebase_path("%41.js").unwrap(), "%41.js");
        for bad in ["../x", "a/../../x", "/../etc/passwd", "%2e%2e/x", ".%2E/x", "a/%2F..", "a\\..\\b", "%2e"] {
            assert!(codebase_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_symlink_out_of_the_folder_is_refused() {
        let base = std::env::temp_dir().join(format!("proxy-files-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(base.join("secret"), "s").unwrap();
        std::fs::write(root.join("sub/inside"), "i").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(base.join("secret"), root.join("out")).unwrap();
            std::os::unix::fs::symlink("sub/inside", root.join("in")).unwrap();
        }
        let files = Files::Dir(root.clone());
        assert_eq!(files.read("in", true).unwrap().as_deref(), Some(&b"i"[..]));
        assert!(files.read("out", true).unwrap_err().contains("outside the codebase"));
        assert!(files.read("../secret", true).unwrap_err().contains("outside the codebase"));
        assert_eq!(files.read("missing", true).unwrap(), None);
        let _ = std::fs::remove_dir_all(&base);
    }
}
