//! The one way out to the terminal: every piece of text the program prints passes through
//! here, and here through [`audit_log::text::for_terminal`], so text stored in a record (a
//! display name, a reason, a user agent, a payload) can never move the cursor, recolour,
//! clear the screen or retitle the terminal. The only escape sequences on stdout are this
//! module's own colours, added after the text was neutralised, and only on a terminal
//! (`NO_COLOR` honoured).
//!
//! The rest of the program never prints (`clippy::print_stdout` and `print_stderr` are
//! denied outside this module).

use std::borrow::Cow;
use std::io::{self, BufWriter, IsTerminal, Stdout, Write};

use audit_log::text::for_terminal;
use audit_log::Zone;
use chrono::{DateTime, Utc};
use clap::ValueEnum;
use serde::Serialize;

use crate::fail::Fail;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The options every command shares about how it shows things.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Time zone times are shown (and dates read) in: UTC, local, an offset such as +02:00, or
    /// a zone name such as Europe/Berlin
    #[arg(
        long,
        global = true,
        env = "AUDIT_LOG_TZ",
        default_value = "UTC",
        value_name = "ZONE"
    )]
    pub tz: String,

    /// When to colour the output
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: ColorChoice,
}

/// How a piece of text is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Bold,
    Dim,
    Red,
    Yellow,
    Green,
    Cyan,
}

impl Style {
    fn ansi(self) -> &'static str {
        match self {
            Style::Plain => "",
            Style::Bold => "\x1b[1m",
            Style::Dim => "\x1b[2m",
            Style::Red => "\x1b[31m",
            Style::Yellow => "\x1b[33m",
            Style::Green => "\x1b[32m",
            Style::Cyan => "\x1b[36m",
        }
    }
}

/// A piece of text and its style. The text is neutralised when the span is made.
#[derive(Debug, Clone)]
pub struct Span {
    text: String,
    style: Style,
}

impl Span {
    pub fn new(text: impl AsRef<str>, style: Style) -> Self {
        Span {
            text: safe(text.as_ref()).into_owned(),
            style,
        }
    }

    pub fn plain(text: impl AsRef<str>) -> Self {
        Span::new(text, Style::Plain)
    }

    /// Its style.
    pub fn style(&self) -> Style {
        self.style
    }

    /// Its width on a terminal, in columns.
    fn width(&self) -> usize {
        console::measure_text_width(&self.text)
    }
}

/// Text made safe to show: control characters and escape sequences made visible and inert.
pub fn safe(s: &str) -> Cow<'_, str> {
    for_terminal(s)
}

/// Column alignment in a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// An aligned table: a header, rows of cells, and one column (the last by default) that
/// takes what is left of the terminal's width and is cut to fit.
#[derive(Debug)]
pub struct Table {
    header: Vec<(String, Align)>,
    rows: Vec<Vec<Span>>,
    flex: usize,
}

impl Table {
    pub fn new(header: &[(&str, Align)]) -> Self {
        Table {
            header: header.iter().map(|(h, a)| ((*h).to_owned(), *a)).collect(),
            rows: Vec::new(),
            flex: header.len().saturating_sub(1),
        }
    }

    /// Makes column `i` the one cut to fit (instead of the last).
    pub fn flex(mut self, i: usize) -> Self {
        self.flex = i;
        self
    }

    pub fn row(&mut self, cells: Vec<Span>) {
        self.rows.push(cells);
    }

    /// The column widths: each the widest cell (or header), the flexible one cut so that the
    /// whole line fits `width` when it is known.
    fn widths(&self, width: Option<usize>) -> Vec<usize> {
        let mut w: Vec<usize> = self.header.iter().map(|(h, _)| h.len()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                if let Some(x) = w.get_mut(i) {
                    *x = (*x).max(c.width());
                }
            }
        }
        if let Some(total) = width {
            let gaps = 2 * w.len().saturating_sub(1);
            let others: usize = w
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.flex)
                .map(|(_, x)| *x)
                .sum();
            if let Some(f) = w.get_mut(self.flex) {
                *f = (*f).min(total.saturating_sub(others + gaps)).max(8);
            }
        }
        w
    }
}

/// Standard output, with what it takes to show records on it.
pub struct Out {
    w: BufWriter<Stdout>,
    color: bool,
    width: Option<usize>,
    zone: Zone,
}

impl Out {
    pub fn new(args: &OutputArgs) -> Result<Out, Fail> {
        let stdout = io::stdout();
        let terminal = stdout.is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color && !dumb,
        };
        let width = if terminal {
            console::Term::stdout()
                .size_checked()
                .map(|(_, cols)| usize::from(cols))
                .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        } else {
            None
        };
        let zone = Zone::parse(&args.tz).map_err(|e| Fail::Usage(format!("--tz: {e}")))?;
        Ok(Out {
            w: BufWriter::new(stdout),
            color,
            width,
            zone,
        })
    }

    /// The zone times are shown in.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// A time as the table shows it: `2026-03-02 08:55:00`, in the zone.
    pub fn time(&self, t: DateTime<Utc>) -> String {
        self.zone.format(t, "%Y-%m-%d %H:%M:%S")
    }

    /// A time in full: RFC 3339 with microseconds, in the zone.
    pub fn time_full(&self, t: DateTime<Utc>) -> String {
        self.zone.to_rfc3339(t)
    }

    /// The zone's name as a header shows it.
    pub fn zone_label(&self) -> String {
        match self.zone {
            Zone::Utc => "UTC".to_owned(),
            z => z.to_string(),
        }
    }

    /// One line of spans.
    pub fn spans(&mut self, spans: &[Span]) -> io::Result<()> {
        for s in spans {
            self.span(s)?;
        }
        self.w.write_all(b"\n")
    }

    fn span(&mut self, s: &Span) -> io::Result<()> {
        if self.color && s.style != Style::Plain {
            write!(self.w, "{}{}\x1b[0m", s.style.ansi(), s.text)
        } else {
            self.w.write_all(s.text.as_bytes())
        }
    }

    /// One line of plain text.
    pub fn line(&mut self, text: impl AsRef<str>) -> io::Result<()> {
        self.spans(&[Span::plain(text)])
    }

    /// One line in a style.
    pub fn styled(&mut self, text: impl AsRef<str>, style: Style) -> io::Result<()> {
        self.spans(&[Span::new(text, style)])
    }

    /// `  label   value`: one field of a detail view, the label padded to `pad`.
    pub fn field(&mut self, label: &str, value: impl AsRef<str>, pad: usize) -> io::Result<()> {
        self.spans(&[
            Span::new(format!("  {label:<pad$}  "), Style::Dim),
            Span::plain(value),
        ])
    }

    /// A blank line.
    pub fn blank(&mut self) -> io::Result<()> {
        self.w.write_all(b"\n")
    }

    /// A table, its flexible column cut to the terminal's width.
    pub fn table(&mut self, t: &Table) -> io::Result<()> {
        let widths = t.widths(self.width);
        let header: Vec<Span> = t
            .header
            .iter()
            .map(|(h, _)| Span::new(h, Style::Bold))
            .collect();
        let aligns: Vec<Align> = t.header.iter().map(|(_, a)| *a).collect();
        self.table_row(&header, &widths, &aligns, t.flex)?;
        for row in &t.rows {
            self.table_row(row, &widths, &aligns, t.flex)?;
        }
        Ok(())
    }

    /// One row of a table with these widths (also for rows streamed one at a time).
    pub fn table_row(
        &mut self,
        cells: &[Span],
        widths: &[usize],
        aligns: &[Align],
        flex: usize,
    ) -> io::Result<()> {
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let text: Cow<'_, str> = if i == flex && c.width() > w {
                console::truncate_str(&c.text, w, "…")
            } else {
                Cow::Borrowed(c.text.as_str())
            };
            let pad = w.saturating_sub(console::measure_text_width(&text));
            let align = aligns.get(i).copied().unwrap_or(Align::Left);
            if align == Align::Right {
                write!(self.w, "{:pad$}", "")?;
            }
            self.span(&Span {
                text: text.into_owned(),
                style: c.style,
            })?;
            if i < last {
                if align == Align::Left {
                    write!(self.w, "{:pad$}", "")?;
                }
                self.w.write_all(b"  ")?;
            }
        }
        self.w.write_all(b"\n")
    }

    /// The terminal's width, if standard output is one.
    pub fn width(&self) -> Option<usize> {
        self.width
    }

    /// One JSON value on one line. JSON escapes the C0 controls itself; what it leaves raw
    /// (DEL, C1 controls such as CSI, bidi overrides) is escaped too, which keeps the line
    /// valid JSON with the same meaning.
    pub fn json_line(&mut self, value: &impl Serialize) -> io::Result<()> {
        let text = serde_json::to_string(value).map_err(io::Error::other)?;
        self.w.write_all(safe(&text).as_bytes())?;
        self.w.write_all(b"\n")
    }

    /// Pretty JSON, neutralised line by line (still valid JSON).
    pub fn json_pretty(&mut self, value: &impl Serialize, indent: &str) -> io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
        for l in text.lines() {
            self.w.write_all(indent.as_bytes())?;
            self.w.write_all(safe(l).as_bytes())?;
            self.w.write_all(b"\n")?;
        }
        Ok(())
    }

    /// A writer for a stream of lines produced elsewhere (CSV from the library): each line
    /// is neutralised, wherever standard output goes. A pipe ends on a terminal as often as
    /// not (`| grep`, `| head`), so nothing a record holds goes out raw; a cell's line breaks
    /// stay line breaks (the CSV stays valid), its other control characters show as escapes.
    /// The exact values are what `export` writes to a file.
    pub fn lines(&mut self) -> SafeLines<'_> {
        SafeLines {
            out: &mut self.w,
            pending: Vec::new(),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// Text generated by a library for a terminal (shell completions): no stored text in it.
    pub fn generated(&mut self) -> &mut impl Write {
        &mut self.w
    }
}

/// See [`Out::lines`].
pub struct SafeLines<'a> {
    out: &'a mut BufWriter<Stdout>,
    pending: Vec<u8>,
}

impl SafeLines<'_> {
    fn emit_line(&mut self, line: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(line);
        self.out.write_all(safe(&text).as_bytes())?;
        self.out.write_all(b"\n")
    }
}

impl Write for SafeLines<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A line feed byte is never part of a longer UTF-8 sequence: lines split cleanly.
        for &b in buf {
            if b == b'\n' {
                let line = std::mem::take(&mut self.pending);
                self.emit_line(&line)?;
            } else {
                self.pending.push(b);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            let text = String::from_utf8_lossy(&line);
            self.out.write_all(safe(&text).as_bytes())?;
        }
        self.out.flush()
    }
}

impl Drop for SafeLines<'_> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Writes one line to standard error: `audit-log: <kind>: <message>`, neutralised.
pub fn diagnostic(kind: &str, message: &str) {
    let mut e = io::stderr().lock();
    let _ = writeln!(e, "audit-log: {kind}: {}", safe(message));
}

/// A note for the person at the terminal (next page hints, what was written where), on
/// standard error so that standard output stays data.
pub fn note(message: &str) {
    let mut e = io::stderr().lock();
    let _ = writeln!(e, "{}", safe(message));
}

/// Asks a question on standard error and reads the answer from standard input.
pub fn ask(question: &str) -> io::Result<String> {
    {
        let mut e = io::stderr().lock();
        write!(e, "{}", safe(question))?;
        e.flush()?;
    }
    let mut answer = String::new();
    io::stdin().read_line(&mut answer)?;
    Ok(answer.trim().to_owned())
}

/// Whether standard error is a terminal (progress bars go there).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// Whether standard input is a terminal (a question can be asked).
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}
