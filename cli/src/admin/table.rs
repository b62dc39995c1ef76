//! Tables with aligned columns, and the cell texts the admin commands share.

use tessera_keys::UnixTime;

use crate::escape::escaped;
use crate::output::time_label;

/// Rows under a header, each column as wide as its widest cell.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub(crate) fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; each cell is shown escaped ([`Escaped`](crate::escape::Escaped)), on one line.
    pub(crate) fn row(&mut self, cells: Vec<String>) -> &mut Table {
        self.rows
            .push(cells.iter().map(|cell| escaped(cell)).collect());
        self
    }

    /// The table, indented by two spaces, columns two spaces apart, no trailing spaces.
    pub(crate) fn render(&self) -> String {
        let header: Vec<String> = self
            .header
            .iter()
            .map(|title| (*title).to_owned())
            .collect();
        let lines = std::iter::once(&header).chain(&self.rows);
        let mut widths = vec![0; self.header.len()];
        for cells in lines.clone() {
            for (width, cell) in widths.iter_mut().zip(cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for cells in lines {
            let mut line = String::from(" ");
            for (width, cell) in widths.iter().zip(cells) {
                line.push(' ');
                line.push_str(cell);
                let pad = width - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad + 1));
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// A section: its title line, then `table`; `title: none` when it has no rows.
pub(crate) fn section(title: &str, table: &Table) -> String {
    if table.rows.is_empty() {
        format!("{title}: none\n")
    } else {
        format!("{title}:\n{}", table.render())
    }
}

/// A time as ISO 8601 UTC (`2027-01-31T00:00:00Z`).
pub(crate) fn time(seconds: i64) -> String {
    match u64::try_from(seconds) {
        Ok(seconds) => time_label(UnixTime(seconds)),
        Err(_) => seconds.to_string(),
    }
}

/// [`time`], or `when_none` for no time.
pub(crate) fn time_or(seconds: Option<i64>, when_none: &str) -> String {
    seconds.map_or_else(|| when_none.to_owned(), time)
}

/// The text, or `-`.
pub(crate) fn or_dash(text: Option<&str>) -> String {
    text.unwrap_or("-").to_owned()
}

/// A change in a balance: `+5`, `-3`, `0`.
pub(crate) fn signed(change: i64) -> String {
    if change > 0 {
        format!("+{change}")
    } else {
        change.to_string()
    }
}

/// `1 (pro)`, or `1` when the issuer's catalogue has no name for it.
pub(crate) fn named(number: impl std::fmt::Display, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{number} ({name})"),
        None => number.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_cells_stay_on_one_line() {
        let mut table = Table::new(&["ID", "STATUS", "NOTE"]);
        table
            .row(vec!["1".into(), "processed".into(), "a\nb\u{1b}".into()])
            .row(vec!["12345".into(), "ok".into(), String::new()]);
        assert_eq!(
            table.render(),
            "  ID     STATUS     NOTE\n  1      processed  a\\nb\\u{1b}\n  12345  ok\n"
        );
        assert_eq!(section("events", &Table::new(&["ID"])), "events: none\n");
    }

    #[test]
    fn cells() {
        assert_eq!(time(1_801_353_600), "2027-01-31T00:00:00Z");
        assert_eq!(time(-5), "-5");
        assert_eq!(time_or(None, "never"), "never");
        assert_eq!(signed(5), "+5");
        assert_eq!(signed(-3), "-3");
        assert_eq!(signed(0), "0");
        assert_eq!(named(1, Some("pro")), "1 (pro)");
        assert_eq!(named(2, None), "2");
        assert_eq!(or_dash(None), "-");
    }
}
