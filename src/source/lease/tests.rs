//! The lease source against real files in temporary directories (no root needed): each test
//! writes files the way dhclient, editors or administrators do and waits, with a timeout, for
//! the set the broker must receive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::EventKind;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::*;

/// Fast clocks, so the tests do not wait for production debounces.
const FAST: Timing = Timing {
    quiet: Duration::from_millis(50),
    max: Duration::from_millis(300),
    retry: Duration::from_millis(200),
    poll: Duration::from_millis(200),
};
/// How long to wait for an event that must come.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long nothing must happen when no event is due: several debounces, retries and polls.
const QUIET: Duration = Duration::from_millis(1_500);

type Set = BTreeMap<String, Lease>;

struct Running {
    events: mpsc::Receiver<Event>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), Error>>,
    /// `LeaseFiles` as a reload changes it.
    files: watch::Sender<Vec<PathBuf>>,
}

impl Running {
    fn start(files: Vec<PathBuf>) -> Self {
        let (tx, events) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let (files, listed) = watch::channel(files);
        let task = tokio::spawn(run_with(listed, tx, cancel.clone(), FAST));
        Running {
            events,
            cancel,
            task,
            files,
        }
    }

    /// Re-targets the source, as a reload that changed `LeaseFiles` does.
    fn follow(&self, files: Vec<PathBuf>) {
        self.files.send_replace(files);
    }

    /// The next set sent, failing after [`PATIENCE`].
    async fn next(&mut self) -> Set {
        match timeout(PATIENCE, self.events.recv()).await {
            Ok(Some(Event::Leases(set))) => set,
            Ok(Some(other)) => panic!("unexpected event {other:?}"),
            Ok(None) => panic!("the source stopped: {:?}", self.task.is_finished()),
            Err(_) => panic!("no lease event within {PATIENCE:?}"),
        }
    }

    /// Asserts that nothing is sent for [`QUIET`].
    async fn nothing(&mut self) {
        if let Ok(event) = timeout(QUIET, self.events.recv()).await {
            panic!("expected no event, got {event:?}");
        }
        assert!(!self.task.is_finished(), "the source stopped");
    }

    async fn stop(self) {
        self.cancel.cancel();
        let result = timeout(PATIENCE, self.task).await.unwrap().unwrap();
        assert!(result.is_ok(), "{result:?}");
    }
}

/// A complete block as dhclient appends it, expiring an hour from now.
fn block(interface: &str, address: &str) -> String {
    block_expiring(interface, address, unix_now() + 3_600)
}

fn block_expiring(interface: &str, address: &str, expire: i64) -> String {
    format!(
        "lease {{\n  interface \"{interface}\";\n  fixed-address {address};\n  \
         option subnet-mask 255.255.255.0;\n  option domain-name-servers 10.0.0.1;\n  \
         renew epoch {}; # local time\n  expire epoch {expire}; # local time\n}}\n",
        expire - 1_800
    )
}

fn append(path: &Path, text: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// What the set says: interface → address.
fn addresses(set: &Set) -> Vec<(String, String)> {
    set.iter()
        .map(|(name, lease)| {
            let address = lease.address.map(|a| a.to_string()).unwrap_or_default();
            (name.clone(), address)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn initial_set_is_sent_even_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhclient.leases");
    let mut source = Running::start(vec![file.clone()]);
    assert!(source.next().await.is_empty());
    source.stop().await;

    fs::write(&file, block("eth0", "10.0.0.2")).unwrap();
    let mut source = Running::start(vec![file]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2")])
    );
    source.stop().await;
}

#[tokio::test]
async fn a_file_created_after_start_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhclient.leases");
    let mut source = Running::start(vec![file.clone()]);
    assert!(source.next().await.is_empty());
    append(&file, &block("eth0", "10.0.0.2"));
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2")])
    );
    source.stop().await;
}

#[tokio::test]
async fn a_directory_created_after_start_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("dhcp");
    let mut source = Running::start(vec![sub.join("dhclient.*.leases")]);
    assert!(source.next().await.is_empty());
    fs::create_dir(&sub).unwrap();
    append(
        &sub.join("dhclient.eth0.leases"),
        &block("eth0", "10.0.0.2"),
    );
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2")])
    );
    // And it is watched from then on.
    append(
        &sub.join("dhclient.eth0.leases"),
        &block("eth0", "10.0.0.3"),
    );
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.3")])
    );
    source.stop().await;
}

#[tokio::test]
async fn an_appended_renewal_with_a_new_address_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhclient.leases");
    fs::write(
        &file,
        format!("{}{}", block("eth0", "10.0.0.2"), block("eth1", "10.1.0.2")),
    )
    .unwrap();
    let mut source = Running::start(vec![file.clone()]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2"), ("eth1", "10.1.0.2")])
    );
    append(&file, &block("eth0", "10.0.0.7"));
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.7"), ("eth1", "10.1.0.2")])
    );
    source.stop().await;
}

#[tokio::test]
async fn renewals_are_sent_only_when_the_set_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhclient.leases");
    let first = block_expiring("eth0", "10.0.0.2", unix_now() + 3_600);
    fs::write(&file, &first).unwrap();
    let mut source = Running::start(vec![file.clone()]);
    let before = source.next().await;

    // The same block again (dhclient rewrote the file, or an identical append): no event.
    append(&file, &first);
    source.nothing().await;

    // A renewal that only moves the times: sent, so the broker knows the new expiry, and the
    // broker's content comparison sees nothing to act on.
    append(
        &file,
        &block_expiring("eth0", "10.0.0.2", unix_now() + 7_200),
    );
    let after = source.next().await;
    assert_ne!(after, before);
    assert!(after["eth0"].same_content(&before["eth0"]));
    source.stop().await;
}

#[tokio::test]
async fn a_half_written_block_keeps_the_previous_set_until_it_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhclient.leases");
    fs::write(&file, block("eth0", "10.0.0.2")).unwrap();
    let mut source = Running::start(vec![file.clone()]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2")])
    );

    let renewal = block("eth0", "10.0.0.9");
    let cut = renewal.find("option domain-name-servers").unwrap() + 12;
    append(&file, &renewal[..cut]);
    source.nothing().await;
    append(&file, &renewal[cut..]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.9")])
    );
    source.stop().await;
}

#[tokio::test]
async fn garbage_keeps_the_previous_set_and_the_source_running() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhclient.leases");
    fs::write(&file, block("eth0", "10.0.0.2")).unwrap();
    let mut source = Running::start(vec![file.clone()]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2")])
    );

    fs::write(&file, "\u{0}\u{1}garbage {{{ \"\n").unwrap();
    source.nothing().await;
    fs::write(&file, [0xff_u8, 0xfe, 0x00, 0x80]).unwrap();
    source.nothing().await;

    // Fixed: read again at the next change.
    fs::write(&file, block("eth0", "10.0.0.3")).unwrap();
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.3")])
    );
    source.stop().await;
}

#[tokio::test]
async fn one_broken_file_does_not_freeze_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let eth0 = dir.path().join("dhclient.eth0.leases");
    let eth1 = dir.path().join("dhclient.eth1.leases");
    fs::write(&eth0, block("eth0", "10.0.0.2")).unwrap();
    fs::write(&eth1, block("eth1", "10.1.0.2")).unwrap();
    let mut source = Running::start(vec![dir.path().join("dhclient.*.leases")]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2"), ("eth1", "10.1.0.2")])
    );
    // eth1's file breaks: its lease stays in force...
    fs::write(&eth1, "lease {\n").unwrap();
    source.nothing().await;
    // ...while eth0's file still counts.
    append(&eth0, &block("eth0", "10.0.0.3"));
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.3"), ("eth1", "10.1.0.2")])
    );
    source.stop().await;
}

#[tokio::test]
async fn truncate_and_rewrite_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhclient.leases");
    fs::write(
        &file,
        format!("{}{}", block("eth0", "10.0.0.2"), block("eth1", "10.1.0.2")),
    )
    .unwrap();
    let mut source = Running::start(vec![file.clone()]);
    assert_eq!(source.next().await.len(), 2);

    // dhclient's rewrite_client_leases: fopen("w") on the same inode, then one block at a
    // time with a flush after each.
    let inode = fs::metadata(&file).unwrap().ino();
    let mut rewrite = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&file)
        .unwrap();
    for text in [block("eth0", "10.0.0.2"), block("eth0", "10.0.0.5")] {
        rewrite.write_all(text.as_bytes()).unwrap();
        rewrite.flush().unwrap();
    }
    drop(rewrite);
    assert_eq!(fs::metadata(&file).unwrap().ino(), inode);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.5")])
    );
    source.stop().await;
}

#[tokio::test]
async fn rename_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhclient.leases");
    fs::write(&file, block("eth0", "10.0.0.2")).unwrap();
    let mut source = Running::start(vec![file.clone()]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2")])
    );

    let temp = dir.path().join(".dhclient.leases.tmp");
    fs::write(&temp, block("eth0", "10.0.0.4")).unwrap();
    fs::rename(&temp, &file).unwrap();
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.4")])
    );

    // The new inode is followed too (a watch on the old file would be dead now).
    append(&file, &block("eth0", "10.0.0.6"));
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.6")])
    );
    source.stop().await;
}

#[tokio::test]
async fn deleting_a_file_removes_its_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let eth0 = dir.path().join("dhclient.eth0.leases");
    let eth1 = dir.path().join("dhclient.eth1.leases");
    fs::write(&eth0, block("eth0", "10.0.0.2")).unwrap();
    fs::write(&eth1, block("eth1", "10.1.0.2")).unwrap();
    let mut source = Running::start(vec![dir.path().join("dhclient.*.leases")]);
    assert_eq!(source.next().await.len(), 2);
    fs::remove_file(&eth1).unwrap();
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2")])
    );
    source.stop().await;
}

#[tokio::test]
async fn a_new_list_follows_new_files_and_forgets_dropped_ones() {
    let old_dir = tempfile::tempdir().unwrap();
    let new_dir = tempfile::tempdir().unwrap();
    let old = old_dir.path().join("dhclient.leases");
    let new = new_dir.path().join("dhclient.eth1.leases");
    fs::write(&old, block("eth0", "10.0.0.2")).unwrap();
    fs::write(&new, block("eth1", "10.1.0.2")).unwrap();
    let mut source = Running::start(vec![old.clone()]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2")])
    );

    // Both: the new file's lease joins, the old one's stays.
    source.follow(vec![old.clone(), new_dir.path().join("dhclient.*.leases")]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2"), ("eth1", "10.1.0.2")])
    );
    // Only the new one: the dropped file's lease leaves the set, as if it were deleted ...
    source.follow(vec![new_dir.path().join("dhclient.*.leases")]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth1", "10.1.0.2")])
    );
    // ... and its directory is no longer watched, while the new one is.
    append(&old, &block("eth2", "10.2.0.2"));
    source.nothing().await;
    append(&new, &block("eth1", "10.1.0.3"));
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth1", "10.1.0.3")])
    );
    source.stop().await;
}

#[tokio::test]
async fn deleting_the_directory_and_recreating_it() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("dhcp");
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("dhclient.leases"), block("eth0", "10.0.0.2")).unwrap();
    let mut source = Running::start(vec![sub.join("dhclient.leases")]);
    assert_eq!(source.next().await.len(), 1);
    fs::remove_dir_all(&sub).unwrap();
    assert!(source.next().await.is_empty());
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("dhclient.leases"), block("eth0", "10.0.0.8")).unwrap();
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.8")])
    );
    source.stop().await;
}

#[tokio::test]
async fn a_lease_disappears_when_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhclient.leases");
    let expire = unix_now() + 2;
    fs::write(
        &file,
        format!(
            "{}{}",
            block_expiring("eth0", "10.0.0.2", expire),
            block("eth1", "10.1.0.2")
        ),
    )
    .unwrap();
    let mut source = Running::start(vec![file]);
    assert_eq!(source.next().await.len(), 2);
    // No file changes: the expiry alone produces the event.
    let set = source.next().await;
    assert!(unix_now() >= expire);
    assert_eq!(addresses(&set), pairs(&[("eth1", "10.1.0.2")]));
    source.stop().await;
}

#[tokio::test]
async fn the_most_recently_written_file_wins_for_the_same_interface() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("dhclient.leases");
    let new = dir.path().join("dhclient.eth0.leases");
    fs::write(&new, block("eth0", "10.0.0.3")).unwrap();
    let mut source = Running::start(vec![old.clone(), dir.path().join("dhclient.*.leases")]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.3")])
    );
    // Written later, so its blocks count last.
    fs::write(&old, block("eth0", "10.0.0.2")).unwrap();
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2")])
    );
    source.stop().await;
}

#[tokio::test]
async fn other_files_in_the_directory_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhclient.leases");
    fs::write(&file, block("eth0", "10.0.0.2")).unwrap();
    let mut source = Running::start(vec![file]);
    assert_eq!(source.next().await.len(), 1);
    // dhcpd's own database, an editor's backup: neither is read.
    fs::write(dir.path().join("dhcpd.leases"), "garbage").unwrap();
    fs::write(
        dir.path().join("dhclient.leases~"),
        block("eth9", "10.9.0.2"),
    )
    .unwrap();
    source.nothing().await;
    source.stop().await;
}

#[tokio::test]
async fn a_fifo_matching_the_glob_does_not_hang_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("dhclient.fifo.leases");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from(0o600)).unwrap();
    fs::write(
        dir.path().join("dhclient.eth0.leases"),
        block("eth0", "10.0.0.2"),
    )
    .unwrap();
    let mut source = Running::start(vec![dir.path().join("dhclient.*.leases")]);
    assert_eq!(
        addresses(&source.next().await),
        pairs(&[("eth0", "10.0.0.2")])
    );
    source.stop().await;
}

#[tokio::test]
async fn invalid_paths_are_refused_at_start() {
    let (tx, _rx) = mpsc::channel(1);
    let result = run(
        watch::channel(vec![PathBuf::from("relative.leases")]).1,
        tx,
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(
        result,
        Err(Error::Path {
            reason: PatternError::NotAbsolute,
            ..
        })
    ));
}

#[tokio::test]
async fn a_closed_queue_stops_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let result = timeout(
        PATIENCE,
        run_with(
            watch::channel(vec![dir.path().join("x.leases")]).1,
            tx,
            CancellationToken::new(),
            FAST,
        ),
    )
    .await
    .unwrap();
    assert!(result.is_ok());
}

#[test]
fn debounce_waits_for_quiet_but_not_forever() {
    let start = Instant::now();
    let mut debounce = Source::new(Arc::from(Vec::new()), FAST).debounce;
    debounce.touch((), start);
    assert_eq!(debounce.next_deadline(), Some(start + FAST.quiet));
    debounce.touch((), start + Duration::from_millis(40));
    assert_eq!(
        debounce.next_deadline(),
        Some(start + Duration::from_millis(40) + FAST.quiet)
    );
    debounce.touch((), start + Duration::from_millis(290));
    assert_eq!(debounce.next_deadline(), Some(start + FAST.max));
}

#[test]
fn only_writes_to_matching_names_are_relevant() {
    use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};
    let patterns: Arc<[FilePattern]> = vec![
        FilePattern::new(Path::new("/var/lib/dhcp/dhclient.*.leases")).unwrap(),
        FilePattern::new(Path::new("/var/lib/dhcp/dhclient.leases")).unwrap(),
    ]
    .into();
    let filter = Relevance {
        patterns,
        dirs: vec![PathBuf::from("/var/lib/dhcp")],
    };
    let event =
        |kind: EventKind, path: &str| Ok(notify::Event::new(kind).add_path(PathBuf::from(path)));
    let lease = "/var/lib/dhcp/dhclient.eth0.leases";
    for kind in [
        EventKind::Create(CreateKind::File),
        EventKind::Modify(ModifyKind::Any),
        EventKind::Remove(RemoveKind::File),
        EventKind::Access(AccessKind::Close(AccessMode::Write)),
    ] {
        assert!(filter.is_relevant(&event(kind, lease)), "{kind:?}");
    }
    for kind in [
        EventKind::Access(AccessKind::Open(AccessMode::Any)),
        EventKind::Access(AccessKind::Close(AccessMode::Read)),
    ] {
        assert!(!filter.is_relevant(&event(kind, lease)), "{kind:?}");
    }
    let modify = EventKind::Modify(ModifyKind::Any);
    assert!(filter.is_relevant(&event(modify, "/var/lib/dhcp/dhclient.leases")));
    assert!(filter.is_relevant(&event(
        EventKind::Remove(RemoveKind::Folder),
        "/var/lib/dhcp"
    )));
    assert!(!filter.is_relevant(&event(modify, "/var/lib/dhcp/dhcpd.leases")));
    assert!(filter.is_relevant(&Err(notify::Error::generic("lost"))));
    assert!(filter.is_relevant(&Ok(
        notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan)
    )));
}

/// A lease file that is a symbolic link out of its directory is not read: it could point at
/// a root-only file (`/etc/shadow`) or `/proc/self/environ`, and the parse error used to log
/// its first 40 characters. A link to a file in the same directory is followed as before.
#[test]
fn a_symlink_out_of_the_lease_directory_is_not_read() {
    const SECRET: &str = "S3cr3tHash";
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("dhcp");
    fs::create_dir(&dir).unwrap();
    let secret = root.path().join("shadow");
    fs::write(
        &secret,
        format!("root:$6${SECRET}$xyz:19000:0:99999:7:::\n"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("dhclient.eth0.leases")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", dir.join("dhclient.eth1.leases")).unwrap();
    std::os::unix::fs::symlink("../shadow", dir.join("dhclient.eth2.leases")).unwrap();
    fs::write(dir.join("real.leases"), block("eth3", "10.0.3.2")).unwrap();
    std::os::unix::fs::symlink("real.leases", dir.join("dhclient.eth3.leases")).unwrap();

    let pattern = FilePattern::new(&dir.join("dhclient.*.leases")).unwrap();
    let present = [dir.clone()].into_iter().collect();
    let outcomes = read_files(&[pattern], &present, &BTreeSet::new());
    for name in [
        "dhclient.eth0.leases",
        "dhclient.eth1.leases",
        "dhclient.eth2.leases",
    ] {
        match outcomes.get(&dir.join(name)) {
            Some(Outcome::Failed(message)) => {
                assert!(!message.contains(SECRET), "{name}: {message}");
                assert!(!message.contains("PATH="), "{name}: {message}");
                assert!(message.contains("symbolic link"), "{name}: {message}");
            }
            Some(Outcome::Parsed(parsed)) => panic!("{name} was read: {:?}", parsed.leases),
            None => panic!("{name}: no outcome"),
        }
    }
    match outcomes.get(&dir.join("dhclient.eth3.leases")) {
        Some(Outcome::Parsed(parsed)) => assert_eq!(parsed.leases[0].interface, "eth3"),
        _ => panic!("a link inside the directory must be followed"),
    }
}
