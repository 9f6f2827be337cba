//! Aligned tables for `links`, `hooks` and `routing`: a header, columns as wide as their
//! widest cell (colour does not count), and the legend networkctl prints below its lists
//! (`N links listed.`), both left out with `--no-legend`.

use crate::style::Style;

/// A cell: its text and whether it is a state to colour.
pub struct Cell {
    pub text: String,
    pub state: bool,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            state: false,
        }
    }

    pub fn state(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            state: true,
        }
    }
}

/// The table as text. The last column is not padded; `legend` is `None` with `--no-legend`.
pub fn render(header: &[&str], rows: &[Vec<Cell>], legend: Option<&str>, style: Style) -> String {
    // Without the header (--no-legend) its names do not widen the columns.
    let mut widths: Vec<usize> = header
        .iter()
        .map(|h| {
            if legend.is_some() {
                h.chars().count()
            } else {
                0
            }
        })
        .collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.text.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<(String, usize)>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (cell, visible)) in cells.into_iter().enumerate() {
            text += &cell;
            if i != last {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(visible) + 1;
                text += &" ".repeat(pad);
            }
        }
        text.trim_end().to_string() + "\n"
    };
    if legend.is_some() {
        out += &line(
            header
                .iter()
                .map(|h| (style.bold(h), h.chars().count()))
                .collect(),
        );
    }
    for row in rows {
        out += &line(
            row.iter()
                .map(|c| {
                    let shown = if c.state {
                        style.state(&c.text)
                    } else {
                        c.text.clone()
                    };
                    (shown, c.text.chars().count())
                })
                .collect(),
        );
    }
    if let Some(legend) = legend {
        out += &format!("\n{legend}\n");
    }
    out
}

#[cfg(test)]
mod tests;
