//! ISC dhclient's lease files: the parser ([`parse`]), and the choice of each interface's
//! current lease among the blocks the files hold ([`current`]).
//!
//! dhclient appends one `lease { }` block per lease or renewal and now and then rewrites the
//! whole file in place, so a file holds the history of every interface, oldest first. The
//! current lease of an interface is its **last** block, unless that block has expired; see
//! [`current`]. The file watching lives in [`crate::source::lease`]; this module is pure.
//!
//! `docs/leases.md` describes the whole path for administrators.

mod current;
mod lexer;
mod parser;
mod pattern;

pub use current::{current, next_expiry};
pub use parser::parse;
pub use pattern::{FilePattern, PatternError};

/// Why a lease file could not be parsed. `Display`: `line N, column C: message` (or
/// `line N: message` for a block the file ends inside).
///
/// The message says what was expected and what kind of token was found, never what the file
/// says: a lease file may be anything (a link to a secret, `/proc/self/environ`), and the
/// message goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {message}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct ParseError {
    /// 1-based line at fault: the offending token's, or for a block the file ends inside (a
    /// half-written file), the line the block starts on.
    pub line: usize,
    /// 1-based column (in bytes) of the token at fault, when there is one.
    pub column: Option<usize>,
    /// What is wrong, for the log.
    pub message: String,
}

impl ParseError {
    /// An error at a token's position.
    pub(crate) fn at(line: usize, column: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            column: Some(column),
            message: message.into(),
        }
    }

    /// An error about a whole line or block, without a column.
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            column: None,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests;
