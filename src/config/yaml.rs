//! The YAML layer: text → a tree of located nodes, via serde-saphyr.
//!
//! We do not deserialise straight into typed structs because serde's messages for a typed
//! target know neither the key ("invalid u32 at line 2, column 19") nor, for unknown fields,
//! the section. A tree whose every node carries its [`Location`] lets the schema word each
//! error itself while serde-saphyr keeps doing what it is good at: syntax, budgets against
//! hostile input, aliases and merges.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::localizer::Localizer;
use serde_saphyr::{
    DuplicateKeyPolicy, Location, MessageFormatter, NonFiniteFloatPolicy, Spanned,
    UserMessageFormatter,
};

use super::{ConfigError, Position, MAX_NESTING_DEPTH};

/// One YAML node with where it was used (`referenced`) and, for aliases, where it was
/// defined (`defined`).
pub(super) type Located = Spanned<Node>;

/// A YAML node as the YAML core schema resolved it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    /// `~`, `null` or nothing at all (`Key:`).
    Null,
    /// `true`/`false` (YAML 1.2 spellings only; `yes`/`no` stay strings).
    Bool(bool),
    /// An integer that fits `i128`.
    Int(i128),
    /// Any other number, including integers too large for `i128`.
    Float(f64),
    /// A string, quoted or plain.
    Str(String),
    /// A sequence, block (`- a`) or flow (`[a, b]`).
    Seq(Vec<Located>),
    /// A mapping, in document order, duplicates included: the schema reports them with
    /// both positions, which serde-saphyr's own duplicate check cannot.
    Map(Vec<(Spanned<String>, Located)>),
}

impl Node {
    /// "a list", "a string", ...: what the administrator wrote, for "found ..." messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "an empty value",
            Node::Bool(_) => "a boolean",
            Node::Int(_) => "an integer",
            Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        // Beyond i128 only as a magnitude; every consumer rejects it as out of range anyway.
        Ok(i128::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Located>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        // Keys are read as strings: a scalar key keeps its spelling (`1:` is the key "1"),
        // and a collection as key is rejected by serde-saphyr with its position.
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Located>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// Parses one YAML document; `None` when the text holds none (empty, only comments, or an
/// explicit null document), which the caller treats as "all defaults".
pub(super) fn parse_document(text: &str) -> Result<Option<Located>, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        // Keep `yes`/`no`/`on`/`off` as strings so that the schema can reject them for
        // booleans by name, instead of YAML 1.1 quietly turning `UseDNS: no` into false and
        // `Links: no` into a boolean.
        strict_booleans: true,
        // Forward repeated keys to the tree: the schema rejects them, naming both lines.
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        // `.nan` and friends reach the schema as text and are rejected there by key.
        non_finite_float_policy: NonFiniteFloatPolicy::AsString,
        // No tag gives a configuration key any meaning; an unknown one is a mistake
        // (e.g. an expected `!include`), better reported than ignored.
        reject_unsupported_tags: true,
        // Our messages are single lines (`path:line:col: message`), as logs and
        // `--check-config` want; no multi-line source snippets.
        with_snippet: false,
        // The recursion below (our visitor, serde-saphyr's deserialiser) costs stack per
        // level; bounding the depth, rather than trusting the thread's stack, is what makes a
        // hostile file an error on any thread (see `MAX_NESTING_DEPTH`).
        budget: serde_saphyr::budget! {
            max_depth: MAX_NESTING_DEPTH,
        },
    };
    serde_saphyr::from_str_with_options::<Option<Located>>(text, options)
}

/// Converts a serde-saphyr error (syntax, budget, multiple documents, ...) into
/// `path:line:column: message`.
pub(super) fn syntax_error(err: &serde_saphyr::Error, path: &Path) -> ConfigError {
    let message = match err.without_snippet() {
        // Worded by us: serde-saphyr's text names its budget, not what to change in the file.
        serde_saphyr::Error::Budget {
            breach: BudgetBreach::Depth { .. },
            ..
        } => format!(
            "lists and mappings are nested deeper than {MAX_NESTING_DEPTH} levels (a \
             configuration needs 3)"
        ),
        _ => err.render_with_formatter(&PlainFormatter),
    };
    ConfigError::Invalid {
        path: path.to_path_buf(),
        position: err.location().and_then(position),
        key: None,
        message,
    }
}

/// The position of a location, `None` when serde-saphyr does not know it.
pub(super) fn position(location: Location) -> Option<Position> {
    (location != Location::UNKNOWN).then(|| Position {
        line: location.line(),
        column: location.column(),
    })
}

/// The source text a node was written as (the anchored definition for an alias), so that
/// messages quote `1e3` and interface names keep a spelling like `007` exactly, instead of
/// the number YAML resolved it to.
pub(super) fn source_text<'t>(node: &Located, text: &'t str) -> Option<&'t str> {
    let span = node.defined.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    text.get(start..start.checked_add(len)?)
}

/// serde-saphyr's user-facing wording, without its " at line X, column Y" suffix: the
/// position goes in front, in the `path:line:column:` form editors and compilers use.
struct PlainFormatter;

struct NoSuffixLocalizer;

impl Localizer for NoSuffixLocalizer {
    fn attach_location<'a>(&self, base: Cow<'a, str>, _loc: Location) -> Cow<'a, str> {
        base
    }
}

impl MessageFormatter for PlainFormatter {
    fn localizer(&self) -> &dyn Localizer {
        &NoSuffixLocalizer
    }

    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> Cow<'a, str> {
        UserMessageFormatter.format_message(err)
    }
}
