//! Unit tests of `page` (src/bin/network-brokerctl/page.rs).

use super::*;

#[test]
fn labels_align_and_values_continue() {
    let mut page = Page::default();
    page.row("State", "routable");
    page.rows("DNS", vec!["192.0.2.1".into(), "192.0.2.2".into()]);
    page.row("Empty", "");
    assert_eq!(
        page.render("● 4: eth0"),
        "● 4: eth0\nState: routable\n  DNS: 192.0.2.1\n       192.0.2.2\n"
    );
}
