//! Caddyfiles, read losslessly: tokens (words, "quoted" and `backtick` strings, `{$ENV}`
//! placeholders), `{ }` blocks, comments, snippets and `import` lines, with byte spans into
//! the source, so an edit is a byte-range splice and every other byte stays. Also what the
//! planner asks: the site block serving a domain, whether Caddy manages its certificate,
//! dpwizard's marked block in it, and whether Caddy is configured by JSON (not edited).

use std::ops::Range;

pub use super::nginx::{ParseError, Word};
pub use super::{BEGIN_MARKER, END_MARKER};

/// One line of tokens (a site's address line, a directive, a matcher), with its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The tokens before any `{`; empty for the global options block.
    pub words: Vec<Word>,
    /// From the first token to the last one, or to the closing `}`.
    pub span: Range<usize>,
    /// 1-based line and column of the first token (or of the `{`).
    pub line: usize,
    pub column: usize,
    pub block: Option<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Offset of `{` and of `}`.
    pub open: usize,
    pub close: usize,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Directive(Directive),
    Comment { span: Range<usize>, line: usize },
}

/// A parsed Caddyfile: the source text and its top-level nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caddyfile {
    pub text: String,
    pub nodes: Vec<Node>,
    /// A file's only site may go without braces (`example.com` on the first line, its
    /// directives after it): that site, as if braced, its body running to the end of the
    /// file (so an added block goes at the end).
    pub unbraced_site: Option<Directive>,
}

#[derive(Debug)]
enum Tok {
    Word(Word),
    Newline,
    Comment(Range<usize>),
    Eof,
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line_starts: Vec<usize>,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Lexer {
            text,
            pos: 0,
            line_starts,
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        (line, offset - self.line_starts[line - 1] + 1)
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
        let b = self.text.as_bytes();
        while self.pos < b.len() && b[self.pos] != b'\n' && b[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = b.get(start) else {
            return Ok(Tok::Eof);
        };
        match c {
            b'\n' => {
                self.pos += 1;
                Ok(Tok::Newline)
            }
            b'#' => {
                while self.pos < b.len() && b[self.pos] != b'\n' {
                    self.pos += 1;
                }
                Ok(Tok::Comment(start..self.pos))
            }
            b'"' | b'`' => {
                self.pos += 1;
                let mut value = Vec::new();
                loop {
                    let Some(&x) = b.get(self.pos) else {
                        return Err(self.err(start, "unterminated quoted string"));
                    };
                    self.pos += 1;
                    if x == c {
                        break;
                    }
                    // In double quotes `\"` is a quote; backticks have no escapes.
                    if c == b'"' && x == b'\\' && b.get(self.pos) == Some(&b'"') {
                        value.push(b'"');
                        self.pos += 1;
                        continue;
                    }
                    value.push(x);
                }
                Ok(Tok::Word(Word {
                    value: String::from_utf8_lossy(&value).into_owned(),
                    span: start..self.pos,
                    quoted: true,
                }))
            }
            _ => {
                while self.pos < b.len() && !b[self.pos].is_ascii_whitespace() {
                    self.pos += 1;
                }
                Ok(Tok::Word(Word {
                    value: self.text[start..self.pos].to_string(),
                    span: start..self.pos,
                    quoted: false,
                }))
            }
        }
    }
}

fn is(w: &Word, s: &str) -> bool {
    !w.quoted && w.value == s
}

impl Caddyfile {
    pub fn parse(text: &str) -> Result<Caddyfile, ParseError> {
        let mut lx = Lexer::new(text);
        let nodes = parse_nodes(&mut lx, None)?;
        let unbraced_site = unbraced_site(text, &nodes);
        Ok(Caddyfile {
            text: text.to_string(),
            nodes,
            unbraced_site,
        })
    }

    /// 1-based (line, column) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        Lexer::new(&self.text).line_col(offset)
    }

    fn top(&self) -> impl Iterator<Item = &Directive> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Directive(d) => Some(d),
            Node::Comment { .. } => None,
        })
    }

    /// The global options block (`{ … }` first in the file), if any.
    pub fn global_options(&self) -> Option<&Directive> {
        self.top().find(|d| d.words.is_empty() && d.block.is_some())
    }

    /// Site blocks: top-level blocks with addresses (not the global options, not a
    /// `(snippet)`, not a `&(named route)`).
    pub fn sites(&self) -> impl Iterator<Item = &Directive> {
        self.top()
            .filter(|d| d.block.is_some() && is_site_key(d))
            .chain(self.unbraced_site.iter())
    }

    /// The snippet `(name)`, if this file defines it.
    pub fn snippet(&self, name: &str) -> Option<&Directive> {
        let want = format!("({name})");
        self.top()
            .find(|d| d.words.len() == 1 && d.words[0].value == want && d.block.is_some())
    }

    /// The first site that serves `domain` over HTTPS on 443, as Caddy matches hosts:
    /// exact (case-insensitive) or a `*.` wildcard standing for one label.
    pub fn site_for(&self, domain: &str) -> Option<&Directive> {
        self.sites().find(|s| {
            s.addresses()
                .iter()
                .any(|a| a.https_on_443() && a.host_matches(domain))
        })
    }

    /// How the site gets its certificate.
    pub fn cert_source(&self, site: &Directive) -> CertSource {
        let global = |name: &str| {
            self.global_options()
                .into_iter()
                .flat_map(|g| g.children())
                .find(|d| d.name() == Some(name))
        };
        let tls = site
            .children()
            .find(|d| d.name() == Some("tls"))
            .or_else(|| {
                // A `tls` line may come from a snippet this file defines.
                site.children()
                    .filter(|d| d.name() == Some("import"))
                    .filter_map(|d| d.arg(0).and_then(|n| self.snippet(n)))
                    .flat_map(|s| s.children())
                    .find(|d| d.name() == Some("tls"))
            });
        if let Some(t) = tls {
            let args: Vec<&str> = t.words[1..].iter().map(|w| w.value.as_str()).collect();
            let internal = args.first() == Some(&"internal")
                || t.children()
                    .any(|d| d.name() == Some("issuer") && d.arg(0) == Some("internal"));
            if internal {
                return CertSource::Internal;
            }
            if let [cert, key, ..] = args.as_slice() {
                return CertSource::Files {
                    cert: cert.to_string(),
                    key: key.to_string(),
                    line: t.line,
                };
            }
        }
        let imports = site
            .children()
            .filter(|d| d.name() == Some("import"))
            .filter_map(|d| d.arg(0))
            .filter(|n| self.snippet(n).is_none())
            .map(str::to_string)
            .collect::<Vec<_>>();
        if let Some(a) = global("auto_https")
            && matches!(a.arg(0), Some("off" | "disable_certs"))
        {
            return CertSource::NotManaged { line: a.line };
        }
        if global("local_certs").is_some() {
            return CertSource::Internal;
        }
        if let Some(i) = imports.into_iter().next() {
            return CertSource::Unknown {
                import: i.to_string(),
            };
        }
        CertSource::Automatic
    }
}

/// Where a site's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// Caddy obtains and renews it itself (automatic HTTPS, ACME): no certbot.
    Automatic,
    /// Caddy's own local CA (`tls internal`, `local_certs`): browsers do not trust it.
    Internal,
    /// `tls CERT KEY`: files someone else renews.
    Files {
        cert: String,
        key: String,
        line: usize,
    },
    /// `auto_https off` / `disable_certs` in the global options, and no certificate files.
    NotManaged { line: usize },
    /// No `tls` line here, but an `import` from another file that may have one.
    Unknown { import: String },
}

/// A site address: `[scheme://]host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub scheme: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub path: Option<String>,
}

impl Address {
    pub fn parse(s: &str) -> Address {
        let (scheme, rest) = match s.split_once("://") {
            Some((sc, r)) => (Some(sc.to_ascii_lowercase()), r),
            None => (None, s),
        };
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(rest[i..].to_string())),
            None => (rest, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p))
                if !h.ends_with(':') && (h.is_empty() || !h.contains(':') || h.ends_with(']')) =>
            {
                (h, p.parse().ok())
            }
            _ => (hostport, None),
        };
        Address {
            scheme,
            host: host.to_string(),
            port,
            path,
        }
    }

    /// Served over HTTPS on 443 (Caddy's default for a host name without scheme or port).
    pub fn https_on_443(&self) -> bool {
        match (self.scheme.as_deref(), self.port) {
            (Some("http"), _) => false,
            (_, None) | (_, Some(443)) => true,
            _ => false,
        }
    }

    pub fn host_matches(&self, domain: &str) -> bool {
        let h = self.host.as_str();
        h.eq_ignore_ascii_case(domain)
            || h.strip_prefix("*.").is_some_and(|rest| {
                domain.split_once('.').is_some_and(|(label, tail)| {
                    !label.is_empty() && tail.eq_ignore_ascii_case(rest)
                })
            })
    }
}

impl Directive {
    /// The first token (the directive, or a site's first address).
    pub fn name(&self) -> Option<&str> {
        self.words.first().map(|w| w.value.as_str())
    }

    pub fn arg(&self, i: usize) -> Option<&str> {
        self.words.get(i + 1).map(|w| w.value.as_str())
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

    /// A site's addresses (several per site; commas and spaces separate them).
    pub fn addresses(&self) -> Vec<Address> {
        self.words
            .iter()
            .flat_map(|w| w.value.split(','))
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(Address::parse)
            .collect()
    }

    /// dpwizard's marked block inside this block (whole lines), if any.
    pub fn managed_block(&self, text: &str) -> Option<Range<usize>> {
        let b = self.block.as_ref()?;
        super::marked_range(
            text,
            b.children.iter().filter_map(|n| match n {
                Node::Comment { span, .. } => Some(span),
                Node::Directive(_) => None,
            }),
        )
    }

    /// The indentation of the first child, else the block's own plus a tab (Caddy's style).
    pub fn child_indent(&self, text: &str) -> String {
        self.children()
            .next()
            .and_then(|c| super::indent_at(text, c.span.start))
            .unwrap_or_else(|| {
                format!(
                    "{}\t",
                    super::indent_at(text, self.span.start).unwrap_or_default()
                )
            })
    }
}

/// `text` with the site's marked block replaced by `block` (indented, markers included,
/// ending with a newline), or `block` added at the end of the site. Caddy orders a site's
/// directives itself (a `handle` with a path sorts before one without), so the position
/// inside the site does not change what runs first. Every other byte is kept.
pub fn set_managed_block(text: &str, site: &Directive, block: &str) -> Option<String> {
    let close = site.block.as_ref()?.close;
    let range = site.managed_block(text).unwrap_or_else(|| {
        let at = super::before_closer(text, close);
        at..at
    });
    Some(super::splice_block(text, range, block))
}

/// Directives Caddy runs before every `handle` (its standard directive order,
/// caddyconfig/httpcaddyfile/directives.go) that answer the request themselves (redirect,
/// ask for credentials) or change its path or method, so a `handle` for the path may never
/// see it. tests/it/plan_caddy_live.rs checks the order against the real `caddy adapt`.
const TAKES_OR_CHANGES: &[&str] = &[
    "redir",
    "method",
    "rewrite",
    "uri",
    "try_files",
    "basicauth",
    "forward_auth",
];

/// A site directive that runs before dpwizard's `handle PATH` and may keep it from running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preemption<'a> {
    pub directive: &'a Directive,
    /// False when it depends on a named matcher (`@name`) this reader does not evaluate.
    pub certain: bool,
}

/// Which of a site's directives (outside dpwizard's marked block) keep a `handle PATH` from
/// seeing a request for `path`: a redirect, an authentication, a rewrite of the path or
/// method that applies to it (Caddy runs those before every `handle`), or another
/// `handle`/`handle_path` whose path matcher takes it and sorts first (Caddy sorts `handle`
/// blocks by path length, the longest first, and keeps file order among equals).
pub fn preemptions<'a>(text: &str, site: &'a Directive, path: &str) -> Vec<Preemption<'a>> {
    let own = site.managed_block(text);
    let outside = |d: &Directive| own.as_ref().is_none_or(|r| !r.contains(&d.span.start));
    let mut out = Vec::new();
    for d in site.children().filter(|d| outside(d)) {
        let Some(name) = d.name() else { continue };
        let matcher = d.words.get(1).map(|w| w.value.as_str());
        let applies = match matcher {
            Some(m) if m.starts_with('@') => None,
            Some(m) if m.starts_with('/') => Some(path_matches(m, path)),
            // `*` or no matcher (the first token is an argument): every request.
            _ => Some(true),
        };
        let takes = if TAKES_OR_CHANGES.contains(&name) {
            applies
        } else if name == "handle" || name == "handle_path" {
            match matcher {
                Some(m) if m.starts_with('/') => {
                    Some(m.len() >= path.len() && path_matches(m, path))
                }
                // Caddy sorts a handle without a path matcher (none, `*`, `@name`) after
                // every path-matched one.
                _ => Some(false),
            }
        } else {
            Some(false)
        };
        match takes {
            Some(true) => out.push(Preemption {
                directive: d,
                certain: true,
            }),
            None => out.push(Preemption {
                directive: d,
                certain: false,
            }),
            Some(false) => {}
        }
    }
    out
}

/// Caddy's path matcher: exact, with `*` standing for any run of characters; case-insensitive.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    super::apache::wildcard_match(pattern, path)
}

/// Parses lines until the `}` closing the block opened at `open` (or EOF at top level).
fn parse_nodes(lx: &mut Lexer<'_>, open: Option<usize>) -> Result<Vec<Node>, ParseError> {
    let mut nodes = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    loop {
        let tok = lx.next()?;
        match tok {
            Tok::Comment(span) => {
                // A comment after tokens on a line belongs to the text only.
                if words.is_empty() {
                    let (line, _) = lx.line_col(span.start);
                    nodes.push(Node::Comment { span, line });
                }
            }
            Tok::Word(w) if is(&w, "}") && words.is_empty() => {
                return match open {
                    Some(_) => {
                        // Nothing but a comment may follow `}` on its line.
                        match lx.next()? {
                            Tok::Word(x) => Err(lx.err(
                                x.span.start,
                                format!("unexpected {:?} after '}}' on the same line", x.value),
                            )),
                            _ => {
                                // Step back over what was read so the caller sees it: only
                                // newlines, comments (text only) or EOF can be here.
                                lx.pos = w.span.end;
                                Ok(nodes)
                            }
                        }
                    }
                    None => Err(lx.err(w.span.start, "unexpected '}'")),
                };
            }
            Tok::Word(w) if is(&w, "{") => {
                let at = w.span.start;
                let (line, column) = lx.line_col(words.first().map(|f| f.span.start).unwrap_or(at));
                // `{` opens a block only as the last token on its line.
                match lx.next()? {
                    Tok::Newline | Tok::Comment(_) | Tok::Eof => {}
                    Tok::Word(x) => {
                        return Err(lx.err(
                            x.span.start,
                            format!("unexpected {:?} after '{{' on the same line", x.value),
                        ));
                    }
                }
                let children = parse_nodes(lx, Some(at))?;
                // parse_nodes left pos just after the `}`.
                let close = lx.pos - 1;
                let start = words.first().map(|f| f.span.start).unwrap_or(at);
                nodes.push(Node::Directive(Directive {
                    words: std::mem::take(&mut words),
                    span: start..close + 1,
                    line,
                    column,
                    block: Some(Block {
                        open: at,
                        close,
                        children,
                    }),
                }));
            }
            Tok::Word(w) => words.push(w),
            Tok::Newline | Tok::Eof => {
                let eof = matches!(tok, Tok::Eof);
                // A site's address list may go on after a trailing comma.
                let continues = !eof
                    && words
                        .last()
                        .is_some_and(|l| !l.quoted && l.value.ends_with(','));
                if !words.is_empty() && !continues {
                    let first = words[0].span.start;
                    let (line, column) = lx.line_col(first);
                    let end = words.last().map(|l| l.span.end).unwrap_or(first);
                    nodes.push(Node::Directive(Directive {
                        words: std::mem::take(&mut words),
                        span: first..end,
                        line,
                        column,
                        block: None,
                    }));
                }
                if eof {
                    return match open {
                        Some(o) => Err(lx.err(o, "unexpected end of file, expecting '}'")),
                        None => Ok(nodes),
                    };
                }
            }
        }
    }
}

impl std::fmt::Display for Caddyfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Not the global options, a `(snippet)` or a `&(named route)`.
fn is_site_key(d: &Directive) -> bool {
    d.words
        .first()
        .is_some_and(|w| !w.value.starts_with('(') && !w.value.starts_with("&("))
}

/// The single site written without braces, if the file has one. As Caddy decides: the
/// first line of addresses (after the global options, snippets and top-level imports) not
/// followed by `{` makes the rest of the file that site's body.
fn unbraced_site(text: &str, nodes: &[Node]) -> Option<Directive> {
    let first = nodes.iter().position(|n| match n {
        Node::Directive(d) => !d.words.is_empty() && is_site_key(d) && d.name() != Some("import"),
        Node::Comment { .. } => false,
    })?;
    let Node::Directive(head) = &nodes[first] else {
        return None;
    };
    if head.block.is_some() {
        return None;
    }
    let body = &nodes[first + 1..];
    Some(Directive {
        words: head.words.clone(),
        span: head.span.start..text.len(),
        line: head.line,
        column: head.column,
        block: Some(Block {
            // No braces: the "block" runs from the address line to the end of the file.
            open: head.span.end,
            close: text.len(),
            children: body.to_vec(),
        }),
    })
}

/// Where a running Caddy takes its configuration from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A Caddyfile dpwizard can edit.
    Caddyfile(String),
    /// JSON (a `.json` file, `--adapter json`, or the API's autosave with `--resume`):
    /// dpwizard does not edit it and audits it read-only. The string says why.
    Json(String),
}

/// From a `caddy run`/`caddy start` command line (the unit's `ExecStart=`): the config
/// file and its adapter, as Caddy decides (`--config` with a `Caddyfile` name or
/// `--adapter caddyfile` means a Caddyfile; `--resume` loads `autosave.json`).
pub fn config_source(argv: &[String]) -> ConfigSource {
    let mut config = None;
    let mut adapter = None;
    let mut resume = false;
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let flag = flag.trim_start_matches('-');
        match flag {
            "config" | "c" => config = inline.or_else(|| it.next().cloned()),
            "adapter" | "a" => adapter = inline.or_else(|| it.next().cloned()),
            "resume" => resume = true,
            _ => {}
        }
    }
    if resume {
        return ConfigSource::Json(
            "caddy runs with --resume: its configuration is the API's autosave.json".into(),
        );
    }
    let file = config.unwrap_or_else(|| "Caddyfile".into());
    let base = file.rsplit('/').next().unwrap_or(&file);
    let is_caddyfile = match adapter.as_deref() {
        Some("caddyfile") => true,
        Some(other) => {
            return ConfigSource::Json(format!(
                "caddy runs with --adapter {other}: only Caddyfiles are edited"
            ));
        }
        // Without --adapter, Caddy adapts a file named Caddyfile* (or *.caddyfile).
        None => base.starts_with("Caddyfile") || base.ends_with(".caddyfile"),
    };
    if is_caddyfile {
        ConfigSource::Caddyfile(file)
    } else {
        ConfigSource::Json(format!(
            "caddy runs with --config {file}: a JSON configuration"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# Global\n{\n\temail admin@example.com\n}\n\n(common) {\n\tencode gzip\n}\n\nwww.draw.example.com,\n  https://draw.example.com:443 {\n\timport common\n\troot * \"/srv/my site\"   # trailing\n\trespond /hi `multi\nline {` 200\n\treverse_proxy {$UPSTREAM:localhost:8080} {\n\t\theader_up Host {host}\n\t}\n}\n\nhttp://other.example.com {\n\tredir https://{host}{uri}\n}\n*.example.org:443 {\n\ttls /etc/ssl/c.pem /etc/ssl/k.pem\n}\n";

    fn parse(t: &str) -> Caddyfile {
        Caddyfile::parse(t).unwrap_or_else(|e| panic!("{e}\n{t}"))
    }

    #[test]
    fn parses_sites_snippets_strings_and_placeholders() {
        let c = parse(FILE);
        assert_eq!(c.to_string(), FILE);
        assert_eq!(c.global_options().map(|g| g.line), Some(2));
        assert!(c.snippet("common").is_some());
        let sites: Vec<(usize, Vec<String>)> = c
            .sites()
            .map(|s| (s.line, s.words.iter().map(|w| w.value.clone()).collect()))
            .collect();
        assert_eq!(
            sites,
            [
                (
                    10,
                    vec![
                        "www.draw.example.com,".to_string(),
                        "https://draw.example.com:443".to_string()
                    ]
                ),
                (21, vec!["http://other.example.com".to_string()]),
                (24, vec!["*.example.org:443".to_string()]),
            ]
        );
        let s = c.site_for("DRAW.example.com").unwrap();
        let kids: Vec<(&str, usize)> = s.children().map(|d| (d.name().unwrap(), d.line)).collect();
        assert_eq!(
            kids,
            [
                ("import", 12),
                ("root", 13),
                ("respond", 14),
                ("reverse_proxy", 16)
            ]
        );
        let root = s.children().nth(1).unwrap();
        assert_eq!(root.arg(1), Some("/srv/my site"));
        assert_eq!(root.words.len(), 3, "the trailing comment is not a word");
        let respond = s.children().nth(2).unwrap();
        assert_eq!(respond.arg(1), Some("multi\nline {"));
        let rp = s.children().nth(3).unwrap();
        assert_eq!(rp.arg(0), Some("{$UPSTREAM:localhost:8080}"));
        assert_eq!(rp.children().next().and_then(|d| d.arg(1)), Some("{host}"));
    }

    #[test]
    fn site_addresses_match_like_caddys() {
        let c = parse(FILE);
        assert_eq!(c.site_for("www.draw.example.com").map(|s| s.line), Some(10));
        // http:// only is not an HTTPS site; a wildcard stands for one label.
        assert_eq!(c.site_for("other.example.com"), None);
        assert_eq!(c.site_for("a.example.org").map(|s| s.line), Some(24));
        assert_eq!(c.site_for("a.b.example.org"), None);
        assert_eq!(c.site_for("example.org"), None);
        let a = Address::parse("https://[::1]:8443/path");
        assert_eq!(
            (a.host.as_str(), a.port, a.path.as_deref()),
            ("[::1]", Some(8443), Some("/path"))
        );
        assert!(!a.https_on_443());
        assert!(Address::parse(":443").https_on_443());
        assert!(!Address::parse("example.com:80").https_on_443());
    }

    #[test]
    fn tells_who_manages_the_certificate() {
        let c = parse(FILE);
        let site = |d: &str| c.site_for(d).unwrap();
        assert_eq!(
            c.cert_source(site("draw.example.com")),
            CertSource::Automatic
        );
        assert_eq!(
            c.cert_source(site("x.example.org")),
            CertSource::Files {
                cert: "/etc/ssl/c.pem".into(),
                key: "/etc/ssl/k.pem".into(),
                line: 25
            }
        );
        let check = |text: &str| {
            let c = parse(text);
            let s = c.site_for("d.example").unwrap();
            c.cert_source(s)
        };
        assert_eq!(
            check("d.example {\n\ttls internal\n}\n"),
            CertSource::Internal
        );
        assert_eq!(
            check("d.example {\n\ttls {\n\t\tissuer internal\n\t}\n}\n"),
            CertSource::Internal
        );
        assert_eq!(
            check("d.example {\n\ttls me@d.example\n}\n"),
            CertSource::Automatic
        );
        assert_eq!(
            check("{\n\tauto_https off\n}\nd.example {\n}\n"),
            CertSource::NotManaged { line: 2 }
        );
        assert_eq!(
            check("{\n\tlocal_certs\n}\nd.example {\n}\n"),
            CertSource::Internal
        );
        assert_eq!(
            check("(t) {\n\ttls internal\n}\nd.example {\n\timport t\n}\n"),
            CertSource::Internal
        );
        assert_eq!(
            check("d.example {\n\timport /etc/caddy/tls.conf\n}\n"),
            CertSource::Unknown {
                import: "/etc/caddy/tls.conf".into()
            }
        );
    }

    #[test]
    fn inserts_then_replaces_the_marked_block() {
        let c = parse(FILE);
        let s = c.site_for("draw.example.com").unwrap();
        assert_eq!(s.child_indent(FILE), "\t");
        let block = |n: u8| format!("\t{BEGIN_MARKER}\n\trespond /x {n}\n\t{END_MARKER}\n");
        let once = set_managed_block(FILE, s, &block(1)).unwrap();
        let at = FILE.find("}\n\nhttp://").unwrap();
        assert_eq!(once, format!("{}{}{}", &FILE[..at], block(1), &FILE[at..]));
        let c = parse(&once);
        let s = c.site_for("draw.example.com").unwrap();
        let twice = set_managed_block(&once, s, &block(2)).unwrap();
        assert_eq!(twice, once.replace("respond /x 1", "respond /x 2"));
        // An empty site on one line gets the block on lines of its own.
        let one = "d.example {\n}";
        let c = parse(one);
        let s = c.site_for("d.example").unwrap();
        assert_eq!(s.child_indent(one), "\t");
        assert_eq!(
            set_managed_block(one, s, "\t# BEGIN dpwizard\n\t# END dpwizard\n").unwrap(),
            "d.example {\n\t# BEGIN dpwizard\n\t# END dpwizard\n}"
        );
    }

    #[test]
    fn finds_what_keeps_the_handle_from_running() {
        let text = "d.example {\n\tredir /old /new\n\trewrite * /index.html\n\tbasicauth @admin {\n\t}\n\thandle /drawpile-web/ws* {\n\t}\n\thandle /drawpile-web* {\n\t}\n\thandle {\n\t}\n\thandle @x {\n\t}\n\trespond \"x\"\n\treverse_proxy localhost:1\n\t# BEGIN dpwizard\n\thandle /drawpile-web/ws {\n\t}\n\t# END dpwizard\n}\n";
        let c = parse(text);
        let site = c.site_for("d.example").unwrap();
        let got: Vec<(usize, &str, bool)> = preemptions(text, site, "/drawpile-web/ws")
            .iter()
            .map(|p| (p.directive.line, p.directive.name().unwrap(), p.certain))
            .collect();
        // Not the redirect of another path, the shorter handle, the catch-all one, the
        // directives Caddy runs after handle, nor dpwizard's own handle.
        assert_eq!(
            got,
            [
                (3, "rewrite", true),
                (4, "basicauth", false),
                (6, "handle", true)
            ]
        );
        assert!(path_matches("/drawpile-web/*", "/Drawpile-Web/ws"));
        assert!(!path_matches("/drawpile-web/ws", "/drawpile-web/ws/x"));
    }

    #[test]
    fn a_single_site_without_braces_is_a_site() {
        let text = "# quick start\n{\n\temail a@d.example\n}\nd.example, www.d.example\n\nreverse_proxy localhost:8080\ntls internal\n";
        let c = parse(text);
        let s = c.site_for("www.d.example").expect("the unbraced site");
        assert_eq!(s.line, 5);
        let kids: Vec<&str> = s.children().filter_map(|d| d.name()).collect();
        assert_eq!(kids, ["reverse_proxy", "tls"]);
        assert_eq!(c.cert_source(s), CertSource::Internal);
        assert_eq!(s.child_indent(text), "");
        let block = "# BEGIN dpwizard\nrespond /x 1\n# END dpwizard\n";
        let once = set_managed_block(text, s, block).unwrap();
        assert_eq!(once, format!("{text}{block}"));
        let c = parse(&once);
        let s = c.site_for("d.example").unwrap();
        assert_eq!(s.managed_block(&once), Some(text.len()..once.len()));
        assert_eq!(set_managed_block(&once, s, block).unwrap(), once);
        // No newline at the end: the block starts on a line of its own.
        let bare = "d.example\nrespond hi";
        let c = parse(bare);
        let s = c.site_for("d.example").unwrap();
        assert_eq!(
            set_managed_block(bare, s, block).unwrap(),
            format!("{bare}\n{block}")
        );
        // A braced first site makes every site braced.
        assert!(
            parse("a.example {\n}\nb.example {\n}\n")
                .unbraced_site
                .is_none()
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let cases = [
            ("a.example {\n\tfoo\n", 1, 11, "expecting '}'"),
            ("a.example {\n}\n}\n", 3, 1, "unexpected '}'"),
            ("a {\n\trespond \"x\n}\n", 2, 10, "unterminated"),
            ("a { foo }\n", 1, 5, "after '{'"),
            ("a {\n} b\n", 2, 3, "after '}'"),
        ];
        for (text, line, col, msg) in cases {
            let e = Caddyfile::parse(text).unwrap_err();
            assert_eq!((e.line, e.column), (line, col), "{text:?}: {e}");
            assert!(e.message.contains(msg), "{text:?}: {e}");
        }
    }

    #[test]
    fn json_configured_caddy_is_recognised() {
        let argv = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        // Debian's caddy.service and caddy-api.service.
        assert_eq!(
            config_source(&argv(
                "/usr/bin/caddy run --environ --config /etc/caddy/Caddyfile"
            )),
            ConfigSource::Caddyfile("/etc/caddy/Caddyfile".into())
        );
        assert!(matches!(
            config_source(&argv("/usr/bin/caddy run --environ --resume")),
            ConfigSource::Json(why) if why.contains("autosave.json")
        ));
        assert!(matches!(
            config_source(&argv("caddy run --config /etc/caddy/caddy.json")),
            ConfigSource::Json(why) if why.contains("/etc/caddy/caddy.json")
        ));
        assert!(matches!(
            config_source(&argv(
                "caddy run --config=/etc/caddy/site.conf --adapter=json"
            )),
            ConfigSource::Json(_)
        ));
        assert_eq!(
            config_source(&argv(
                "caddy run --config /etc/caddy/site.conf --adapter caddyfile"
            )),
            ConfigSource::Caddyfile("/etc/caddy/site.conf".into())
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Arbitrary text from Caddyfile pieces (braces, quotes, backticks, comments,
        /// placeholders, commas, CRLF) and other characters: parsing never panics, a parsed
        /// file prints back byte for byte, and an edit keeps every byte outside the block.
        #[test]
        fn parse_never_panics_and_round_trips(parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::prelude::Just("d.example {\n".to_string()),
                proptest::prelude::Just("}\n".to_string()),
                proptest::prelude::Just(" {".to_string()),
                proptest::prelude::Just("}".to_string()),
                proptest::prelude::Just("\"".to_string()),
                proptest::prelude::Just("`".to_string()),
                proptest::prelude::Just("{$X:y}".to_string()),
                proptest::prelude::Just(",\n".to_string()),
                proptest::prelude::Just("# BEGIN dpwizard\n".to_string()),
                proptest::prelude::Just("# END dpwizard\n".to_string()),
                proptest::prelude::Just("\r\n".to_string()),
                proptest::prelude::Just("tls internal\n".to_string()),
                "\\PC{0,8}",
                "[ \t\n{}#\"`\\\\,]{0,4}",
            ],
            0..24,
        )) {
            let text: String = parts.concat();
            if let Ok(c) = Caddyfile::parse(&text) {
                proptest::prop_assert_eq!(c.to_string(), text.clone());
                for s in c.sites() {
                    let _ = c.cert_source(s);
                    let block = "\t# BEGIN dpwizard\n\t# END dpwizard\n";
                    if s.managed_block(&text).is_none() {
                        let edited = set_managed_block(&text, s, block).unwrap();
                        let at = edited.find(block).unwrap();
                        let mut back = edited.clone();
                        back.replace_range(at..at + block.len(), "");
                        // At most a newline was added to put the block on its own line.
                        proptest::prop_assert!(back == text || back.len() == text.len() + 1);
                    }
                }
                let _ = c.site_for("d.example");
            }
        }
    }
}
