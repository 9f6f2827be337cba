//! What systemd-networkd keeps about a link on disk, read for a hook run: the DHCP lease
//! (`<state dir>/leases/N`) and the link's state file (`<state dir>/links/N`, with DNS, NTP and
//! search domains). Both are `KEY=VALUE` text files that networkd rewrites atomically.
//!
//! networkd writes "This is private data. Do not parse." at the top of its lease file; the
//! format has been stable for a decade and networkd-dispatcher users rely on it, so hooks get
//! it verbatim (as `DHCP_LEASE`) and a few fields parsed into the JSON.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::IfIndex;

/// Largest file read; networkd's files are a few hundred bytes, anything bigger is not theirs.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// networkd's files for one link, as far as they exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkdFiles {
    /// The lease file's path, when the file exists.
    pub lease_path: Option<PathBuf>,
    /// The lease's `KEY=VALUE` pairs, in file order.
    pub lease: Vec<(String, String)>,
    /// The link state file's `KEY=VALUE` pairs, in file order.
    pub link: Vec<(String, String)>,
}

/// The parts of networkd's view that go into a hook's JSON as `"Networkd"`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NetworkdJson {
    /// DNS servers networkd uses for the link.
    #[serde(rename = "DNS")]
    pub dns: Vec<String>,
    /// NTP servers.
    #[serde(rename = "NTP")]
    pub ntp: Vec<String>,
    /// Search domains.
    #[serde(rename = "Domains")]
    pub domains: Vec<String>,
    /// Routing-only domains.
    #[serde(rename = "RouteDomains")]
    pub route_domains: Vec<String>,
    /// The DHCP lease, key by key (`ADDRESS`, `ROUTER`, `DNS`, `HOSTNAME`, …); empty without one.
    #[serde(rename = "Lease")]
    pub lease: std::collections::BTreeMap<String, String>,
}

impl NetworkdFiles {
    /// Whether networkd has anything about the link.
    pub fn is_empty(&self) -> bool {
        self.lease.is_empty() && self.link.is_empty()
    }

    /// The lease as hooks get it in `DHCP_LEASE`: its `KEY=VALUE` lines, newline-separated.
    pub fn lease_text(&self) -> Option<String> {
        if self.lease.is_empty() {
            return None;
        }
        let lines: Vec<String> = self.lease.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Some(lines.join("\n"))
    }

    /// The JSON part.
    pub fn json(&self) -> NetworkdJson {
        let words = |key: &str| -> Vec<String> {
            self.link
                .iter()
                .filter(|(k, _)| k == key)
                .flat_map(|(_, v)| v.split_whitespace().map(str::to_string))
                .collect()
        };
        NetworkdJson {
            dns: words("DNS"),
            ntp: words("NTP"),
            domains: words("DOMAINS"),
            route_domains: words("ROUTE_DOMAINS"),
            lease: self.lease.iter().cloned().collect(),
        }
    }
}

/// Reads networkd's files for link `index` under `dir`; missing or unreadable files are empty.
pub fn read(dir: &Path, index: IfIndex) -> NetworkdFiles {
    let lease_path = dir.join("leases").join(index.to_string());
    let lease = read_pairs(&lease_path);
    NetworkdFiles {
        lease_path: lease.as_ref().map(|_| lease_path.clone()),
        lease: lease.unwrap_or_default(),
        link: read_pairs(&dir.join("links").join(index.to_string())).unwrap_or_default(),
    }
}

fn read_pairs(path: &Path) -> Option<Vec<(String, String)>> {
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_file() || metadata.len() > MAX_FILE_BYTES {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    Some(parse_pairs(&text))
}

/// `KEY=VALUE` lines; comments, blank lines and lines without `=` are skipped.
pub fn parse_pairs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: &str = "# This is private data. Do not parse.\n\
        ADDRESS=192.168.77.10\nNETMASK=255.255.255.0\nROUTER=192.168.77.1\n\
        DNS=192.168.77.1 192.168.77.53\nDOMAINNAME=nd0.lab.test\nHOSTNAME=labclient-nd0\n";
    const LINK: &str = "# This is private data. Do not parse.\nADMIN_STATE=configured\n\
        OPER_STATE=routable\nDNS=192.168.77.1 192.168.77.53\nNTP=\nDOMAINS=nd0.lab.test search.lab.test\n\
        ROUTE_DOMAINS=\n";

    #[test]
    fn reads_lease_and_link_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("leases")).unwrap();
        std::fs::create_dir_all(dir.path().join("links")).unwrap();
        std::fs::write(dir.path().join("leases/2"), LEASE).unwrap();
        std::fs::write(dir.path().join("links/2"), LINK).unwrap();

        let files = read(dir.path(), 2);
        assert_eq!(
            files.lease_path.as_deref(),
            Some(dir.path().join("leases/2").as_path())
        );
        assert_eq!(
            files.lease_text().unwrap(),
            "ADDRESS=192.168.77.10\nNETMASK=255.255.255.0\nROUTER=192.168.77.1\n\
             DNS=192.168.77.1 192.168.77.53\nDOMAINNAME=nd0.lab.test\nHOSTNAME=labclient-nd0"
        );
        let json = files.json();
        assert_eq!(json.dns, ["192.168.77.1", "192.168.77.53"]);
        assert_eq!(json.domains, ["nd0.lab.test", "search.lab.test"]);
        assert!(json.ntp.is_empty());
        assert_eq!(json.lease["HOSTNAME"], "labclient-nd0");

        let none = read(dir.path(), 3);
        assert!(none.is_empty());
        assert_eq!(none.lease_text(), None);
    }

    #[test]
    fn odd_lines_are_skipped() {
        assert_eq!(
            parse_pairs("  # c\n\nnoequals\n=v\nK=a=b\n"),
            vec![("K".to_string(), "a=b".to_string())]
        );
    }
}
