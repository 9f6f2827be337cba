//! Which lease is in force: the last block of each interface, unless it has expired.

use std::collections::BTreeMap;

use crate::model::Lease;

/// The current lease of every interface, by interface name, at Unix time `now` (seconds).
///
/// `leases` is in file order (for several files, their concatenation; the source orders the
/// files oldest-written first). For each interface the **last** block counts, because
/// dhclient appends a block for every new lease and renewal and writes the active lease last
/// when it rewrites the file. If that block has expired (`expire <= now`), the interface has
/// **no** current lease: an older block cannot be in force, since it expired even earlier
/// (or was superseded), so there is no falling back. A block without an `expire` time
/// (`expire never;`, or none written) never expires.
pub fn current(leases: &[Lease], now: i64) -> BTreeMap<String, Lease> {
    let mut last: BTreeMap<&str, &Lease> = BTreeMap::new();
    for lease in leases {
        last.insert(lease.interface.as_str(), lease);
    }
    last.into_iter()
        .filter(|(_, lease)| lease.expire.is_none_or(|expire| expire > now))
        .map(|(interface, lease)| (interface.to_owned(), lease.clone()))
        .collect()
}

/// The earliest `expire` after `now` among `leases`: when [`current`] must be asked again
/// even if no file changes. `None` if none of them expires.
pub fn next_expiry(leases: &BTreeMap<String, Lease>, now: i64) -> Option<i64> {
    leases
        .values()
        .filter_map(|lease| lease.expire)
        .filter(|&expire| expire > now)
        .min()
}
