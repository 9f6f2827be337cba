//! Admission of one hook, and executing exactly the file that was admitted.
//!
//! [`admit`] resolves a hook's path itself, one component at a time with `openat(O_PATH |
//! O_NOFOLLOW)` from `/`, following symlinks by reading them, so that it sees every directory
//! a name is looked up in: the directories of the listed path, of every symlink on the way and
//! of the final file. It checks each of them and the final file on the open descriptors
//! (`fstat`), never by name, and keeps the final file open. [`Admitted::spawn`] then executes
//! that descriptor, so a file swapped in after the check (a rename in a directory someone else
//! controls) is never what runs.
//!
//! This is the only place that decides whether a file may run as a hook and the only place
//! that starts one; discovery (`ListHooks`, the dry run) asks the same [`admit`] so that what is
//! listed is what runs.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::{FileType, Mode, OFlags, Stat, CWD};
use rustix::io::FdFlags;
use tokio::process::{Child, Command};

/// Most symlinks followed while resolving one hook (the kernel's own limit, `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// `S_IWGRP | S_IWOTH`.
const MODE_GROUP_OTHER_WRITE: u32 = 0o022;
/// `S_ISUID | S_ISGID`.
const MODE_SET_ID: u32 = 0o6000;
/// `S_ISVTX`, the sticky bit.
const MODE_STICKY: u32 = 0o1000;

/// Why a file is not run as a hook.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Skip {
    /// The name starts with `.`.
    Dotfile,
    /// An editor or package-manager leftover (`~`, `.dpkg-*`, `.rpmnew`, …).
    Backup,
    /// A directory (or a symlink to one).
    Directory,
    /// A symlink to `/dev/null` (or the null device itself): the administrator masked the hook.
    Masked,
    /// A symlink whose target does not exist (or cannot be examined, or a symlink loop).
    Dangling,
    /// Not a regular file (FIFO, socket, device).
    NotRegular,
    /// An empty file (nothing to execute; `execve` would fail with `ENOEXEC`).
    Empty,
    /// The daemon may not execute it (no execute permission for the daemon's user).
    NotExecutable,
    /// Ownership is enforced and the file is not owned by root.
    NotOwnedByRoot {
        /// The owner.
        uid: u32,
    },
    /// Ownership is enforced and the file is writable by group or others.
    Writable,
    /// Ownership is enforced and the file is setuid or setgid.
    SetId,
    /// Ownership is enforced and the event directory itself is not owned by root or is
    /// writable by group or others: anyone able to write there could plant a symlink to any
    /// root-owned program, so nothing in it is run.
    UnsafeDirectory,
    /// The daemon lacked the resources to examine it (`EMFILE`, `ENFILE`, `ENOMEM`): not a
    /// verdict on the file, so discovery reports it as an error rather than a skip.
    Exhausted {
        /// The error number.
        errno: i32,
    },
    /// Ownership is enforced and a directory the path (or a symlink on it) is looked up in is
    /// not owned by root or is writable by group or others (or is a shared sticky directory
    /// whose entry on the path is not root's): whoever can write there could swap the file.
    UnsafePath {
        /// The first such directory.
        dir: PathBuf,
    },
}

impl Skip {
    /// Whether the administrator should hear about it: silent skips are deliberate conventions
    /// (masks, backups, dotfiles, subdirectories); the others are most likely mistakes.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Skip::Dotfile | Skip::Backup | Skip::Directory | Skip::Masked
        )
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Dotfile => f.write_str("hidden file"),
            Skip::Backup => f.write_str("backup or package-manager file"),
            Skip::Directory => f.write_str("directory"),
            Skip::Masked => f.write_str("masked (symlink to /dev/null)"),
            Skip::Dangling => f.write_str("dangling symlink or unreadable file"),
            Skip::NotRegular => f.write_str("not a regular file"),
            Skip::Empty => f.write_str("empty file"),
            Skip::NotExecutable => f.write_str("not executable"),
            Skip::NotOwnedByRoot { uid } => write!(f, "not owned by root (owner uid {uid})"),
            Skip::Writable => f.write_str("writable by group or others"),
            Skip::SetId => f.write_str("setuid or setgid"),
            Skip::UnsafeDirectory => {
                f.write_str("hook directory not owned by root or writable by group or others")
            }
            Skip::Exhausted { errno } => write!(
                f,
                "cannot be examined: {}",
                io::Error::from_raw_os_error(*errno)
            ),
            Skip::UnsafePath { dir } => write!(
                f,
                "directory {} on its resolved path is not owned by root or is writable by group or others",
                dir.display()
            ),
        }
    }
}

/// A hook that passed admission: its final file, open. Dropping it closes the file.
#[derive(Debug)]
pub struct Admitted {
    /// The final file, opened `O_PATH` (it needs no read permission, and opening it runs
    /// nothing: a FIFO does not block, a device is not touched).
    fd: OwnedFd,
    /// The path as listed.
    path: PathBuf,
    /// Where it resolved to.
    resolved: PathBuf,
}

impl Admitted {
    /// The path as listed (what the journal and `HooksCompleted` show).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file the listed path resolved to when it was admitted.
    pub fn resolved(&self) -> &Path {
        &self.resolved
    }

    /// Start the admitted file. `configure` sets everything but the program (environment,
    /// standard streams, working directory, process group); `argv[0]` is the listed path.
    ///
    /// The program is `/proc/self/fd/N`, N being the admitted descriptor, inherited by the
    /// child: the kernel resolves that magic link to the open file itself, not to a name, so
    /// the file executed is the file checked. For a `#!` script the kernel hands the
    /// interpreter `/proc/self/fd/N` as the script's name, which the interpreter can only open
    /// while N is still open in it, so N must not be close-on-exec in the child (it stays open
    /// in the hook: an `O_PATH` descriptor of a file the hook may read anyway). This is also why
    /// `execveat(fd, "", AT_EMPTY_PATH)`/`fexecve` would not help: with a close-on-exec
    /// descriptor a script fails with `ENOENT`, so either way the descriptor is inherited.
    ///
    /// The daemon forbids `unsafe`, so the close-on-exec flag cannot be cleared in the child
    /// between `fork` and `exec` (`pre_exec`). It is cleared in the parent instead, for the
    /// moment of the spawn, under a lock that every hook spawn takes: no other hook can be
    /// forked while this descriptor is inheritable, and hooks are the only processes the daemon
    /// starts.
    pub fn spawn(self, configure: impl FnOnce(&mut Command)) -> io::Result<Child> {
        let mut command = Command::new(format!("/proc/self/fd/{}", self.fd.as_raw_fd()));
        command.arg0(&self.path);
        configure(&mut command);
        let _spawning = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        rustix::io::fcntl_setfd(&self.fd, FdFlags::empty())?;
        let spawned = command.spawn();
        // The descriptor is closed when `self` drops below; restoring the flag first only
        // matters if that ever changes.
        let _ = rustix::io::fcntl_setfd(&self.fd, FdFlags::CLOEXEC);
        drop(command);
        spawned
    }
}

/// Held while a hook's descriptor is inheritable; see [`Admitted::spawn`].
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

/// Decide whether `path` may run as a hook and, when it may, open the file that will run.
///
/// Always: the final file must be a non-empty regular file the daemon's user may execute;
/// a symlink to `/dev/null` is a mask; a directory is skipped. With `enforce_ownership`
/// (always, in the daemon) also: every directory a name is looked up in while resolving the
/// path, symlinks included, is owned by root and not writable by group or others, or is a
/// root-owned sticky directory (like `/tmp`) and the entry looked up in it is owned by root
/// (only its owner and root may rename or remove it there); and the final file is owned by
/// root, not writable by group or others, and neither setuid nor setgid.
pub fn admit(path: &Path, enforce_ownership: bool) -> Result<Admitted, Skip> {
    let resolved = resolve(path, enforce_ownership)?;
    let Resolved {
        fd,
        path: resolved_path,
        stat,
        unsafe_dir,
    } = resolved;
    let file_type = FileType::from_raw_mode(stat.st_mode);
    if file_type == FileType::Directory {
        return Err(Skip::Directory);
    }
    if file_type == FileType::CharacterDevice
        && rustix::fs::major(stat.st_rdev) == 1
        && rustix::fs::minor(stat.st_rdev) == 3
    {
        return Err(Skip::Masked);
    }
    if let Some(dir) = unsafe_dir {
        return Err(Skip::UnsafePath { dir });
    }
    if file_type != FileType::RegularFile {
        return Err(Skip::NotRegular);
    }
    if stat.st_size == 0 {
        return Err(Skip::Empty);
    }
    if enforce_ownership {
        check_file(&stat)?;
    }
    // access(2) answers for the daemon's own user, so a non-root daemon refuses a root-only
    // script here instead of failing at exec; for root it still requires an execute bit. Asked
    // through the open descriptor's magic link, so it is about the same file.
    let by_fd = format!("/proc/self/fd/{}", fd.as_raw_fd());
    if rustix::fs::accessat(
        CWD,
        by_fd.as_str(),
        rustix::fs::Access::EXEC_OK,
        rustix::fs::AtFlags::empty(),
    )
    .is_err()
    {
        return Err(Skip::NotExecutable);
    }
    Ok(Admitted {
        fd,
        path: path.to_path_buf(),
        resolved: resolved_path,
    })
}

/// The skip for a failed look-up: a missing or unreachable file is dangling, but running out
/// of descriptors or memory says nothing about the file.
fn unexaminable(errno: rustix::io::Errno) -> Skip {
    use rustix::io::Errno;
    if [Errno::MFILE, Errno::NFILE, Errno::NOMEM].contains(&errno) {
        Skip::Exhausted {
            errno: errno.raw_os_error(),
        }
    } else {
        Skip::Dangling
    }
}

/// The ownership rules of the final file.
fn check_file(stat: &Stat) -> Result<(), Skip> {
    if stat.st_uid != 0 {
        return Err(Skip::NotOwnedByRoot { uid: stat.st_uid });
    }
    if stat.st_mode & MODE_GROUP_OTHER_WRITE != 0 {
        return Err(Skip::Writable);
    }
    if stat.st_mode & MODE_SET_ID != 0 {
        return Err(Skip::SetId);
    }
    Ok(())
}

/// Whether names in a directory with this status can only be changed by root: it is root's
/// and nobody else may write to it. `Some(true)`: safe only for entries owned by root (a
/// shared sticky directory such as `/tmp`).
fn dir_safety(stat: &Stat) -> Option<bool> {
    if stat.st_uid != 0 {
        return None;
    }
    if stat.st_mode & MODE_GROUP_OTHER_WRITE == 0 {
        Some(false)
    } else if stat.st_mode & MODE_STICKY != 0 {
        Some(true)
    } else {
        None
    }
}

/// The end of a resolution: the final file, open.
struct Resolved {
    fd: OwnedFd,
    path: PathBuf,
    stat: Stat,
    /// With ownership enforced, the first directory on the way that is not safe. The walk goes
    /// on past it only to classify the final file (a mask stays a mask); nothing is run then.
    unsafe_dir: Option<PathBuf>,
}

/// The directory the walk is in.
struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    stat: Stat,
}

impl Dir {
    fn root() -> Result<Dir, Skip> {
        let fd = rustix::fs::openat(
            CWD,
            "/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(unexaminable)?;
        let stat = rustix::fs::fstat(&fd).map_err(unexaminable)?;
        Ok(Dir {
            fd,
            path: PathBuf::from("/"),
            stat,
        })
    }
}

/// Resolve `path` component by component (see the module documentation).
fn resolve(path: &Path, enforce: bool) -> Result<Resolved, Skip> {
    let absolute = std::path::absolute(path).map_err(|_| Skip::Dangling)?;
    let mut pending: VecDeque<Vec<u8>> = VecDeque::new();
    for component in absolute.components() {
        match component {
            Component::Normal(name) => pending.push_back(name.as_bytes().to_vec()),
            Component::ParentDir => pending.push_back(b"..".to_vec()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let mut dir = Dir::root()?;
    let mut unsafe_dir: Option<PathBuf> = None;
    let mut links = 0;
    let note_unsafe = |unsafe_dir: &mut Option<PathBuf>, dir: &Path| {
        if enforce && unsafe_dir.is_none() {
            *unsafe_dir = Some(dir.to_path_buf());
        }
    };
    while let Some(name) = pending.pop_front() {
        // A name is about to be looked up in `dir`: whoever can write there chooses what it is.
        let sticky_only = dir_safety(&dir.stat);
        if sticky_only.is_none() {
            note_unsafe(&mut unsafe_dir, &dir.path);
        }
        let fd = rustix::fs::openat(
            &dir.fd,
            name.as_slice(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(unexaminable)?;
        let stat = rustix::fs::fstat(&fd).map_err(unexaminable)?;
        if sticky_only == Some(true) && stat.st_uid != 0 {
            note_unsafe(&mut unsafe_dir, &dir.path);
        }
        let entry_path = if name == b".." {
            dir.path.parent().unwrap_or(Path::new("/")).to_path_buf()
        } else {
            dir.path.join(std::ffi::OsStr::from_bytes(&name))
        };
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Skip::Dangling);
                }
                let target = rustix::fs::readlinkat(&fd, "", Vec::new())
                    .map_err(unexaminable)?
                    .into_bytes();
                for part in target.split(|&b| b == b'/').rev() {
                    if !part.is_empty() && part != b"." {
                        pending.push_front(part.to_vec());
                    }
                }
                if target.first() == Some(&b'/') {
                    dir = Dir::root()?;
                }
            }
            FileType::Directory => {
                dir = Dir {
                    fd,
                    path: entry_path,
                    stat,
                };
            }
            _ if pending.is_empty() => {
                return Ok(Resolved {
                    fd,
                    path: entry_path,
                    stat,
                    unsafe_dir,
                });
            }
            // A file in the middle of a path: ENOTDIR.
            _ => return Err(Skip::Dangling),
        }
    }
    // The path ends in a directory.
    Ok(Resolved {
        fd: dir.fd,
        path: dir.path,
        stat: dir.stat,
        unsafe_dir,
    })
}

#[cfg(test)]
mod tests;
