//! Watching a local codebase: a change to a file the script has read (its modules,
//! files given to `pipy.load`) asks for a reload; other files (a log file next to
//! the script, say) do not. A change may also come through a symlink the file is
//! reached by: a Kubernetes ConfigMap volume updates by swapping its `..data`
//! link, so the files' own names see no event. Any other event in a watched
//! folder therefore compares what each codebase file now resolves to (its real
//! path, size and modification time) with what it resolved to before. Only the folders holding such files are watched, each
//! on its own (a script in a home folder must not watch the whole tree): the main
//! script's folder from the start, the others as loads read files in them
//! (`refresh`). Events come from the OS (inotify) on a thread of `notify`'s and are
//! passed on as the changed file's name; the controller waits for them to settle
//! before reloading.

use notify::{RecursiveMode, Watcher};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::mpsc::UnboundedSender;

/// Keeps the watch going while alive.
pub struct CodebaseWatch {
    watcher: notify::RecommendedWatcher,
    folders: BTreeSet<PathBuf>,
    known: Arc<Mutex<Resolved>>,
}

/// Starts watching the folder of the main script `root`; each change to a file
/// of the codebase sends its name (relative to `root`).
pub fn watch(root: &Path, changes: UnboundedSender<String>) -> notify::Result<CodebaseWatch> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let root_for_names: PathBuf = root.clone();
    let known = Arc::new(Mutex::new(Resolved::default()));
    let k = known.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !(event.kind.is_modify() || event.kind.is_create() || event.kind.is_remove()) {
            return;
        }
        let name = |p: &Path| p.strip_prefix(&root_for_names).unwrap_or(p).display().to_string();
        let mut sent = false;
        for path in &event.paths {
            if proxy_js::is_codebase_file(path) {
                let _ = changes.send(name(path));
                sent = true;
            }
        }
        if !sent {
            // A link or folder on the way to a codebase file may have changed.
            let mut known = k.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(file) = known.changed() {
                let _ = changes.send(name(&file));
            }
        }
    })?;
    let mut w = CodebaseWatch { watcher, folders: BTreeSet::new(), known };
    w.add(root)?;
    Ok(w)
}

/// What each codebase file resolved to when last looked at.
#[derive(Default)]
struct Resolved(HashMap<PathBuf, Option<(PathBuf, u64, Option<SystemTime>)>>);

impl Resolved {
    fn look(path: &Path) -> Option<(PathBuf, u64, Option<SystemTime>)> {
        let real = std::fs::canonicalize(path).ok()?;
        let meta = std::fs::metadata(&real).ok()?;
        Some((real, meta.len(), meta.modified().ok()))
    }

    /// Looks at every codebase file again; the first that resolves differently.
    fn changed(&mut self) -> Option<PathBuf> {
        let mut first = None;
        for file in proxy_js::codebase_files() {
            let now = Self::look(&file);
            match self.0.insert(file.clone(), now.clone()) {
                Some(before) if before != now => first = first.or(Some(file)),
                _ => {}
            }
        }
        first
    }
}

impl CodebaseWatch {
    fn add(&mut self, folder: PathBuf) -> notify::Result<()> {
        if !self.folders.contains(&folder) {
            self.watcher.watch(&folder, RecursiveMode::NonRecursive)?;
            self.folders.insert(folder);
        }
        Ok(())
    }

    /// Watches the folders of every codebase file read so far, and notes what
    /// each resolves to now.
    pub fn refresh(&mut self) {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).changed();
        for file in proxy_js::codebase_files() {
            let Some(folder) = file.parent() else { continue };
            if let Err(e) = self.add(folder.to_path_buf()) {
                tracing::warn!("cannot watch {} ({e}): edits there will not reload", folder.display());
                // Do not try again at every reload.
                self.folders.insert(folder.to_path_buf());
            }
        }
    }
}
