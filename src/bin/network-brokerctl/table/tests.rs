//! Unit tests of `table` (src/bin/network-brokerctl/table.rs).

use super::*;

fn rows() -> Vec<Vec<Cell>> {
    vec![
        vec![Cell::plain("1"), Cell::plain("lo"), Cell::state("carrier")],
        vec![
            Cell::plain("12"),
            Cell::plain("eth0"),
            Cell::state("routable"),
        ],
    ]
}

#[test]
fn columns_align_with_header_and_legend() {
    let text = render(
        &["IDX", "LINK", "STATE"],
        &rows(),
        Some("2 links listed."),
        Style::plain(),
    );
    assert_eq!(
        text,
        "IDX LINK STATE\n1   lo   carrier\n12  eth0 routable\n\n2 links listed.\n"
    );
}

#[test]
fn no_legend_leaves_out_header_and_footer() {
    let text = render(&["IDX", "LINK", "STATE"], &rows(), None, Style::plain());
    assert_eq!(text, "1  lo   carrier\n12 eth0 routable\n");
}

#[test]
fn colour_does_not_break_alignment() {
    let text = render(
        &["IDX", "LINK", "STATE"],
        &rows(),
        None,
        Style { color: true },
    );
    let plain: String = strip(&text);
    assert_eq!(plain, "1  lo   carrier\n12 eth0 routable\n");
}

fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut escape = false;
    for c in text.chars() {
        match (escape, c) {
            (false, '\x1b') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}
