//! `hooks` and `run-hooks`: the hook list, a real run's results, and the dry run's exact
//! environment printed as sh(1) input (`NAME='value'`, quoted where needed), so that a
//! multi-line value such as `DHCP_LEASE` cannot be mistaken for more variables.

use crate::quote::shell;
use crate::style::Style;
use crate::table::{self, Cell};

/// `hooks`: EVENT and SCRIPT columns.
pub fn list(hooks: &[(String, String)], legend: bool, style: Style) -> String {
    let rows: Vec<Vec<Cell>> = hooks
        .iter()
        .map(|(event, script)| vec![Cell::plain(event.clone()), Cell::plain(script.clone())])
        .collect();
    let footer = format!("{} hooks listed.", hooks.len());
    table::render(
        &["EVENT", "SCRIPT"],
        &rows,
        legend.then_some(footer.as_str()),
        style,
    )
}

/// `run-hooks --dry-run`: comments for the scripts and the input, `NAME=VALUE` lines that sh
/// reads back as the exact environment.
pub fn dry_run(scripts: &[String], env: &[(String, String)], input: &str) -> String {
    let mut out = String::from("# scripts, in run order:\n");
    for script in scripts {
        out += &format!("#   {}\n", shell(script));
    }
    out += "# environment:\n";
    for (name, value) in env {
        out += &format!("{name}={}\n", shell(value));
    }
    if input.is_empty() {
        out += "# standard input: none (/dev/null)\n";
    } else {
        out += &format!(
            "# standard input, {} bytes, each line after '# | ':\n",
            input.len()
        );
        for line in input.lines() {
            out += &format!("# | {line}\n");
        }
    }
    out
}

/// `run-hooks`: a line per script, its status and error text.
pub fn results(event: &str, results: &[(String, u32, String)]) -> String {
    if results.is_empty() {
        return format!("no hooks for {event}\n");
    }
    results
        .iter()
        .map(|(script, status, error)| {
            if error.is_empty() {
                format!("{status:>3} {script}\n")
            } else {
                format!("{status:>3} {script} {error}\n")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
