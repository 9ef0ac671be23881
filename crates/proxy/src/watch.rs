//! Watching a local codebase: a change to a file the script has read (its modules,
//! files given to `pipy.load`) asks for a reload; other files (a log file next to
//! the script, say) do not. Only the folders holding such files are watched, each
//! on its own (a script in a home folder must not watch the whole tree): the main
//! script's folder from the start, the others as loads read files in them
//! (`refresh`). Events come from the OS (inotify) on a thread of `notify`'s and are
//! passed on as the changed file's name; the controller waits for them to settle
//! before reloading.

use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::UnboundedSender;

/// Keeps the watch going while alive.
pub struct CodebaseWatch {
    watcher: notify::RecommendedWatcher,
    folders: BTreeSet<PathBuf>,
}

/// Starts watching the folder of the main script `root`; each change to a file
/// of the codebase sends its name (relative to `root`).
pub fn watch(root: &Path, changes: UnboundedSender<String>) -> notify::Result<CodebaseWatch> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let root_for_names: PathBuf = root.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !(event.kind.is_modify() || event.kind.is_create() || event.kind.is_remove()) {
            return;
        }
        for path in event.paths {
            if proxy_js::is_codebase_file(&path) {
                let _ = changes.send(path.strip_prefix(&root_for_names).unwrap_or(&path).display().to_string());
            }
        }
    })?;
    let mut w = CodebaseWatch { watcher, folders: BTreeSet::new() };
    w.add(root)?;
    Ok(w)
}

impl CodebaseWatch {
    fn add(&mut self, folder: PathBuf) -> notify::Result<()> {
        if !self.folders.contains(&folder) {
            self.watcher.watch(&folder, RecursiveMode::NonRecursive)?;
            self.folders.insert(folder);
        }
        Ok(())
    }

    /// Watches the folders of every codebase file read so far.
    pub fn refresh(&mut self) {
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
