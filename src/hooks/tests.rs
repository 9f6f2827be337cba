//! Unit tests of `crate::hooks` (the listing behind `ListHooks`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn the_listing_fails_instead_of_listing_nothing_when_a_directory_is_unreadable() {
    let tmp = tempfile::tempdir().unwrap();
    discover::create_event_dirs(tmp.path()).unwrap();
    let mut settings = env::tests::settings(tmp.path().to_path_buf(), false);
    settings.enforce_ownership = false;
    assert_eq!(list(&settings).unwrap(), []);
    // Not a directory: reading it fails (as EMFILE or EACCES would).
    std::fs::remove_dir(tmp.path().join("routable.d")).unwrap();
    std::fs::write(tmp.path().join("routable.d"), "").unwrap();
    let err = list(&settings).unwrap_err();
    let text = crate::error_chain::ErrorChain(&err).to_string();
    assert!(text.contains("routable.d"), "{text}");
    assert!(text.contains("Not a directory"), "{text}");
}

#[test]
fn the_listing_merges_the_vendor_directory_under_the_administrators() {
    let admin = tempfile::tempdir().unwrap();
    let vendor = tempfile::tempdir().unwrap();
    for dir in [admin.path(), vendor.path()] {
        std::fs::create_dir(dir.join("routable.d")).unwrap();
    }
    let write = |path: std::path::PathBuf| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write(vendor.path().join("routable.d/10-pkg"));
    write(vendor.path().join("routable.d/20-both"));
    write(admin.path().join("routable.d/20-both"));
    let mut settings = env::tests::settings(admin.path().to_path_buf(), false);
    settings.enforce_ownership = false;
    settings.vendor_dir = Some(vendor.path().to_path_buf());
    assert_eq!(
        list(&settings).unwrap(),
        [
            (
                "routable".to_string(),
                vendor.path().join("routable.d/10-pkg")
            ),
            (
                "routable".to_string(),
                admin.path().join("routable.d/20-both")
            ),
        ]
    );
}
