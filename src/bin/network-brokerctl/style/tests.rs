//! Unit tests of `style` (src/bin/network-brokerctl/style.rs).

use super::*;

#[test]
fn plain_style_never_writes_escapes() {
    let plain = Style::plain();
    for state in ["routable", "degraded", "off", "no-carrier", "anything"] {
        assert_eq!(plain.state(state), state);
    }
    assert_eq!(plain.dot("routable"), "●");
    assert_eq!(plain.bold("x"), "x");
}

#[test]
fn colour_wraps_the_word_and_resets() {
    let color = Style { color: true };
    assert_eq!(color.state("routable"), "\x1b[0;1;32mroutable\x1b[0m");
    assert_eq!(color.state("carrier"), "carrier");
    assert!(color.dot("no-carrier").starts_with(RED));
}
