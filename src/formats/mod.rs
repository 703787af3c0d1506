//! Readers and editors for config formats that keep every byte they do not change.
pub mod apache;
pub mod caddyfile;
pub mod compose;
pub mod compose_project;
pub mod nginx;
pub mod systemd_unit;

use std::ops::Range;

/// Marker lines around everything dpwizard inserts into a file it does not own (the same
/// `#` comment in nginx, Apache and Caddyfile syntax).
pub const BEGIN_MARKER: &str = "# BEGIN dpwizard";
pub const END_MARKER: &str = "# END dpwizard";

/// The byte range of a marked block given a block's comment spans in order: whole lines,
/// from the start of the BEGIN marker's line through the newline after the END marker.
pub fn marked_range<'a>(
    text: &str,
    comments: impl IntoIterator<Item = &'a Range<usize>>,
) -> Option<Range<usize>> {
    let mut begin = None;
    for span in comments {
        let c = text[span.clone()].trim_end();
        if c == BEGIN_MARKER && begin.is_none() {
            begin = Some(nginx::line_start(text, span.start));
        } else if c == END_MARKER
            && let Some(b) = begin
        {
            let end = text[span.end..]
                .find('\n')
                .map(|i| span.end + i + 1)
                .unwrap_or(text.len());
            return Some(b..end);
        }
    }
    None
}

/// `text` with `range` replaced by `block` (whole lines, ending with a newline); a block
/// spliced after other text on a line starts on a line of its own. Every other byte is kept.
pub fn splice_block(text: &str, range: Range<usize>, block: &str) -> String {
    let mut out = String::with_capacity(text.len() + block.len() + 1);
    out.push_str(&text[..range.start]);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(block);
    out.push_str(&text[range.end..]);
    out
}

/// The whitespace before `at` on its line, when only whitespace precedes it.
pub fn indent_at(text: &str, at: usize) -> Option<String> {
    let ws = &text[nginx::line_start(text, at)..at];
    ws.chars().all(char::is_whitespace).then(|| ws.to_string())
}

/// Where lines go at the end of a block closed at `close`: the start of the closing line
/// when only whitespace precedes the closer, else the closer itself.
pub fn before_closer(text: &str, close: usize) -> usize {
    match indent_at(text, close) {
        Some(_) => nginx::line_start(text, close),
        None => close,
    }
}
