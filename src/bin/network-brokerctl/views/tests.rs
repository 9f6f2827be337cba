//! Unit tests of `views` (src/bin/network-brokerctl/views.rs).

use super::*;
use serde_json::json;

fn link_json() -> Value {
    json!({
        "Index": 4, "Name": "labdh0", "Kind": "veth", "HardwareAddress": "02:00:00:00:79:02", "MTU": 1500,
        "OperationalState": "routable", "KernelOperationalState": "up", "Flags": ["up", "lower_up"],
        "States": {"OperationalState": "routable", "CarrierState": "carrier", "AddressState": "routable",
                   "AdministrativeState": "", "OnlineState": ""},
        "Address": [{"IP": "192.168.79.10", "Mask": 24, "Scope": "global", "Permanent": false, "Label": "labdh0"}],
        "Gateways": ["192.168.79.1"], "DNS": ["192.168.79.1", "192.168.79.53"], "Domains": ["dh0.lab.test"],
        "Lease": {"ADDRESS": "192.168.79.10", "NETMASK": "255.255.255.0", "EXPIRE": "3600"},
        "RoutingTable": 100, "Routing": {"InPlace": false, "Ok": 1, "Missing": 1, "Stale": 0},
        "Routes": [
            {"Dst": {"IP": "", "Mask": 0}, "Gw": "192.168.79.1", "Src": "", "Table": 254, "TableName": "main",
             "Protocol": "dhcp", "Scope": "global", "Type": "unicast", "Metric": 2048},
            {"Dst": {"IP": "192.168.79.0", "Mask": 24}, "Gw": "", "Src": "192.168.79.10", "Table": 100,
             "TableName": "100", "Protocol": "kernel", "Scope": "link", "Type": "unicast", "Metric": 0},
            {"Dst": {"IP": "192.168.79.10", "Mask": 32}, "Gw": "", "Src": "192.168.79.10", "Table": 255,
             "TableName": "local", "Protocol": "kernel", "Scope": "host", "Type": "local", "Metric": 0},
        ],
    })
}

#[test]
fn the_link_page_reads_like_networkctl_status() {
    let page = link(&link_json(), 0, Style::plain());
    let expect = [
        "● 4: labdh0\n",
        "            Type: veth\n",
        "           State: routable (not managed by networkd)\n",
        "         Address: 192.168.79.10/24 (global, dynamic)\n",
        "             DNS: 192.168.79.1\n                  192.168.79.53\n",
        "      DHCP lease: 192.168.79.10 netmask 255.255.255.0\n",
        "          Expire: 1970-01-01 01:00:00 UTC (in 1h)\n",
        "   Routing table: 100 (not in place: 1 ok, 1 missing)\n",
        "          Routes: default via 192.168.79.1 proto dhcp metric 2048\n",
        "                  192.168.79.0/24 table 100 proto kernel scope link src 192.168.79.10\n",
    ];
    for line in expect {
        assert!(page.contains(line), "{line:?} not in\n{page}");
    }
    assert!(!page.contains('\x1b'));
    assert!(
        !page.contains("local"),
        "the local table is left out: {page}"
    );
}

#[test]
fn the_links_table_has_a_legend_unless_asked_not_to() {
    let links_json = vec![link_json()];
    let text = links(&links_json, true, Style::plain());
    assert!(text.starts_with("IDX LINK   TYPE OPERATIONAL SETUP ADDRESSES\n4   labdh0 veth routable    n/a   192.168.79.10/24\n"), "{text}");
    assert!(text.ends_with("\n1 link listed.\n"), "{text}");
    let bare = links(&links_json, false, Style::plain());
    assert_eq!(bare, "4 labdh0 veth routable n/a 192.168.79.10/24\n");
}

#[test]
fn status_lists_links_by_state_and_dns_by_link() {
    let v = json!({
        "Version": "0.1.0", "Generator": "netlink", "OperationalState": "routable",
        "OperationalStateFrom": "links", "CarrierState": "", "AddressState": "", "OnlineState": "",
        "Links": {"Total": 2, "ByOperationalState": {"carrier": 1, "routable": 1}},
        "Addresses": [{"Link": "eth0", "IP": "192.0.2.10", "PrefixLength": 24}],
        "Gateways": [], "DNS": [{"Link": "eth0", "Server": "192.0.2.1"}], "Domains": [],
    });
    let page = status(&v, Style::plain());
    assert!(page.starts_with("● network-broker\n"), "{page}");
    assert!(
        page.contains("  State: routable (from the links; networkd not seen)\n"),
        "{page}"
    );
    assert!(
        page.contains("  Links: 2 (1 carrier, 1 routable)\n"),
        "{page}"
    );
    assert!(page.contains("    DNS: 192.0.2.1 on eth0\n"), "{page}");
    assert!(page.contains("Address: 192.0.2.10/24 on eth0\n"), "{page}");
    assert!(
        !page.contains("Online state"),
        "empty rows are left out: {page}"
    );
}
