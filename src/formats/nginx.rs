//! nginx configuration, read losslessly. The tree keeps byte spans into the source, so an
//! editor changes a file by splicing a byte range and every other byte stays as it was
//! (comments, blank lines, indentation, ordering). Any directive name is accepted: nginx
//! modules add their own, and a reader that knows only some would drop the rest.

use std::ops::Range;

/// One argument (or directive name) as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The value with quotes removed and escapes resolved, as nginx sees it.
    pub value: String,
    /// Byte range of the raw text, quotes included.
    pub span: Range<usize>,
    pub quoted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: Word,
    pub args: Vec<Word>,
    /// From the first byte of the name to the `;` or the closing `}` (inclusive).
    pub span: Range<usize>,
    /// 1-based line and column of the name.
    pub line: usize,
    pub column: usize,
    pub block: Option<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Offset of `{`.
    pub open: usize,
    /// Offset of `}`.
    pub close: usize,
    pub children: Vec<Node>,
    /// A raw body (Lua blocks): not parsed as directives.
    pub raw: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Directive(Directive),
    Comment { span: Range<usize>, line: usize },
}

/// A parsed file: the source text and its top-level nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub text: String,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    /// Offsets of line starts, for line/column lookups.
    line_starts: Vec<usize>,
}

#[derive(Debug)]
enum Tok {
    Word(Word),
    Semi(usize),
    Open(usize),
    Close(usize),
    Comment(Range<usize>),
    Eof,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        Lexer {
            src: text.as_bytes(),
            pos: 0,
            line_starts,
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        (line, offset - start + 1)
    }

    fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = self.line_col(offset);
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    fn next(&mut self) -> Result<Tok, ParseError> {
        while self.pos < self.src.len() && self.src[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = self.src.get(start) else {
            return Ok(Tok::Eof);
        };
        match c {
            b'#' => {
                while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
                    self.pos += 1;
                }
                Ok(Tok::Comment(start..self.pos))
            }
            b';' => {
                self.pos += 1;
                Ok(Tok::Semi(start))
            }
            b'{' => {
                self.pos += 1;
                Ok(Tok::Open(start))
            }
            b'}' => {
                self.pos += 1;
                Ok(Tok::Close(start))
            }
            b'"' | b'\'' => {
                self.pos += 1;
                let mut value = Vec::new();
                loop {
                    let Some(&b) = self.src.get(self.pos) else {
                        return Err(self.err(start, "unterminated quoted string"));
                    };
                    self.pos += 1;
                    if b == c {
                        break;
                    }
                    if b == b'\\' {
                        // nginx unescapes \" \' \\ \t \r \n inside quotes; others stay.
                        match self.src.get(self.pos) {
                            Some(&e @ (b'"' | b'\'' | b'\\')) => {
                                value.push(e);
                                self.pos += 1;
                            }
                            Some(b't') => {
                                value.push(b'\t');
                                self.pos += 1;
                            }
                            Some(b'r') => {
                                value.push(b'\r');
                                self.pos += 1;
                            }
                            Some(b'n') => {
                                value.push(b'\n');
                                self.pos += 1;
                            }
                            _ => value.push(b'\\'),
                        }
                        continue;
                    }
                    value.push(b);
                }
                // A quoted word must be followed by a separator; nginx also allows `)`
                // (the end of an `if (...)` condition), which then starts the next word.
                if let Some(&n) = self.src.get(self.pos)
                    && !(n.is_ascii_whitespace()
                        || n == b';'
                        || n == b'{'
                        || n == b'}'
                        || n == b')')
                {
                    return Err(self.err(self.pos, "unexpected character after a quoted string"));
                }
                Ok(Tok::Word(Word {
                    value: String::from_utf8_lossy(&value).into_owned(),
                    span: start..self.pos,
                    quoted: true,
                }))
            }
            _ => {
                let mut value = Vec::new();
                while let Some(&b) = self.src.get(self.pos) {
                    if b.is_ascii_whitespace() || b == b';' || b == b'{' || b == b'}' {
                        // `${var}` is variable syntax, not a block.
                        if b == b'{' && value.last() == Some(&b'$') {
                            while let Some(&v) = self.src.get(self.pos) {
                                value.push(v);
                                self.pos += 1;
                                if v == b'}' {
                                    break;
                                }
                            }
                            continue;
                        }
                        break;
                    }
                    if b == b'\\' && self.pos + 1 < self.src.len() {
                        // The next byte is never a terminator; only quote, backslash and
                        // t/r/n escapes are resolved (nginx keeps `\.` in regexes as is).
                        match self.src[self.pos + 1] {
                            e @ (b'"' | b'\'' | b'\\') => value.push(e),
                            b't' => value.push(b'\t'),
                            b'r' => value.push(b'\r'),
                            b'n' => value.push(b'\n'),
                            other => {
                                value.push(b'\\');
                                value.push(other);
                            }
                        }
                        self.pos += 2;
                        continue;
                    }
                    value.push(b);
                    self.pos += 1;
                }
                Ok(Tok::Word(Word {
                    value: String::from_utf8_lossy(&value).into_owned(),
                    span: start..self.pos,
                    quoted: false,
                }))
            }
        }
    }

    /// Skips a Lua block body (after its `{`) up to the matching `}`; returns its offset.
    fn skip_raw_block(&mut self, open: usize) -> Result<usize, ParseError> {
        let mut depth = 1;
        while let Some(&b) = self.src.get(self.pos) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        let close = self.pos;
                        self.pos += 1;
                        return Ok(close);
                    }
                }
                b'"' | b'\'' => {
                    self.pos += 1;
                    while let Some(&s) = self.src.get(self.pos) {
                        if s == b'\\' {
                            self.pos += 1;
                        } else if s == b {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                b'-' if self.src.get(self.pos + 1) == Some(&b'-') => {
                    while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                    continue;
                }
                _ => {}
            }
            self.pos += 1;
        }
        Err(self.err(open, "unexpected end of file, expecting \"}\""))
    }
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, ParseError> {
        Self::parse_owned(text.to_string())
    }

    /// Like [`Config::parse`], taking the text without copying it.
    pub fn parse_owned(text: String) -> Result<Config, ParseError> {
        let mut lx = Lexer::new(&text);
        let (nodes, end) = parse_block(&mut lx, None, 0)?;
        debug_assert!(end.is_none());
        Ok(Config { text, nodes })
    }

    /// 1-based (line, column) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        Lexer::new(&self.text).line_col(offset)
    }
}

impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// How deep blocks may nest. Real configurations nest a handful (http → server → location
/// → if); a file nesting thousands is hostile or broken, and every reader of the tree
/// (this parser, the checks, the JSON output) would recurse that deep.
pub const MAX_NESTING: usize = 100;

/// Parses nodes until the closing `}` of the enclosing block (or EOF at top level).
fn parse_block(
    lx: &mut Lexer<'_>,
    open: Option<usize>,
    depth: usize,
) -> Result<(Vec<Node>, Option<usize>), ParseError> {
    if depth > MAX_NESTING
        && let Some(at) = open
    {
        return Err(lx.err(
            at,
            format!(
                "blocks nested more than {MAX_NESTING} deep: not read (nginx configurations \
                 nest a handful)"
            ),
        ));
    }
    let mut nodes = Vec::new();
    loop {
        let tok = lx.next()?;
        match tok {
            Tok::Eof => {
                return match open {
                    Some(o) => Err(lx.err(o, "unexpected end of file, expecting \"}\"")),
                    None => Ok((nodes, None)),
                };
            }
            Tok::Comment(span) => {
                let (line, _) = lx.line_col(span.start);
                nodes.push(Node::Comment { span, line });
            }
            Tok::Close(at) => {
                return match open {
                    Some(_) => Ok((nodes, Some(at))),
                    None => Err(lx.err(at, "unexpected \"}\"")),
                };
            }
            Tok::Semi(at) => return Err(lx.err(at, "unexpected \";\"")),
            Tok::Open(at) => return Err(lx.err(at, "unexpected \"{\"")),
            Tok::Word(name) => {
                let (line, column) = lx.line_col(name.span.start);
                let mut args = Vec::new();
                loop {
                    match lx.next()? {
                        Tok::Word(w) => args.push(w),
                        // Comments between arguments are allowed and kept in the text only.
                        Tok::Comment(_) => {}
                        Tok::Semi(at) => {
                            nodes.push(Node::Directive(Directive {
                                span: name.span.start..at + 1,
                                name,
                                args,
                                line,
                                column,
                                block: None,
                            }));
                            break;
                        }
                        Tok::Open(at) => {
                            let raw = name.value.ends_with("_by_lua_block");
                            let (children, close) = if raw {
                                (Vec::new(), lx.skip_raw_block(at)?)
                            } else {
                                match parse_block(lx, Some(at), depth + 1)? {
                                    (c, Some(close)) => (c, close),
                                    (_, None) => {
                                        return Err(lx.err(at, "unexpected end of file"));
                                    }
                                }
                            };
                            nodes.push(Node::Directive(Directive {
                                span: name.span.start..close + 1,
                                name,
                                args,
                                line,
                                column,
                                block: Some(Block {
                                    open: at,
                                    close,
                                    children,
                                    raw,
                                }),
                            }));
                            break;
                        }
                        Tok::Close(at) => {
                            return Err(lx.err(at, format!(
                                "unexpected \"}}\": directive \"{}\" is not terminated by \";\"",
                                name.value
                            )));
                        }
                        Tok::Eof => {
                            return Err(lx.err(
                                name.span.start,
                                format!(
                                    "unexpected end of file: directive \"{}\" is not terminated by \";\"",
                                    name.value
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
}

impl Directive {
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|w| w.value.as_str())
    }

    pub fn children(&self) -> impl Iterator<Item = &Directive> {
        self.block
            .iter()
            .flat_map(|b| b.children.iter())
            .filter_map(|n| match n {
                Node::Directive(d) => Some(d),
                Node::Comment { .. } => None,
            })
    }
}

/// The offset just after the last newline before `offset` (the start of its line).
pub fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0)
}

/// The indentation used by a block's first child directive, else its own plus 4 spaces.
pub fn child_indent(text: &str, d: &Directive) -> String {
    let own = {
        let s = line_start(text, d.span.start);
        text[s..d.span.start]
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect::<String>()
    };
    if let Some(first) = d.children().next() {
        let s = line_start(text, first.span.start);
        let ws = &text[s..first.span.start];
        if ws.chars().all(char::is_whitespace) {
            return ws.to_string();
        }
    }
    format!("{own}    ")
}

/// Where to insert new lines at the end of a block: the start of the line holding its
/// closing brace (when the brace is alone on it), else the brace itself.
pub fn insertion_point(text: &str, d: &Directive) -> Option<usize> {
    let close = d.block.as_ref()?.close;
    let s = line_start(text, close);
    if text[s..close].chars().all(char::is_whitespace) {
        Some(s)
    } else {
        Some(close)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "# certbot-managed\nserver {\n    listen 443 ssl http2; # main\n    server_name paint.example.com www.paint.example.com;\n\n    ssl_certificate /etc/letsencrypt/live/paint.example.com/fullchain.pem;\n    include /etc/letsencrypt/options-ssl-nginx.conf;\n    location / {\n        root \"/var/www/my site\";\n        set $x \"a\\\"b\";\n        if ($http_origin !~ \"^(https://web\\.drawpile\\.net)?$\") { return 403; }\n        return 200 '${x}ok';\n    }\n    location ~* \\.(png|jpg)$ { expires 1d; }\n    content_by_lua_block {\n        ngx.say(\"}\") -- }\n    }\n}\n";

    #[test]
    fn parses_a_realistic_site_and_keeps_positions() {
        let c = Config::parse(SITE).unwrap();
        assert_eq!(c.to_string(), SITE);
        let Node::Directive(server) = &c.nodes[1] else {
            panic!("{:?}", c.nodes[1])
        };
        assert_eq!(server.name.value, "server");
        assert_eq!((server.line, server.column), (2, 1));
        let kids: Vec<&str> = server.children().map(|d| d.name.value.as_str()).collect();
        assert_eq!(
            kids,
            vec![
                "listen",
                "server_name",
                "ssl_certificate",
                "include",
                "location",
                "location",
                "content_by_lua_block"
            ]
        );
        let loc = server.children().nth(4).unwrap();
        let root = loc.children().next().unwrap();
        assert_eq!(root.arg(0), Some("/var/www/my site"));
        assert_eq!(&SITE[root.args[0].span.clone()], "\"/var/www/my site\"");
        let set = loc.children().nth(1).unwrap();
        assert_eq!(set.arg(1), Some("a\"b"));
        let cond = loc.children().nth(2).unwrap();
        assert_eq!(cond.name.value, "if");
        assert_eq!(cond.arg(2), Some(r"^(https://web\.drawpile\.net)?$"));
        assert_eq!(cond.arg(3), Some(")"));
        let ret = loc.children().nth(3).unwrap();
        assert_eq!(ret.arg(1), Some("${x}ok"));
        let regex_loc = server.children().nth(5).unwrap();
        assert_eq!(regex_loc.arg(1), Some(r"\.(png|jpg)$"));
        assert_eq!(
            &SITE[server.span.clone()],
            &SITE[SITE.find("server {").unwrap()..SITE.len() - 1]
        );
    }

    #[test]
    fn insertion_point_and_indent_follow_the_block() {
        let c = Config::parse(SITE).unwrap();
        let Node::Directive(server) = &c.nodes[1] else {
            panic!()
        };
        assert_eq!(child_indent(SITE, server), "    ");
        let at = insertion_point(SITE, server).unwrap();
        assert_eq!(&SITE[at..], "}\n");
        let tabbed = "server {\n\tlisten 80;\n}";
        let c = Config::parse(tabbed).unwrap();
        let Node::Directive(s) = &c.nodes[0] else {
            panic!()
        };
        assert_eq!(child_indent(tabbed, s), "\t");
    }

    #[test]
    fn syntax_errors_say_where() {
        let cases = [
            ("server {\n listen 80;\n", 1, 8, "expecting \"}\""),
            ("server {\n listen 80\n}\n", 3, 1, "not terminated by \";\""),
            ("listen \"80;\n", 1, 8, "unterminated"),
            ("}\n", 1, 1, "unexpected \"}\""),
            ("a;\n;", 2, 1, "unexpected \";\""),
            ("x \"a\"b;", 1, 6, "after a quoted string"),
        ];
        for (text, line, col, msg) in cases {
            let e = Config::parse(text).unwrap_err();
            assert_eq!((e.line, e.column), (line, col), "{text:?}: {e}");
            assert!(e.message.contains(msg), "{text:?}: {e}");
        }
    }

    #[test]
    fn nesting_is_bounded_with_a_clear_error() {
        let nest = |n: usize| format!("{}{}", "a {\n".repeat(n), "}\n".repeat(n));
        assert!(Config::parse(&nest(MAX_NESTING)).is_ok());
        // 10,000 levels (nginx accepts them) fail at the first level too deep, not the stack.
        let e = Config::parse(&nest(10_000)).unwrap_err();
        assert_eq!((e.line, e.column), (MAX_NESTING + 1, 3), "{e}");
        assert!(
            e.message.starts_with("blocks nested more than 100 deep"),
            "{e}"
        );
    }

    #[test]
    fn round_trip_holds_for_mangled_inputs() {
        // Every prefix of a valid file either parses and prints back identically, or fails
        // cleanly: never a panic, never a changed byte.
        for end in 0..=SITE.len() {
            if !SITE.is_char_boundary(end) {
                continue;
            }
            let text = &SITE[..end];
            if let Ok(c) = Config::parse(text) {
                assert_eq!(c.to_string(), text);
            }
        }
        // Whitespace variants.
        let squashed = SITE.replace("    ", "\t").replace('\n', "\r\n");
        assert_eq!(Config::parse(&squashed).unwrap().to_string(), squashed);
    }
}
