//! The parser: a dhclient lease file's text to its `lease { }` blocks, in file order.
//!
//! The grammar is the one ISC dhclient writes (`write_client_lease`, `write_client6_lease`
//! and `write_duid` in `client/dhclient.c`) and reads back (`read_client_leases`):
//!
//! ```text
//! file      = { "default-duid" STRING ";" | "lease" block | "lease6" block }
//! block     = "{" { statement } "}"
//! statement = "interface" STRING ";"
//!           | "fixed-address" IPV4 ";"
//!           | "option" NAME [ value { [","] value } ] ";"
//!           | ("renew" | "rebind" | "expire") time ";"
//!           | WORD { WORD | STRING | "," | block } (";" | block)   -- anything else: skipped
//! time      = "never" | "epoch" SECONDS | WEEKDAY YYYY/MM/DD HH:MM:SS      -- UTC
//! ```
//!
//! Anything at the top level other than those three statements is an error, as it is for
//! dhclient ("Corrupt lease file"): it is how garbage shows. Inside a `lease` block,
//! statements the broker does not use (`bootp`, `name`, `medium`, `filename`, `server-name`,
//! `vendor-option-space`, `alias { }`, future ones) are read to their `;` (or their block)
//! and ignored.
//!
//! `lease6` blocks are checked for balanced braces and closed strings and then skipped: they
//! yield no [`Lease`]. The broker's record holds one lease per interface and a DHCPv6 lease
//! is a different thing (no `fixed-address`, no routers, times relative to `starts`); folding
//! it into the same map would let a v6 renewal replace the v4 lease of the same interface.
//! See `docs/leases.md`.
//!
//! Errors carry the line: of the offending token, or, for a block that the file ends inside
//! (half-written by dhclient), of the block's first line.

use std::collections::BTreeMap;

use super::lexer::{Kind, LexError, Lexer, Token};
use super::ParseError;
use crate::model::Lease;
use calendar::utc_seconds;
#[cfg(test)]
use values::prefix_len;
use values::{ipv4, read_option};

/// Parses the whole text of a lease file into its `lease { }` blocks, in file order.
///
/// Blocks without an `interface` (or with an empty one) are dropped: nothing can be done
/// with a lease that belongs to no interface, and dhclient never writes one. `lease6` blocks
/// are validated and skipped (see the module documentation).
///
/// Never panics, whatever the input; a malformed or truncated file is a [`ParseError`] with
/// the line at fault.
pub fn parse(text: &str) -> Result<Vec<Lease>, ParseError> {
    Parser::new(text).file()
}

/// A block (or a top-level statement) being read: where it starts, for "not closed" errors,
/// and what it is.
#[derive(Clone, Copy)]
struct Block {
    line: usize,
    what: &'static str,
    /// A top-level statement rather than a block: only the message differs.
    statement: bool,
}

impl Block {
    fn new(line: usize, what: &'static str) -> Self {
        Block {
            line,
            what,
            statement: false,
        }
    }

    /// The error for a file that ends inside this block.
    fn not_closed(self) -> ParseError {
        let what = self.what;
        let problem = if self.statement {
            format!("`{what}` is not ended by `;`")
        } else {
            format!("`{what}` block is not closed")
        };
        ParseError::new(
            self.line,
            format!("{problem}: the file ends inside it (half-written?)"),
        )
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    /// Braces opened and not yet closed, counted on every token the parser reads, so that
    /// after an error it can tell whether the file simply ends inside the block.
    depth: usize,
    /// The lexer stopped at a malformed escape: its position is inside a string, so what
    /// follows cannot be tokenised reliably.
    lexer_failed: bool,
}

/// The three forms of a time statement.
enum Time {
    Never,
    At(i64),
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            lexer: Lexer::new(text),
            depth: 0,
            lexer_failed: false,
        }
    }

    fn file(mut self) -> Result<Vec<Lease>, ParseError> {
        let mut leases = Vec::new();
        loop {
            let token = match self.lexer.next_token() {
                Ok(Some(token)) => token,
                Ok(None) => return Ok(leases),
                Err(LexError::Unterminated { line }) => {
                    return Err(ParseError::new(line, "string is not closed"))
                }
                Err(LexError::Invalid(e)) => return Err(e),
            };
            match token.kind {
                Kind::Word("lease") => {
                    let block = self.open(token.line, "lease")?;
                    let lease = self.lease(block);
                    if let Some(lease) = self.half_written(block, lease)? {
                        leases.push(lease);
                    }
                }
                Kind::Word("lease6") => {
                    let block = self.open(token.line, "lease6")?;
                    let skipped = self.skip_block(block);
                    self.half_written(block, skipped)?;
                }
                Kind::Word("default-duid") => self.default_duid(token.line)?,
                other => {
                    return Err(ParseError::at(
                        token.line,
                        token.column,
                        format!(
                            "expected `lease`, `lease6` or `default-duid`, found {}",
                            other.describe()
                        ),
                    ))
                }
            }
        }
    }

    /// The next token inside `block`; the end of the file there means the block was never
    /// closed.
    fn token(&mut self, block: Block) -> Result<Token<'a>, ParseError> {
        match self.lexer.next_token() {
            Ok(Some(token)) => {
                self.count_braces(&token.kind);
                Ok(token)
            }
            Ok(None) | Err(LexError::Unterminated { .. }) => Err(block.not_closed()),
            Err(LexError::Invalid(e)) => {
                self.lexer_failed = true;
                Err(e)
            }
        }
    }

    fn count_braces(&mut self, kind: &Kind<'_>) {
        match kind {
            Kind::LBrace => self.depth += 1,
            Kind::RBrace => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
    }

    /// `result` of reading `block`, except that an error inside a block the file ends in
    /// becomes "not closed" at the block's first line. dhclient writes a block with several
    /// `write`s, so a reader can see it cut anywhere, even inside an address
    /// (`fixed-address 192.1`); the cut, not the stub of an address, is the news.
    fn half_written<T>(
        &mut self,
        block: Block,
        result: Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        while self.depth > 0 && !self.lexer_failed {
            match self.lexer.next_token() {
                Ok(Some(token)) => self.count_braces(&token.kind),
                Ok(None) | Err(LexError::Unterminated { .. }) => return Err(block.not_closed()),
                // Cannot tell where the block ends; the first error stands.
                Err(LexError::Invalid(_)) => break,
            }
        }
        Err(error)
    }

    /// The `{` after `lease`/`lease6` on `line`.
    fn open(&mut self, line: usize, what: &'static str) -> Result<Block, ParseError> {
        let block = Block::new(line, what);
        let token = self.token(block)?;
        match token.kind {
            Kind::LBrace => Ok(block),
            other => Err(ParseError::at(
                token.line,
                token.column,
                format!("expected `{{` after `{what}`, found {}", other.describe()),
            )),
        }
    }

    /// `default-duid "...";` at the top level: read and ignored (the broker has no use for
    /// dhclient's DUID).
    fn default_duid(&mut self, line: usize) -> Result<(), ParseError> {
        // Not a block, but a file that ends here was cut mid-write all the same.
        let statement = Block {
            line,
            what: "default-duid",
            statement: true,
        };
        let value = self.token(statement)?;
        if !matches!(value.kind, Kind::Str(_) | Kind::Word(_)) {
            return Err(ParseError::at(
                value.line,
                value.column,
                format!(
                    "expected the DUID after `default-duid`, found {}",
                    value.kind.describe()
                ),
            ));
        }
        self.semicolon(statement, "default-duid")
    }

    /// Expects the `;` that ends statement `what`.
    fn semicolon(&mut self, block: Block, what: &str) -> Result<(), ParseError> {
        let token = self.token(block)?;
        match token.kind {
            Kind::Semi => Ok(()),
            other => Err(ParseError::at(
                token.line,
                token.column,
                format!("expected `;` after `{what}`, found {}", other.describe()),
            )),
        }
    }

    /// The statements of a `lease { }` block up to its `}`. `None` for a block without an
    /// interface.
    fn lease(&mut self, block: Block) -> Result<Option<Lease>, ParseError> {
        let mut lease = Lease {
            interface: String::new(),
            address: None,
            prefix_len: None,
            routers: Vec::new(),
            dns: Vec::new(),
            domain_name: None,
            domain_search: Vec::new(),
            host_name: None,
            mtu: None,
            renew: None,
            rebind: None,
            expire: None,
            options: BTreeMap::new(),
        };
        loop {
            let token = self.token(block)?;
            let keyword = match token.kind {
                Kind::RBrace => break,
                // An empty statement; harmless, and it follows `alias { }`-style blocks.
                Kind::Semi => continue,
                Kind::Word(word) => word,
                other => {
                    return Err(ParseError::at(
                        token.line,
                        token.column,
                        format!("expected a statement, found {}", other.describe()),
                    ))
                }
            };
            match keyword {
                "interface" => {
                    lease.interface = self.text_value(block, "interface")?;
                    self.semicolon(block, "interface")?;
                }
                "fixed-address" => {
                    let value = self.token(block)?;
                    lease.address = Some(ipv4(&value, "fixed-address")?);
                    self.semicolon(block, "fixed-address")?;
                }
                "option" => self.option(block, &mut lease)?,
                "renew" | "rebind" | "expire" => {
                    let at = match self.time(block, keyword)? {
                        Time::Never => None,
                        Time::At(seconds) => Some(seconds),
                    };
                    match keyword {
                        "renew" => lease.renew = at,
                        "rebind" => lease.rebind = at,
                        _ => lease.expire = at,
                    }
                }
                _ => self.skip_statement(block, &token)?,
            }
        }
        Ok((!lease.interface.is_empty()).then_some(lease))
    }

    /// A single string value (`interface "eth0"`); a bare word is taken as written.
    fn text_value(&mut self, block: Block, what: &str) -> Result<String, ParseError> {
        let token = self.token(block)?;
        match token.kind {
            Kind::Str(s) => Ok(s),
            Kind::Word(w) => Ok(w.to_owned()),
            other => Err(ParseError::at(
                token.line,
                token.column,
                format!(
                    "expected a value after `{what}`, found {}",
                    other.describe()
                ),
            )),
        }
    }

    /// `option NAME VALUE...;` after the keyword: kept verbatim in `options`, and the options
    /// the broker acts on are also read into their fields.
    fn option(&mut self, block: Block, lease: &mut Lease) -> Result<(), ParseError> {
        let name_token = self.token(block)?;
        let name = match name_token.kind {
            Kind::Word(name) => name,
            other => {
                return Err(ParseError::at(
                    name_token.line,
                    name_token.column,
                    format!("expected an option name, found {}", other.describe()),
                ))
            }
        };
        let mut values: Vec<Token<'a>> = Vec::new();
        let mut span: Option<(usize, usize)> = None;
        loop {
            let token = self.token(block)?;
            match token.kind {
                Kind::Semi => break,
                Kind::Word(_) | Kind::Str(_) | Kind::Comma => {
                    let start = span.map_or(token.start, |(s, _)| s);
                    span = Some((start, token.end));
                    if token.kind != Kind::Comma {
                        values.push(token);
                    }
                }
                other => {
                    return Err(ParseError::at(
                        token.line,
                        token.column,
                        format!(
                            "expected `;` after the option's value, found {}",
                            other.describe()
                        ),
                    ))
                }
            }
        }
        let verbatim = match values.as_slice() {
            [Token {
                kind: Kind::Str(s), ..
            }] => s.clone(),
            _ => span.map_or("", |(s, e)| self.lexer.slice(s, e)).to_owned(),
        };
        read_option(lease, name, &values, name_token.line)?;
        lease.options.insert(name.to_owned(), verbatim);
        Ok(())
    }

    /// `never;`, `epoch N; # local time` or `W YYYY/MM/DD HH:MM:SS;` (UTC), through the `;`.
    fn time(&mut self, block: Block, what: &str) -> Result<Time, ParseError> {
        let expected = "`never`, `epoch SECONDS` or `WEEKDAY YYYY/MM/DD HH:MM:SS`";
        let first = self.token(block)?;
        let time = match first.kind {
            Kind::Word("never") => Time::Never,
            Kind::Word("epoch") => {
                let seconds = self.token(block)?;
                match seconds.kind {
                    Kind::Word(w) => Time::At(w.parse::<i64>().map_err(|_| {
                        ParseError::at(
                            seconds.line,
                            seconds.column,
                            format!("{what}: `epoch` needs a number of seconds"),
                        )
                    })?),
                    other => {
                        return Err(ParseError::at(
                            seconds.line,
                            seconds.column,
                            format!(
                                "{what}: `epoch` needs a number of seconds, found {}",
                                other.describe()
                            ),
                        ))
                    }
                }
            }
            Kind::Word(weekday) if matches!(weekday.parse::<u8>(), Ok(0..=6)) => {
                let date = self.token(block)?;
                let clock = self.token(block)?;
                match (&date.kind, &clock.kind) {
                    (Kind::Word(d), Kind::Word(c)) => {
                        Time::At(utc_seconds(d, c).ok_or_else(|| {
                            ParseError::at(
                                date.line,
                                date.column,
                                format!("{what}: invalid date: expected {expected}"),
                            )
                        })?)
                    }
                    _ => {
                        return Err(ParseError::at(
                            date.line,
                            date.column,
                            format!("{what}: expected {expected}"),
                        ))
                    }
                }
            }
            other => {
                return Err(ParseError::at(
                    first.line,
                    first.column,
                    format!("{what}: expected {expected}, found {}", other.describe()),
                ))
            }
        };
        self.semicolon(block, what)?;
        Ok(time)
    }

    /// Reads a statement the broker does not use, starting after its keyword, through its
    /// `;` or the block that ends it. Nested braces are counted, not recursed into, so no
    /// input can exhaust the stack.
    fn skip_statement(&mut self, block: Block, keyword: &Token<'a>) -> Result<(), ParseError> {
        let mut depth = 0usize;
        loop {
            let token = self.token(block)?;
            match token.kind {
                Kind::Semi if depth == 0 => return Ok(()),
                Kind::LBrace => depth += 1,
                Kind::RBrace if depth == 0 => {
                    return Err(ParseError::at(
                        keyword.line,
                        keyword.column,
                        "a statement is not ended by `;`",
                    ))
                }
                Kind::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    /// Reads a block through its closing `}` without interpreting it (`lease6`).
    fn skip_block(&mut self, block: Block) -> Result<(), ParseError> {
        let mut depth = 1usize;
        while depth > 0 {
            let token = self.token(block)?;
            match token.kind {
                Kind::LBrace => depth += 1,
                Kind::RBrace => depth -= 1,
                _ => {}
            }
        }
        Ok(())
    }
}

mod calendar;
#[cfg(test)]
mod tests;
mod values;
