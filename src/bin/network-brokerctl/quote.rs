//! Shell quoting, so that `run-hooks --dry-run` prints `NAME=VALUE` lines that sh(1) reads back
//! as exactly the values the hooks get (a multi-line `DHCP_LEASE` included).

/// `value` as one sh word: as it is when it holds only characters no shell treats specially,
/// otherwise in single quotes, each `'` written as `'\''`.
pub fn shell(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests;
