//! An ifindex as a D-Bus object path element, escaped the way systemd escapes it
//! (`sd_bus_path_encode`: a path element may not start with a digit, so the first digit
//! becomes `_3` followed by the digit's hex code's low nibble, i.e. `_3` + the digit).
//! networkd names its link objects so (read by `crate::source::networkd`) and our own link
//! objects follow it (`crate::dbus::path`); both use this one definition, below them both.

use crate::model::IfIndex;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_networkd() {
        assert_eq!(escape_index(1), "_31");
        assert_eq!(escape_index(4), "_34");
        assert_eq!(escape_index(12), "_312");
        assert_eq!(escape_index(1000), "_31000");
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
