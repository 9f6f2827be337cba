//! Hook discovery when the process runs out of descriptors: the listing must fail, not come
//! back shorter (a hook that cannot be examined is not a refused hook). Alone in its own test
//! binary because it lowers the process's descriptor limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;

use network_broker::hooks::discover::{discover, Error};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The lowest free descriptor number: the next one `open` would return.
fn next_fd() -> u64 {
    let file = fs::File::open("/dev/null").unwrap();
    let n = std::os::fd::AsRawFd::as_raw_fd(&file);
    u64::try_from(n).unwrap()
}

#[test]
fn discovery_fails_instead_of_skipping_hooks_it_cannot_examine() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("routable.d");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let hook = dir.join("50-hook");
    fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(
        discover(&[tmp.path().into()], "routable", false)
            .unwrap()
            .len(),
        1
    );

    // Room for the directory listing and the walk's first descriptor (`/`), not for more.
    let saved = getrlimit(Resource::Nofile);
    let limit = next_fd() + 2;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(limit),
            maximum: saved.maximum,
        },
    )
    .unwrap();
    let outcome = discover(&[tmp.path().into()], "routable", false);
    setrlimit(Resource::Nofile, saved).unwrap();

    match outcome {
        Err(Error::Examine { path, source }) => {
            assert_eq!(path, hook);
            assert_eq!(source.raw_os_error(), Some(24), "{source}");
        }
        other => panic!("expected Examine (EMFILE), got {other:?}"),
    }
}
