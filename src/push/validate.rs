//! What may be pushed, and in which wire form: pure checks of host names, domain names and DNS
//! server addresses as they come from a lease, and the `a(iay)` / `a(sb)` arguments built from
//! the values that pass. Nothing here logs or touches the bus; the handle reports what was
//! dropped.
//!
//! The rules are those of the receivers, so that a value the broker pushes is never refused
//! for its form: hostnamed's `hostname_is_valid()` for host names, and a conservative subset
//! of resolved's `dns_name_is_valid()` for domains (plain LDH labels, no escapes).

use std::net::IpAddr;

use super::proxy::resolved::{AF_INET, AF_INET6};

/// Longest host name the kernel (and so hostnamed) accepts: `HOST_NAME_MAX` on Linux.
pub const HOST_NAME_MAX: usize = 64;
/// Longest domain name in text form without the trailing dot (RFC 1035: 255 octets on the
/// wire, which is 253 characters of text).
pub const DOMAIN_NAME_MAX: usize = 253;
/// Longest label of a domain name (RFC 1035).
pub const LABEL_MAX: usize = 63;

/// Why a value was not pushed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The value is empty.
    #[error("empty")]
    Empty,
    /// The value is longer than the receiver accepts.
    #[error("longer than {max} characters")]
    TooLong {
        /// The limit that was exceeded.
        max: usize,
    },
    /// A character outside letters, digits, `-` (and `_` in domains) and `.` as separator.
    #[error("contains {0:?}, which is not allowed")]
    BadChar(char),
    /// An empty label: a leading dot, two dots in a row, or (for host names) a trailing dot.
    #[error("has an empty label")]
    EmptyLabel,
    /// A label longer than [`LABEL_MAX`].
    #[error("has a label longer than {LABEL_MAX} characters")]
    LongLabel,
    /// A label that starts or ends with `-`.
    #[error("has a label that starts or ends with '-'")]
    HyphenEdge,
    /// An address no resolver can be reached at.
    #[error("is not a usable DNS server address ({0})")]
    Address(&'static str),
}

/// Checks a host name by hostnamed's rules (`hostname_is_valid(name, 0)` in systemd): 1 to
/// [`HOST_NAME_MAX`] characters, labels of ASCII letters, digits and `-` separated by single
/// dots, no label starting or ending with `-`, no leading or trailing dot.
pub fn hostname(name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(Invalid::Empty);
    }
    if name.len() > HOST_NAME_MAX {
        return Err(Invalid::TooLong { max: HOST_NAME_MAX });
    }
    for label in name.split('.') {
        check_label(label, |c| c.is_ascii_alphanumeric() || c == '-')?;
    }
    Ok(())
}

/// Checks a search domain and returns it in the form pushed: without a trailing dot, which
/// resolved would drop anyway. Labels are 1 to [`LABEL_MAX`] ASCII letters, digits, `-` or
/// `_` (service labels such as `_tcp` occur in real search lists), not starting or ending with
/// `-`; the whole name is at most [`DOMAIN_NAME_MAX`] characters. The root domain (`.`) is
/// refused: as a search domain it means nothing.
pub fn domain(name: &str) -> Result<String, Invalid> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(Invalid::Empty);
    }
    if name.len() > DOMAIN_NAME_MAX {
        return Err(Invalid::TooLong {
            max: DOMAIN_NAME_MAX,
        });
    }
    for label in name.split('.') {
        check_label(label, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_')?;
    }
    Ok(name.to_owned())
}

/// Checks a DNS server address: not unspecified (`0.0.0.0`, `::`), not multicast, not the IPv4
/// limited broadcast. Loopback is allowed (a local forwarder) and so is link-local (it is
/// pushed per link, so its scope is known).
pub fn dns_server(addr: IpAddr) -> Result<(), Invalid> {
    let addr = addr.to_canonical();
    if addr.is_unspecified() {
        return Err(Invalid::Address("unspecified"));
    }
    if addr.is_multicast() {
        return Err(Invalid::Address("multicast"));
    }
    if let IpAddr::V4(v4) = addr {
        if v4.is_broadcast() {
            return Err(Invalid::Address("broadcast"));
        }
    }
    Ok(())
}

/// One label of a host or domain name.
fn check_label(label: &str, allowed: impl Fn(char) -> bool) -> Result<(), Invalid> {
    if label.is_empty() {
        return Err(Invalid::EmptyLabel);
    }
    if label.len() > LABEL_MAX {
        return Err(Invalid::LongLabel);
    }
    if let Some(bad) = label.chars().find(|c| !allowed(*c)) {
        return Err(Invalid::BadChar(bad));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(Invalid::HyphenEdge);
    }
    Ok(())
}

/// The values of a list that passed a check, and the ones that did not (with the reason), in
/// their original order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked<T, R> {
    /// Valid values, duplicates removed (the first occurrence stays).
    pub kept: Vec<T>,
    /// Dropped values and why.
    pub dropped: Vec<(R, Invalid)>,
}

/// Checks a list of DNS servers: invalid ones are dropped, duplicates removed, IPv4-mapped IPv6
/// addresses pushed as the IPv4 address they are.
pub fn dns_servers(addrs: &[IpAddr]) -> Checked<IpAddr, IpAddr> {
    let mut kept: Vec<IpAddr> = Vec::with_capacity(addrs.len());
    let mut dropped = Vec::new();
    for &addr in addrs {
        match dns_server(addr) {
            Ok(()) => {
                let addr = addr.to_canonical();
                if !kept.contains(&addr) {
                    kept.push(addr);
                }
            }
            Err(why) => dropped.push((addr, why)),
        }
    }
    Checked { kept, dropped }
}

/// Checks a list of search domains: invalid ones are dropped, duplicates (compared without
/// regard to ASCII case, as DNS does) removed.
pub fn domains(names: &[String]) -> Checked<String, String> {
    let mut kept: Vec<String> = Vec::with_capacity(names.len());
    let mut dropped = Vec::new();
    for name in names {
        match domain(name) {
            Ok(clean) => {
                if !kept.iter().any(|k| k.eq_ignore_ascii_case(&clean)) {
                    kept.push(clean);
                }
            }
            Err(why) => dropped.push((name.clone(), why)),
        }
    }
    Checked { kept, dropped }
}

/// The `a(iay)` argument of `SetLinkDNS`: address family and the address bytes in network
/// order.
pub fn dns_argument(addrs: &[IpAddr]) -> Vec<(i32, Vec<u8>)> {
    addrs
        .iter()
        .map(|addr| match addr.to_canonical() {
            IpAddr::V4(v4) => (AF_INET, v4.octets().to_vec()),
            IpAddr::V6(v6) => (AF_INET6, v6.octets().to_vec()),
        })
        .collect()
}

/// The `a(sb)` argument of `SetLinkDomains`: every domain a **search** domain
/// (routing-only = `false`). The Go original sent `true`, which made DHCP's domains
/// routing-only (`~domain`) and broke short-name completion.
pub fn domains_argument(names: &[String]) -> Vec<(&str, bool)> {
    names
        .iter()
        .map(|name| (name.as_str(), /* routing_only = */ false))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn hostname_accepts_what_hostnamed_accepts() {
        for ok in [
            "labclient-dh0",
            "a",
            "A1",
            "host.example.com",
            "x-y.z",
            &"a".repeat(63),
            &format!("{}.{}", "a".repeat(40), "b".repeat(23)),
        ] {
            assert_eq!(hostname(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn hostname_rejects_what_hostnamed_rejects() {
        let cases: &[(&str, Invalid)] = &[
            ("", Invalid::Empty),
            (
                &format!("{}.{}", "a".repeat(40), "b".repeat(24)),
                Invalid::TooLong { max: 64 },
            ),
            ("host-name ", Invalid::BadChar(' ')),
            ("bad_name", Invalid::BadChar('_')),
            ("ünicode", Invalid::BadChar('ü')),
            ("\"quoted\"", Invalid::BadChar('"')),
            (".lead", Invalid::EmptyLabel),
            ("trail.", Invalid::EmptyLabel),
            ("two..dots", Invalid::EmptyLabel),
            ("-lead", Invalid::HyphenEdge),
            ("trail-", Invalid::HyphenEdge),
            ("a.-b", Invalid::HyphenEdge),
        ];
        for (name, why) in cases {
            assert_eq!(hostname(name).as_ref(), Err(why), "{name:?}");
        }
    }

    #[test]
    fn domain_strips_one_trailing_dot_and_checks_labels() {
        assert_eq!(domain("dh0.lab.test."), Ok("dh0.lab.test".to_owned()));
        assert_eq!(
            domain("_tcp.example.com"),
            Ok("_tcp.example.com".to_owned())
        );
        assert_eq!(domain("test"), Ok("test".to_owned()));
        assert_eq!(domain(""), Err(Invalid::Empty));
        assert_eq!(domain("."), Err(Invalid::Empty));
        assert_eq!(domain("a..b"), Err(Invalid::EmptyLabel));
        assert_eq!(domain("a.b.."), Err(Invalid::EmptyLabel));
        assert_eq!(domain("a b.test"), Err(Invalid::BadChar(' ')));
        assert_eq!(domain("a,b.test"), Err(Invalid::BadChar(',')));
        assert_eq!(domain("\"b.test\""), Err(Invalid::BadChar('"')));
        assert_eq!(domain("-a.test"), Err(Invalid::HyphenEdge));
        assert_eq!(
            domain(&format!("{}.test", "a".repeat(64))),
            Err(Invalid::LongLabel)
        );
    }

    #[test]
    fn domain_length_limit_is_253_without_the_dot() {
        // 4 labels of 63 + 3 dots = 255: too long; 3*63 + 61 + 3 = 253: fits.
        let long = [&"a".repeat(63); 4].map(|s| s.as_str()).join(".");
        assert_eq!(domain(&long), Err(Invalid::TooLong { max: 253 }));
        let fits = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(61));
        assert_eq!(fits.len(), 253);
        assert_eq!(domain(&format!("{fits}.")), Ok(fits));
    }

    #[test]
    fn dns_servers_drops_unusable_and_duplicate_addresses() {
        let checked = dns_servers(&[
            ip("192.168.79.1"),
            ip("0.0.0.0"),
            ip("224.0.0.251"),
            ip("255.255.255.255"),
            ip("::"),
            ip("ff02::fb"),
            ip("192.168.79.1"),
            ip("::ffff:192.168.79.53"),
            ip("192.168.79.53"),
            ip("127.0.0.1"),
            ip("fe80::1"),
        ]);
        assert_eq!(
            checked.kept,
            vec![
                ip("192.168.79.1"),
                ip("192.168.79.53"),
                ip("127.0.0.1"),
                ip("fe80::1")
            ]
        );
        let dropped: Vec<IpAddr> = checked.dropped.iter().map(|(a, _)| *a).collect();
        assert_eq!(
            dropped,
            vec![
                ip("0.0.0.0"),
                ip("224.0.0.251"),
                ip("255.255.255.255"),
                ip("::"),
                ip("ff02::fb")
            ]
        );
        assert_eq!(checked.dropped[0].1, Invalid::Address("unspecified"));
        assert_eq!(checked.dropped[1].1, Invalid::Address("multicast"));
    }

    #[test]
    fn domains_drops_invalid_and_case_duplicates_keeping_order() {
        let names: Vec<String> = [
            "dh0.lab.test",
            "bad name",
            "Search.Lab.Test.",
            "search.lab.test",
        ]
        .map(String::from)
        .to_vec();
        let checked = domains(&names);
        assert_eq!(checked.kept, vec!["dh0.lab.test", "Search.Lab.Test"]);
        assert_eq!(
            checked.dropped,
            vec![("bad name".to_owned(), Invalid::BadChar(' '))]
        );
    }

    #[test]
    fn dns_argument_is_family_and_network_order_bytes() {
        let arg = dns_argument(&[
            IpAddr::V4(Ipv4Addr::new(192, 168, 79, 1)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53)),
            ip("::ffff:10.0.0.1"),
        ]);
        assert_eq!(
            arg,
            vec![
                (2, vec![192, 168, 79, 1]),
                (
                    10,
                    vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53]
                ),
                (2, vec![10, 0, 0, 1]),
            ]
        );
    }

    #[test]
    fn domains_argument_marks_every_domain_as_search_domain() {
        let names = vec!["dh0.lab.test".to_owned(), "search.lab.test".to_owned()];
        assert_eq!(
            domains_argument(&names),
            vec![("dh0.lab.test", false), ("search.lab.test", false)]
        );
    }
}
