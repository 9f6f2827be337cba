//! Unit tests of `quote` (src/bin/network-brokerctl/quote.rs).

use super::shell;

#[test]
fn plain_words_stay_and_the_rest_is_single_quoted() {
    assert_eq!(shell("routable"), "routable");
    assert_eq!(
        shell("/etc/network-broker/routable.d"),
        "/etc/network-broker/routable.d"
    );
    assert_eq!(shell(""), "''");
    assert_eq!(shell("a b"), "'a b'");
    assert_eq!(shell("ADDRESS=1\nDNS=2"), "'ADDRESS=1\nDNS=2'");
    assert_eq!(shell("it's $HOME"), r"'it'\''s $HOME'");
}
