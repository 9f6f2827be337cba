//! One way to put an error and all its causes on one line, `outer: inner: innermost`, for
//! logs and for the text of replies. Every layer logs errors, so this sits on the ground floor
//! where each of them may import it.

use std::fmt;

/// Formats an error with all its causes, `outer: inner: innermost`.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorChain;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn every_cause_follows_on_one_line() {
        let err = Outer(Inner(std::io::Error::other("innermost")));
        assert_eq!(ErrorChain(&err).to_string(), "outer: inner: innermost");
    }

    #[test]
    fn an_error_without_a_cause_is_its_own_text() {
        let err = std::io::Error::other("alone");
        assert_eq!(ErrorChain(&err).to_string(), "alone");
    }
}
