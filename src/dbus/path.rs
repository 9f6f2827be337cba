//! Object paths of link objects: `/org/freedesktop/NetworkBroker1/link/_3N` for ifindex N,
//! the element escaped as systemd-networkd escapes it (`crate::ifindex_path`). Paths never
//! contain interface names: names change.

use zbus::OwnedObjectPath;

use crate::ifindex_path::escape_index;
use crate::model::IfIndex;

use super::names::LINK_PATH_PREFIX;

/// The object path of the link with this ifindex.
pub fn link_path(index: IfIndex) -> OwnedObjectPath {
    let path = format!("{LINK_PATH_PREFIX}/{}", escape_index(index));
    // The prefix is a valid path and the element is `_` followed by digits, so this cannot
    // fail; fall back to the prefix rather than panic if that ever changes.
    OwnedObjectPath::try_from(path).unwrap_or_else(|_| link_path_prefix())
}

fn link_path_prefix() -> OwnedObjectPath {
    OwnedObjectPath::try_from(LINK_PATH_PREFIX).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_lives_under_the_prefix_with_its_escaped_index() {
        assert_eq!(
            link_path(3).as_str(),
            "/org/freedesktop/NetworkBroker1/link/_33"
        );
    }
}
