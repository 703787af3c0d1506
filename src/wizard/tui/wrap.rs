//! Word wrapping with a hanging indent, for the full screen and the line mode alike: a
//! continued line starts under the text of its first row, not under its mark (`✓ `, `› `,
//! `  $ `), so a list stays readable when its items wrap. Done here rather than by ratatui's
//! Paragraph so the screen knows how many rows each line takes (scroll marks, keeping the
//! selected choice in view).

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Marks that start a list item: continued rows are indented past `mark + space`.
const MARKS: &str = "✓✗!›•▶$-+*?i";

/// The indent of a line's continued rows: its leading spaces, plus its mark and the space
/// after it.
fn hanging_indent(chars: &[char]) -> usize {
    let lead = chars.iter().take_while(|c| **c == ' ').count();
    match (chars.get(lead), chars.get(lead + 1)) {
        (Some(m), Some(' ')) if MARKS.contains(*m) => lead + 1 + m.width().unwrap_or(1),
        _ => lead,
    }
}

fn width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Wraps cells (a character and what it carries) into rows of at most `max` columns,
/// breaking between words where it can, inside a word only when the word alone is wider
/// than a row. Continued rows get `indent` (which the caller prepends).
fn wrap_cells<S: Copy>(cells: &[(char, S)], max: usize) -> (usize, Vec<Vec<(char, S)>>) {
    let chars: Vec<char> = cells.iter().map(|c| c.0).collect();
    let total: usize = chars.iter().map(|c| width(*c)).sum();
    if max == 0 || total <= max {
        return (0, vec![cells.to_vec()]);
    }
    let indent = hanging_indent(&chars).min(max / 2);
    let mut rows: Vec<Vec<(char, S)>> = Vec::new();
    let mut cur: Vec<(char, S)> = Vec::new();
    let mut cur_w = 0;
    let mut avail = max;
    let mut i = 0;
    while i < cells.len() {
        // The next token: a run of spaces, or a run of anything else.
        let space = cells[i].0 == ' ';
        let end = cells[i..]
            .iter()
            .position(|c| (c.0 == ' ') != space)
            .map_or(cells.len(), |n| i + n);
        let token = &cells[i..end];
        let w: usize = token.iter().map(|c| width(c.0)).sum();
        i = end;
        if space {
            // Spaces at a break are dropped; a continued row never starts with them.
            if (rows.is_empty() || !cur.is_empty()) && cur_w + w <= avail {
                cur.extend_from_slice(token);
                cur_w += w;
            }
            continue;
        }
        if cur_w + w > avail && cur_w > 0 {
            while cur.last().is_some_and(|c| c.0 == ' ') {
                cur.pop();
            }
            rows.push(std::mem::take(&mut cur));
            cur_w = 0;
            avail = max - indent;
        }
        for &c in token {
            let cw = width(c.0);
            if cur_w + cw > avail && cur_w > 0 {
                rows.push(std::mem::take(&mut cur));
                cur_w = 0;
                avail = max - indent;
            }
            cur.push(c);
            cur_w += cw;
        }
    }
    if !cur.is_empty() || rows.is_empty() {
        rows.push(cur);
    }
    (indent, rows)
}

/// A styled line as rows of at most `max` columns.
pub fn wrap_line(line: &Line<'static>, max: usize) -> Vec<Line<'static>> {
    let cells: Vec<(char, Style)> = line
        .spans
        .iter()
        .flat_map(|s| s.content.chars().map(move |c| (c, s.style)))
        .collect();
    let (indent, rows) = wrap_cells(&cells, max);
    rows.into_iter()
        .enumerate()
        .map(|(n, row)| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            if n > 0 && indent > 0 {
                spans.push(Span::raw(" ".repeat(indent)));
            }
            let mut text = String::new();
            let mut style: Option<Style> = None;
            for (c, st) in row {
                if style.is_some_and(|s| s != st) {
                    spans.push(Span::styled(
                        std::mem::take(&mut text),
                        style.unwrap_or_default(),
                    ));
                }
                style = Some(st);
                text.push(c);
            }
            if !text.is_empty() {
                spans.push(Span::styled(text, style.unwrap_or_default()));
            }
            Line::from(spans).style(line.style)
        })
        .collect()
}

/// A plain line as rows of at most `max` columns (the line mode's output).
pub fn wrap_str(s: &str, max: usize) -> Vec<String> {
    let cells: Vec<(char, ())> = s.chars().map(|c| (c, ())).collect();
    let (indent, rows) = wrap_cells(&cells, max);
    rows.into_iter()
        .enumerate()
        .map(|(n, row)| {
            let pad = if n > 0 {
                " ".repeat(indent)
            } else {
                String::new()
            };
            pad + &row.into_iter().map(|c| c.0).collect::<String>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continued_rows_start_under_the_text_not_the_mark() {
        let rows = wrap_str(
            "  ! drawpile-srv 2.2.2 has no WebSocket support: install drawpile-srv 2.3",
            30,
        );
        assert_eq!(
            rows,
            [
                "  ! drawpile-srv 2.2.2 has no",
                "    WebSocket support: install",
                "    drawpile-srv 2.3",
            ]
        );
        for r in &rows {
            assert!(r.chars().count() <= 30, "{r:?}");
        }
    }

    #[test]
    fn a_word_wider_than_a_row_is_cut_and_short_lines_stay_as_they_are() {
        let url = "https://web.drawpile.net/?host=paint.example.com&session=SESSION";
        let rows = wrap_str(url, 40);
        assert_eq!(rows.concat(), url, "nothing lost or added");
        assert!(rows.iter().all(|r| r.chars().count() <= 40));
        assert_eq!(wrap_str("✓ short", 40), ["✓ short"]);
        assert_eq!(wrap_str("", 40), [""]);
    }

    #[test]
    fn styles_stay_with_their_characters() {
        let bold = Style::new().add_modifier(ratatui::style::Modifier::BOLD);
        let line = Line::from(vec![
            Span::raw("› "),
            Span::styled("one two three four", bold),
        ]);
        let rows = wrap_line(&line, 12);
        let text: Vec<String> = rows.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, ["› one two", "  three four"]);
        let styled: Vec<&Span> = rows.iter().flat_map(|l| &l.spans).collect();
        assert!(
            styled
                .iter()
                .any(|s| s.content == "three four" && s.style == bold)
        );
    }
}
