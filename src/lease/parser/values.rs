//! The values of a lease file's statements: an option's one value, strings, IPv4 addresses,
//! numbers and netmasks, and which options fill which field of a [`Lease`].

use std::net::{IpAddr, Ipv4Addr};

use crate::lease::lexer::{Kind, Token};
use crate::lease::ParseError;
use crate::model::Lease;

/// Reads the options the broker acts on into their fields (`values` without the commas;
/// every option is also kept verbatim in `options` by the caller).
pub(super) fn read_option(
    lease: &mut Lease,
    name: &str,
    values: &[Token<'_>],
    line: usize,
) -> Result<(), ParseError> {
    match name {
        "subnet-mask" => {
            let mask = ipv4(single(values, name, line)?, name)?;
            lease.prefix_len = prefix_len(mask);
        }
        "routers" => {
            lease.routers = values
                .iter()
                .map(|v| ipv4(v, name))
                .collect::<Result<_, _>>()?;
        }
        "domain-name-servers" => {
            lease.dns = values
                .iter()
                .map(|v| ipv4(v, name).map(IpAddr::V4))
                .collect::<Result<_, _>>()?;
        }
        "domain-name" => lease.domain_name = Some(text(single(values, name, line)?)),
        "host-name" => lease.host_name = Some(text(single(values, name, line)?)),
        "domain-search" => {
            lease.domain_search = values
                .iter()
                .map(|v| {
                    let domain = text(v);
                    // dhclient writes RFC 1035 names fully qualified ("example.com.");
                    // resolved and hooks want them without the root dot.
                    domain.strip_suffix('.').unwrap_or(&domain).to_owned()
                })
                .filter(|d| !d.is_empty())
                .collect();
        }
        "interface-mtu" => {
            let value = single(values, name, line)?;
            lease.mtu = Some(number(value, name)?);
        }
        _ => {}
    }
    Ok(())
}

/// The one value of an option that takes one.
pub(super) fn single<'t, 'a>(
    values: &'t [Token<'a>],
    name: &str,
    line: usize,
) -> Result<&'t Token<'a>, ParseError> {
    match values {
        [value] => Ok(value),
        _ => Err(ParseError::new(
            line,
            format!("option {name}: expected one value, found {}", values.len()),
        )),
    }
}

/// A string value, quoted or bare.
pub(super) fn text(token: &Token<'_>) -> String {
    match &token.kind {
        Kind::Str(s) => s.clone(),
        Kind::Word(w) => (*w).to_owned(),
        _ => String::new(),
    }
}

pub(super) fn ipv4(token: &Token<'_>, what: &str) -> Result<Ipv4Addr, ParseError> {
    match &token.kind {
        Kind::Word(w) => w.parse().map_err(|_| {
            ParseError::at(
                token.line,
                token.column,
                format!("{what}: not an IPv4 address"),
            )
        }),
        other => Err(ParseError::at(
            token.line,
            token.column,
            format!(
                "{what}: expected an IPv4 address, found {}",
                other.describe()
            ),
        )),
    }
}

pub(super) fn number(token: &Token<'_>, what: &str) -> Result<u32, ParseError> {
    match &token.kind {
        Kind::Word(w) => w
            .parse()
            .map_err(|_| ParseError::at(token.line, token.column, format!("{what}: not a number"))),
        other => Err(ParseError::at(
            token.line,
            token.column,
            format!("{what}: expected a number, found {}", other.describe()),
        )),
    }
}

/// The prefix length of a contiguous netmask; `None` for a mask such as `255.0.255.0`,
/// which no prefix length expresses (the option is still in `options`).
pub(super) fn prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    let contiguous = u32::MAX.checked_shl(32 - ones).unwrap_or(0);
    if bits == contiguous {
        u8::try_from(ones).ok()
    } else {
        None
    }
}
