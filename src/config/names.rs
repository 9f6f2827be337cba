//! Linux interface names, as the kernel accepts them.

/// `IFNAMSIZ` minus the terminating NUL.
const MAX_LINK_NAME_BYTES: usize = 15;

/// Checks that `name` could be a Linux interface name, following the kernel's
/// `dev_valid_name()`: 1 to 15 bytes, not `.` or `..`, and no `/`, `:`, ASCII whitespace or
/// NUL. On failure returns why, worded to follow "invalid interface name "x": ".
///
/// Checking names up front turns a mistyped one into an error at start instead of a link
/// that silently never matches.
pub fn validate_link_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.len() > MAX_LINK_NAME_BYTES {
        return Err("is longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return Err("must not be \".\" or \"..\"");
    }
    for byte in name.bytes() {
        match byte {
            b'/' => return Err("must not contain '/'"),
            // The kernel refuses ':' since it would be read as an IPv4 address label
            // (`eth0:1`), which is not a link.
            b':' => return Err("must not contain ':'"),
            // C isspace(): space, \t, \n, \v, \f, \r.
            b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => {
                return Err("must not contain whitespace")
            }
            0 => return Err("must not contain a NUL character"),
            _ => {}
        }
    }
    Ok(())
}
