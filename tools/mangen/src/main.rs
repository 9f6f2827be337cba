//! mangen: the project's man-page markdown (`docs/*.8.md`, `docs/*.1.md`, and
//! `docs/configuration.md` for `network-broker.yaml(5)`) to roff, at build time.
//!
//! The package must carry man pages without the user's machine (or the build machine) having
//! pandoc; the sources stay plain markdown that reads well on the forge. This tool understands
//! what those sources use: a pandoc title line (`% NAME(SECTION) source | manual`), headings,
//! paragraphs, emphasis, inline code, code blocks, lists, definition lists (`term` then
//! `:   text`), tables (rendered with tbl(1), which man(1) runs when the page asks for it) and
//! links (their text; an absolute URL is kept in angle brackets).
//!
//! ```text
//! mangen --version VER INPUT OUTPUT
//! mangen --version VER --title 'NETWORK-BROKER.YAML(5) network-broker | File Formats' \
//!        --name 'network-broker.yaml - configuration of network-broker(8)' INPUT OUTPUT
//! ```
//!
//! With `--title` the input needs no title line, its first level-1 heading is the page's
//! title and is dropped, `--name` becomes the NAME section, and every heading moves up one
//! level (`##` is a section, `###` and deeper are subsections).

use pulldown_cmark::{Alignment, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use std::fmt::Write as _;
use std::process::ExitCode;

/// The `.TH` line's parts.
struct Title {
    name: String,
    section: String,
    source: String,
    manual: String,
}

fn parse_title(line: &str) -> Result<Title, String> {
    // "NETWORK-BROKER(8) network-broker | System Administration"
    let line = line.trim_start_matches('%').trim();
    let (head, manual) = line.split_once('|').unwrap_or((line, ""));
    let (page, source) = head.trim().split_once(' ').unwrap_or((head.trim(), ""));
    let open = page
        .find('(')
        .ok_or_else(|| format!("title {line:?}: expected NAME(SECTION)"))?;
    let section = page[open + 1..].trim_end_matches(')');
    Ok(Title {
        name: page[..open].to_string(),
        section: section.to_string(),
        source: source.trim().to_string(),
        manual: manual.trim().to_string(),
    })
}

/// roff text: backslashes and dashes escaped; a line must not start with a control character.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            _ => out.push(c),
        }
    }
    out
}

fn quote_arg(text: &str) -> String {
    format!("\"{}\"", escape(text).replace('"', "\\(dq"))
}

#[derive(Clone, Copy, PartialEq)]
enum Font {
    Roman,
    Bold,
    Italic,
}

impl Font {
    fn code(self) -> &'static str {
        match self {
            Font::Roman => "\\fR",
            Font::Bold => "\\fB",
            Font::Italic => "\\fI",
        }
    }
}

/// Writes roff, keeping track of the start of lines (where `.` and `'` need `\&`).
struct Out {
    buf: String,
    fonts: Vec<Font>,
    /// Nesting of lists: `Some(n)` numbered from n, `None` bulleted.
    lists: Vec<Option<u64>>,
    /// Blocks seen in the current list item / definition, so the first needs no break.
    blocks_in_item: Vec<usize>,
    in_table_cell: bool,
    in_heading: bool,
    heading: String,
    table_row: Vec<String>,
    table_rows: Vec<(bool, Vec<String>)>,
    table_aligns: Vec<Alignment>,
    in_table_head: bool,
    link_url: Vec<String>,
    shift_headings: bool,
    skip_first_h1: bool,
}

impl Out {
    fn line_start(&self) -> bool {
        self.buf.is_empty() || self.buf.ends_with('\n')
    }

    fn request(&mut self, req: &str) {
        if !self.line_start() {
            self.buf.push('\n');
        }
        self.buf.push_str(req);
        self.buf.push('\n');
    }

    fn text(&mut self, text: &str) {
        let escaped = escape(text);
        if self.in_heading {
            self.heading.push_str(text);
            return;
        }
        if self.in_table_cell {
            if let Some(cell) = self.table_row.last_mut() {
                cell.push_str(&escaped);
            }
            return;
        }
        // Code blocks bring several lines in one event: each may start with a control character.
        for piece in escaped.split_inclusive('\n') {
            if self.line_start() && (piece.starts_with('.') || piece.starts_with('\'')) {
                self.buf.push_str("\\&");
            }
            self.buf.push_str(piece);
        }
    }

    fn raw_inline(&mut self, s: &str) {
        if self.in_heading {
            return;
        }
        if self.in_table_cell {
            if let Some(cell) = self.table_row.last_mut() {
                cell.push_str(s);
            }
            return;
        }
        self.buf.push_str(s);
    }

    fn push_font(&mut self, f: Font) {
        self.fonts.push(f);
        self.raw_inline(f.code());
    }

    fn pop_font(&mut self) {
        self.fonts.pop();
        let f = self.fonts.last().copied().unwrap_or(Font::Roman);
        self.raw_inline(f.code());
    }

    /// A new block inside a list item or definition: the first one follows the tag directly.
    fn block_break(&mut self) {
        if let Some(n) = self.blocks_in_item.last_mut() {
            *n += 1;
            if *n > 1 {
                self.request(".sp");
            }
        } else {
            self.request(".PP");
        }
    }

    fn flush_table(&mut self) {
        let cols = self.table_aligns.len().max(1);
        let mut spec = String::new();
        let letter = |a: &Alignment| match a {
            Alignment::Center => "c",
            Alignment::Right => "r",
            _ => "l",
        };
        let head: Vec<String> = self
            .table_aligns
            .iter()
            .map(|a| format!("{}b", letter(a)))
            .collect();
        let body: Vec<String> = self
            .table_aligns
            .iter()
            .enumerate()
            .map(|(i, a)| {
                // The last column takes the remaining width, so long texts wrap there.
                if i + 1 == cols {
                    format!("{}x", letter(a))
                } else {
                    letter(a).to_string()
                }
            })
            .collect();
        let _ = writeln!(
            spec,
            ".TS\nallbox tab(\t);\n{}\n{}.",
            head.join(" "),
            body.join(" ")
        );
        for (_, row) in &self.table_rows {
            let cells: Vec<String> = row.iter().map(|c| format!("T{{\n{c}\nT}}")).collect();
            let _ = writeln!(spec, "{}", cells.join("\t"));
        }
        spec.push_str(".TE\n.sp\n");
        self.request(".PP");
        self.buf.push_str(&spec);
        self.table_rows.clear();
    }
}

fn render(md: &str, title: &Title, name: Option<&str>, version: &str) -> Result<String, String> {
    let mut out = Out {
        buf: String::new(),
        fonts: vec![Font::Roman],
        lists: Vec::new(),
        blocks_in_item: Vec::new(),
        in_table_cell: false,
        in_heading: false,
        heading: String::new(),
        table_row: Vec::new(),
        table_rows: Vec::new(),
        table_aligns: Vec::new(),
        in_table_head: false,
        link_url: Vec::new(),
        shift_headings: name.is_some(),
        skip_first_h1: name.is_some(),
    };
    // `'\" t`: man(1) runs tbl(1) first (the tables).
    out.buf.push_str("'\\\" t\n");
    let _ = writeln!(
        out.buf,
        ".TH {} {} \"\" {} {}",
        quote_arg(&title.name),
        quote_arg(&title.section),
        quote_arg(&format!("{} {}", title.source, version)),
        quote_arg(&title.manual)
    );
    // Plain ASCII quotes and no hyphenation: the pages are full of commands and paths.
    out.buf.push_str(".ad l\n.nh\n");
    if let Some(name) = name {
        out.request(".SH \"NAME\"");
        out.text(name);
    }

    let opts = Options::ENABLE_TABLES | Options::ENABLE_DEFINITION_LIST;
    let mut heading_level = HeadingLevel::H1;
    for ev in Parser::new_ext(md, opts) {
        match ev {
            Event::Start(Tag::Heading { level, .. }) => {
                out.in_heading = true;
                out.heading.clear();
                heading_level = level;
            }
            Event::End(TagEnd::Heading(_)) => {
                out.in_heading = false;
                let text = out.heading.trim().to_string();
                let level = heading_level as usize - usize::from(out.shift_headings);
                if level == 0 {
                    if out.skip_first_h1 {
                        out.skip_first_h1 = false;
                        continue;
                    }
                    return Err(format!("a second level-1 heading: {text:?}"));
                }
                if level == 1 {
                    out.request(&format!(".SH {}", quote_arg(&text.to_uppercase())));
                } else {
                    out.request(&format!(".SS {}", quote_arg(&text)));
                }
            }
            Event::Start(Tag::Paragraph) => {
                if !out.in_table_cell {
                    out.block_break();
                }
            }
            Event::End(TagEnd::Paragraph) => {}
            Event::Start(Tag::Strong) => out.push_font(Font::Bold),
            Event::Start(Tag::Emphasis) => out.push_font(Font::Italic),
            Event::End(TagEnd::Strong) | Event::End(TagEnd::Emphasis) => out.pop_font(),
            Event::Code(code) => {
                if out.in_heading {
                    out.heading.push_str(&code);
                } else {
                    out.push_font(Font::Bold);
                    out.text(&code);
                    out.pop_font();
                }
            }
            Event::Text(t) => out.text(&t),
            Event::SoftBreak => {
                if out.in_heading || out.in_table_cell {
                    out.text(" ");
                } else {
                    out.buf.push('\n');
                }
            }
            Event::HardBreak => out.request(".br"),
            Event::Start(Tag::CodeBlock(_)) => {
                out.block_break();
                out.request(".RS 4\n.nf");
            }
            Event::End(TagEnd::CodeBlock) => out.request(".fi\n.RE"),
            Event::Start(Tag::List(start)) => {
                if !out.lists.is_empty() {
                    out.request(".RS 2");
                }
                out.lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                out.lists.pop();
                if !out.lists.is_empty() {
                    out.request(".RE");
                }
            }
            Event::Start(Tag::Item) => {
                let tag = match out.lists.last_mut() {
                    Some(Some(n)) => {
                        let t = format!(".IP \"{n}.\" 4");
                        *n += 1;
                        t
                    }
                    _ => ".IP \\(bu 2".to_string(),
                };
                out.request(&tag);
                out.blocks_in_item.push(1);
            }
            Event::End(TagEnd::Item) => {
                out.blocks_in_item.pop();
            }
            Event::Start(Tag::DefinitionList) | Event::End(TagEnd::DefinitionList) => {}
            Event::Start(Tag::DefinitionListTitle) => out.request(".TP"),
            Event::End(TagEnd::DefinitionListTitle) => {}
            Event::Start(Tag::DefinitionListDefinition) => {
                if !out.line_start() {
                    out.buf.push('\n');
                }
                out.blocks_in_item.push(0);
            }
            Event::End(TagEnd::DefinitionListDefinition) => {
                out.blocks_in_item.pop();
            }
            Event::Start(Tag::BlockQuote(_)) => out.request(".RS 4"),
            Event::End(TagEnd::BlockQuote(_)) => out.request(".RE"),
            Event::Start(Tag::Table(aligns)) => {
                out.table_aligns = aligns;
                out.table_rows.clear();
            }
            Event::End(TagEnd::Table) => out.flush_table(),
            Event::Start(Tag::TableHead) => {
                out.in_table_head = true;
                out.table_row.clear();
            }
            Event::End(TagEnd::TableHead) => {
                out.in_table_head = false;
                let row = std::mem::take(&mut out.table_row);
                out.table_rows.push((true, row));
            }
            Event::Start(Tag::TableRow) => out.table_row.clear(),
            Event::End(TagEnd::TableRow) => {
                let row = std::mem::take(&mut out.table_row);
                out.table_rows.push((false, row));
            }
            Event::Start(Tag::TableCell) => {
                out.in_table_cell = true;
                out.table_row.push(String::new());
            }
            Event::End(TagEnd::TableCell) => out.in_table_cell = false,
            Event::Start(Tag::Link { dest_url, .. }) => out.link_url.push(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                let url = out.link_url.pop().unwrap_or_default();
                // Links to other docs or anchors mean nothing in a man page: their text stays.
                if url.starts_with("http://") || url.starts_with("https://") {
                    out.text(&format!(" <{url}>"));
                }
            }
            Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => {}
            Event::Html(_) | Event::InlineHtml(_) => {}
            Event::Rule => out.request(".sp"),
            Event::TaskListMarker(done) => out.text(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(_)
            | Event::InlineMath(_)
            | Event::DisplayMath(_)
            | Event::Start(_)
            | Event::End(_) => {}
        }
    }
    if !out.buf.ends_with('\n') {
        out.buf.push('\n');
    }
    Ok(out.buf)
}

fn run(args: &[String]) -> Result<(), String> {
    let mut version = None;
    let mut title = None;
    let mut name = None;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match a.as_str() {
            "--version" => version = Some(value("--version")?),
            "--title" => title = Some(value("--title")?),
            "--name" => name = Some(value("--name")?),
            _ => files.push(a.clone()),
        }
    }
    let [input, output] = files.as_slice() else {
        return Err("usage: mangen --version VER [--title T --name N] INPUT OUTPUT".into());
    };
    let version = version.ok_or("--version is required")?;
    let src = std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?;
    let (title, body) = match (&title, &name) {
        (Some(t), Some(_)) => (parse_title(t)?, src.as_str()),
        (None, None) => {
            let (first, rest) = src.split_once('\n').unwrap_or((src.as_str(), ""));
            if !first.starts_with('%') {
                return Err(format!("{input}: no `% NAME(SECTION) ...` title line"));
            }
            (parse_title(first)?, rest)
        }
        _ => return Err("--title and --name go together".into()),
    };
    let roff =
        render(body, &title, name.as_deref(), &version).map_err(|e| format!("{input}: {e}"))?;
    std::fs::write(output, roff).map_err(|e| format!("{output}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mangen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(md: &str) -> String {
        let title = parse_title("% TOOL(1) pkg | User Commands").unwrap_or_else(|e| panic!("{e}"));
        render(md, &title, None, "1.0").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn title_line_becomes_th() {
        let roff = page("# NAME\n\ntool - does things\n");
        assert!(
            roff.starts_with("'\\\" t\n.TH \"TOOL\" \"1\" \"\" \"pkg 1.0\" \"User Commands\"\n")
        );
        assert!(roff.contains(".SH \"NAME\"\n.PP\ntool \\- does things"));
    }

    #[test]
    fn control_characters_at_line_start_are_escaped() {
        // A line of text or code starting with `.` or `'` would be a roff request.
        let roff = page("# X\n\n```\n.hidden\n'quoted\n```\n\nback\\\\slash\n");
        assert!(roff.contains("\\&.hidden\n\\&'quoted\n"), "{roff}");
        assert!(roff.contains("back\\eslash"), "{roff}");
    }

    #[test]
    fn fonts_nest_and_restore() {
        let roff = page("# X\n\n**bold *both* bold** `code` plain\n");
        assert!(
            roff.contains("\\fBbold \\fIboth\\fB bold\\fR \\fBcode\\fR plain"),
            "{roff}"
        );
    }

    #[test]
    fn definition_lists_and_tables() {
        let roff =
            page("# X\n\n**reload**\n:   Re-read it.\n\n| a | b |\n|---|---|\n| 1 | two |\n");
        assert!(
            roff.contains(".TP\n\\fBreload\\fR\nRe\\-read it."),
            "{roff}"
        );
        assert!(roff.contains(".TS\nallbox tab(\t);\nlb lb\nl lx.\nT{\na\nT}\tT{\nb\nT}\nT{\n1\nT}\tT{\ntwo\nT}\n.TE"), "{roff}");
    }
}
