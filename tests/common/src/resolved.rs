//! systemd-resolved and systemd-hostnamed in the lab, read back with busctl (another client
//! than the one under test), and guards that restore what a test changed.

use crate::{wait_until, CmdOutput, LabInfo, EVENT_TIMEOUT};
use serde_json::Value;
use std::net::IpAddr;

// than the one under test)

/// systemd-resolved's bus name.
pub const RESOLVE1: &str = "org.freedesktop.resolve1";
/// systemd-hostnamed's bus name (also its interface).
pub const HOSTNAME1: &str = "org.freedesktop.hostname1";

/// A link's servers and (domain, routing-only) pairs as resolved reports them.
pub type LinkDns = (Vec<IpAddr>, Vec<(String, bool)>);

/// What resolved holds for link `ifindex` (labhost's index): `GetLink(i)`, then the link
/// object's `DNS` (`a(iay)`) and `Domains` (`a(sb)`). `Err` when resolved does not know the
/// link (it forgets deleted links) or does not answer.
pub fn resolved_link(lab: &LabInfo, ifindex: u32) -> Result<LinkDns, String> {
    let reply = lab.try_busctl_json(&[
        "call",
        RESOLVE1,
        "/org/freedesktop/resolve1",
        "org.freedesktop.resolve1.Manager",
        "GetLink",
        "i",
        &ifindex.to_string(),
    ])?;
    let path = reply["data"][0]
        .as_str()
        .ok_or_else(|| format!("GetLink reply is not an object path: {reply}"))?
        .to_owned();
    let get = |prop: &str| -> Result<Value, String> {
        Ok(lab.try_busctl_json(&[
            "get-property",
            RESOLVE1,
            &path,
            "org.freedesktop.resolve1.Link",
            prop,
        ])?["data"]
            .clone())
    };
    let dns = get("DNS")?
        .as_array()
        .ok_or("DNS is not an array")?
        .iter()
        .map(|e| {
            let bytes: Vec<u8> = e[1]
                .as_array()
                .ok_or(format!("bad a(iay) entry {e}"))?
                .iter()
                .map(|b| {
                    b.as_u64()
                        .and_then(|b| u8::try_from(b).ok())
                        .ok_or("bad byte")
                })
                .collect::<Result<_, _>>()?;
            match (e[0].as_i64(), bytes.len()) {
                (Some(2), 4) => Ok(IpAddr::from(<[u8; 4]>::try_from(bytes).unwrap())),
                (Some(10), 16) => Ok(IpAddr::from(<[u8; 16]>::try_from(bytes).unwrap())),
                _ => Err(format!("bad a(iay) entry {e}")),
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    let domains = get("Domains")?
        .as_array()
        .ok_or("Domains is not an array")?
        .iter()
        .map(|e| {
            Ok((
                e[0].as_str()
                    .ok_or(format!("bad a(sb) entry {e}"))?
                    .to_owned(),
                e[1].as_bool().ok_or(format!("bad a(sb) entry {e}"))?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((dns, domains))
}

/// Waits until resolved holds exactly `dns` and `domains` (all of them search domains, i.e.
/// routing-only `false`) for `ifindex`.
pub fn wait_resolved(lab: &LabInfo, ifindex: u32, what: &str, dns: &[IpAddr], domains: &[&str]) {
    let want_domains: Vec<(String, bool)> =
        domains.iter().map(|d| (d.to_string(), false)).collect();
    wait_until(what, EVENT_TIMEOUT, || {
        let (got_dns, got_domains) = resolved_link(lab, ifindex)?;
        if got_dns == dns && got_domains == want_domains {
            Ok(())
        } else {
            Err(format!("DNS {got_dns:?}, Domains {got_domains:?}"))
        }
    });
}

/// Addresses from text, for comparing with [`resolved_link`].
pub fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// `RevertLink(ifindex)` from busctl on drop: leave resolved's settings for the link (e.g.
/// labdh0) as the lab made them, whatever the test pushed.
pub struct ResolvedRevertOnDrop<'a> {
    /// The lab.
    pub lab: &'a LabInfo,
    /// The link (labhost's index).
    pub ifindex: u32,
}

impl Drop for ResolvedRevertOnDrop<'_> {
    fn drop(&mut self) {
        let _ = revert_resolved_link(self.lab, self.ifindex);
    }
}

/// `RevertLink(ifindex)` on the lab's resolved, from busctl: the link's DNS settings go back
/// to what resolved had before anyone pushed them.
pub fn revert_resolved_link(lab: &LabInfo, ifindex: u32) -> CmdOutput {
    lab.output(&[
        "busctl",
        "call",
        RESOLVE1,
        "/org/freedesktop/resolve1",
        "org.freedesktop.resolve1.Manager",
        "RevertLink",
        "i",
        &ifindex.to_string(),
    ])
}

/// A string property of hostnamed (`Hostname`, `StaticHostname`, `HostnameSource`, ...).
pub fn hostnamed_property(lab: &LabInfo, prop: &str) -> Result<String, String> {
    let v = lab.try_busctl_json(&[
        "get-property",
        HOSTNAME1,
        "/org/freedesktop/hostname1",
        HOSTNAME1,
        prop,
    ])?;
    v["data"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("{prop} is not a string: {v}"))
}

/// `SetStaticHostname(name, false)` on the lab's hostnamed (`""` removes the static name).
pub fn set_static_hostname(lab: &LabInfo, name: &str) {
    static_hostname_call(lab, name).ok();
}

fn static_hostname_call(lab: &LabInfo, name: &str) -> CmdOutput {
    lab.output(&[
        "busctl",
        "call",
        HOSTNAME1,
        "/org/freedesktop/hostname1",
        HOSTNAME1,
        "SetStaticHostname",
        "sb",
        name,
        "false",
    ])
}

/// Restores the lab's static host name on drop (hostnamed then uses it again).
pub struct StaticHostnameOnDrop<'a> {
    /// The lab.
    pub lab: &'a LabInfo,
    /// The static name to restore (the lab's is `labhost`).
    pub name: String,
}

impl Drop for StaticHostnameOnDrop<'_> {
    fn drop(&mut self) {
        let out = static_hostname_call(self.lab, &self.name);
        if !out.success() {
            eprintln!("cleanup: {}", out.describe());
        }
    }
}
