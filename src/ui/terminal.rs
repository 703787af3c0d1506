//! What reaches a terminal: text from files, units, logs and answers may hold escape
//! sequences (that retitle the window, move the cursor to overwrite a finding, set the
//! clipboard) or bidi overrides (that show `evil.conf` as `fnoc.live`). Every string dpwizard
//! prints goes through [`safe`]: such characters become visible escapes, and only the exact
//! styling dpwizard itself emits (see `Style`) stays an escape sequence.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::style::Style;

/// The SGR sequences `Style` writes; nothing else that starts with ESC is passed through.
const OWN_SGR: &[&str] = &[
    "\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m",
];

/// Characters that reorder the text around them (Unicode bidi controls).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)
}

/// `s` with control characters (but newline and tab) and bidi controls written as
/// `\x1b`, `\u{202e}`; dpwizard's own styling is kept when `style` has colour on.
pub fn safe<'a>(s: &'a str, style: &Style) -> Cow<'a, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b'
            && style.color
            && let Some(seq) = OWN_SGR.iter().find(|q| rest.starts_with(**q))
        {
            out.push_str(seq);
            rest = &rest[seq.len()..];
            continue;
        }
        if needs_escape(c) {
            if (c as u32) < 0x80 {
                let _ = write!(out, "\\x{:02x}", c as u32);
            } else {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_bells_titles_and_bidi_but_keeps_own_colours() {
        let colour = Style { color: true };
        let hostile = "a\x07b\x1b]0;pwned\x07c\u{202e}fnoc.d\u{2066}\r\x1b[8mhidden\x1b[0m\n\tok";
        assert_eq!(
            safe(hostile, &Style::plain()),
            "a\\x07b\\x1b]0;pwned\\x07c\\u{202e}fnoc.d\\u{2066}\\x0d\\x1b[8mhidden\\x1b[0m\n\tok"
        );
        // With colour: dpwizard's reset stays, the injected conceal (8m) does not.
        assert_eq!(
            safe(hostile, &colour),
            "a\\x07b\\x1b]0;pwned\\x07c\\u{202e}fnoc.d\\u{2066}\\x0d\\x1b[8mhidden\x1b[0m\n\tok"
        );
        let own = colour.bad("✗ failed");
        assert_eq!(safe(&own, &colour), own);
        assert!(matches!(safe("plain text\n", &colour), Cow::Borrowed(_)));
    }
}
