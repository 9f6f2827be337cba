//! Where output goes: standard output, through a pager where networkctl uses one (`status`,
//! `links`, `link`; only on a terminal, never with `--no-pager`), and what a closed pipe does:
//! the command ends quietly with status 0, as networkctl does when its reader goes away
//! (`network-brokerctl links | head -1`).

use std::io::{ErrorKind, IsTerminal, Write};
use std::process::{Command, Stdio};

use crate::failure::Failure;

/// Writes `text` to standard output, or to the pager when `pager` and standard output is a
/// terminal. A reader that went away (EPIPE) ends the command quietly.
pub fn emit(text: &str, pager: bool) -> Result<(), Failure> {
    if pager && std::io::stdout().is_terminal() {
        if let Some(command) = pager_command() {
            if page(&command, text) {
                return Ok(());
            }
        }
    }
    write_stdout(text)
}

/// One line to standard error. A closed standard error is ignored: there is nowhere left to
/// say anything (eprintln! would panic).
pub fn error_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Writes to standard output now (monitor lines); a closed pipe is [`Failure::closed`].
pub fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::BrokenPipe => Err(Failure::closed()),
        Err(err) => Err(Failure::new(
            1,
            format!("cannot write to standard output: {err}"),
        )),
    }
}

/// The pager as systemd chooses it: `$SYSTEMD_PAGER`, else `$PAGER`, else `less`; empty or
/// `cat` means none.
fn pager_command() -> Option<String> {
    let chosen = ["SYSTEMD_PAGER", "PAGER"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .unwrap_or_else(|| "less".to_string());
    let chosen = chosen.trim().to_string();
    (!chosen.is_empty() && chosen != "cat").then_some(chosen)
}

/// Runs the pager on `text`; false when it could not start (then the text goes to stdout).
fn page(command: &str, text: &str) -> bool {
    let mut pager = Command::new("sh");
    pager.arg("-c").arg(command).stdin(Stdio::piped());
    // systemd's default for less: quit when the text fits, raw colours, no init sequence.
    if std::env::var_os("LESS").is_none() {
        pager.env("LESS", "FRSXMK");
    }
    let Ok(mut child) = pager.spawn() else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        // The user may quit the pager before it read everything: that is not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    let _ = child.wait();
    true
}
