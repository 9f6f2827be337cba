//! A scratch directory under /tmp for one test ([`ScratchDir`]), kept when the test fails.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A directory under /tmp (0755, root's), removed on drop and kept when the test fails.
pub struct ScratchDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl ScratchDir {
    /// A new directory `/tmp/<prefix>XXXXXX`.
    pub fn new(prefix: &str) -> ScratchDir {
        Self::new_in(Path::new("/tmp"), prefix)
    }

    /// A new directory `<parent>/<prefix>XXXXXX`.
    pub fn new_in(parent: &Path, prefix: &str) -> ScratchDir {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(parent)
            .unwrap_or_else(|e| panic!("create a directory in {}: {e}", parent.display()));
        let path = dir.path().to_path_buf();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        ScratchDir {
            dir: Some(dir),
            path,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(d) = self.dir.take() {
                let p = d.keep();
                eprintln!("(test failed: {} kept for inspection)", p.display());
            }
        }
    }
}
