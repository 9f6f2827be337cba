//! Unit tests of `hooks` (src/bin/network-brokerctl/hooks.rs).

use super::*;

#[test]
fn the_dry_run_environment_is_sh_input() {
    let env = vec![
        (
            "DHCP_LEASE".to_string(),
            "ADDRESS=192.0.2.10\nDNS=192.0.2.1".to_string(),
        ),
        ("LINK".to_string(), "eth0".to_string()),
    ];
    let text = dry_run(&["/etc/network-broker/routable.d/50-x".into()], &env, "");
    assert_eq!(
        text,
        "# scripts, in run order:\n#   /etc/network-broker/routable.d/50-x\n# environment:\n\
         DHCP_LEASE='ADDRESS=192.0.2.10\nDNS=192.0.2.1'\nLINK=eth0\n\
         # standard input: none (/dev/null)\n"
    );
}

#[test]
fn results_and_hook_lists_are_lines() {
    let r = vec![
        ("/x/50-a".to_string(), 0, String::new()),
        ("/x/60-b".to_string(), 124, "timed out".to_string()),
    ];
    assert_eq!(
        results("routable", &r),
        "  0 /x/50-a\n124 /x/60-b timed out\n"
    );
    assert_eq!(results("routable", &[]), "no hooks for routable\n");
    let hooks = vec![("routable".to_string(), "/x/50-a".to_string())];
    assert_eq!(list(&hooks, false, Style::plain()), "routable /x/50-a\n");
}
