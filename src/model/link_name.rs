//! How a kernel link name, which is bytes, becomes text: the one escaping used wherever a
//! name must be UTF-8 (the bus, JSON, logs, hook variables).
//!
//! The kernel accepts any bytes in a name except NUL, `/`, `:` and white space, so a name
//! need be neither UTF-8 nor printable. Such a name is written with every byte that is not
//! part of valid UTF-8, every control character (C0, DEL, C1) and every backslash as `\xHH`
//! (two lowercase hex digits); all other characters stay as they are. A name that is
//! printable UTF-8 without a backslash (every name in practice) is unchanged. The escaping
//! is reversible ([`kernel_bytes`]), so two distinct kernel names never share a text.

use std::fmt::Write as _;

/// The text form of the kernel name `bytes`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' || c.is_control() {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    push_byte(&mut out, b);
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            push_byte(&mut out, b);
        }
    }
    out
}

/// Whether `bytes` is its own text form (nothing to escape).
pub fn is_plain(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| !s.chars().any(|c| c == '\\' || c.is_control()))
}

/// The kernel's bytes of a name in text form: the inverse of [`escape`]. A `\x` not followed
/// by two hex digits (which [`escape`] never writes) is kept as written.
pub fn kernel_bytes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let [b'\\', b'x', hi, lo, ..] = bytes[i..] {
            if let (Some(hi), Some(lo)) = (hex(hi), hex(lo)) {
                out.push(hi << 4 | lo);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn push_byte(out: &mut String, b: u8) {
    // Writing to a String cannot fail.
    let _ = write!(out, "\\x{b:02x}");
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_unchanged() {
        for name in ["eth0", "wlp3s0", "br-lan", "veth.π", "007"] {
            assert!(is_plain(name.as_bytes()));
            assert_eq!(escape(name.as_bytes()), name);
            assert_eq!(kernel_bytes(name), name.as_bytes());
        }
    }

    #[test]
    fn invalid_utf8_control_characters_and_backslashes_are_escaped() {
        assert_eq!(escape(b"\xff\xfeA"), "\\xff\\xfeA");
        assert_eq!(escape(b"a\x1b[31m"), "a\\x1b[31m");
        assert_eq!(escape(b"a\\b"), "a\\x5cb");
        assert_eq!(escape("c\u{85}".as_bytes()), "c\\xc2\\x85");
        for name in [&b"\xff\xfeA"[..], b"a\x1b[31m", b"a\\b", b"\x7f", b"\\x41"] {
            assert!(!is_plain(name));
            assert_eq!(kernel_bytes(&escape(name)), name, "{name:?}");
        }
    }
}
