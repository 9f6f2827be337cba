//! Unit tests of `crate::push::state`.

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn dns(list: &[&str]) -> Option<Vec<IpAddr>> {
    Some(list.iter().map(|s| ip(s)).collect())
}

fn doms(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| s.to_string()).collect())
}

const OK: LinkDone = LinkDone {
    revert_failed: false,
};

#[test]
fn links_set_makes_one_plan_with_both_parts() {
    let mut links = Links::default();
    links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
    assert_eq!(
        links.take_plans(),
        vec![LinkPlan {
            ifindex: 4,
            name: "eth0".into(),
            revert: false,
            dns: dns(&["192.0.2.1"]),
            domains: doms(&["a.test"]),
        }]
    );
    // in flight: nothing more until it is done
    assert!(links.take_plans().is_empty());
    links.done(4, OK);
    assert!(links.take_plans().is_empty());
    assert!(!links.any_in_flight());
}

#[test]
fn links_coalesce_while_in_flight_latest_wins() {
    let mut links = Links::default();
    links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
    let first = links.take_plans();
    assert_eq!(first.len(), 1);
    // three updates while the first plan is on the wire
    links.set(4, "eth0".into(), dns(&["192.0.2.2"]), None);
    links.set(4, "eth0".into(), dns(&["192.0.2.3"]), None);
    links.set(4, "eth0".into(), None, doms(&["a.test"])); // unchanged domains: no work
    assert!(links.take_plans().is_empty(), "one call at a time per link");
    links.done(4, OK);
    assert_eq!(
        links.take_plans(),
        vec![LinkPlan {
            ifindex: 4,
            name: "eth0".into(),
            revert: false,
            dns: dns(&["192.0.2.3"]),
            domains: None,
        }]
    );
}

#[test]
fn links_same_settings_again_make_no_calls() {
    let mut links = Links::default();
    links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
    assert_eq!(links.take_plans().len(), 1);
    links.done(4, OK);
    links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
    assert!(links.take_plans().is_empty());
}

#[test]
fn links_none_parts_are_left_alone() {
    let mut links = Links::default();
    links.set(4, "eth0".into(), None, None);
    assert!(links.take_plans().is_empty(), "nothing given, nothing sent");
    links.set(4, "eth0".into(), dns(&["192.0.2.1"]), None);
    let plans = links.take_plans();
    assert_eq!(plans[0].dns, dns(&["192.0.2.1"]));
    assert_eq!(plans[0].domains, None);
}

#[test]
fn links_revert_then_set_before_sending_keeps_the_order() {
    let mut links = Links::default();
    links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
    links.take_plans();
    links.done(4, OK);
    links.revert(4);
    links.set(4, "eth0".into(), dns(&["192.0.2.9"]), None);
    assert_eq!(
        links.take_plans(),
        vec![LinkPlan {
            ifindex: 4,
            name: "eth0".into(),
            revert: true,
            dns: dns(&["192.0.2.9"]),
            domains: None,
        }],
        "revert first (drops the old domains), then the new servers"
    );
}

#[test]
fn links_set_then_revert_before_sending_is_just_a_revert() {
    let mut links = Links::default();
    links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
    links.revert(4);
    let plans = links.take_plans();
    assert_eq!(plans.len(), 1);
    assert!(plans[0].revert);
    assert_eq!(
        (plans[0].dns.clone(), plans[0].domains.clone()),
        (None, None)
    );
    links.done(4, OK);
    assert_eq!(links.name(4), None, "a reverted link is forgotten");
    assert_eq!(links.wanted_count(), 0);
}

#[test]
fn links_revert_of_unknown_link_is_still_sent() {
    let mut links = Links::default();
    links.revert(7);
    let plans = links.take_plans();
    assert_eq!(plans.len(), 1);
    assert!(plans[0].revert);
}

#[test]
fn links_reapply_everything_when_resolved_appears() {
    let mut links = Links::default();
    links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
    links.set(5, "eth1".into(), None, doms(&["b.test"]));
    for p in links.take_plans() {
        links.done(p.ifindex, OK);
    }
    assert!(links.take_plans().is_empty());
    links.appeared();
    let plans = links.take_plans();
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0].dns, dns(&["192.0.2.1"]));
    assert_eq!(plans[0].domains, doms(&["a.test"]));
    assert_eq!(plans[1].dns, None, "eth1's servers were never ours");
    assert_eq!(plans[1].domains, doms(&["b.test"]));
    assert!(!plans[0].revert && !plans[1].revert);
}

#[test]
fn links_appearance_during_a_call_sends_again_after_it() {
    let mut links = Links::default();
    links.set(4, "eth0".into(), dns(&["192.0.2.1"]), None);
    links.take_plans();
    links.appeared(); // the call may have gone to the old owner
    assert!(links.take_plans().is_empty());
    links.done(4, OK);
    assert_eq!(links.take_plans()[0].dns, dns(&["192.0.2.1"]));
}

#[test]
fn links_failed_revert_waits_for_resolved() {
    let mut links = Links::default();
    links.revert(4);
    links.take_plans();
    links.done(
        4,
        LinkDone {
            revert_failed: true,
        },
    );
    assert!(links.take_plans().is_empty(), "no retry loop");
    assert!(!links.any_work());
    links.appeared();
    let plans = links.take_plans();
    assert_eq!(plans.len(), 1);
    assert!(plans[0].revert);
    links.done(4, OK);
    assert_eq!(links.name(4), None);
}

#[test]
fn links_are_independent() {
    let mut links = Links::default();
    links.set(4, "eth0".into(), dns(&["192.0.2.1"]), None);
    assert_eq!(links.take_plans().len(), 1);
    links.set(5, "eth1".into(), dns(&["192.0.2.2"]), None);
    let plans = links.take_plans();
    assert_eq!(plans.len(), 1, "eth1 does not wait for eth0's call");
    assert_eq!(plans[0].ifindex, 5);
}

fn host_plan(name: Option<&str>) -> Option<HostPlan> {
    Some(HostPlan {
        name: name.map(String::from),
    })
}

#[test]
fn host_set_coalesces_and_latest_wins() {
    let mut host = Host::default();
    host.set(Some("a".into()));
    let first = host.take_plan();
    assert_eq!(first, host_plan(Some("a")));
    host.set(Some("b".into()));
    host.set(Some("c".into()));
    assert_eq!(host.take_plan(), None, "one call at a time");
    host.done(first.unwrap_or_else(|| unreachable!()), true);
    assert_eq!(host.take_plan(), host_plan(Some("c")));
}

#[test]
fn host_same_name_again_makes_no_call() {
    let mut host = Host::default();
    host.set(Some("a".into()));
    let plan = host.take_plan().unwrap_or_else(|| unreachable!());
    host.done(plan, true);
    host.set(Some("a".into()));
    assert_eq!(host.take_plan(), None);
}

#[test]
fn host_none_clears_only_a_name_we_set() {
    let mut host = Host::default();
    host.set(None);
    assert_eq!(host.take_plan(), None, "nothing of ours to clear");
    host.set(Some("a".into()));
    let plan = host.take_plan().unwrap_or_else(|| unreachable!());
    host.done(plan, true);
    host.set(None);
    assert_eq!(host.take_plan(), host_plan(None));
}

#[test]
fn host_set_then_none_before_sending_sends_nothing() {
    let mut host = Host::default();
    host.set(Some("a".into()));
    host.set(None);
    assert_eq!(host.take_plan(), None);
}

#[test]
fn host_failure_waits_for_hostnamed_to_appear() {
    let mut host = Host::default();
    host.set(Some("a".into()));
    let plan = host.take_plan().unwrap_or_else(|| unreachable!());
    host.done(plan, false);
    assert_eq!(host.take_plan(), None, "no retry loop");
    host.appeared();
    assert_eq!(host.take_plan(), host_plan(Some("a")));
}

#[test]
fn host_success_is_not_repeated_on_appearance() {
    let mut host = Host::default();
    host.set(Some("a".into()));
    let plan = host.take_plan().unwrap_or_else(|| unreachable!());
    host.appeared(); // our own call activated hostnamed
    host.done(plan, true);
    host.appeared(); // someone else activated it later
    assert_eq!(host.take_plan(), None);
}

#[test]
fn host_failure_while_hostnamed_started_gets_one_more_try() {
    let mut host = Host::default();
    host.set(Some("a".into()));
    let plan = host.take_plan().unwrap_or_else(|| unreachable!());
    host.appeared();
    host.done(plan, false);
    let again = host.take_plan();
    assert_eq!(again, host_plan(Some("a")));
    host.done(again.unwrap_or_else(|| unreachable!()), false);
    assert_eq!(host.take_plan(), None, "only one");
}
