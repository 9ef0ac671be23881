//! Where a codebase's files come from: a folder on disk, or a URL. For a URL the
//! binary supplies the fetching (this crate knows scripts, not HTTP); files
//! fetched once are kept, so every worker and every `pipy.load` of a version sees
//! the same bytes, and a reload starts from a fresh `RemoteFiles`.

use std::collections::HashMap;
use std::path::PathBuf;
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

impl Files {
    /// The bytes of `path` (already normalized), `None` if there is no such file.
    /// Once the script has loaded (`loaded`), a URL codebase answers only from
    /// what it fetched while loading: a fetch would block the worker.
    pub fn read(&self, path: &str, loaded: bool) -> Option<Vec<u8>> {
        match self {
            Files::Dir(root) => {
                let file = root.join(path);
                // What loading reads is what a change must reload; a running
                // script reads the file afresh each time anyway.
                if !loaded {
                    crate::module::note_read(&file);
                }
                std::fs::read(file).ok()
            }
            Files::Remote(r) if loaded => {
                let found = r.cached(path);
                if found.is_none() {
                    tracing::warn!(
                        "{}{path} was not fetched while the script loaded; a running script cannot fetch it",
                        r.base()
                    );
                }
                found
            }
            Files::Remote(r) => match r.read(path) {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!("cannot fetch {}{path}: {e}", r.base());
                    None
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
