//! Unit tests of `crate::hooks::discover`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{symlink, PermissionsExt};

use super::*;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A temporary configuration directory with an empty `routable.d`.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let event_dir = tmp.path().join("routable.d");
    fs::create_dir(&event_dir).unwrap();
    fs::set_permissions(&event_dir, fs::Permissions::from_mode(0o755)).unwrap();
    (tmp, event_dir)
}

fn write(dir: &Path, name: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn names(scripts: &[Script]) -> Vec<&str> {
    scripts.iter().map(|s| s.name.as_str()).collect()
}

fn verdict_of(candidates: &[Candidate], name: &str) -> Verdict {
    candidates
        .iter()
        .find(|c| c.script.name == name)
        .unwrap_or_else(|| panic!("{name} not listed"))
        .verdict
        .clone()
}

#[test]
fn discover_sorts_by_byte_order() {
    let (tmp, dir) = setup();
    for name in ["b", "a", "B", "10-x", "2-y", "a_b", "a-b"] {
        write(&dir, name, 0o755);
    }
    let scripts = discover(&[tmp.path().into()], "routable", true).unwrap();
    // Byte order: digits < uppercase < lowercase; '-' (0x2d) < '_' (0x5f); no numeric sort.
    assert_eq!(
        names(&scripts),
        ["10-x", "2-y", "B", "a", "a-b", "a_b", "b"]
    );
    assert_eq!(scripts[0].path, dir.join("10-x"));
}

#[test]
fn discover_skips_dotfiles_and_backups() {
    let (tmp, dir) = setup();
    write(&dir, "run", 0o755);
    let skipped = [
        ".hidden",
        "x~",
        "x.dpkg-old",
        "x.dpkg-new",
        "x.dpkg-dist",
        "x.dpkg-tmp",
        "x.rpmnew",
        "x.rpmsave",
        "x.rpmorig",
        "x.swp",
    ];
    for name in skipped {
        write(&dir, name, 0o755);
    }
    let scripts = discover(&[tmp.path().into()], "routable", true).unwrap();
    assert_eq!(names(&scripts), ["run"]);

    let candidates = scan(&[tmp.path().into()], "routable", true).unwrap();
    assert_eq!(
        verdict_of(&candidates, ".hidden"),
        Verdict::Skip(Skip::Dotfile)
    );
    for name in &skipped[1..] {
        assert_eq!(verdict_of(&candidates, name), Verdict::Skip(Skip::Backup));
    }
}

#[test]
fn discover_skips_non_executables_directories_and_specials() {
    let (tmp, dir) = setup();
    write(&dir, "exec", 0o755);
    write(&dir, "plain", 0o644);
    fs::create_dir(dir.join("subdir")).unwrap();
    fs::write(dir.join("empty"), "").unwrap();
    fs::set_permissions(dir.join("empty"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink(dir.join("missing"), dir.join("dangling")).unwrap();
    symlink(dir.join("exec"), dir.join("link-to-exec")).unwrap();

    let scripts = discover(&[tmp.path().into()], "routable", false).unwrap();
    assert_eq!(names(&scripts), ["exec", "link-to-exec"]);

    let candidates = scan(&[tmp.path().into()], "routable", false).unwrap();
    assert_eq!(
        verdict_of(&candidates, "plain"),
        Verdict::Skip(Skip::NotExecutable)
    );
    assert_eq!(
        verdict_of(&candidates, "subdir"),
        Verdict::Skip(Skip::Directory)
    );
    assert_eq!(verdict_of(&candidates, "empty"), Verdict::Skip(Skip::Empty));
    assert_eq!(
        verdict_of(&candidates, "dangling"),
        Verdict::Skip(Skip::Dangling)
    );
}

#[test]
fn discover_treats_symlink_to_dev_null_as_mask() {
    let (tmp, dir) = setup();
    write(&dir, "a", 0o755);
    symlink("/dev/null", dir.join("b")).unwrap();
    let candidates = scan(&[tmp.path().into()], "routable", true).unwrap();
    assert_eq!(verdict_of(&candidates, "b"), Verdict::Skip(Skip::Masked));
    assert!(!Skip::Masked.is_refusal());
    assert_eq!(
        names(&discover(&[tmp.path().into()], "routable", true).unwrap()),
        ["a"]
    );
}

#[test]
fn discover_refuses_group_or_world_writable_only_when_enforcing() {
    let (tmp, dir) = setup();
    write(&dir, "ok", 0o755);
    write(&dir, "group-w", 0o775);
    write(&dir, "world-w", 0o757);
    write(&dir, "setuid", 0o4755);
    write(&dir, "setgid", 0o2755);

    let candidates = scan(&[tmp.path().into()], "routable", true).unwrap();
    assert_eq!(verdict_of(&candidates, "ok"), Verdict::Run);
    assert_eq!(
        verdict_of(&candidates, "group-w"),
        Verdict::Skip(Skip::Writable)
    );
    assert_eq!(
        verdict_of(&candidates, "world-w"),
        Verdict::Skip(Skip::Writable)
    );
    assert_eq!(
        verdict_of(&candidates, "setuid"),
        Verdict::Skip(Skip::SetId)
    );
    assert_eq!(
        verdict_of(&candidates, "setgid"),
        Verdict::Skip(Skip::SetId)
    );

    let relaxed = discover(&[tmp.path().into()], "routable", false).unwrap();
    assert_eq!(
        names(&relaxed),
        ["group-w", "ok", "setgid", "setuid", "world-w"]
    );
}

#[test]
fn discover_checks_the_symlink_target_when_enforcing() {
    let (tmp, dir) = setup();
    let outside = tmp.path().join("outside");
    write(tmp.path(), "outside", 0o777);
    symlink(&outside, dir.join("link")).unwrap();
    let candidates = scan(&[tmp.path().into()], "routable", true).unwrap();
    assert_eq!(
        verdict_of(&candidates, "link"),
        Verdict::Skip(Skip::Writable)
    );
}

#[test]
fn discover_refuses_files_not_owned_by_root_when_enforcing() {
    if !is_root() {
        eprintln!("skipping ownership assertion: not running as root");
        return;
    }
    let (tmp, dir) = setup();
    let path = write(&dir, "nobody", 0o755);
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let candidates = scan(&[tmp.path().into()], "routable", true).unwrap();
    assert_eq!(
        verdict_of(&candidates, "nobody"),
        Verdict::Skip(Skip::NotOwnedByRoot { uid: 65534 })
    );
    assert_eq!(
        names(&discover(&[tmp.path().into()], "routable", false).unwrap()),
        ["nobody"]
    );
}

#[test]
fn discover_refuses_everything_in_an_unsafe_directory_when_enforcing() {
    let (tmp, dir) = setup();
    write(&dir, "a", 0o755);
    symlink("/dev/null", dir.join("masked")).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let candidates = scan(&[tmp.path().into()], "routable", true).unwrap();
    assert_eq!(
        verdict_of(&candidates, "a"),
        Verdict::Skip(Skip::UnsafeDirectory)
    );
    assert_eq!(
        verdict_of(&candidates, "masked"),
        Verdict::Skip(Skip::Masked)
    );
    assert_eq!(
        names(&discover(&[tmp.path().into()], "routable", false).unwrap()),
        ["a"]
    );
}

#[test]
fn discover_returns_nothing_for_a_missing_directory() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(discover(&[tmp.path().into()], "routable", true)
        .unwrap()
        .is_empty());
    assert!(discover(&[tmp.path().join("nope")], "manager", true)
        .unwrap()
        .is_empty());
}

#[test]
fn discover_rejects_event_names_that_are_not_plain() {
    let (tmp, _dir) = setup();
    for bad in [
        "",
        "../routable",
        "routable/..",
        "a/b",
        "Routable",
        "rout able",
        ".",
        "x.d",
        "é",
        &"a".repeat(65),
    ] {
        assert!(
            matches!(
                discover(&[tmp.path().into()], bad, true),
                Err(Error::InvalidEvent { .. })
            ),
            "{bad:?} accepted"
        );
    }
    for good in ["routable", "no-carrier", "routes-modified", "x1"] {
        assert!(is_valid_event_name(good), "{good} rejected");
    }
}

#[test]
fn warn_once_remembers_each_path_and_reason_until_admitted() {
    let memory = WarnOnce::default();
    let path = Path::new("/etc/network-broker/routable.d/x");
    assert!(memory.first(path, Skip::Writable));
    assert!(!memory.first(path, Skip::Writable));
    assert!(memory.first(path, Skip::SetId));
    assert!(memory.first(Path::new("/other"), Skip::Writable));
    memory.forget(path);
    assert!(memory.first(path, Skip::Writable));
    assert!(!memory.first(Path::new("/other"), Skip::Writable));
}

#[test]
fn create_event_dirs_creates_the_standard_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("etc");
    create_event_dirs(&dir).unwrap();
    create_event_dirs(&dir).unwrap();
    for name in EVENT_DIRS {
        let meta = fs::metadata(dir.join(name)).unwrap();
        assert!(meta.is_dir());
        // 0755 minus the umask: never writable by group or others.
        assert_eq!(meta.mode() & 0o022, 0);
    }
}

/// An administrator's and a package's hook directory, each with an empty `routable.d`.
fn admin_and_vendor() -> (tempfile::TempDir, tempfile::TempDir, Vec<PathBuf>) {
    let (admin, _) = setup();
    let (vendor, _) = setup();
    let dirs = vec![admin.path().to_path_buf(), vendor.path().to_path_buf()];
    (admin, vendor, dirs)
}

#[test]
fn vendor_hooks_merge_with_the_administrators_by_file_name() {
    let (admin, vendor, dirs) = admin_and_vendor();
    write(&vendor.path().join("routable.d"), "10-vendor", 0o755);
    write(&vendor.path().join("routable.d"), "50-both", 0o755);
    write(&admin.path().join("routable.d"), "50-both", 0o755);
    write(&admin.path().join("routable.d"), "90-admin", 0o755);
    let scripts = discover(&dirs, "routable", false).unwrap();
    let paths: Vec<PathBuf> = scripts.iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        paths,
        [
            vendor.path().join("routable.d/10-vendor"),
            admin.path().join("routable.d/50-both"),
            admin.path().join("routable.d/90-admin"),
        ]
    );
    let candidates = scan(&dirs, "routable", false).unwrap();
    let both = candidates
        .iter()
        .find(|c| c.script.name == "50-both")
        .unwrap();
    assert_eq!(both.overrides, [vendor.path().join("routable.d/50-both")]);
}

#[test]
fn a_dev_null_symlink_in_the_administrators_directory_masks_the_vendor_hook() {
    let (admin, vendor, dirs) = admin_and_vendor();
    write(&vendor.path().join("routable.d"), "50-vendor", 0o755);
    symlink("/dev/null", admin.path().join("routable.d/50-vendor")).unwrap();
    assert!(discover(&dirs, "routable", false).unwrap().is_empty());
    let candidates = scan(&dirs, "routable", false).unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].verdict, Verdict::Skip(Skip::Masked));
    assert_eq!(
        candidates[0].overrides,
        [vendor.path().join("routable.d/50-vendor")]
    );
}

#[test]
fn a_refused_administrators_file_still_hides_the_vendor_file_of_its_name() {
    // Falling back to the package's file would run what the administrator replaced.
    let (admin, vendor, dirs) = admin_and_vendor();
    write(&vendor.path().join("routable.d"), "50-x", 0o755);
    write(&admin.path().join("routable.d"), "50-x", 0o644);
    assert!(discover(&dirs, "routable", false).unwrap().is_empty());
}

#[test]
fn a_missing_vendor_directory_changes_nothing() {
    let (admin, _) = setup();
    write(&admin.path().join("routable.d"), "10-a", 0o755);
    let dirs = vec![admin.path().to_path_buf(), admin.path().join("absent")];
    assert_eq!(
        names(&discover(&dirs, "routable", false).unwrap()),
        ["10-a"]
    );
}

#[test]
fn the_sized_listing_counts_every_entry_examined() {
    let etc = tempfile::tempdir().unwrap();
    let vendor = tempfile::tempdir().unwrap();
    for (dir, name, mode) in [
        (etc.path(), "10-run", 0o755),
        (etc.path(), "20-not-executable", 0o644),
        (etc.path(), "30-shared", 0o755),
        (vendor.path(), "30-shared", 0o755),
        (vendor.path(), "40-vendor", 0o755),
    ] {
        let event_dir = dir.join("routable.d");
        fs::create_dir_all(&event_dir).unwrap();
        let path = event_dir.join(name);
        fs::write(&path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    let dirs = [etc.path().to_path_buf(), vendor.path().to_path_buf()];
    let (scripts, examined) = discover_sized(&dirs, "routable", false).unwrap();
    let names: Vec<&str> = scripts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["10-run", "30-shared", "40-vendor"]);
    assert_eq!(examined, 5);
    assert_eq!(discover(&dirs, "routable", false).unwrap(), scripts);
}

/// Lets the kernel's coarse clock, which stamps file times, move on (a tick is 1–10 ms), so
/// that the next change carries times other than the listing's: `cache::SETTLED` covers the
/// same-tick case in the daemon, and these tests switch it off to see listings remembered.
fn next_tick() {
    std::thread::sleep(std::time::Duration::from_millis(30));
}

/// A listing through the cache with no settling time, checked against a fresh `scan`.
fn cached(dirs: &[PathBuf]) -> (Vec<String>, cache::Source) {
    let (candidates, source) =
        cache::scan_settled(dirs, "routable", false, std::time::Duration::ZERO).unwrap();
    assert_eq!(candidates, scan(dirs, "routable", false).unwrap());
    let listed = candidates
        .iter()
        .map(|c| format!("{}:{:?}", c.script.name, c.verdict))
        .collect();
    (listed, source)
}

#[test]
fn a_remembered_listing_sees_hooks_added_replaced_refused_masked_and_removed() {
    use cache::Source::{Listed, Remembered};
    let (tmp, event_dir) = setup();
    let vendor = tmp.path().join("vendor");
    fs::create_dir(&vendor).unwrap();
    let dirs = [tmp.path().to_path_buf(), vendor.clone()];
    let run = |name: &str| format!("{name}:Run");
    write(&event_dir, "10-a", 0o755);

    assert_eq!(cached(&dirs), (vec![run("10-a")], Listed { kept: true }));
    assert_eq!(cached(&dirs), (vec![run("10-a")], Remembered));

    next_tick();
    write(&event_dir, "20-b", 0o755);
    assert_eq!(
        cached(&dirs),
        (vec![run("10-a"), run("20-b")], Listed { kept: true })
    );
    assert_eq!(cached(&dirs).1, Remembered);

    // Replaced by a rename over it: same name, another file.
    next_tick();
    let new = write(tmp.path(), "new", 0o644);
    fs::rename(&new, event_dir.join("20-b")).unwrap();
    let refused = format!("20-b:{:?}", Verdict::Skip(Skip::NotExecutable));
    assert_eq!(
        cached(&dirs),
        (vec![run("10-a"), refused.clone()], Listed { kept: false })
    );
    // A refusal is listed again at every request, so fixing the file is seen.
    assert_eq!(
        cached(&dirs),
        (vec![run("10-a"), refused], Listed { kept: false })
    );
    fs::set_permissions(event_dir.join("20-b"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(cached(&dirs).0, [run("10-a"), run("20-b")]);
    assert_eq!(cached(&dirs).1, Remembered);

    // Made non-executable in place: only the file's own change time moves.
    next_tick();
    fs::set_permissions(event_dir.join("10-a"), fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        cached(&dirs).0,
        [
            format!("10-a:{:?}", Verdict::Skip(Skip::NotExecutable)),
            run("20-b")
        ]
    );

    // Masked, then the package's file of the same name in the vendor directory appears.
    fs::remove_file(event_dir.join("10-a")).unwrap();
    symlink("/dev/null", event_dir.join("10-a")).unwrap();
    let masked = format!("10-a:{:?}", Verdict::Skip(Skip::Masked));
    assert_eq!(cached(&dirs).0, [masked.clone(), run("20-b")]);
    assert_eq!(cached(&dirs).1, Remembered);
    next_tick();
    let vendor_event = vendor.join("routable.d");
    fs::create_dir(&vendor_event).unwrap();
    write(&vendor_event, "10-a", 0o755);
    write(&vendor_event, "30-c", 0o755);
    assert_eq!(
        cached(&dirs),
        (
            vec![masked, run("20-b"), run("30-c")],
            Listed { kept: true }
        )
    );

    next_tick();
    fs::remove_file(event_dir.join("20-b")).unwrap();
    fs::remove_file(event_dir.join("10-a")).unwrap();
    assert_eq!(cached(&dirs).0, [run("10-a"), run("30-c")]);
    assert_eq!(cached(&dirs).1, Remembered);

    // Above the event directory only who may write it counts, not what else it holds.
    write(tmp.path(), "unrelated", 0o644);
    assert_eq!(cached(&dirs).1, Remembered);
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o775)).unwrap();
    assert_eq!(cached(&dirs).1, Listed { kept: true });
}

#[test]
fn listings_of_just_changed_files_and_symlinked_hooks_are_not_remembered() {
    let (tmp, event_dir) = setup();
    let dirs = [tmp.path().to_path_buf()];
    write(&event_dir, "10-a", 0o755);
    // With the daemon's settling time: the file was written within it.
    let (_, source) = cache::scan(&dirs, "routable", false).unwrap();
    assert_eq!(source, cache::Source::Listed { kept: false });

    let target = write(tmp.path(), "target", 0o755);
    symlink(&target, event_dir.join("20-link")).unwrap();
    let (listed, source) = cached(&dirs);
    assert_eq!(listed, ["10-a:Run", "20-link:Run"]);
    assert_eq!(source, cache::Source::Listed { kept: false });
}
