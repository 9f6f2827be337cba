//! The schema: walks the located YAML tree into a [`Config`], rejecting anything it does
//! not know with the file, position and dotted key.
//!
//! Every key may be given an empty value (`Key:` or `Key: ~`), which means the same as
//! leaving it out: its default.

use std::borrow::Cow;
use std::collections::hash_map::{self, HashMap};
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::names::validate_link_name;
use super::yaml::{position, source_text, Located, Node};
use super::{
    Config, ConfigError, Keyword, Position, MAX_EVENT_HISTORY, MAX_HOOK_BACKLOG,
    MAX_HOOK_TIMEOUT_SEC, MAX_ROUTE_TABLE_BASE, MAX_ROUTING_POLICY_PRIORITY, MIN_ROUTE_TABLE_BASE,
    MIN_ROUTING_POLICY_PRIORITY, RESERVED_ROUTE_PROTOCOLS,
};
use crate::lease::FilePattern;

/// Top-level keys, in documentation order (also the order listed in messages).
const TOP_KEYS: &[&str] = &["System", "Network"];
/// `System:` keys.
const SYSTEM_KEYS: &[&str] = &[
    "LogLevel",
    "LogFormat",
    "Generator",
    "HookTimeoutSec",
    "HookBacklog",
    "EventHistory",
    "StartupTriggers",
    "RuntimeDirectory",
];
/// `Network:` keys.
const NETWORK_KEYS: &[&str] = &[
    "Links",
    "RoutingPolicyRules",
    "EmitJSON",
    "UseDNS",
    "UseDomain",
    "UseHostname",
    "RouteTableBase",
    "NetworkdStateDirectory",
    "LeaseFiles",
    "RoutingPolicyPriority",
    "RoutingPolicyProtocol",
    "RemoveRoutingOnStop",
];

/// A mapping entry as the tree holds it.
type Entry = (Spanned<String>, Located);

/// The walk over one file's tree: the text (to quote values as written) and the path (for
/// messages).
pub(super) struct Schema<'a> {
    text: &'a str,
    path: &'a Path,
}

impl<'a> Schema<'a> {
    pub(super) fn new(text: &'a str, path: &'a Path) -> Self {
        Schema { text, path }
    }

    /// Overwrites `config`'s defaults with what the document sets.
    pub(super) fn apply(&self, root: &Located, config: &mut Config) -> Result<(), ConfigError> {
        self.each_entry(None, root, |key, value| match key.value.as_str() {
            "System" => self.system(value, config),
            "Network" => self.network(value, config),
            _ => Err(self.unknown_key(None, key, TOP_KEYS)),
        })
    }

    fn system(&self, section: &Located, config: &mut Config) -> Result<(), ConfigError> {
        let system = &mut config.system;
        self.each_entry(Some("System"), section, |key, value| {
            let path = format!("System.{}", key.value);
            match key.value.as_str() {
                "LogLevel" => set(&mut system.log_level, self.keyword(&path, value)?),
                "LogFormat" => set(&mut system.log_format, self.keyword(&path, value)?),
                "Generator" => set(&mut system.generator, self.keyword(&path, value)?),
                "HookTimeoutSec" => {
                    let seconds = self.integer(&path, value, 1, MAX_HOOK_TIMEOUT_SEC, "")?;
                    set(&mut system.hook_timeout, seconds.map(Duration::from_secs));
                }
                "HookBacklog" => {
                    let bound = self.integer(&path, value, 1, MAX_HOOK_BACKLOG, "")?;
                    // In range, so it fits in usize.
                    let bound = bound.and_then(|n| usize::try_from(n).ok());
                    set(&mut system.hook_backlog, bound);
                }
                "EventHistory" => {
                    let bound = self.integer(&path, value, 0, MAX_EVENT_HISTORY, "")?;
                    // In range, so it fits in usize.
                    let bound = bound.and_then(|n| usize::try_from(n).ok());
                    set(&mut system.event_history, bound);
                }
                "StartupTriggers" => set(&mut system.startup_triggers, self.boolean(&path, value)?),
                "RuntimeDirectory" => set(&mut system.runtime_dir, self.directory(&path, value)?),
                _ => return Err(self.unknown_key(Some("System"), key, SYSTEM_KEYS)),
            }
            Ok(())
        })
    }

    fn network(&self, section: &Located, config: &mut Config) -> Result<(), ConfigError> {
        let network = &mut config.network;
        self.each_entry(Some("Network"), section, |key, value| {
            let path = format!("Network.{}", key.value);
            match key.value.as_str() {
                // Empty means unset, i.e. all links (see `NetworkConfig::links`).
                "Links" => network.links = self.names(&path, value)?.filter(|l| !l.is_empty()),
                "RoutingPolicyRules" => {
                    network.routing_policy_rules = self.names(&path, value)?.unwrap_or_default();
                }
                "EmitJSON" => set(&mut network.emit_json, self.boolean(&path, value)?),
                "UseDNS" => set(&mut network.use_dns, self.boolean(&path, value)?),
                "UseDomain" => set(&mut network.use_domain, self.boolean(&path, value)?),
                "UseHostname" => set(&mut network.use_hostname, self.boolean(&path, value)?),
                "RouteTableBase" => {
                    let base = self.integer(
                        &path,
                        value,
                        MIN_ROUTE_TABLE_BASE.into(),
                        MAX_ROUTE_TABLE_BASE.into(),
                        " (tables 0 to 255 are reserved, and base + ifindex must stay \
                         below 2^32)",
                    )?;
                    // The range check above guarantees the conversion succeeds.
                    if let Some(base) = base.and_then(|b| u32::try_from(b).ok()) {
                        network.route_table_base = base;
                    }
                }
                "NetworkdStateDirectory" => set(
                    &mut network.networkd_state_dir,
                    self.directory(&path, value)?,
                ),
                "LeaseFiles" => set(&mut network.lease_files, self.lease_files(&path, value)?),
                "RoutingPolicyPriority" => {
                    let priority = self.integer(
                        &path,
                        value,
                        MIN_ROUTING_POLICY_PRIORITY.into(),
                        MAX_ROUTING_POLICY_PRIORITY.into(),
                        " (0 is the local rule's; the `to` rules take the next priority, and \
                         both must come before the main rule at 32766)",
                    )?;
                    // The range check above guarantees the conversion succeeds.
                    if let Some(priority) = priority.and_then(|p| u32::try_from(p).ok()) {
                        network.routing_policy_priority = priority;
                    }
                }
                "RoutingPolicyProtocol" => {
                    if let Some(protocol) = self.protocol(&path, value)? {
                        network.routing_policy_protocol = protocol;
                    }
                }
                "RemoveRoutingOnStop" => set(
                    &mut network.remove_routing_on_stop,
                    self.boolean(&path, value)?,
                ),
                _ => return Err(self.unknown_key(Some("Network"), key, NETWORK_KEYS)),
            }
            Ok(())
        })
    }

    /// Calls `handle` for each entry of the mapping `node`, in document order, after
    /// rejecting a repeated key. `section` is `None` for the top level. An empty value for
    /// a whole section (`Network:`) is accepted as "all defaults".
    fn each_entry(
        &self,
        section: Option<&str>,
        node: &Located,
        mut handle: impl FnMut(&Spanned<String>, &Located) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        let entries: &[Entry] = match &node.value {
            Node::Null => return Ok(()),
            Node::Map(entries) => entries,
            _ => {
                return Err(match section {
                    Some(name) => self.invalid(name, node, "a mapping of keys"),
                    None => self.error(
                        node,
                        None,
                        format!(
                            "expected a mapping with the sections System and Network, \
                             found {}",
                            node.value.kind()
                        ),
                    ),
                })
            }
        };
        for (index, (key, value)) in entries.iter().enumerate() {
            if let Some((first, _)) = entries[..index].iter().find(|(k, _)| k.value == key.value) {
                return Err(self.error(
                    key,
                    Some(dotted(section, &key.value)),
                    format!(
                        "duplicate key `{}` {}{}",
                        key.value.escape_debug(),
                        place(section),
                        earlier(position(first.referenced), position(key.referenced))
                    ),
                ));
            }
            handle(key, value)?;
        }
        Ok(())
    }

    fn unknown_key(
        &self,
        section: Option<&str>,
        key: &Spanned<String>,
        known: &[&str],
    ) -> ConfigError {
        // Keys are case-sensitive; a key that differs only in case is almost surely meant
        // to be that key (e.g. `EmitJson` for `EmitJSON`), so say so instead of a list.
        let hint = match known.iter().find(|k| k.eq_ignore_ascii_case(&key.value)) {
            Some(k) => format!("did you mean `{k}`? keys are case-sensitive"),
            None => format!("expected one of {}", known.join(", ")),
        };
        self.error(
            key,
            Some(dotted(section, &key.value)),
            format!(
                "unknown key `{}` {} ({hint})",
                key.value.escape_debug(),
                place(section)
            ),
        )
    }

    /// A keyword (`LogLevel`, `LogFormat`, `Generator`), spelled exactly as documented.
    fn keyword<T: Keyword>(&self, key: &str, node: &Located) -> Result<Option<T>, ConfigError> {
        match &node.value {
            Node::Null => Ok(None),
            Node::Str(s) => T::parse_keyword(s)
                .map(Some)
                .map_err(|e| self.error(node, Some(key.to_owned()), format!("{key}: {e}"))),
            _ => Err(self.invalid(key, node, &T::expected())),
        }
    }

    /// A YAML 1.2 boolean: `true`/`false` (also `True`, `FALSE`, ...). `yes`, `no`, `on` and
    /// `off` are refused: YAML 1.1 read them as booleans, YAML 1.2 as strings, and a
    /// configuration that means different things to different readers is a trap.
    fn boolean(&self, key: &str, node: &Located) -> Result<Option<bool>, ConfigError> {
        match &node.value {
            Node::Null => Ok(None),
            Node::Bool(b) => Ok(Some(*b)),
            Node::Str(s) => {
                let hint = match s.to_ascii_lowercase().as_str() {
                    "true" | "false" => " (write it without quotes)",
                    "yes" | "no" | "on" | "off" | "y" | "n" => {
                        " (yes/no/on/off are not booleans here; write true or false)"
                    }
                    _ => "",
                };
                Err(self.invalid(key, node, &format!("true or false{hint}")))
            }
            _ => Err(self.invalid(key, node, "true or false")),
        }
    }

    /// An integer in `min..=max`; `why` explains the bounds in the message.
    fn integer(
        &self,
        key: &str,
        node: &Located,
        min: u64,
        max: u64,
        why: &str,
    ) -> Result<Option<u64>, ConfigError> {
        let expected = format!("an integer from {min} to {max}{why}");
        match &node.value {
            Node::Null => Ok(None),
            Node::Int(i) => match u64::try_from(*i) {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(self.error(
                    node,
                    Some(key.to_owned()),
                    format!("{key}: {i} is out of range: expected {expected}"),
                )),
            },
            Node::Str(s) if s.trim().parse::<i128>().is_ok() => {
                Err(self.invalid(key, node, &format!("{expected} (write it without quotes)")))
            }
            _ => Err(self.invalid(key, node, &expected)),
        }
    }

    /// A route/rule protocol number for our own routes and rules: 1 to 255, none of
    /// [`RESERVED_ROUTE_PROTOCOLS`] (everything carrying the number is deleted when stale, so
    /// a shared number would delete someone else's routes).
    fn protocol(&self, key: &str, node: &Located) -> Result<Option<u8>, ConfigError> {
        let Some(number) = self.integer(key, node, 1, u8::MAX.into(), "")? else {
            return Ok(None);
        };
        // The range check above guarantees the conversion succeeds.
        let Ok(number) = u8::try_from(number) else {
            return Ok(None);
        };
        match RESERVED_ROUTE_PROTOCOLS.iter().find(|(n, _)| *n == number) {
            None => Ok(Some(number)),
            Some((_, name)) => Err(self.error(
                node,
                Some(key.to_owned()),
                format!(
                    "{key}: {number} is the protocol `{name}` (iproute2's rt_protos): routes \
                     and rules carrying our protocol are deleted when no longer wanted, so it \
                     must be a number nobody else uses (the default is 78)"
                ),
            )),
        }
    }

    /// An absolute directory path. Relative paths are refused: the daemon's working
    /// directory is not something an administrator thinks about.
    fn directory(&self, key: &str, node: &Located) -> Result<Option<PathBuf>, ConfigError> {
        match &node.value {
            Node::Null => Ok(None),
            Node::Str(s) if s.starts_with('/') && !s.contains('\0') => Ok(Some(PathBuf::from(s))),
            _ => Err(self.invalid(key, node, "an absolute path")),
        }
    }

    /// Lease file paths: a space-separated string or a list, block or flow, of absolute
    /// paths with at most one `*`, in the file name ([`FilePattern::new`]). `None` for an
    /// empty value (the default); `Some(vec![])` for `""` or `[]` (follow no file). Each
    /// path may appear once.
    fn lease_files(&self, key: &str, node: &Located) -> Result<Option<Vec<PathBuf>>, ConfigError> {
        let expected = "absolute paths (a space-separated string or a list)";
        let mut found: Vec<(String, Option<Position>)> = Vec::new();
        match &node.value {
            Node::Null => return Ok(None),
            Node::Str(s) => {
                // As for interface names: point at the very word when the scalar is plain.
                let plain =
                    node.referenced == node.defined && source_text(node, self.text) == Some(s);
                for (offset, word) in words(s) {
                    let mut at = position(node.referenced);
                    if let (true, Some(p)) = (plain, at.as_mut()) {
                        p.column += offset;
                    }
                    found.push((word.to_owned(), at));
                }
            }
            Node::Seq(items) => {
                for item in items {
                    match &item.value {
                        Node::Str(s) => found.push((s.clone(), position(item.referenced))),
                        _ => return Err(self.invalid(key, item, "an absolute path")),
                    }
                }
            }
            _ => return Err(self.invalid(key, node, expected)),
        }
        let mut seen = FirstSeen::new();
        for (index, (path, at)) in found.iter().enumerate() {
            if let Err(reason) = FilePattern::new(Path::new(path)) {
                return Err(self.error_at(
                    *at,
                    Some(key.to_owned()),
                    format!("{key}: invalid lease file path {path:?}: {reason}"),
                ));
            }
            if let Some(first) = seen.earlier(path.as_str(), index) {
                return Err(self.error_at(
                    *at,
                    Some(key.to_owned()),
                    format!(
                        "{key}: {path:?} is listed twice{}",
                        earlier(found[first].1, *at)
                    ),
                ));
            }
        }
        Ok(Some(
            found
                .into_iter()
                .map(|(path, _)| PathBuf::from(path))
                .collect(),
        ))
    }

    /// Interface names: a space-separated string (`eth0 eth1`) or a list, block or flow.
    /// `None` for an empty value; `Some(vec![])` for `""` or `[]` (the caller decides what
    /// empty means). Each name must be valid and appear once.
    fn names(&self, key: &str, node: &Located) -> Result<Option<Vec<String>>, ConfigError> {
        let mut found: Vec<(String, Option<Position>)> = Vec::new();
        match &node.value {
            Node::Null => return Ok(None),
            Node::Str(s) => {
                // Point at the very word when the scalar is written plainly on one line
                // (its source text is its value); otherwise at the scalar.
                let plain =
                    node.referenced == node.defined && source_text(node, self.text) == Some(s);
                for (offset, word) in words(s) {
                    let mut at = position(node.referenced);
                    if let (true, Some(p)) = (plain, at.as_mut()) {
                        p.column += offset;
                    }
                    found.push((word.to_owned(), at));
                }
            }
            Node::Seq(items) => {
                for item in items {
                    let name = match &item.value {
                        Node::Str(s) => s.clone(),
                        Node::Null | Node::Seq(_) | Node::Map(_) => {
                            return Err(self.invalid(key, item, "an interface name"))
                        }
                        _ => self.scalar_text(item).into_owned(),
                    };
                    found.push((name, position(item.referenced)));
                }
            }
            Node::Map(_) => {
                return Err(self.invalid(
                    key,
                    node,
                    "interface names (a space-separated string or a list)",
                ))
            }
            // A lone number such as `Links: 0` is a (strange but valid) name as written.
            _ => found.push((
                self.scalar_text(node).into_owned(),
                position(node.referenced),
            )),
        }

        let mut seen = FirstSeen::new();
        for (index, (name, at)) in found.iter().enumerate() {
            // The kernel allows ',' but no interface is named so: it is a list written the
            // wrong way.
            let reason = validate_link_name(name).err().or_else(|| {
                name.contains(',')
                    .then_some("must not contain ','; separate names with spaces or write a list")
            });
            if let Some(reason) = reason {
                let hint = if node_is_list(node) && name.contains(char::is_whitespace) {
                    "; give one name per list item"
                } else {
                    ""
                };
                return Err(self.error_at(
                    *at,
                    Some(key.to_owned()),
                    format!("{key}: invalid interface name {name:?}: {reason}{hint}"),
                ));
            }
            if let Some(first) = seen.earlier(name.as_str(), index) {
                return Err(self.error_at(
                    *at,
                    Some(key.to_owned()),
                    format!(
                        "{key}: {name:?} is listed twice{}",
                        earlier(found[first].1, *at)
                    ),
                ));
            }
        }
        Ok(Some(found.into_iter().map(|(name, _)| name).collect()))
    }

    /// `key: invalid value "text": expected X` for a scalar, `key: expected X, found a list`
    /// for a collection or an empty value.
    fn invalid(&self, key: &str, node: &Located, expected: &str) -> ConfigError {
        let message = match &node.value {
            Node::Null | Node::Seq(_) | Node::Map(_) => {
                format!("{key}: expected {expected}, found {}", node.value.kind())
            }
            _ => format!(
                "{key}: invalid value {:?}: expected {expected}",
                self.scalar_text(node)
            ),
        };
        self.error(node, Some(key.to_owned()), message)
    }

    /// A scalar as the administrator wrote it (`1e3`, not `1000`); a string's value.
    fn scalar_text<'n>(&self, node: &'n Located) -> Cow<'n, str>
    where
        'a: 'n,
    {
        match &node.value {
            Node::Str(s) => Cow::Borrowed(s.as_str()),
            other => match source_text(node, self.text) {
                Some(text) => Cow::Borrowed(text),
                None => Cow::Owned(match other {
                    Node::Bool(b) => b.to_string(),
                    Node::Int(i) => i.to_string(),
                    Node::Float(f) => f.to_string(),
                    _ => String::new(),
                }),
            },
        }
    }

    fn error<T>(&self, at: &Spanned<T>, key: Option<String>, message: String) -> ConfigError {
        self.error_at(position(at.referenced), key, message)
    }

    fn error_at(&self, at: Option<Position>, key: Option<String>, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            position: at,
            key,
            message,
        }
    }
}

/// The entries of a list seen so far, to find the first repeat in one pass: a hash set, so
/// that a list of 40,000 names costs 40,000 look-ups rather than 800 million comparisons.
struct FirstSeen<'e, T: ?Sized> {
    seen: HashMap<&'e T, usize>,
}

impl<'e, T: Eq + Hash + ?Sized> FirstSeen<'e, T> {
    fn new() -> Self {
        FirstSeen {
            seen: HashMap::new(),
        }
    }

    /// Records `item` as entry `index`; returns the index of its first occurrence when it
    /// was seen before.
    fn earlier(&mut self, item: &'e T, index: usize) -> Option<usize> {
        match self.seen.entry(item) {
            hash_map::Entry::Occupied(first) => Some(*first.get()),
            hash_map::Entry::Vacant(slot) => {
                slot.insert(index);
                None
            }
        }
    }
}

/// Assigns when the key had a value (an empty value keeps the default).
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

fn node_is_list(node: &Located) -> bool {
    matches!(node.value, Node::Seq(_))
}

/// `Network.Links`, or `Network` at top level.
fn dotted(section: Option<&str>, key: &str) -> String {
    match section {
        Some(section) => format!("{section}.{key}"),
        None => key.to_owned(),
    }
}

/// "in `Network`" / "at top level".
fn place(section: Option<&str>) -> String {
    match section {
        Some(section) => format!("in `{section}`"),
        None => "at top level".to_owned(),
    }
}

/// " (first at line 2)", or " (first at column 10)" when both are on one line (flow
/// collections, space-separated names).
fn earlier(first: Option<Position>, again: Option<Position>) -> String {
    match (first, again) {
        (Some(f), Some(a)) if f.line == a.line => format!(" (first at column {})", f.column),
        (Some(f), _) => format!(" (first at line {})", f.line),
        (None, _) => String::new(),
    }
}

/// Whitespace-separated words with their offsets in characters from the start of `s`,
/// counted as the words go by (counting each word's prefix anew made long lists quadratic).
fn words(s: &str) -> impl Iterator<Item = (u64, &str)> {
    let mut counted = (0, 0); // (bytes, characters) of `s` already counted
    s.split_whitespace().map(move |w| {
        // `split_whitespace` yields subslices of `s`, so pointer arithmetic gives offsets.
        let start = w.as_ptr() as usize - s.as_ptr() as usize;
        let gap = s
            .get(counted.0..start)
            .map_or(0, |g| g.chars().count() as u64);
        let column = counted.1 + gap;
        counted = (start + w.len(), column + w.chars().count() as u64);
        (column, w)
    })
}

#[cfg(test)]
mod tests;
