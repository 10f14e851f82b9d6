//! How the client prints: tables that fit the terminal (comfy-table; styled
//! only on a terminal), or the API's JSON unchanged; errors on standard error,
//! their prefix coloured only on a terminal and without `NO_COLOR`.

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use comfy_table::{presets, Attribute, Cell, ColumnConstraint, ContentArrangement, Table, Width};
use exsvc_client::Answer;
use serde::de::DeserializeOwned;

use super::{Failure, Format};

#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    pub format: Format,
}

impl Output {
    pub fn new(format: Format) -> Self {
        Self { format }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// The answer as the API sent it (`-o json`), or decoded and shown by
    /// `render`.
    pub fn answer<T: DeserializeOwned>(
        &self,
        answer: &Answer,
        render: impl FnOnce(T),
    ) -> Result<(), Failure> {
        if self.json() {
            // Printed as it came, but only if it is the JSON the API sends.
            serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body).map_err(|_| {
                Failure::Other("the answer is not JSON: is --addr an exsvc?".to_owned())
            })?;
            raw(&answer.body);
        } else {
            render(answer.json()?);
        }
        Ok(())
    }

    pub fn error(&self, message: &str) {
        let stderr = std::io::stderr();
        let style = if stderr.is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            anstyle::Style::new()
                .bold()
                .fg_color(Some(anstyle::AnsiColor::Red.into()))
        } else {
            anstyle::Style::new()
        };
        let message = visible(message);
        let _ = writeln!(stderr.lock(), "{style}error{style:#}: {message}");
    }
}

/// Prints a line on standard output. A closed pipe (`exsvc … | head`) is
/// not an error worth a panic: the rest is dropped.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(format_args!($($arg)*))
    };
}
pub(crate) use say;

pub fn write_line(text: std::fmt::Arguments<'_>) {
    let written = writeln!(std::io::stdout().lock(), "{text}");
    remember(written);
}

/// The first failure to write standard output other than a closed pipe (a
/// full disk, a closed descriptor): the command then fails, so that
/// `exsvc … -o json > backup.json` on a full disk is not a success.
static WRITE_FAILURE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn remember(written: std::io::Result<()>) {
    if let Err(error) = written {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = WRITE_FAILURE.set(error.to_string());
        }
    }
}

/// Flushes standard output; why it could not be written, if it could not.
pub fn write_failure() -> Option<String> {
    remember(std::io::stdout().lock().flush());
    WRITE_FAILURE.get().cloned()
}

/// Prints a line on standard error: a note beside the output, or an error's
/// details. Standard error can be a closed pipe too (`exsvc … 2>&1 | head`),
/// where `eprintln!` would panic: the note is dropped instead.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::cli::output::write_note(format_args!($($arg)*))
    };
}
pub(crate) use note;

pub fn write_note(text: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Bytes of the API, printed as they came, ending in a newline.
pub fn raw(body: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let mut written = stdout.write_all(body);
    if written.is_ok() && !body.ends_with(b"\n") {
        written = stdout.write_all(b"\n");
    }
    remember(written);
}

/// A table of rows under `headers`: no borders, two spaces between columns,
/// wrapped to the terminal's width when there is one (at spaces: a word is
/// never cut).
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_header(headers.iter().map(|h| heading(h)));
    for row in rows {
        table.add_row(row.iter().map(|cell| visible(cell).into_owned()));
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    print(&mut table);
}

/// `text` as it may reach a terminal: a control character that stored data
/// or a server's message holds (an escape sequence, a carriage return) is
/// written as its escape (`\u{1b}`) and cannot act on the terminal; line
/// breaks stay, as a cell may have several lines.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() && c != '\n' {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// A header or field name: bold on a terminal, unless `NO_COLOR` is set
/// (comfy-table styles only on a terminal by itself).
fn heading(text: &str) -> Cell {
    let cell = Cell::new(text);
    if std::env::var_os("NO_COLOR").is_some() {
        cell
    } else {
        cell.add_attribute(Attribute::Bold)
    }
}

/// One record as `field  value` lines.
pub fn record(fields: Vec<(&str, String)>) {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    for (field, value) in fields {
        table.add_row(vec![heading(field), Cell::new(visible(&value))]);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    print(&mut table);
}

/// Fits `table` to the terminal's width, if it has one, and prints it. A
/// terminal that reports no size (0 columns: a bare pseudo-terminal, some
/// CI runners) gets the table unwrapped, not a column per character.
///
/// Lines are wrapped at spaces only: each column is at least as wide as its
/// longest word, since an id, a name or a secret cut in two cannot be read or
/// copied back. A table whose words do not fit is wider than the terminal.
fn print(table: &mut Table) {
    let fits = table.width().is_some_and(|width| width > 0);
    if fits {
        let longest: Vec<usize> = (0..table.column_count())
            .map(|index| {
                let header = table.header().and_then(|h| h.cell_iter().nth(index));
                table
                    .column_cells_iter(index)
                    .flatten()
                    .chain(header)
                    .map(|cell| longest_word(&cell.content()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (column, width) in table.column_iter_mut().zip(longest) {
            // The bound counts the padding.
            let width = u16::try_from(width)
                .unwrap_or(u16::MAX)
                .saturating_add(column.padding_width());
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(width)));
        }
    }
    // Styles cover the text only, so trailing padding can be trimmed.
    table.style_text_only();
    table.set_content_arrangement(if fits {
        ContentArrangement::Dynamic
    } else {
        ContentArrangement::Disabled
    });
    for line in table.to_string().lines() {
        say!("{}", line.trim_end());
    }
}

/// The terminal columns of the longest word of `text` (a CJK character or an
/// emoji takes two).
fn longest_word(text: &str) -> usize {
    text.split_whitespace()
        .map(unicode_width::UnicodeWidthStr::width)
        .max()
        .unwrap_or(0)
}

/// A time to the minute, in UTC.
pub fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn optional_time(at: Option<&DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), time)
}

/// A credential's expiry as people read it: `expired`, `in 3 days`, or the
/// date when it is further off.
pub fn expiry(at: Option<&DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(at) = at else {
        return "-".to_owned();
    };
    let left = *at - now;
    if left <= chrono::Duration::zero() {
        format!("expired {}", at.format("%Y-%m-%d"))
    } else if left < chrono::Duration::days(1) {
        format!("in {} h", left.num_hours().max(1))
    } else if left <= chrono::Duration::days(7) {
        let days = left.num_days();
        format!("in {days} day{}", if days == 1 { "" } else { "s" })
    } else {
        at.format("%Y-%m-%d").to_string()
    }
}

/// What stands in a cell for nothing.
pub fn or_dash(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_act_on_the_terminal() {
        assert_eq!(visible("plain\nlines"), "plain\nlines");
        assert_eq!(
            visible("a\u{1b}]0;owned\u{7}b\rc"),
            "a\\u{1b}]0;owned\\u{7}b\\u{d}c"
        );
        assert_eq!(visible("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn an_expiry_reads_as_people_say_it() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(expiry(None, now), "-");
        assert_eq!(
            expiry(Some(&at("2026-11-30T00:00:00Z")), now),
            "expired 2026-11-30"
        );
        assert_eq!(expiry(Some(&at("2026-12-01T15:00:00Z")), now), "in 3 h");
        assert_eq!(expiry(Some(&at("2026-12-02T13:00:00Z")), now), "in 1 day");
        assert_eq!(expiry(Some(&at("2026-12-05T12:00:00Z")), now), "in 4 days");
        assert_eq!(expiry(Some(&at("2027-01-01T00:00:00Z")), now), "2027-01-01");
    }
}
