//! Unit tests of `crate::routing::actor`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::*;
use crate::model::fixtures;
use crate::model::link::{IFF_LOWER_UP, IFF_UP};
use crate::model::{LinkView, Route};
use crate::routing::{spawn_with, FakeBackend, Handle};

fn settings() -> Settings {
    Settings {
        links: vec!["h1".into()],
        ..Settings::default()
    }
}

fn snapshot(index: u32, addresses: &[&str]) -> Arc<Snapshot> {
    let mut attrs = fixtures::link(index, "h1");
    attrs.flags = IFF_UP | IFF_LOWER_UP;
    let mut view = LinkView::new(attrs);
    for a in addresses {
        let (ip, len) = a.split_once('/').unwrap();
        view.addresses
            .push(fixtures::address(ip, len.parse().unwrap()));
    }
    view.routes.insert(Route {
        dst: None,
        dst_len: 0,
        src: None,
        gateway: Some("10.99.0.1".parse().unwrap()),
        oif: Some(index),
        table: 254,
        protocol: 4,
        scope: 0,
        kind: 1,
        metric: None,
        ipv6: false,
    });
    let mut snap = Snapshot::default();
    snap.links.insert(index, Arc::new(view));
    Arc::new(snap)
}

/// A rule of ours (protocol 78) for table 1002, as an earlier run leaves it.
fn left_by_an_earlier_run() -> Rule {
    Rule {
        ipv6: false,
        priority: Some(20000),
        src: None,
        dst: None,
        table: 1002,
        protocol: 78,
        action: 1,
    }
}

fn start(fake: &FakeBackend) -> Handle {
    spawn_with(settings(), fake.clone())
}

// Paused time: the sleep below proves that nothing happens during three debounce periods
// without waiting for them on the real clock.
#[tokio::test(start_paused = true)]
async fn nothing_happens_before_the_first_snapshot() {
    let fake = FakeBackend::new();
    fake.kernel().rules.push(left_by_an_earlier_run());
    let handle = start(&fake);
    handle.update_settings(settings());
    assert!(matches!(
        handle.reconcile_now().await,
        Err(Error::NoSnapshot)
    ));
    tokio::time::sleep(DEBOUNCE * 3).await;
    assert_eq!(
        fake.kernel().rules.len(),
        1,
        "nothing swept without a picture"
    );
    let status = handle.status().await.unwrap();
    assert!(!status.ready);
    assert_eq!(status.actual.rules.len(), 1);
}

#[tokio::test]
async fn a_pass_installs_and_a_second_adds_nothing() {
    let fake = FakeBackend::new();
    let handle = start(&fake);
    handle.reconcile(snapshot(3, &["10.99.0.3/24"]));
    let first = handle.reconcile_now().await.unwrap();
    assert_eq!(first.added_rules.len(), 2);
    assert_eq!(first.added_routes.len(), 2);
    let second = handle.reconcile_now().await.unwrap();
    assert!(!second.changed(), "{second:?}");
    assert_eq!(fake.kernel().rules.len(), 2);
    let status = handle.status().await.unwrap();
    assert!(status.ready && status.pending.is_empty());
    assert_eq!(status.tables[&3], ("h1".to_string(), 1003));
}

#[tokio::test(start_paused = true)]
async fn snapshots_are_debounced_and_the_latest_wins() {
    let fake = FakeBackend::new();
    let handle = start(&fake);
    handle.reconcile(snapshot(3, &["10.99.0.3/24"]));
    handle.reconcile(snapshot(3, &["10.99.0.3/24", "10.99.0.4/24"]));
    handle.reconcile(snapshot(3, &["10.99.0.4/24"]));
    tokio::time::sleep(DEBOUNCE / 2).await;
    assert!(fake.kernel().log.is_empty(), "not before the debounce");
    tokio::time::sleep(DEBOUNCE).await;
    let k = fake.kernel().clone();
    assert_eq!(k.rules.len(), 2, "{:?}", k.rules);
    assert!(k
        .rules
        .iter()
        .all(|r| r.src.or(r.dst).map(|(ip, _)| ip) == Some("10.99.0.4".parse().unwrap())));
    assert_eq!(
        k.log.iter().filter(|l| l.starts_with("add rule")).count(),
        2,
        "one pass only: {:?}",
        k.log
    );
}

#[tokio::test]
async fn start_up_adopts_ours_sweeps_stale_ones_and_leaves_foreign_ones() {
    let fake = FakeBackend::new();
    // A previous run's work, still wanted: adopted without a change.
    let previous = start(&fake);
    previous.reconcile(snapshot(3, &["10.99.0.3/24"]));
    previous.reconcile_now().await.unwrap();
    previous.shutdown(OnStop::Keep).await.unwrap();
    assert!(matches!(previous.status().await, Err(Error::ActorGone)));
    // Stale: a rule of ours for a link no longer listed. Foreign: our priority, not ours.
    let stale = Rule {
        ipv6: false,
        priority: Some(20000),
        src: Some(("10.99.0.2".parse().unwrap(), 32)),
        dst: None,
        table: 1002,
        protocol: 78,
        action: 1,
    };
    let foreign = Rule {
        protocol: 4,
        table: 1234,
        ..stale.clone()
    };
    fake.kernel().rules.push(stale.clone());
    fake.kernel().rules.push(foreign.clone());
    fake.kernel().log.clear();

    let handle = start(&fake);
    handle.reconcile(snapshot(3, &["10.99.0.3/24"]));
    let report = handle.reconcile_now().await.unwrap();
    assert_eq!(report.removed_rules, [stale]);
    assert!(report.added_rules.is_empty() && report.added_routes.is_empty());
    assert_eq!(report.restored, 0, "adopting is not restoring");
    assert!(fake.kernel().rules.contains(&foreign));
    assert_eq!(fake.kernel().rules.len(), 3);
}

#[tokio::test]
async fn duplicate_rules_of_ours_are_reduced_to_one() {
    let fake = FakeBackend::new();
    let handle = start(&fake);
    handle.reconcile(snapshot(3, &["10.99.0.3/24"]));
    handle.reconcile_now().await.unwrap();
    let copy = fake.kernel().rules[0].clone();
    fake.kernel().rules.push(copy.clone());
    let report = handle.reconcile_now().await.unwrap();
    assert_eq!(report.removed_rules, std::slice::from_ref(&copy));
    assert_eq!(
        fake.kernel().rules.iter().filter(|r| **r == copy).count(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn deleted_objects_are_restored_at_most_once_a_second_per_link() {
    let fake = FakeBackend::new();
    let handle = start(&fake);
    let snap = snapshot(3, &["10.99.0.3/24"]);
    handle.reconcile(snap.clone());
    handle.reconcile_now().await.unwrap();

    // networkd deletes our route: the broker hands over the (unchanged) snapshot.
    let take_default = |fake: &FakeBackend| {
        fake.kernel().routes.retain(|r| r.dst.is_some());
    };
    take_default(&fake);
    handle.reconcile(snap.clone());
    tokio::time::sleep(DEBOUNCE * 2).await;
    assert_eq!(fake.kernel().routes.len(), 2, "restored after the debounce");

    // Deleted again at once: the next automatic pass postpones it to a second after the
    // first re-install.
    take_default(&fake);
    handle.reconcile(snap.clone());
    tokio::time::sleep(DEBOUNCE * 2).await;
    assert_eq!(fake.kernel().routes.len(), 1, "rate-limited");
    tokio::time::sleep(RESTORE_INTERVAL).await;
    assert_eq!(fake.kernel().routes.len(), 2, "restored when allowed");

    // An explicit request is not rate-limited.
    take_default(&fake);
    let report = handle.reconcile_now().await.unwrap();
    assert_eq!((report.restored, report.deferred), (1, 0));
}

#[tokio::test]
async fn removed_rules_of_ours_are_restored_too() {
    let fake = FakeBackend::new();
    let handle = start(&fake);
    handle.reconcile(snapshot(3, &["10.99.0.3/24"]));
    handle.reconcile_now().await.unwrap();
    fake.kernel().rules.clear();
    let report = handle.reconcile_now().await.unwrap();
    assert_eq!(report.restored, 2);
}

#[tokio::test]
async fn a_recreated_link_moves_to_a_new_table() {
    let fake = FakeBackend::new();
    let handle = start(&fake);
    handle.reconcile(snapshot(3, &["10.99.0.3/24"]));
    handle.reconcile_now().await.unwrap();
    // The kernel flushes a deleted link's routes, not its rules.
    fake.kernel().routes.clear();
    handle.reconcile(snapshot(7, &["10.99.0.3/24"]));
    let report = handle.reconcile_now().await.unwrap();
    assert_eq!(report.removed_rules.len(), 2);
    assert!(report.removed_rules.iter().all(|r| r.table == 1003));
    let k = fake.kernel();
    assert!(k.rules.iter().all(|r| r.table == 1007));
    assert!(k.routes.iter().all(|r| r.table == 1007));
    assert_eq!(report.restored, 0, "a new table is not a restore");
}

#[tokio::test]
async fn shutdown_keeps_or_removes_as_told() {
    let fake = FakeBackend::new();
    let handle = start(&fake);
    handle.reconcile(snapshot(3, &["10.99.0.3/24"]));
    handle.reconcile_now().await.unwrap();
    let report = handle.shutdown(OnStop::Keep).await.unwrap();
    assert!(!report.changed());
    assert_eq!(fake.kernel().rules.len(), 2);

    let mut foreign_route = fake.kernel().routes[0].clone();
    foreign_route.protocol = 3;
    foreign_route.table = 77;
    fake.kernel().routes.push(foreign_route.clone());
    let handle = start(&fake);
    let report = handle.shutdown(OnStop::Remove).await.unwrap();
    assert_eq!(report.removed_rules.len(), 2);
    assert_eq!(report.removed_routes.len(), 2);
    assert!(fake.kernel().rules.is_empty());
    assert_eq!(fake.kernel().routes, [foreign_route]);
}

#[tokio::test]
async fn a_new_protocol_sweeps_the_old_one_first() {
    let fake = FakeBackend::new();
    let handle = start(&fake);
    handle.reconcile(snapshot(3, &["10.99.0.3/24"]));
    handle.reconcile_now().await.unwrap();
    handle.update_settings(Settings {
        protocol: 201,
        ..settings()
    });
    let report = handle.reconcile_now().await.unwrap();
    assert_eq!(report.added_rules.len(), 2);
    assert_eq!(report.added_routes.len(), 2, "{report:?}");
    let k = fake.kernel();
    assert!(k.rules.iter().all(|r| r.protocol == 201));
    assert!(k.routes.iter().all(|r| r.protocol == 201));
}

#[tokio::test]
async fn a_failing_dump_changes_nothing_and_is_an_error() {
    let fake = FakeBackend::new();
    let handle = start(&fake);
    handle.reconcile(snapshot(3, &["10.99.0.3/24"]));
    fake.kernel().refuse_dumps = true;
    assert!(matches!(
        handle.reconcile_now().await,
        Err(Error::Dump { protocol: 78, .. })
    ));
    assert!(fake.kernel().log.is_empty());
    fake.kernel().refuse_dumps = false;
    tokio::time::timeout(Duration::from_secs(5), handle.reconcile_now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fake.kernel().rules.len(), 2);
}

/// A snapshot whose one link is not listed for policy routing.
fn unlisted_snapshot() -> Arc<Snapshot> {
    let mut attrs = fixtures::link(7, "other");
    attrs.flags = IFF_UP | IFF_LOWER_UP;
    let mut view = LinkView::new(attrs);
    view.addresses.push(fixtures::address("10.98.0.7", 24));
    let mut snap = Snapshot::default();
    snap.links.insert(7, Arc::new(view));
    Arc::new(snap)
}

#[tokio::test(start_paused = true)]
async fn with_no_link_listed_and_nothing_of_ours_no_snapshot_or_timer_dumps_again() {
    let fake = FakeBackend::new();
    let handle = spawn_with(Settings::default(), fake.clone());
    handle.reconcile(unlisted_snapshot());
    tokio::time::sleep(DEBOUNCE * 2).await;
    assert_eq!(fake.kernel().dumps, 1, "the first pass looks");
    for _ in 0..5 {
        handle.reconcile(unlisted_snapshot());
        tokio::time::sleep(DEBOUNCE * 2).await;
    }
    tokio::time::sleep(PERIODIC * 3).await;
    assert_eq!(
        fake.kernel().dumps,
        1,
        "nothing to guard, nothing to look at"
    );

    // Listing the link brings the passes back.
    handle.update_settings(Settings {
        links: vec!["other".into()],
        ..Settings::default()
    });
    tokio::time::sleep(DEBOUNCE * 2).await;
    assert_eq!(fake.kernel().dumps, 2);
    assert_eq!(fake.kernel().rules.len(), 2, "{:?}", fake.kernel().rules);
    tokio::time::sleep(PERIODIC + DEBOUNCE).await;
    assert_eq!(fake.kernel().dumps, 3, "what is installed is guarded");
}

#[tokio::test(start_paused = true)]
async fn with_no_link_listed_stale_objects_of_ours_are_still_swept() {
    let fake = FakeBackend::new();
    fake.kernel().rules.push(left_by_an_earlier_run());
    let handle = spawn_with(Settings::default(), fake.clone());
    handle.reconcile(unlisted_snapshot());
    tokio::time::sleep(DEBOUNCE * 2).await;
    assert!(fake.kernel().rules.is_empty(), "{:?}", fake.kernel().rules);
    // The pass that swept found something of ours: the next periodic one looks again, and
    // after it finds nothing, no further one is armed.
    tokio::time::sleep(PERIODIC * 3).await;
    assert_eq!(fake.kernel().dumps, 2);
}

#[tokio::test(start_paused = true)]
async fn a_listed_link_still_absent_is_looked_for_at_every_snapshot_but_not_by_timer() {
    let fake = FakeBackend::new();
    let handle = start(&fake);
    handle.reconcile(unlisted_snapshot());
    tokio::time::sleep(DEBOUNCE * 2).await;
    tokio::time::sleep(PERIODIC * 2).await;
    assert_eq!(fake.kernel().dumps, 1);
    handle.reconcile(snapshot(3, &["10.99.0.3/24"]));
    tokio::time::sleep(DEBOUNCE * 2).await;
    assert_eq!(fake.kernel().dumps, 2);
    assert_eq!(fake.kernel().rules.len(), 2);
}
