//! A temporary directory for configs, sockets, logs and captures.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// `$TMPDIR/NAME.PID`, removed on drop unless [`WorkDir::keep`] was called or the thread is
/// panicking (a failed test): then it stays for a look and its path is printed.
pub struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    /// Creates the directory, emptying what an earlier process with the same PID left.
    pub fn create(name: &str) -> Result<WorkDir> {
        let path = std::env::temp_dir().join(format!("{name}.{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove the old {}", path.display()))?;
        }
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(WorkDir { path, keep: false })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory when the value is dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep || std::thread::panicking() {
            eprintln!("configs and logs kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
