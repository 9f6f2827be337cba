//! Tokens of a dhclient lease file, as ISC dhclient's own lexer (`common/conflex.c`) reads
//! them: bare words, quoted strings, `{`, `}`, `;` and `,`, with `#` comments to the end of
//! the line.
//!
//! The lexer works on bytes and only ever cuts the text at ASCII delimiters, so every slice
//! it takes is on a character boundary whatever the input; it never indexes without a check.

use super::ParseError;

/// Why the lexer stopped short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LexError {
    /// The text ends inside the string that starts on this line: a half-written file.
    Unterminated { line: usize },
    /// Something no writer produces (a malformed escape).
    Invalid(ParseError),
}

/// One token and the 1-based line and column (in bytes) it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token<'a> {
    pub kind: Kind<'a>,
    pub line: usize,
    pub column: usize,
    /// Byte offsets of the token in the text, to quote option values as written.
    pub start: usize,
    pub end: usize,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind<'a> {
    /// A run of anything but white space, delimiters, quotes and `#`: keywords, numbers,
    /// addresses, dates (`2026/11/28`), times (`01:54:56`), colon-separated hex.
    Word(&'a str),
    /// A quoted string with its escapes resolved. Bytes that are not UTF-8 (dhclient writes
    /// them as octal escapes) become U+FFFD.
    Str(String),
    LBrace,
    RBrace,
    Semi,
    Comma,
}

impl Kind<'_> {
    /// How the token reads in a message: what it is, never what it says. The file may not be
    /// a lease file at all (a link to a secret, `/proc/self/environ`), and messages go to the
    /// log; the position says where to look.
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Word(_) => "a word",
            Kind::Str(_) => "a string",
            Kind::LBrace => "`{`",
            Kind::RBrace => "`}`",
            Kind::Semi => "`;`",
            Kind::Comma => "`,`",
        }
    }
}

/// The token stream over one file's text.
pub(super) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    /// Byte offset where `line` starts, for columns.
    line_start: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        Lexer {
            text,
            pos: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// The text between two byte offsets that came from tokens (always char boundaries).
    pub fn slice(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or("")
    }

    /// `pos` has just passed a newline.
    fn new_line(&mut self) {
        self.line += 1;
        self.line_start = self.pos;
    }

    /// The 1-based column of `pos`, in bytes.
    fn column(&self) -> usize {
        self.pos.saturating_sub(self.line_start) + 1
    }

    fn peek_byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// The next token, `Ok(None)` at the end of the text, or an error for a string that is
    /// not closed or holds a malformed escape.
    pub fn next_token(&mut self) -> Result<Option<Token<'a>>, LexError> {
        self.skip_blanks_and_comments();
        let Some(byte) = self.peek_byte() else {
            return Ok(None);
        };
        let start = self.pos;
        let line = self.line;
        let column = self.column();
        let kind = match byte {
            b'{' => {
                self.pos += 1;
                Kind::LBrace
            }
            b'}' => {
                self.pos += 1;
                Kind::RBrace
            }
            b';' => {
                self.pos += 1;
                Kind::Semi
            }
            b',' => {
                self.pos += 1;
                Kind::Comma
            }
            b'"' => Kind::Str(self.string(line)?),
            _ => {
                while let Some(b) = self.peek_byte() {
                    if is_delimiter(b) {
                        break;
                    }
                    self.pos += 1;
                }
                // `pos` stopped at an ASCII delimiter or the end: a char boundary.
                Kind::Word(self.slice(start, self.pos))
            }
        };
        Ok(Some(Token {
            kind,
            line,
            column,
            start,
            end: self.pos,
        }))
    }

    fn skip_blanks_and_comments(&mut self) {
        while let Some(b) = self.peek_byte() {
            match b {
                b'\n' => {
                    self.pos += 1;
                    self.new_line();
                }
                b'#' => {
                    while let Some(c) = self.peek_byte() {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ if b.is_ascii_whitespace() => self.pos += 1,
                _ => break,
            }
        }
    }

    /// A quoted string, starting at its opening quote. Escapes as dhclient writes and reads
    /// them: `\ooo` (one to three octal digits, a byte), `\xHH` (one or two hex digits),
    /// `\t`, `\r`, `\n`, `\b`, and `\c` for any other `c` (dhclient writes `\"`, `\\`, `\'`,
    /// `` \` `` and `\$`).
    fn string(&mut self, line: usize) -> Result<String, LexError> {
        let unterminated = || LexError::Unterminated { line };
        self.pos += 1; // the opening quote
        let mut bytes = Vec::new();
        loop {
            let b = self.peek_byte().ok_or_else(unterminated)?;
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let c = self.peek_byte().ok_or_else(unterminated)?;
                    self.pos += 1;
                    match c {
                        b'0'..=b'7' => {
                            let mut value = u32::from(c - b'0');
                            for _ in 0..2 {
                                match self.peek_byte() {
                                    Some(d @ b'0'..=b'7') => {
                                        value = value * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            let byte = u8::try_from(value).map_err(|_| {
                                LexError::Invalid(ParseError::at(
                                    self.line,
                                    self.column(),
                                    "an octal escape is larger than a byte",
                                ))
                            })?;
                            bytes.push(byte);
                        }
                        b'x' => {
                            let mut value = 0u8;
                            let mut digits = 0;
                            while digits < 2 {
                                let Some(d) = self.peek_byte().and_then(hex_value) else {
                                    break;
                                };
                                value = value * 16 + d;
                                self.pos += 1;
                                digits += 1;
                            }
                            if digits == 0 {
                                return Err(LexError::Invalid(ParseError::at(
                                    self.line,
                                    self.column(),
                                    "`\\x` escape without hex digits",
                                )));
                            }
                            bytes.push(value);
                        }
                        b't' => bytes.push(b'\t'),
                        b'r' => bytes.push(b'\r'),
                        b'n' => bytes.push(b'\n'),
                        b'b' => bytes.push(0x08),
                        b'\n' => {
                            self.new_line();
                            bytes.push(b'\n');
                        }
                        other => bytes.push(other),
                    }
                }
                b'\n' => {
                    self.new_line();
                    bytes.push(b'\n');
                }
                other => bytes.push(other),
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Bytes that end a bare word.
fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'{' | b'}' | b';' | b',' | b'"' | b'#')
}

fn hex_value(d: u8) -> Option<u8> {
    char::from(d)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Kind<'_>> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        while let Some(token) = lexer.next_token().unwrap() {
            out.push(token.kind);
        }
        out
    }

    #[test]
    fn words_strings_and_punctuation() {
        assert_eq!(
            kinds("option domain-search \"a.\", \"b.\"; # comment\n}{"),
            vec![
                Kind::Word("option"),
                Kind::Word("domain-search"),
                Kind::Str("a.".into()),
                Kind::Comma,
                Kind::Str("b.".into()),
                Kind::Semi,
                Kind::RBrace,
                Kind::LBrace,
            ]
        );
        assert_eq!(
            kinds("renew 6 2026/11/28 01:54:56;"),
            vec![
                Kind::Word("renew"),
                Kind::Word("6"),
                Kind::Word("2026/11/28"),
                Kind::Word("01:54:56"),
                Kind::Semi
            ]
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            kinds(r#""a\"b\\c\$d\`e\'f\101\7\x41\x4g\t""#),
            vec![Kind::Str("a\"b\\c$d`e'fA\u{7}A\u{4}g\t".into())]
        );
        // A byte that is not UTF-8 on its own becomes U+FFFD rather than an error.
        assert_eq!(kinds(r#""\377""#), vec![Kind::Str("\u{FFFD}".into())]);
        // `#` inside a string is not a comment.
        assert_eq!(kinds("\"a#b\""), vec![Kind::Str("a#b".into())]);
    }

    #[test]
    fn bad_strings_are_errors_with_lines() {
        let err = |t: &str| {
            let mut lexer = Lexer::new(t);
            loop {
                match lexer.next_token() {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("{t:?} lexed"),
                    Err(e) => return e,
                }
            }
        };
        let invalid = |t: &str| match err(t) {
            LexError::Invalid(e) => e.message,
            other => panic!("{t:?}: {other:?}"),
        };
        assert_eq!(err("\n\n\"abc\nd"), LexError::Unterminated { line: 3 });
        assert_eq!(err("\"abc\\"), LexError::Unterminated { line: 1 });
        assert!(invalid("\"\\777\"").contains("larger than a byte"));
        assert!(invalid("\"\\xz\"").contains("hex"));
    }

    #[test]
    fn lines_are_counted() {
        let mut lexer = Lexer::new("a\n# c\n\"x\ny\" b\n\n");
        let lines: Vec<usize> = std::iter::from_fn(|| lexer.next_token().unwrap())
            .map(|t| t.line)
            .collect();
        assert_eq!(lines, vec![1, 3, 4]);
    }
}
