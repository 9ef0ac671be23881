//! Watching a local codebase: a change to a file the script has read (its modules,
//! files given to `pipy.load`) asks for a reload; other files in the folder (a log
//! file, say) do not. Events come from the OS (inotify) on a thread of `notify`'s
//! and are passed on as the changed file's name; the controller waits for them to
//! settle before reloading.

use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::UnboundedSender;

/// Keeps the watch going while alive.
pub struct CodebaseWatch {
    _watcher: notify::RecommendedWatcher,
}

/// Starts watching `root` (recursively); each change sends the changed path.
pub fn watch(root: &Path, changes: UnboundedSender<String>) -> notify::Result<CodebaseWatch> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let root_for_names: PathBuf = root.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
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
    watcher.watch(&root, RecursiveMode::Recursive)?;
    Ok(CodebaseWatch { _watcher: watcher })
}
