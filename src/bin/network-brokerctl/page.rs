//! The `Label: value` pages of `status` and `link`, laid out as networkctl lays out
//! `networkctl status`: labels right-aligned, a value per line, continuation lines indented.

/// Rows of a page, in order; a row with no values is left out.
#[derive(Debug, Default)]
pub struct Page {
    rows: Vec<(String, Vec<String>)>,
}

impl Page {
    pub fn row(&mut self, label: &str, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() {
            self.rows.push((label.to_string(), vec![value]));
        }
    }

    pub fn rows(&mut self, label: &str, values: Vec<String>) {
        if !values.is_empty() {
            self.rows.push((label.to_string(), values));
        }
    }

    /// The page, with `head` as its first line.
    pub fn render(&self, head: &str) -> String {
        let width = self
            .rows
            .iter()
            .map(|(label, _)| label.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = format!("{head}\n");
        for (label, values) in &self.rows {
            for (i, value) in values.iter().enumerate() {
                let label = if i == 0 {
                    format!("{label}:")
                } else {
                    String::new()
                };
                out += &format!("{label:>w$} {value}\n", w = width + 1);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
