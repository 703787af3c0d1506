//! systemd unit files, read losslessly: every line keeps its byte span, so an editor can
//! splice one assignment and leave every other byte alone (`to_string() == input`).
//! Also systemd's own rules for splitting `ExecStart=` into argv.

use std::ops::Range;

/// One logical line of a unit file (continuation lines folded into their assignment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Blank,
    Comment,
    Section(String),
    /// `Key=Value`, value trimmed, continuations joined with a space as systemd does.
    Assign {
        key: String,
        value: String,
    },
    /// A line systemd would ignore with a warning (no `=`, outside any section …).
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub item: Item,
    /// 1-based line number of the first physical line.
    pub line: usize,
    /// Byte range in the source, including the trailing newline.
    pub span: Range<usize>,
    /// The section this line belongs to (`None` before the first header).
    pub section: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    pub text: String,
    pub lines: Vec<Line>,
}

impl UnitFile {
    pub fn parse(text: &str) -> UnitFile {
        let mut lines = Vec::new();
        let mut pos = 0;
        let mut line_no = 1;
        let mut section: Option<String> = None;
        let bytes = text.as_bytes();
        while pos < bytes.len() {
            let start = pos;
            let first_line = line_no;
            // Gather one logical line: physical lines joined while they end in a backslash.
            let mut logical = String::new();
            loop {
                let end = text[pos..]
                    .find('\n')
                    .map(|i| pos + i + 1)
                    .unwrap_or(bytes.len());
                let physical = text[pos..end].trim_end_matches('\n').trim_end_matches('\r');
                pos = end;
                line_no += 1;
                let is_comment = {
                    let t = physical.trim_start();
                    t.starts_with('#') || t.starts_with(';')
                };
                if !logical.is_empty() && is_comment {
                    // Comment lines inside a continuation are skipped by systemd.
                    continue;
                }
                if let Some(stripped) = physical.strip_suffix('\\')
                    && !is_comment
                    && pos < bytes.len()
                {
                    logical.push_str(stripped);
                    logical.push(' ');
                    continue;
                }
                logical.push_str(physical);
                break;
            }
            let t = logical.trim();
            let item = if t.is_empty() {
                Item::Blank
            } else if t.starts_with('#') || t.starts_with(';') {
                Item::Comment
            } else if t.starts_with('[') && t.ends_with(']') {
                let name = t[1..t.len() - 1].to_string();
                section = Some(name.clone());
                Item::Section(name)
            } else if let (Some((k, v)), Some(_)) = (t.split_once('='), section.as_ref()) {
                Item::Assign {
                    key: k.trim().to_string(),
                    value: v.trim().to_string(),
                }
            } else {
                Item::Invalid(t.to_string())
            };
            lines.push(Line {
                item,
                line: first_line,
                span: start..pos,
                section: section.clone(),
            });
        }
        UnitFile {
            text: text.to_string(),
            lines,
        }
    }

    /// Assignments in `section`, in file order: (key, value, line).
    pub fn assignments<'a>(
        &'a self,
        section: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str, usize)> + 'a {
        self.lines.iter().filter_map(move |l| match &l.item {
            Item::Assign { key, value } if l.section.as_deref() == Some(section) => {
                Some((key.as_str(), value.as_str(), l.line))
            }
            _ => None,
        })
    }
}

impl std::fmt::Display for UnitFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Lossless by construction: the spans tile the text.
        for l in &self.lines {
            f.write_str(&self.text[l.span.clone()])?;
        }
        Ok(())
    }
}

/// A command line from `ExecStart=` and friends, split the way systemd splits it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecCommand {
    /// Special prefixes (`-`, `@`, `:`, `+`, `!`, `!!`) in order.
    pub prefixes: String,
    /// The program path.
    pub program: String,
    /// argv including argv[0] (which differs from `program` only with the `@` prefix).
    pub argv: Vec<String>,
    /// Specifiers other than `%%` left unexpanded (e.g. `%i`), worth a note.
    pub unexpanded_specifiers: Vec<String>,
    /// Each word of `argv` as written (quotes, escapes and specifiers kept), so a rewritten
    /// command line can repeat the words it does not change byte for byte.
    pub raw: Vec<String>,
}

/// Splits one command (systemd.service(5), "Command lines"). Errors on unbalanced quotes.
pub fn split_exec(value: &str) -> Result<ExecCommand, String> {
    let mut rest = value.trim_start();
    let mut prefixes = String::new();
    while let Some(c) = rest.chars().next() {
        if "-@:+!".contains(c) {
            prefixes.push(c);
            rest = &rest[1..];
        } else {
            break;
        }
    }
    let mut words = Vec::new();
    let mut raws = Vec::new();
    let mut specifiers = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        // Byte offset of the word: what is left of `rest` tells where the iterator is.
        let start = rest.len() - chars.clone().map(char::len_utf8).sum::<usize>();
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => match chars.next() {
                    Some('n') => word.push('\n'),
                    Some('t') => word.push('\t'),
                    Some('\\') => word.push('\\'),
                    Some('"') => word.push('"'),
                    Some('\'') => word.push('\''),
                    Some(' ') => word.push(' '),
                    Some(';') => word.push(';'),
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        let b = u8::from_str_radix(&hex, 16)
                            .map_err(|_| format!("bad escape \\x{hex}"))?;
                        word.push(b as char);
                    }
                    Some(o) => {
                        word.push('\\');
                        word.push(o);
                    }
                    None => return Err("trailing backslash".into()),
                },
                ('%', _) => match chars.next() {
                    Some('%') => word.push('%'),
                    Some(s) => {
                        specifiers.push(format!("%{s}"));
                        word.push('%');
                        word.push(s);
                    }
                    None => word.push('%'),
                },
                (q @ ('"' | '\''), None) if word.is_empty() || quote.is_none() => quote = Some(q),
                (q, Some(open)) if q == open => {
                    quote = None;
                    // A closing quote must end the word.
                    if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                        return Err(format!("text after a closing {q}"));
                    }
                }
                (c, None) if c.is_whitespace() => break,
                (c, _) => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(format!("unbalanced {q}"));
        }
        // A lone `;` separates commands (allowed for ExecStartPre etc.); ExecStart= takes
        // only the first for the argv dpwizard reads.
        if word == ";" {
            break;
        }
        let end = rest.len() - chars.clone().map(char::len_utf8).sum::<usize>();
        raws.push(rest[start..end].trim_end().to_string());
        words.push(word);
    }
    let Some(first) = words.first().cloned() else {
        return Err("empty command".into());
    };
    let (program, argv, raw) = if prefixes.contains('@') {
        // `@/usr/bin/x name args`: the second word is argv[0].
        // Aligned with argv (words[1..], whose first is then shown as the program).
        let mut raw = Vec::new();
        if raws.len() > 1 {
            raw.push(raws[0].clone());
            raw.extend(raws.iter().skip(2).cloned());
        }
        (first, words[1..].to_vec(), raw)
    } else {
        (first, words, raws)
    };
    Ok(ExecCommand {
        prefixes,
        program,
        argv,
        unexpanded_specifiers: specifiers,
        raw,
    })
}

/// systemd's boolean parsing.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: &str = "# comment\n[Unit]\nDescription=Drawpile\n\n[Service]\nType=notify\nExecStart=/usr/bin/drawpile-srv \\\n  --port 27750 \\\n  # skipped comment\n  --websocket-port 27751\n;also comment\nUser=nobody\r\nbroken line\n[Install]\nWantedBy=multi-user.target";

    #[test]
    fn parse_and_print_is_byte_identical() {
        for text in [
            UNIT,
            "",
            "\n",
            "[A]\nx=\\",
            "[A]\nno-newline-at-end=1",
            "garbage\x00\n[[x]\n=\n",
        ] {
            assert_eq!(UnitFile::parse(text).to_string(), text);
        }
    }

    #[test]
    fn continuations_join_and_comments_inside_are_skipped() {
        let u = UnitFile::parse(UNIT);
        let exec: Vec<_> = u.assignments("Service").collect();
        assert_eq!(
            exec[1],
            (
                "ExecStart",
                "/usr/bin/drawpile-srv    --port 27750    --websocket-port 27751",
                7
            )
        );
        assert_eq!(exec[2], ("User", "nobody", 12));
        assert!(
            u.lines
                .iter()
                .any(|l| l.item == Item::Invalid("broken line".into()) && l.line == 13)
        );
    }

    #[test]
    fn exec_lines_split_like_systemd() {
        let c = split_exec(r#"-/usr/bin/drawpile-srv --local-host "my host" 'a b' x\ y 100%% %i"#)
            .unwrap();
        assert_eq!(c.prefixes, "-");
        assert_eq!(c.program, "/usr/bin/drawpile-srv");
        assert_eq!(
            c.argv,
            vec![
                "/usr/bin/drawpile-srv",
                "--local-host",
                "my host",
                "a b",
                "x y",
                "100%",
                "%i"
            ]
        );
        assert_eq!(c.unexpanded_specifiers, vec!["%i"]);
        assert_eq!(
            c.raw,
            vec![
                "/usr/bin/drawpile-srv",
                "--local-host",
                "\"my host\"",
                "'a b'",
                "x\\ y",
                "100%%",
                "%i"
            ]
        );
        let at = split_exec("@/opt/Drawpile.AppImage drawpile-srv --server").unwrap();
        assert_eq!(at.program, "/opt/Drawpile.AppImage");
        assert_eq!(at.argv, vec!["drawpile-srv", "--server"]);
        assert_eq!(at.raw, vec!["/opt/Drawpile.AppImage", "--server"]);
        // Found by the property run: `@` with one word has no argv, so no raw words.
        let lone = split_exec("@=").unwrap();
        assert_eq!((lone.argv.len(), lone.raw.len()), (0, 0));
        assert!(split_exec(r#"/bin/x "unterminated"#).is_err());
        assert!(split_exec("   ").is_err());
    }
}
