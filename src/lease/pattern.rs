//! Lease file paths as configured (`Network.LeaseFiles`): an absolute path whose file name may
//! hold one `*`, e.g. `/var/lib/dhcp/dhclient.*.leases`. One type checks them for the
//! configuration and matches directory entries for the source, so the two cannot disagree.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// A configured lease file path, checked: its directory and a file-name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePattern {
    dir: PathBuf,
    /// The file name, or the part before its `*`.
    prefix: String,
    /// The part after the `*`; `None` for a plain file name.
    suffix: Option<String>,
}

/// Why a path is not a valid lease file path. `Display` completes "invalid lease file path
/// P: ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Relative paths depend on the daemon's working directory, which nobody thinks about.
    #[error("must be an absolute path")]
    NotAbsolute,
    /// NUL cannot be part of a path.
    #[error("must not contain NUL")]
    Nul,
    /// Ends in `/`, `.` or `..`, or is `/`.
    #[error("must name a file, not a directory")]
    NoFileName,
    /// Directories are watched as named; a glob there would need a recursive search.
    #[error("`*` is only allowed in the file name")]
    GlobInDirectory,
    /// `a*b*c` would need a real glob engine for no known use.
    #[error("only one `*` is allowed")]
    TwoGlobs,
    /// Only UTF-8 paths can be configured (the file is YAML).
    #[error("must be UTF-8")]
    NotUtf8,
}

impl FilePattern {
    /// Checks `path`: absolute, naming a file, with at most one `*` and only in the file name.
    /// `?`, `[` and the like have no special meaning.
    pub fn new(path: &Path) -> Result<Self, PatternError> {
        let text = path.to_str().ok_or(PatternError::NotUtf8)?;
        if !text.starts_with('/') {
            return Err(PatternError::NotAbsolute);
        }
        if text.contains('\0') {
            return Err(PatternError::Nul);
        }
        // `Path` normalises a trailing `/` or `/.` away (`/var/lib/dhcp/` has the file name
        // `dhcp`), so look at the text's last segment.
        let last = text.rsplit('/').next().unwrap_or("");
        let name = match path.file_name().and_then(OsStr::to_str) {
            Some(name) if name == last && !matches!(last, "" | "." | "..") => name,
            _ => return Err(PatternError::NoFileName),
        };
        let dir = path.parent().ok_or(PatternError::NoFileName)?;
        if dir.to_str().is_some_and(|d| d.contains('*')) {
            return Err(PatternError::GlobInDirectory);
        }
        let (prefix, suffix) = match name.split_once('*') {
            None => (name.to_owned(), None),
            Some((_, after)) if after.contains('*') => return Err(PatternError::TwoGlobs),
            Some((before, after)) => (before.to_owned(), Some(after.to_owned())),
        };
        Ok(FilePattern {
            dir: dir.to_path_buf(),
            prefix,
            suffix,
        })
    }

    /// The directory the files are in (watched, not searched recursively).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The one file this names, if it has no `*`.
    pub fn exact(&self) -> Option<PathBuf> {
        match self.suffix {
            None => Some(self.dir.join(&self.prefix)),
            Some(_) => None,
        }
    }

    /// Whether a directory entry called `name` is one of the files. `*` matches any run of
    /// bytes, also an empty one, as in the shell; names that are not UTF-8 are compared as
    /// bytes.
    pub fn matches(&self, name: &OsStr) -> bool {
        let name = name.as_encoded_bytes();
        match &self.suffix {
            None => name == self.prefix.as_bytes(),
            Some(suffix) => {
                name.len() >= self.prefix.len() + suffix.len()
                    && name.starts_with(self.prefix.as_bytes())
                    && name.ends_with(suffix.as_bytes())
            }
        }
    }

    /// Whether `path` (as the watcher reports it) is one of the files.
    pub fn matches_path(&self, path: &Path) -> bool {
        path.parent() == Some(self.dir.as_path())
            && path.file_name().is_some_and(|n| self.matches(n))
    }
}

impl fmt::Display for FilePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match &self.suffix {
            None => self.prefix.clone(),
            Some(suffix) => format!("{}*{suffix}", self.prefix),
        };
        write!(f, "{}", self.dir.join(name).display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> Result<FilePattern, PatternError> {
        FilePattern::new(Path::new(s))
    }

    #[test]
    fn valid_paths() {
        let p = pattern("/var/lib/dhcp/dhclient.*.leases").unwrap();
        assert_eq!(p.dir(), Path::new("/var/lib/dhcp"));
        assert_eq!(p.exact(), None);
        assert_eq!(p.to_string(), "/var/lib/dhcp/dhclient.*.leases");
        for yes in [
            "dhclient.eth0.leases",
            "dhclient..leases",
            "dhclient.a.b.leases",
        ] {
            assert!(p.matches(OsStr::new(yes)), "{yes}");
        }
        for no in [
            "dhclient.leases",
            "dhclient.eth0.leases~",
            "dhclient6.eth0.leases",
            ".dhclient.eth0.leases",
            "dhclient.eth0.leases.tmp",
        ] {
            assert!(!p.matches(OsStr::new(no)), "{no}");
        }
        assert!(p.matches_path(Path::new("/var/lib/dhcp/dhclient.x.leases")));
        assert!(!p.matches_path(Path::new("/var/lib/dhcp/sub/dhclient.x.leases")));
        assert!(!p.matches_path(Path::new("/var/lib/dhcp")));

        let p = pattern("/var/lib/dhcp/dhclient.leases").unwrap();
        assert_eq!(
            p.exact(),
            Some(PathBuf::from("/var/lib/dhcp/dhclient.leases"))
        );
        assert!(p.matches(OsStr::new("dhclient.leases")));
        assert!(!p.matches(OsStr::new("dhclient.leases2")));

        let p = pattern("/leases/*").unwrap();
        assert!(p.matches(OsStr::new("anything")));
        assert_eq!(p.dir(), Path::new("/leases"));
        // Other glob characters are plain characters.
        assert!(pattern("/a/b?[c]").unwrap().matches(OsStr::new("b?[c]")));
    }

    #[test]
    fn invalid_paths() {
        for (path, error) in [
            ("dhclient.leases", PatternError::NotAbsolute),
            ("./dhclient.leases", PatternError::NotAbsolute),
            ("", PatternError::NotAbsolute),
            ("/a/b\0", PatternError::Nul),
            ("/", PatternError::NoFileName),
            ("/var/lib/dhcp/", PatternError::NoFileName),
            ("/var/lib/dhcp/..", PatternError::NoFileName),
            ("/var/lib/dhcp/.", PatternError::NoFileName),
            ("/var/lib/*/dhclient.leases", PatternError::GlobInDirectory),
            ("/var/lib/dhcp/*.*", PatternError::TwoGlobs),
        ] {
            assert_eq!(pattern(path), Err(error), "{path:?}");
        }
    }
}
