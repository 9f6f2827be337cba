//! Colour for people: on a terminal only, never with `NO_COLOR` set (https://no-color.org, as
//! systemd's tools honour it) or `TERM=dumb`; states coloured as networkctl colours them.

use std::io::IsTerminal;

/// Whether to colour, decided once per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

const GREEN: &str = "\x1b[0;1;32m";
const YELLOW: &str = "\x1b[0;1;33m";
const RED: &str = "\x1b[0;1;31m";
const GREY: &str = "\x1b[0;38;5;245m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

impl Style {
    /// Colour when standard output is a terminal and neither `NO_COLOR` (non-empty) nor
    /// `TERM=dumb` says otherwise.
    pub fn for_stdout() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Style {
            color: std::io::stdout().is_terminal() && !no_color && !dumb,
        }
    }

    #[cfg(test)]
    pub fn plain() -> Style {
        Style { color: false }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint(BOLD, text)
    }

    /// A state word (operational, carrier, address, administrative, online, routing entry)
    /// in the colour networkctl gives it: green when fully up, yellow when partly, red when
    /// failed or down, grey when off or unknown.
    pub fn state(self, state: &str) -> String {
        match state_colour(state) {
            Some(code) => self.paint(code, state),
            None => state.to_string(),
        }
    }

    /// The `●` before a link or the system, coloured by its operational state.
    pub fn dot(self, state: &str) -> String {
        match (self.color, state_colour(state)) {
            (true, Some(code)) => format!("{code}●{RESET}"),
            _ => "●".to_string(),
        }
    }
}

fn state_colour(state: &str) -> Option<&'static str> {
    match state {
        "routable" | "online" | "configured" | "enslaved" | "ok" | "up" => Some(GREEN),
        "degraded" | "degraded-carrier" | "partial" | "configuring" | "pending" | "dormant"
        | "missing" | "stale" => Some(YELLOW),
        "no-carrier" | "failed" | "offline" | "linger" | "down" | "lowerlayerdown" => Some(RED),
        "off" | "unmanaged" | "no-address" | "unknown" | "n/a" => Some(GREY),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
