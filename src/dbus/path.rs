//! Object paths of link objects: `/org/freedesktop/NetworkBroker1/link/_3N` for ifindex N,
//! escaped the way systemd-networkd escapes them (`sd_bus_path_encode`: a path element may not
//! start with a digit, so the first digit becomes `_3` followed by the digit's hex code's low
//! nibble, i.e. `_3` + the digit). Paths never contain interface names: names change.

use zbus::OwnedObjectPath;

use crate::model::IfIndex;

use super::names::LINK_PATH_PREFIX;

/// The path element for an ifindex: `_34` for 4, `_312` for 12.
pub fn escape_index(index: IfIndex) -> String {
    let digits = index.to_string();
    // An ifindex always has at least one digit; only the first one needs escaping, as
    // `_` + its two hex digits ('0'..'9' are 0x30..0x39).
    let mut out = String::with_capacity(digits.len() + 2);
    for (i, c) in digits.chars().enumerate() {
        if i == 0 {
            out.push_str(&format!("_{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses a path element made by [`escape_index`].
pub fn unescape_index(element: &str) -> Option<IfIndex> {
    let rest = element.strip_prefix("_3")?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

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
    fn escapes_like_networkd() {
        assert_eq!(escape_index(1), "_31");
        assert_eq!(escape_index(4), "_34");
        assert_eq!(escape_index(12), "_312");
        assert_eq!(escape_index(1000), "_31000");
        assert_eq!(
            link_path(3).as_str(),
            "/org/freedesktop/NetworkBroker1/link/_33"
        );
    }

    #[test]
    fn unescape_round_trips_and_rejects_garbage() {
        for index in [1, 9, 10, 42, 65535, u32::MAX] {
            assert_eq!(unescape_index(&escape_index(index)), Some(index));
        }
        for bad in ["", "_3", "3", "_3x", "_41", "../x", "_3-1"] {
            assert_eq!(unescape_index(bad), None, "{bad}");
        }
    }
}
