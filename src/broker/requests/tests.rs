//! Unit tests of `crate::broker::requests`.

use super::*;

fn view() -> Arc<LinkView> {
    let mut view = LinkView::new(crate::model::fixtures::link(3, "eth0"));
    view.states = States::from([
        (StateProperty::Operational, "routable"),
        (StateProperty::Carrier, "carrier"),
        (StateProperty::Administrative, "configured"),
    ]);
    Arc::new(view)
}

/// A lease of eth0 naming a DNS server, a domain and a host name.
pub(crate) fn lease() -> Lease {
    Lease {
        interface: "eth0".into(),
        address: Some("192.0.2.1".parse().unwrap()),
        prefix_len: Some(24),
        routers: Vec::new(),
        dns: vec!["192.0.2.53".parse().unwrap()],
        domain_name: Some("example.test".into()),
        domain_search: Vec::new(),
        host_name: Some("client".into()),
        mtu: None,
        renew: None,
        rebind: None,
        expire: None,
        options: Default::default(),
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_state_change_lists_that_state_first_and_state_last() {
    let request = state_change(&view(), 1003, StateProperty::Administrative, "configured");
    assert_eq!(request.event, HookEvent::State("configured"));
    assert_eq!(
        request.vars,
        pairs(&[
            ("AdministrativeState", "configured"),
            ("OperationalState", "routable"),
            ("CarrierState", "carrier"),
            ("STATE", "configured"),
        ])
    );
    assert_eq!(request.link.map(|l| l.attrs.index), Some(3));
    assert_eq!(request.routing_table, 1003, "for the JSON's RoutingTable");
}

#[test]
fn a_lease_runs_routable_with_the_lease() {
    let lease = lease();
    let request = lease_change(&view(), 0, lease.clone());
    assert_eq!(request.event, "routable");
    assert_eq!(request.lease, Some(lease));
    assert_eq!(
        request.vars.last(),
        Some(&pairs(&[("STATE", "routable")])[0])
    );
}

#[test]
fn manager_and_routes_have_no_state() {
    let manager = States::from([(StateProperty::Operational, "degraded")]);
    let request = manager_change(&manager);
    assert_eq!(
        (request.event.clone(), request.link.is_none()),
        (HookEvent::Manager, true)
    );
    assert_eq!(request.vars, pairs(&[("OperationalState", "degraded")]));
    let routes = routes_modified(&view(), 0);
    assert_eq!(routes.event, HookEvent::RoutesModified);
    assert!(routes.vars.is_empty());
}

#[test]
fn a_requested_event_gets_state_only_when_it_is_one() {
    let routable = on_request(&view(), 0, HookEvent::parse("routable").unwrap());
    assert!(routable.vars.contains(&pairs(&[("STATE", "routable")])[0]));
    let named = on_request(&view(), 0, HookEvent::parse("sec").unwrap());
    assert!(named.vars.iter().all(|(name, _)| name != "STATE"));
    assert_eq!(named.vars.len(), 3);
}
