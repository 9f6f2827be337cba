//! Unit tests of `crate::hooks::admit`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::process::Stdio;

use super::*;

/// The ownership rules need root to create files of other owners; without it those tests
/// say so and pass vacuously (the project's tests run as root).
fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A root-owned, 0755 working directory (tempdirs are 0700).
fn tmp() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

fn write(path: &Path, body: &str, mode: u32) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(path: &Path, mode: u32) {
    fs::create_dir(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn skip(path: &Path) -> Option<Skip> {
    admit(path, true).err()
}

#[test]
fn admit_accepts_a_root_owned_script_and_says_where_it_resolved() {
    let tmp = tmp();
    let file = tmp.path().join("hook");
    write(&file, "exit 0", 0o755);
    let link = tmp.path().join("link");
    symlink("hook", &link).unwrap();
    let admitted = admit(&link, true).unwrap();
    assert_eq!(admitted.path(), link);
    assert_eq!(admitted.resolved(), fs::canonicalize(&file).unwrap());
}

#[test]
fn admit_classifies_what_is_not_a_runnable_file() {
    let tmp = tmp();
    let dir = tmp.path();
    mkdir(&dir.join("subdir"), 0o755);
    symlink("subdir", dir.join("to-subdir")).unwrap();
    symlink("/dev/null", dir.join("masked")).unwrap();
    symlink("missing", dir.join("dangling")).unwrap();
    symlink("loop-b", dir.join("loop-a")).unwrap();
    symlink("loop-a", dir.join("loop-b")).unwrap();
    rustix::fs::mknodat(
        CWD,
        dir.join("fifo").as_path(),
        FileType::Fifo,
        Mode::from_raw_mode(0o755),
        0,
    )
    .unwrap();
    fs::write(dir.join("empty"), "").unwrap();
    fs::set_permissions(dir.join("empty"), fs::Permissions::from_mode(0o755)).unwrap();
    write(&dir.join("plain"), "exit 0", 0o644);
    write(&dir.join("file"), "exit 0", 0o755);
    symlink("file/x", dir.join("through-a-file")).unwrap();

    assert_eq!(skip(&dir.join("subdir")), Some(Skip::Directory));
    assert_eq!(skip(&dir.join("to-subdir")), Some(Skip::Directory));
    assert_eq!(skip(&dir.join("masked")), Some(Skip::Masked));
    assert_eq!(skip(&dir.join("dangling")), Some(Skip::Dangling));
    assert_eq!(skip(&dir.join("loop-a")), Some(Skip::Dangling));
    assert_eq!(skip(&dir.join("fifo")), Some(Skip::NotRegular));
    assert_eq!(skip(&dir.join("empty")), Some(Skip::Empty));
    assert_eq!(skip(&dir.join("plain")), Some(Skip::NotExecutable));
    assert_eq!(skip(&dir.join("through-a-file")), Some(Skip::Dangling));
    assert_eq!(skip(&dir.join("file")), None);
}

#[test]
fn running_out_of_descriptors_is_not_a_verdict_on_the_file() {
    use rustix::io::Errno;
    assert_eq!(
        unexaminable(Errno::MFILE),
        Skip::Exhausted {
            errno: Errno::MFILE.raw_os_error()
        }
    );
    assert!(matches!(unexaminable(Errno::NFILE), Skip::Exhausted { .. }));
    assert_eq!(unexaminable(Errno::NOENT), Skip::Dangling);
    assert_eq!(unexaminable(Errno::LOOP), Skip::Dangling);
    assert!(Skip::Exhausted { errno: 24 }
        .to_string()
        .contains("Too many open files"));
}

#[test]
fn admit_refuses_writable_setid_and_foreign_files() {
    let tmp = tmp();
    let dir = tmp.path();
    write(&dir.join("group-w"), "exit 0", 0o775);
    write(&dir.join("world-w"), "exit 0", 0o757);
    write(&dir.join("setuid"), "exit 0", 0o4755);
    write(&dir.join("setgid"), "exit 0", 0o2755);
    assert_eq!(skip(&dir.join("group-w")), Some(Skip::Writable));
    assert_eq!(skip(&dir.join("world-w")), Some(Skip::Writable));
    assert_eq!(skip(&dir.join("setuid")), Some(Skip::SetId));
    assert_eq!(skip(&dir.join("setgid")), Some(Skip::SetId));
    // Without enforcement only the type and the execute permission count.
    for name in ["group-w", "world-w", "setuid", "setgid"] {
        assert!(admit(&dir.join(name), false).is_ok(), "{name}");
    }
    if !is_root() {
        eprintln!("skipping the owner assertion: not running as root");
        return;
    }
    write(&dir.join("nobody"), "exit 0", 0o755);
    chown(dir.join("nobody"), Some(65534), Some(65534)).unwrap();
    assert_eq!(
        skip(&dir.join("nobody")),
        Some(Skip::NotOwnedByRoot { uid: 65534 })
    );
}

#[test]
fn admit_refuses_a_writable_directory_anywhere_on_the_resolved_path() {
    let tmp = tmp();
    let dir = tmp.path();
    // A root-owned directory writable by its group, holding a root-owned 0755 script.
    let shared = dir.join("shared");
    mkdir(&shared, 0o775);
    write(&shared.join("hook"), "exit 0", 0o755);
    // ... reached directly, through a link in a safe directory, and through a link that
    // lives in the writable directory and points back to a safe file.
    let safe = dir.join("safe");
    mkdir(&safe, 0o755);
    write(&safe.join("hook"), "exit 0", 0o755);
    symlink(shared.join("hook"), safe.join("to-shared")).unwrap();
    symlink(safe.join("hook"), shared.join("to-safe")).unwrap();
    symlink(shared.join("to-safe"), safe.join("via-shared")).unwrap();
    let unsafe_shared = Some(Skip::UnsafePath {
        dir: fs::canonicalize(&shared).unwrap(),
    });
    assert_eq!(skip(&shared.join("hook")), unsafe_shared);
    assert_eq!(skip(&safe.join("to-shared")), unsafe_shared);
    assert_eq!(skip(&safe.join("via-shared")), unsafe_shared);
    assert_eq!(skip(&safe.join("hook")), None);
    // A ".." in a link target is resolved by the walk, and checked as it goes.
    symlink("../safe/hook", shared.join("up")).unwrap();
    symlink(shared.join("up"), safe.join("up-via-shared")).unwrap();
    assert_eq!(skip(&safe.join("up-via-shared")), unsafe_shared);
    symlink("../safe/hook", safe.join("up")).unwrap();
    assert_eq!(skip(&safe.join("up")), None);
    // Only with enforcement.
    assert!(admit(&shared.join("hook"), false).is_ok());
}

#[test]
fn admit_refuses_a_directory_owned_by_another_user() {
    if !is_root() {
        eprintln!("skipping: creating a directory of another owner needs root");
        return;
    }
    let tmp = tmp();
    let theirs = tmp.path().join("theirs");
    mkdir(&theirs, 0o755);
    write(&theirs.join("hook"), "exit 0", 0o755);
    chown(&theirs, Some(65534), Some(65534)).unwrap();
    let link = tmp.path().join("link");
    symlink(theirs.join("hook"), &link).unwrap();
    let expected = Some(Skip::UnsafePath {
        dir: fs::canonicalize(&theirs).unwrap(),
    });
    assert_eq!(skip(&theirs.join("hook")), expected);
    assert_eq!(skip(&link), expected);
}

#[test]
fn admit_accepts_root_entries_of_a_sticky_directory_only() {
    let tmp = tmp();
    let sticky = tmp.path().join("sticky");
    mkdir(&sticky, 0o1777);
    let own = sticky.join("own");
    mkdir(&own, 0o755);
    write(&own.join("hook"), "exit 0", 0o755);
    assert_eq!(skip(&own.join("hook")), None);
    if !is_root() {
        return;
    }
    // An entry of another user in a sticky directory: that user may rename it.
    let theirs = sticky.join("theirs");
    symlink(own.join("hook"), &theirs).unwrap();
    rustix::fs::chownat(
        CWD,
        theirs.as_path(),
        Some(rustix::process::Uid::from_raw(65534)),
        None,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
    assert_eq!(
        skip(&theirs),
        Some(Skip::UnsafePath {
            dir: fs::canonicalize(&sticky).unwrap()
        })
    );
}

#[tokio::test]
async fn spawn_runs_the_admitted_file_even_after_its_name_changed() {
    let tmp = tmp();
    let out = tmp.path().join("out");
    let hook = tmp.path().join("hook");
    write(
        &hook,
        &format!("echo checked \"$0\" > {}", out.display()),
        0o755,
    );
    let admitted = admit(&hook, true).unwrap();
    // Replaced after the check (what a swap race does between check and exec).
    let other = tmp.path().join("other");
    write(&other, &format!("echo swapped > {}", out.display()), 0o755);
    fs::rename(&other, &hook).unwrap();
    let mut child = admitted
        .spawn(|command| {
            command.env_clear().stdin(Stdio::null());
        })
        .unwrap();
    assert!(child.wait().await.unwrap().success());
    let text = fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("checked /proc/self/fd/"), "{text}");
}

#[tokio::test]
async fn spawn_runs_a_binary_with_the_listed_name_as_argv0() {
    let tmp = tmp();
    let link = tmp.path().join("30-cat");
    symlink("/bin/cat", &link).unwrap();
    let admitted = admit(&link, true).unwrap();
    let output = admitted
        .spawn(|command| {
            command.arg("/proc/self/cmdline").stdout(Stdio::piped());
        })
        .unwrap()
        .wait_with_output()
        .await
        .unwrap();
    assert!(output.status.success());
    let expected = format!("{}\0/proc/self/cmdline\0", link.display());
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
}
