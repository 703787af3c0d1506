//! Apache httpd configuration, read losslessly. The tree keeps byte spans into the source, so
//! an editor changes a file by splicing a byte range and every other byte stays as it was
//! (comments, blank lines, continuation lines, indentation, order). Any directive and section
//! name is accepted: modules add their own. Also what the planner and the audit ask of a
//! file: the TLS virtual host serving a domain, dpwizard's marked block in it, and the proxy
//! rules that reach a path in the order Apache tries them, on a section with its `Include`s
//! spliced in ([`Section::expanded`]) and what it inherits from the main server merged in
//! ([`merged_with_server`]), each directive knowing the file it came from.

use std::ops::Range;

// A word and a parse error look the same in every lossless reader; nginx's are shared.
// (Apache's quoted values unescape only the quote character.)
pub use super::nginx::{ParseError, Word, line_start};

/// A directive: one logical line (continuations joined), name and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: Word,
    pub args: Vec<Word>,
    /// From the first byte of the name to the end of the logical line (newline excluded).
    pub span: Range<usize>,
    /// 1-based line and column of the name.
    pub line: usize,
    pub column: usize,
    /// The file the directive was read from when it is not the one parsed: set on the
    /// directives an `Include` brings into a section ([`Section::expanded`]) or that a virtual
    /// host inherits from the main server ([`merged_with_server`]); `span` points into its text.
    pub source: Option<std::sync::Arc<Source>>,
}

/// A file whose directives were spliced into another's section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: String,
    pub text: String,
}

/// A section: `<Name args>` … `</Name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name without `<`, as written (`VirtualHost`); compare it case-insensitively.
    pub name: String,
    pub args: Vec<Word>,
    /// The opening tag, `<` to `>`.
    pub open: Range<usize>,
    /// The closing tag, `</` to `>`.
    pub close: Range<usize>,
    /// 1-based line of the opening tag and of the closing one.
    pub line: usize,
    pub close_line: usize,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Directive(Directive),
    Section(Section),
    /// A comment line (`#` first on the line), continuations included.
    Comment {
        span: Range<usize>,
        line: usize,
    },
}

/// A parsed file: the source text and its top-level nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub text: String,
    pub nodes: Vec<Node>,
}

/// Byte offsets of line starts, for line/column lookups.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Lines(starts)
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.0.partition_point(|&s| s <= offset);
        (line, offset - self.0[line - 1] + 1)
    }
}

/// A logical line: physical lines joined where one ends with a backslash, as Apache reads
/// them. `content` excludes the final newline (and a `\r` before it).
struct Logical {
    content: Range<usize>,
}

fn logical_lines(text: &str) -> Vec<Logical> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while start < b.len() {
        // Find the end of this physical line.
        while i < b.len() && b[i] != b'\n' {
            i += 1;
        }
        let mut end = i;
        if end > start && b[end - 1] == b'\r' {
            end -= 1;
        }
        if end > start && b[end - 1] == b'\\' && i < b.len() {
            // Continued: the logical line goes on after the newline.
            i += 1;
            continue;
        }
        out.push(Logical {
            content: start..end,
        });
        i += 1;
        start = i;
    }
    out
}

/// Splits `range` of `text` into words as Apache's `ap_getword_conf` does: whitespace
/// separates, double or single quotes group (a backslash escapes the quote inside them).
/// A backslash-newline continuation counts as whitespace.
fn words(text: &str, range: Range<usize>) -> Vec<Word> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = range.start;
    let end = range.end;
    let is_space = |i: usize| {
        b[i].is_ascii_whitespace()
            || (b[i] == b'\\' && i + 1 < end && (b[i + 1] == b'\n' || b[i + 1] == b'\r'))
    };
    while i < end {
        if is_space(i) {
            i += 1;
            continue;
        }
        let start = i;
        let q = b[i];
        if q == b'"' || q == b'\'' {
            i += 1;
            let mut value = Vec::new();
            while i < end && b[i] != q {
                if b[i] == b'\\' && i + 1 < end && b[i + 1] == q {
                    i += 1;
                }
                value.push(b[i]);
                i += 1;
            }
            // The closing quote (or the end of the line, which Apache also accepts).
            i = (i + 1).min(end);
            out.push(Word {
                value: String::from_utf8_lossy(&value).into_owned(),
                span: start..i,
                quoted: true,
            });
        } else {
            while i < end && !is_space(i) {
                i += 1;
            }
            out.push(Word {
                value: text[start..i].to_string(),
                span: start..i,
                quoted: false,
            });
        }
    }
    out
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, ParseError> {
        Self::parse_owned(text.to_string())
    }

    /// Like [`Config::parse`], taking the text without copying it.
    pub fn parse_owned(text: String) -> Result<Config, ParseError> {
        let lines = Lines::new(&text);
        let err = |offset: usize, message: String| {
            let (line, column) = lines.line_col(offset);
            ParseError {
                line,
                column,
                message,
            }
        };
        // A stack of open sections; the bottom entry holds the top-level nodes.
        let mut stack: Vec<(Option<Section>, Vec<Node>)> = vec![(None, Vec::new())];
        for l in logical_lines(&text) {
            let raw = &text[l.content.clone()];
            let lead = raw.len() - raw.trim_start().len();
            let at = l.content.start + lead;
            let body = at..l.content.end;
            if body.is_empty() {
                continue;
            }
            let (line, column) = lines.line_col(at);
            let push = |stack: &mut Vec<(Option<Section>, Vec<Node>)>, n: Node| {
                if let Some(top) = stack.last_mut() {
                    top.1.push(n);
                }
            };
            let first = text.as_bytes()[at];
            if first == b'#' {
                push(&mut stack, Node::Comment { span: body, line });
                continue;
            }
            if first == b'<' {
                let trimmed_end = text[body.clone()].trim_end().len() + at;
                if text.as_bytes()[trimmed_end - 1] != b'>' {
                    return Err(err(
                        at,
                        "section tag is missing its closing '>'".to_string(),
                    ));
                }
                let inner = at + 1..trimmed_end - 1;
                if text[inner.clone()].starts_with('/') {
                    let name = text[inner.start + 1..inner.end].trim().to_string();
                    let Some((Some(mut open), children)) = stack.pop() else {
                        return Err(err(
                            at,
                            format!("</{name}> without matching <{name}> section"),
                        ));
                    };
                    if !open.name.eq_ignore_ascii_case(&name) {
                        return Err(err(
                            at,
                            format!(
                                "</{name}> closes the <{}> section opened on line {}",
                                open.name, open.line
                            ),
                        ));
                    }
                    open.close = at..trimmed_end;
                    open.close_line = line;
                    open.children = children;
                    push(&mut stack, Node::Section(open));
                    continue;
                }
                let mut ws = words(&text, inner.clone());
                if ws.is_empty() {
                    return Err(err(at, "empty section tag '<>'".to_string()));
                }
                let name = ws.remove(0).value;
                stack.push((
                    Some(Section {
                        name,
                        args: ws,
                        open: at..trimmed_end,
                        close: 0..0,
                        line,
                        close_line: 0,
                        children: Vec::new(),
                    }),
                    Vec::new(),
                ));
                continue;
            }
            let mut ws = words(&text, body.clone());
            if ws.is_empty() {
                continue;
            }
            let name = ws.remove(0);
            push(
                &mut stack,
                Node::Directive(Directive {
                    name,
                    args: ws,
                    span: body,
                    line,
                    column,
                    source: None,
                }),
            );
        }
        if stack.len() > 1
            && let Some((Some(open), _)) = stack.pop()
        {
            return Err(err(
                open.open.start,
                format!("<{}> is not closed (expected </{}>)", open.name, open.name),
            ));
        }
        let nodes = stack.pop().map(|(_, n)| n).unwrap_or_default();
        Ok(Config { text, nodes })
    }

    /// 1-based (line, column) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        Lines::new(&self.text).line_col(offset)
    }

    /// Every section named `name` (case-insensitive), at any depth, in file order.
    pub fn sections<'a>(&'a self, name: &str) -> Vec<&'a Section> {
        let mut out = Vec::new();
        collect_sections(&self.nodes, name, &mut out);
        out
    }

    /// The first TLS virtual host on port 443 that serves `domain`, as Apache chooses it
    /// among name-based hosts: `ServerName` exactly, `ServerAlias` with `*`/`?` wildcards.
    /// A host counts as TLS when it turns `SSLEngine on` itself (or in an `<IfModule>`) or
    /// through a file it includes: certbot's vhosts get it from
    /// `Include /etc/letsencrypt/options-ssl-apache.conf`. `include` gives an included
    /// file's text by the path as written ([`no_includes`] where none can be read).
    pub fn tls_vhost_for(&self, domain: &str, include: Includes<'_>) -> Option<&Section> {
        self.sections("VirtualHost")
            .into_iter()
            .find(|v| v.listens_on(443) && v.ssl_engine_on(include) && v.serves(domain))
    }
}

fn collect_sections<'a>(nodes: &'a [Node], name: &str, out: &mut Vec<&'a Section>) {
    for n in nodes {
        if let Node::Section(s) = n {
            if s.name.eq_ignore_ascii_case(name) {
                out.push(s);
            }
            collect_sections(&s.children, name, out);
        }
    }
}

impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Directive {
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|w| w.value.as_str())
    }

    /// The file it was read from when that is not the file parsed (see [`Directive::source`]).
    pub fn path(&self) -> Option<&str> {
        self.source.as_deref().map(|s| s.path.as_str())
    }

    /// Its text as written: from `own` (the parsed file's text) or from its source file.
    pub fn text<'a>(&'a self, own: &'a str) -> &'a str {
        let text = self.source.as_deref().map_or(own, |s| s.text.as_str());
        text.get(self.span.clone()).unwrap_or("")
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.value.eq_ignore_ascii_case(name)
    }
}

/// Reads an included file by its path as written in the `Include` line.
pub type Includes<'a> = &'a dyn Fn(&str) -> Option<String>;

/// For callers that have no included files to offer.
pub fn no_includes(_: &str) -> Option<String> {
    None
}

/// The port of a `<VirtualHost>` address (`*:443`, `[::]:443`, `_default_:443`,
/// `192.0.2.1:443`); `None` when it names none (the vhost then takes every Listen port).
pub fn address_port(addr: &str) -> Option<u16> {
    let (_, port) = addr.rsplit_once(':')?;
    if addr.starts_with('[') && !addr[..addr.len() - port.len()].ends_with("]:") {
        return None;
    }
    port.parse().ok()
}

impl Section {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// Direct child directives, in order.
    pub fn directives(&self) -> impl Iterator<Item = &Directive> {
        self.children.iter().filter_map(|n| match n {
            Node::Directive(d) => Some(d),
            _ => None,
        })
    }

    /// Directives directly inside, or inside nested `<IfModule>`/`<IfDefine>`/`<IfVersion>`
    /// sections, which apply to this context when their condition holds.
    pub fn effective_directives(&self) -> Vec<&Directive> {
        fn walk<'a>(nodes: &'a [Node], out: &mut Vec<&'a Directive>) {
            for n in nodes {
                match n {
                    Node::Directive(d) => out.push(d),
                    Node::Section(s)
                        if s.is("IfModule") || s.is("IfDefine") || s.is("IfVersion") =>
                    {
                        walk(&s.children, out)
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.children, &mut out);
        out
    }

    pub fn listens_on(&self, port: u16) -> bool {
        self.args
            .iter()
            .any(|a| address_port(&a.value) == Some(port))
    }

    /// `SSLEngine on` is in effect: the last `SSLEngine` line, its own or in an included
    /// file (one level, as certbot writes them), says so.
    pub fn ssl_engine_on(&self, include: Includes<'_>) -> bool {
        let mut last = None;
        for d in self.effective_directives() {
            if d.is("SSLEngine") {
                last = d.arg(0).map(str::to_string);
            } else if (d.is("Include") || d.is("IncludeOptional"))
                && let Some(text) = d.arg(0).and_then(include)
                && let Ok(c) = Config::parse_owned(text)
            {
                for n in &c.nodes {
                    if let Node::Directive(i) = n
                        && i.is("SSLEngine")
                    {
                        last = i.arg(0).map(str::to_string);
                    }
                }
            }
        }
        last.is_some_and(|v| v.eq_ignore_ascii_case("on"))
    }

    /// `ServerName` (scheme and port stripped) and every `ServerAlias`.
    pub fn names(&self) -> (Option<String>, Vec<String>) {
        let ds = self.effective_directives();
        let name = ds
            .iter()
            .rev()
            .find(|d| d.is("ServerName"))
            .and_then(|d| d.arg(0))
            .map(strip_server_name);
        let aliases = ds
            .iter()
            .filter(|d| d.is("ServerAlias"))
            .flat_map(|d| d.args.iter().map(|a| a.value.clone()))
            .collect();
        (name, aliases)
    }

    /// Whether Apache would pick this host for `domain` by name.
    pub fn serves(&self, domain: &str) -> bool {
        let (name, aliases) = self.names();
        name.is_some_and(|n| n.eq_ignore_ascii_case(domain))
            || aliases.iter().any(|a| wildcard_match(a, domain))
    }

    /// The byte range of dpwizard's marked block (whole lines, the indentation before the
    /// BEGIN marker through the newline after the END marker), if the section has one.
    pub fn managed_block(&self, text: &str) -> Option<Range<usize>> {
        super::marked_range(
            text,
            self.children.iter().filter_map(|n| match n {
                Node::Comment { span, .. } => Some(span),
                _ => None,
            }),
        )
    }

    /// The indentation of the first child, else the section's own plus four spaces.
    pub fn child_indent(&self, text: &str) -> String {
        let first = self.children.iter().find_map(|n| match n {
            Node::Directive(d) => Some(d.span.start),
            Node::Section(s) => Some(s.open.start),
            Node::Comment { .. } => None,
        });
        first
            .and_then(|at| super::indent_at(text, at))
            .unwrap_or_else(|| {
                format!(
                    "{}    ",
                    super::indent_at(text, self.open.start).unwrap_or_default()
                )
            })
    }

    /// Where a new managed block goes: before the host's own first proxy or rewrite rule
    /// (`ProxyPass`, `ProxyPassMatch`, `RewriteCond`, `RewriteRule`), because Apache takes the
    /// first matching `ProxyPass` and runs rewrite rules in order, so a `ProxyPass /` or a
    /// catch-all `[P]` rule above the block would take the WebSocket path; else at the end.
    pub fn insertion_point(&self, text: &str) -> usize {
        self.insertion_point_with(text, &|_| Vec::new())
    }

    /// Like [`Section::insertion_point`], where an `Include` line that brings such a rule
    /// (read through `read`) counts as the rule.
    pub fn insertion_point_with(&self, text: &str, read: Reader<'_>) -> usize {
        const RULES: [&str; 4] = ["ProxyPass", "ProxyPassMatch", "RewriteCond", "RewriteRule"];
        let first_rule = self.directives().find(|d| {
            RULES.iter().any(|n| d.is(n))
                || ((d.is("Include") || d.is("IncludeOptional")) && {
                    let one = Section {
                        children: vec![Node::Directive((*d).clone())],
                        ..self.clone()
                    };
                    one.expanded_from(read)
                        .effective_directives()
                        .iter()
                        .any(|i| i.source.is_some() && RULES.iter().any(|n| i.is(n)))
                })
        });
        match first_rule {
            Some(d) => line_start(text, d.span.start),
            None => super::before_closer(text, self.close.start),
        }
    }
}

pub use super::{BEGIN_MARKER, END_MARKER};

/// How deep `Include`s inside a section are followed (Apache stops at 128; a loop stops here).
const MAX_INCLUDE_DEPTH: usize = 8;

impl Section {
    /// The section as Apache reads it: each `Include`/`IncludeOptional` inside it (nested
    /// sections too) replaced by the nodes of the file it names, read through `include` by
    /// the path as written, their directives tagged with that file. An include that cannot
    /// be read or parsed stays as it is (nothing of it is judged); globs are not expanded.
    pub fn expanded(&self, include: Includes<'_>) -> Section {
        self.expanded_from(&|p: &str| include(p).map(|t| (p.to_string(), t)).into_iter().collect())
    }

    /// Like [`Section::expanded`], with a reader that gives every file an include argument
    /// names (a glob or a directory names several, in Apache's sorted order) and where each
    /// is (the path the evidence names: relative paths resolved against ServerRoot).
    pub fn expanded_from(&self, read: Reader<'_>) -> Section {
        let mut s = self.clone();
        s.children = expand_nodes(&self.children, read, 0);
        s
    }
}

/// Reads the files an `Include` argument names: `(path, text)` each, in Apache's order.
pub type Reader<'a> = &'a dyn Fn(&str) -> Vec<(String, String)>;

fn expand_nodes(nodes: &[Node], read: Reader<'_>, depth: usize) -> Vec<Node> {
    let mut out = Vec::new();
    for n in nodes {
        match n {
            Node::Directive(d)
                if (d.is("Include") || d.is("IncludeOptional")) && depth < MAX_INCLUDE_DEPTH =>
            {
                let mut any = false;
                for (path, text) in d.args.iter().flat_map(|a| read(&a.value)) {
                    let Ok(c) = Config::parse(&text) else {
                        continue;
                    };
                    let source = std::sync::Arc::new(Source { path, text });
                    let mut nodes = expand_nodes(&c.nodes, read, depth + 1);
                    tag_source(&mut nodes, &source);
                    out.extend(nodes);
                    any = true;
                }
                if !any {
                    out.push(n.clone());
                }
            }
            Node::Section(s) => {
                let mut s = s.clone();
                s.children = expand_nodes(&s.children, read, depth);
                out.push(Node::Section(s));
            }
            _ => out.push(n.clone()),
        }
    }
    out
}

/// The nodes of `text` (the file at `path`) with every directive tagged with that file, as
/// when they are spliced into another file's section; `None` when it does not parse.
pub fn nodes_from(path: &str, text: &str) -> Option<Vec<Node>> {
    let c = Config::parse(text).ok()?;
    let source = std::sync::Arc::new(Source {
        path: path.to_string(),
        text: text.to_string(),
    });
    let mut nodes = c.nodes;
    tag_source(&mut nodes, &source);
    Some(nodes)
}

/// Tags the directives that have no file yet (those of deeper includes keep theirs).
fn tag_source(nodes: &mut [Node], source: &std::sync::Arc<Source>) {
    for n in nodes {
        match n {
            Node::Directive(d) if d.source.is_none() => d.source = Some(source.clone()),
            Node::Section(s) => tag_source(&mut s.children, source),
            _ => {}
        }
    }
}

/// The directives of a context, through `<IfModule>`/`<IfDefine>`/`<IfVersion>`, and its
/// `<Location>`/`<LocationMatch>` sections, in order; `<VirtualHost>` and other sections
/// are left out.
fn flatten<'a>(nodes: &'a [Node], out: &mut Vec<&'a Node>) {
    for n in nodes {
        match n {
            Node::Directive(_) => out.push(n),
            Node::Section(s) if s.is("Location") || s.is("LocationMatch") => out.push(n),
            Node::Section(s) if s.is("IfModule") || s.is("IfDefine") || s.is("IfVersion") => {
                flatten(&s.children, out)
            }
            _ => {}
        }
    }
}

/// The words of the last `RewriteOptions` line among `nodes`, lowercased; `None` without one.
fn rewrite_options(nodes: &[&Node]) -> Option<Vec<String>> {
    nodes.iter().rev().find_map(|n| match n {
        Node::Directive(d) if d.is("RewriteOptions") => Some(
            d.args
                .iter()
                .map(|a| a.value.to_ascii_lowercase())
                .collect(),
        ),
        _ => None,
    })
}

/// A virtual host with what it inherits from the main server (`server`: the nodes outside
/// every `<VirtualHost>`, their directives tagged with their file), placed where Apache
/// 2.4's merge puts them, so that the readers below judge the merged host:
/// - mod_proxy appends the host's `ProxyPass` list to the main server's, so the main
///   server's lines come first (a `ProxyPass /` there takes the path before any host's own);
/// - mod_headers and mod_env run the main server's `RequestHeader`/`SetEnv` before the host's;
/// - mod_rewrite: `RewriteEngine` and `RewriteOptions` are the host's when it sets them,
///   else the main server's; the main server's rules run only with `RewriteOptions
///   Inherit` (after the host's), `InheritBefore` (before), or the main server's
///   `InheritDown`/`InheritDownBefore` unless the host says `IgnoreInherit`;
/// - the main server's `<Location>` sections merge before the host's, and a host's own
///   `ProxyPass` in a `<Location>` for the path overrides theirs: they come after.
pub fn merged_with_server(vhost: &Section, server: &[Node]) -> Section {
    let mut flat = Vec::new();
    flatten(server, &mut flat);
    let mut own = Vec::new();
    flatten(&vhost.children, &mut own);
    let server_opts = rewrite_options(&flat).unwrap_or_default();
    let opts = rewrite_options(&own).unwrap_or_else(|| server_opts.clone());
    let has = |o: &[String], w: &str| o.iter().any(|x| x == w);
    let ignore = has(&opts, "ignoreinherit");
    let after = has(&opts, "inherit") || (has(&server_opts, "inheritdown") && !ignore);
    let before = has(&opts, "inheritbefore") || (has(&server_opts, "inheritdownbefore") && !ignore);
    let is_dir = |n: &Node, names: &[&str]| match n {
        Node::Directive(d) => names.iter().any(|x| d.is(x)),
        _ => false,
    };
    let head: Vec<Node> = flat
        .iter()
        .filter(|n| {
            is_dir(
                n,
                &[
                    "ProxyPass",
                    "ProxyPassMatch",
                    "RequestHeader",
                    "SetEnv",
                    "SetEnvIf",
                    "SetEnvIfNoCase",
                    "SetEnvIfExpr",
                    "RewriteEngine",
                ],
            )
        })
        .map(|n| (*n).clone())
        .collect();
    let rewrites: Vec<Node> = flat
        .iter()
        .filter(|n| is_dir(n, &["RewriteCond", "RewriteRule"]))
        .map(|n| (*n).clone())
        .collect();
    let locations = flat
        .iter()
        .filter(|n| matches!(n, Node::Section(_)))
        .map(|n| (*n).clone());
    let mut s = vhost.clone();
    let mut children = head;
    if before && !after {
        children.extend(rewrites.iter().cloned());
    }
    children.extend(vhost.children.iter().cloned());
    if after {
        children.extend(rewrites);
    }
    children.extend(locations);
    s.children = children;
    s
}

/// `ServerName [scheme://]host[:port]` → host.
fn strip_server_name(v: &str) -> String {
    let v = v.split_once("://").map(|(_, r)| r).unwrap_or(v);
    match address_port(v) {
        Some(_) => v.rsplit_once(':').map(|(h, _)| h).unwrap_or(v).to_string(),
        None => v.to_string(),
    }
}

/// Apache's `ServerAlias` match (`ap_strcasecmp_match`): `*` any run (dots included), `?`
/// one character, case-insensitive.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    // Iterative glob with one backtrack point.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// `text` with the section's managed block replaced by `block` (already indented, markers
/// included, ending with a newline), or `block` inserted at [`Section::insertion_point`].
/// Every other byte is kept.
pub fn set_managed_block(text: &str, vhost: &Section, block: &str) -> String {
    set_managed_block_with(text, vhost, block, &|_| Vec::new())
}

/// Like [`set_managed_block`], placing a new block above an `Include` that brings proxy or
/// rewrite rules into the host ([`Section::insertion_point_with`]).
pub fn set_managed_block_with(
    text: &str,
    vhost: &Section,
    block: &str,
    read: Reader<'_>,
) -> String {
    let range = vhost.managed_block(text).unwrap_or_else(|| {
        let at = vhost.insertion_point_with(text, read);
        at..at
    });
    super::splice_block(text, range, block)
}

/// How a proxy rule was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// `ProxyPass PATH URL` (or `ProxyPass URL` inside `<Location PATH>`).
    ProxyPass,
    /// `ProxyPassMatch REGEX URL`.
    ProxyPassMatch,
    /// `RewriteRule REGEX URL [P]`.
    RewriteProxy,
    /// `RewriteRule REGEX - [L]` (or `[END]`): ends rewriting for what it matches, so no
    /// later `[P]` rule takes it and the request goes on to the ProxyPass rules.
    RewriteStop,
}

/// A rule that may send a request to a backend (or, with `!`, exclude a path from proxying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRule {
    pub kind: RuleKind,
    /// The path prefix (ProxyPass) or regex (the others).
    pub pattern: String,
    /// The backend URL, or `!` for an exclusion.
    pub target: String,
    /// Key=value options after the URL (`upgrade=websocket`).
    pub options: Vec<String>,
    /// The `<Location>` it sits in, if any.
    pub location: Option<String>,
    /// For `RewriteRule`: it has `RewriteCond` lines, so it may not apply to every request.
    pub conditional: bool,
    pub line: usize,
    /// The file it is in when not the one parsed (an `Include`, the main server).
    pub file: Option<String>,
}

impl ProxyRule {
    /// Whether the rule takes `path`. `None` when that cannot be told (a regex this reader
    /// does not understand).
    pub fn matches(&self, path: &str) -> Option<bool> {
        match self.kind {
            RuleKind::ProxyPass => Some(prefix_matches(&self.pattern, path)),
            RuleKind::ProxyPassMatch | RuleKind::RewriteProxy | RuleKind::RewriteStop => {
                regex::Regex::new(&self.pattern)
                    .ok()
                    .map(|re| re.is_match(path))
            }
        }
    }
}

/// Apache's alias match for ProxyPass: a prefix ending at a path-segment boundary
/// (`/drawpile-web/ws` takes `/drawpile-web/ws` and `/drawpile-web/ws/x`, not `/drawpile-web/wsx`).
fn prefix_matches(prefix: &str, path: &str) -> bool {
    path.starts_with(prefix)
        && (prefix.ends_with('/')
            || path.len() == prefix.len()
            || path[prefix.len()..].starts_with('/'))
}

/// The proxy rules of a virtual host in the order Apache tries them: `ProxyPass` inside a
/// `<Location>` first (mod_proxy checks the location's rule before the host's list), then
/// the host's own `ProxyPass`/`ProxyPassMatch` lines in file order. Rewrite rules with `[P]`
/// run earlier still (mod_rewrite translates before mod_proxy) and come first.
pub fn proxy_rules(vhost: &Section) -> Vec<ProxyRule> {
    let mut rewrites = Vec::new();
    let mut located = Vec::new();
    let mut host = Vec::new();
    fn walk(
        nodes: &[Node],
        location: Option<&str>,
        rewrites: &mut Vec<ProxyRule>,
        located: &mut Vec<ProxyRule>,
        host: &mut Vec<ProxyRule>,
    ) {
        let mut conds = false;
        for n in nodes {
            match n {
                Node::Directive(d) if d.is("RewriteCond") => conds = true,
                Node::Directive(d) if d.is("RewriteRule") => {
                    let flags = d.arg(2).unwrap_or("").to_ascii_uppercase();
                    let has = |names: &[&str]| {
                        flags
                            .trim_matches(|c| c == '[' || c == ']')
                            .split(',')
                            .any(|f| names.contains(&f.trim()))
                    };
                    let kind = if has(&["P", "PROXY"]) {
                        Some(RuleKind::RewriteProxy)
                    } else if d.arg(1) == Some("-") && has(&["L", "LAST", "END"]) {
                        Some(RuleKind::RewriteStop)
                    } else {
                        None
                    };
                    if let Some(kind) = kind
                        && location.is_none()
                    {
                        rewrites.push(ProxyRule {
                            kind,
                            pattern: d.arg(0).unwrap_or("").to_string(),
                            target: d.arg(1).unwrap_or("").to_string(),
                            options: Vec::new(),
                            location: None,
                            conditional: conds,
                            line: d.line,
                            file: d.path().map(str::to_string),
                        });
                    }
                    conds = false;
                }
                Node::Directive(d) if d.is("ProxyPass") || d.is("ProxyPassMatch") => {
                    let kind = if d.is("ProxyPass") {
                        RuleKind::ProxyPass
                    } else {
                        RuleKind::ProxyPassMatch
                    };
                    let values: Vec<&str> = d.args.iter().map(|a| a.value.as_str()).collect();
                    // Inside <Location>, the path is the location's and the URL comes first.
                    let (pattern, rest) = match location {
                        Some(loc) => (loc.to_string(), &values[..]),
                        None => match values.split_first() {
                            Some((p, rest)) => (p.to_string(), rest),
                            None => continue,
                        },
                    };
                    let Some((target, options)) = rest.split_first() else {
                        continue;
                    };
                    let rule = ProxyRule {
                        kind,
                        pattern,
                        target: target.to_string(),
                        options: options.iter().map(|o| o.to_string()).collect(),
                        location: location.map(str::to_string),
                        conditional: false,
                        line: d.line,
                        file: d.path().map(str::to_string),
                    };
                    if location.is_some() {
                        located.push(rule);
                    } else {
                        host.push(rule);
                    }
                }
                Node::Section(s) if s.is("Location") || s.is("LocationMatch") => {
                    let path = s.args.first().map(|a| a.value.as_str());
                    walk(&s.children, path, rewrites, located, host);
                }
                Node::Section(s) if s.is("IfModule") || s.is("IfDefine") || s.is("IfVersion") => {
                    walk(&s.children, location, rewrites, located, host)
                }
                _ => {}
            }
        }
    }
    walk(
        &vhost.children,
        None,
        &mut rewrites,
        &mut located,
        &mut host,
    );
    rewrites.into_iter().chain(located).chain(host).collect()
}

/// One `RewriteCond %{HTTP:Origin} PATTERN [FLAGS]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginCond {
    pub line: usize,
    /// The file it is in when not the one parsed.
    pub file: Option<String>,
    /// The pattern without its `!` (and `=`) prefix.
    pub pattern: String,
    pub negated: bool,
    /// `=VALUE`: string equality, not a regex.
    pub equality: bool,
    /// `[NC]`
    pub nocase: bool,
    /// `[OR]`: combined with the next condition by "or" rather than "and".
    pub or_next: bool,
}

/// A `RewriteRule` that forbids (`[F]`) the path when its Origin conditions hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRule {
    pub rule_line: usize,
    /// The file of the `RewriteRule` when not the one parsed.
    pub file: Option<String>,
    pub conds: Vec<OriginCond>,
    /// Conditions on something else than the Origin header: the rule may not apply.
    pub other_conditions: bool,
}

impl OriginCond {
    /// Whether the condition holds for this Origin value (empty when there is none).
    /// `None` when the regex cannot be read.
    pub fn holds(&self, origin: &str) -> Option<bool> {
        let m = if self.equality {
            if self.nocase {
                origin.eq_ignore_ascii_case(&self.pattern)
            } else {
                origin == self.pattern
            }
        } else {
            regex::RegexBuilder::new(&self.pattern)
                .case_insensitive(self.nocase)
                .build()
                .ok()?
                .is_match(origin)
        };
        Some(m != self.negated)
    }
}

impl OriginRule {
    /// Whether Apache answers 403 to an upgrade with this Origin (empty: none sent), from
    /// the Origin conditions alone, combined as mod_rewrite does (`[OR]` binds to the next).
    pub fn refuses(&self, origin: &str) -> Option<bool> {
        let mut all = true;
        let mut pending_or = false;
        let mut group = false;
        for c in &self.conds {
            let h = c.holds(origin)?;
            group = if pending_or { group || h } else { h };
            pending_or = c.or_next;
            if !pending_or {
                all &= group;
            }
        }
        if pending_or {
            all &= group;
        }
        Some(all)
    }
}

/// The host's rules that forbid `path` depending on the Origin header: each `RewriteRule`
/// with `[F]` whose pattern takes the path and whose conditions test `%{HTTP:Origin}`.
pub fn origin_rules(vhost: &Section, path: &str) -> Vec<OriginRule> {
    let mut out = Vec::new();
    let mut conds = Vec::new();
    let mut other = false;
    for d in vhost.effective_directives() {
        if d.is("RewriteCond") {
            let test = d.arg(0).unwrap_or("");
            let flags = d.arg(2).unwrap_or("").to_ascii_uppercase();
            let flag = |f: &str| {
                flags
                    .trim_matches(|c| c == '[' || c == ']')
                    .split(',')
                    .any(|x| x.trim() == f)
            };
            if test.eq_ignore_ascii_case("%{HTTP:Origin}") {
                let raw = d.arg(1).unwrap_or("");
                let (negated, rest) = match raw.strip_prefix('!') {
                    Some(r) => (true, r),
                    None => (false, raw),
                };
                let (equality, pattern) = match rest.strip_prefix('=') {
                    Some(r) => (true, r.trim_matches('"')),
                    None => (false, rest),
                };
                conds.push(OriginCond {
                    line: d.line,
                    file: d.path().map(str::to_string),
                    pattern: pattern.to_string(),
                    negated,
                    equality,
                    nocase: flag("NC") || flag("NOCASE"),
                    or_next: flag("OR") || flag("ORNEXT"),
                });
            } else {
                other = true;
            }
        } else if d.is("RewriteRule") {
            let pattern = d.arg(0).unwrap_or("");
            let (neg, re) = match pattern.strip_prefix('!') {
                Some(r) => (true, r),
                None => (false, pattern),
            };
            let takes = regex::Regex::new(re).is_ok_and(|r| r.is_match(path) != neg);
            let flags = d.arg(2).unwrap_or("").to_ascii_uppercase();
            let forbids = flags
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .any(|f| f.trim() == "F" || f.trim() == "FORBIDDEN");
            if takes && forbids && !conds.is_empty() {
                out.push(OriginRule {
                    rule_line: d.line,
                    file: d.path().map(str::to_string),
                    conds: std::mem::take(&mut conds),
                    other_conditions: other,
                });
            }
            conds.clear();
            other = false;
        }
    }
    out
}

/// Which rule Apache uses for `path`, and the rules for exactly that path it never reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The first rule that takes the path (`None`: nothing proxies it).
    pub winner: Option<ProxyRule>,
    /// Rules written for the path (pattern equal to it, or a `<Location>` of it) that come
    /// after the winner: shadowed. A `ProxyPass /` above `ProxyPass /drawpile-web/ws` is
    /// the usual case.
    pub shadowed: Vec<ProxyRule>,
}

/// The route `path` takes through a host's proxy rules, by Apache's first-match order. A
/// conditional rewrite rule or a regex that cannot be read is skipped (it may not apply).
pub fn route_for(vhost: &Section, path: &str) -> Route {
    let takes = |r: &ProxyRule| !r.conditional && r.matches(path) == Some(true);
    let mut rules = proxy_rules(vhost);
    // Rewriting ends at the first stop rule for the path: later `[P]` rules never see it.
    if let Some(stop) = rules
        .iter()
        .position(|r| r.kind == RuleKind::RewriteStop && takes(r))
    {
        let mut i = 0;
        rules.retain(|r| {
            i += 1;
            i - 1 < stop || r.kind != RuleKind::RewriteProxy
        });
    }
    rules.retain(|r| r.kind != RuleKind::RewriteStop);
    let winner_at = rules.iter().position(takes);
    let winner = winner_at.map(|i| rules[i].clone());
    let shadowed = match winner_at {
        Some(i) => rules[i + 1..]
            .iter()
            .filter(|r| r.pattern.trim_end_matches('/') == path.trim_end_matches('/'))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    Route { winner, shadowed }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like what certbot's Apache plugin writes (`*-le-ssl.conf`), with the usual
    /// oddities: tabs, a continuation line, a comment, quoted arguments, nested sections.
    const LE_SSL: &str = "<IfModule mod_ssl.c>\n<VirtualHost *:443>\n\tServerAdmin webmaster@localhost\n\tDocumentRoot \"/var/www/my site\"\n\t# A comment \\\n\t  continued\n\tServerName draw.example.com\n\tServerAlias www.draw.example.com \\\n\t\t*.paint.example.org\n\n\t<Location /admin>\n\t\tRequire ip 192.0.2.0/24\n\t</Location>\n\tErrorLog ${APACHE_LOG_DIR}/error.log\nInclude /etc/letsencrypt/options-ssl-apache.conf\nSSLCertificateFile /etc/letsencrypt/live/draw.example.com/fullchain.pem\nSSLEngine on\n</VirtualHost>\n</IfModule>\n";

    fn parse(t: &str) -> Config {
        Config::parse(t).unwrap_or_else(|e| panic!("{e}\n{t}"))
    }

    #[test]
    fn parses_certbots_vhost_and_keeps_every_byte() {
        let c = parse(LE_SSL);
        assert_eq!(c.to_string(), LE_SSL);
        let vhosts = c.sections("virtualhost");
        assert_eq!(vhosts.len(), 1);
        let v = vhosts[0];
        assert_eq!((v.line, v.close_line), (2, 18));
        assert_eq!(&LE_SSL[v.open.clone()], "<VirtualHost *:443>");
        assert_eq!(&LE_SSL[v.close.clone()], "</VirtualHost>");
        let names: Vec<&str> = v.directives().map(|d| d.name.value.as_str()).collect();
        assert_eq!(
            names,
            [
                "ServerAdmin",
                "DocumentRoot",
                "ServerName",
                "ServerAlias",
                "ErrorLog",
                "Include",
                "SSLCertificateFile",
                "SSLEngine"
            ]
        );
        let root = v.directives().nth(1).unwrap();
        assert_eq!(root.arg(0), Some("/var/www/my site"));
        assert_eq!(&LE_SSL[root.args[0].span.clone()], "\"/var/www/my site\"");
        // The continuation joins the alias line; its line is where it starts.
        let alias = v.directives().nth(3).unwrap();
        assert_eq!(alias.line, 8);
        assert_eq!(alias.arg(1), Some("*.paint.example.org"));
        // The continued comment is one node.
        assert!(v.children.iter().any(
            |n| matches!(n, Node::Comment { line: 5, span } if LE_SSL[span.clone()].ends_with("continued"))
        ));
        assert_eq!(
            v.names(),
            (
                Some("draw.example.com".to_string()),
                vec![
                    "www.draw.example.com".to_string(),
                    "*.paint.example.org".to_string()
                ]
            )
        );
    }

    #[test]
    fn finds_the_tls_vhost_by_name_port_and_sslengine() {
        let text = "<VirtualHost *:80>\n  ServerName draw.example.com\n</VirtualHost>\n\
<VirtualHost 192.0.2.1:443>\n  ServerName draw.example.com\n</VirtualHost>\n\
<VirtualHost [::]:443 _default_:443>\n  ServerName https://draw.example.com:443\n  SSLEngine On\n</VirtualHost>\n\
<VirtualHost *:443>\n  ServerName other.example.com\n  ServerAlias *.example.org\n  SSLEngine on\n</VirtualHost>\n";
        let c = parse(text);
        // Port 80 and a 443 host without SSLEngine are not it; the scheme/port form is.
        assert_eq!(
            c.tls_vhost_for("DRAW.example.com", &no_includes)
                .map(|v| v.line),
            Some(7)
        );
        // Aliases take wildcards, through dots as Apache's do; ServerName does not.
        assert_eq!(
            c.tls_vhost_for("a.b.example.org", &no_includes)
                .map(|v| v.line),
            Some(11)
        );
        assert_eq!(c.tls_vhost_for("example.org", &no_includes), None);
        assert_eq!(c.tls_vhost_for("example.com", &no_includes), None);
        assert_eq!(address_port("[::]:443"), Some(443));
        assert_eq!(address_port("[::1]"), None);
        assert_eq!(address_port("*"), None);
        assert!(wildcard_match("dr?w.*.com", "draw.example.com"));
        assert!(!wildcard_match("*.example.com", "example.com"));
    }

    #[test]
    fn sslengine_may_come_from_an_included_file_as_certbot_writes_it() {
        let text = "<VirtualHost *:443>\n  ServerName d.example\n  Include /etc/letsencrypt/options-ssl-apache.conf\n</VirtualHost>\n";
        let c = parse(text);
        let certbot = |p: &str| {
            (p == "/etc/letsencrypt/options-ssl-apache.conf")
                .then(|| "# security settings\nSSLEngine on\nSSLProtocol all -SSLv2\n".to_string())
        };
        assert_eq!(
            c.tls_vhost_for("d.example", &certbot).map(|v| v.line),
            Some(1)
        );
        assert_eq!(c.tls_vhost_for("d.example", &no_includes), None);
        // The last word wins, as in Apache: an `SSLEngine off` after the include turns it off.
        let off = text.replace("</VirtualHost>", "  SSLEngine off\n</VirtualHost>");
        assert_eq!(parse(&off).tls_vhost_for("d.example", &certbot), None);
    }

    #[test]
    fn inserts_then_replaces_the_block_with_the_childrens_indentation() {
        let block = |indent: &str, body: &str| {
            format!("{indent}{BEGIN_MARKER}\n{indent}{body}\n{indent}{END_MARKER}\n")
        };
        let c = parse(LE_SSL);
        let v = c.tls_vhost_for("draw.example.com", &no_includes).unwrap();
        let indent = v.child_indent(LE_SSL);
        assert_eq!(indent, "\t");
        let once = set_managed_block(LE_SSL, v, &block(&indent, "Header set X 1"));
        // Only the block is new: before it the file up to </VirtualHost>'s line, after it the rest.
        let at = LE_SSL.find("</VirtualHost>").unwrap();
        assert_eq!(
            once,
            format!(
                "{}\t# BEGIN dpwizard\n\tHeader set X 1\n\t# END dpwizard\n{}",
                &LE_SSL[..at],
                &LE_SSL[at..]
            )
        );
        // Replacing keeps everything else and is idempotent.
        let c2 = parse(&once);
        let v2 = c2.tls_vhost_for("draw.example.com", &no_includes).unwrap();
        let twice = set_managed_block(&once, v2, &block(&indent, "Header set X 2"));
        assert_eq!(twice, once.replace("X 1", "X 2"));
        let c3 = parse(&twice);
        let v3 = c3.tls_vhost_for("draw.example.com", &no_includes).unwrap();
        assert_eq!(
            set_managed_block(&twice, v3, &block(&indent, "Header set X 2")),
            twice
        );
    }

    #[test]
    fn the_block_goes_above_the_hosts_own_proxy_and_rewrite_rules() {
        let text = "<VirtualHost *:443>\n    SSLEngine on\n    ServerName d.example\n    RewriteEngine on\n    RewriteCond %{HTTPS} off\n    RewriteRule ^/(.*) http://127.0.0.1:8080/$1 [P,L]\n    ProxyPass / http://127.0.0.1:8080/\n</VirtualHost>\n";
        let c = parse(text);
        let v = c.tls_vhost_for("d.example", &no_includes).unwrap();
        assert_eq!(
            &text[v.insertion_point(text)..],
            &text[text.find("    RewriteCond").unwrap()..]
        );
        // An empty host on one line still gets the block on its own lines.
        let one = "<VirtualHost *:443>\n</VirtualHost>";
        let c = parse(one);
        let v = &c.sections("VirtualHost")[0];
        assert_eq!(v.child_indent(one), "    ");
        assert_eq!(
            set_managed_block(one, v, "    # BEGIN dpwizard\n    # END dpwizard\n"),
            "<VirtualHost *:443>\n    # BEGIN dpwizard\n    # END dpwizard\n</VirtualHost>"
        );
    }

    #[test]
    fn proxy_routes_follow_apaches_first_match_order() {
        let text = "<VirtualHost *:443>\n\
ProxyPass / http://127.0.0.1:8080/\n\
ProxyPass /drawpile-web/ws http://127.0.0.1:27751/drawpile-web/ws upgrade=websocket\n\
ProxyPassMatch ^/api/(.*)$ http://127.0.0.1:9000/$1\n\
<Location /drawpile-web/wsx>\n  ProxyPass http://127.0.0.1:1/\n</Location>\n\
</VirtualHost>\n";
        let c = parse(text);
        let v = &c.sections("VirtualHost")[0];
        let r = route_for(v, "/drawpile-web/ws");
        assert_eq!(
            r.winner.as_ref().map(|w| (w.line, w.pattern.as_str())),
            Some((2, "/"))
        );
        assert_eq!(r.shadowed.len(), 1);
        assert_eq!(r.shadowed[0].line, 3);
        assert_eq!(r.shadowed[0].options, ["upgrade=websocket"]);
        // Segment boundaries: the <Location /drawpile-web/wsx> rule does not take the path,
        // and the regex rule takes only its own.
        let rules = proxy_rules(v);
        assert_eq!(rules[0].location.as_deref(), Some("/drawpile-web/wsx"));
        assert_eq!(rules[0].matches("/drawpile-web/ws"), Some(false));
        assert_eq!(rules[3].matches("/api/x"), Some(true));

        // In the right order the route's own rule wins; a <Location> rule beats the host's
        // list; an unconditional [P] rewrite beats both; a conditional one is not counted.
        let ordered = text.replacen("ProxyPass / http://127.0.0.1:8080/\n", "", 1);
        let c = parse(&ordered);
        let v = &c.sections("VirtualHost")[0];
        assert_eq!(
            route_for(v, "/drawpile-web/ws").winner.map(|w| w.line),
            Some(2)
        );
        let loc = "<VirtualHost *:443>\nProxyPass /drawpile-web/ws http://127.0.0.1:1/\n<Location /drawpile-web/ws>\n ProxyPass ws://127.0.0.1:27751/drawpile-web/ws\n</Location>\nRewriteCond %{HTTP:Upgrade} =websocket\nRewriteRule ^/(.*) ws://127.0.0.1:2/$1 [P]\n</VirtualHost>\n";
        let c = parse(loc);
        let v = &c.sections("VirtualHost")[0];
        let r = route_for(v, "/drawpile-web/ws");
        assert_eq!(
            r.winner.map(|w| (w.line, w.target)),
            Some((4, "ws://127.0.0.1:27751/drawpile-web/ws".to_string()))
        );
        assert_eq!(r.shadowed.iter().map(|s| s.line).collect::<Vec<_>>(), [2]);
        let p = loc.replace("RewriteCond %{HTTP:Upgrade} =websocket\n", "");
        let c = parse(&p);
        let v = &c.sections("VirtualHost")[0];
        assert_eq!(
            route_for(v, "/drawpile-web/ws")
                .winner
                .map(|w| (w.kind, w.line)),
            Some((RuleKind::RewriteProxy, 6))
        );
        // A `- [L]` rule for the path ends rewriting first: the `[P]` rule never sees it,
        // while a stop rule for another path changes nothing.
        // (The winners: the <Location> rule, line 5, or the [P] rule, line 7.)
        for (stop, winner) in [("^/drawpile-web/ws", 5), ("^/other", 7)] {
            let stopped = p.replacen(
                "<VirtualHost *:443>\n",
                &format!("<VirtualHost *:443>\nRewriteRule {stop} - [END]\n"),
                1,
            );
            let c = parse(&stopped);
            let v = &c.sections("VirtualHost")[0];
            assert_eq!(
                route_for(v, "/drawpile-web/ws").winner.map(|w| w.line),
                Some(winner),
                "{stop}"
            );
        }
    }

    #[test]
    fn origin_rules_tell_what_they_let_through() {
        // (the condition lines, refused: [none, official, mirror, foreign, official in capitals])
        let cases = [
            (
                r"RewriteCond %{HTTP:Origin} !^(https://web\.(drawpile\.net|foxdice\.cn))?$",
                [false, false, false, true, true],
            ),
            // The pre-2025 rule: the desktop app's missing Origin is refused too.
            (
                r"RewriteCond %{HTTP:Origin} !^https://web\.drawpile\.net$",
                [true, false, true, true, true],
            ),
            // An equality: only the one origin passes.
            (
                r#"RewriteCond %{HTTP:Origin} "!=https://web.drawpile.net""#,
                [true, false, true, true, true],
            ),
            (
                r"RewriteCond %{HTTP:Origin} !^(https://web\.drawpile\.net)?$ [NC]",
                [false, false, true, true, false],
            ),
            (
                "RewriteCond %{HTTP:Origin} =https://evil.example [OR]\nRewriteCond %{HTTP:Origin} =https://web.foxdice.cn",
                [false, false, true, true, false],
            ),
        ];
        let origins = [
            "",
            "https://web.drawpile.net",
            "https://web.foxdice.cn",
            "https://evil.example",
            "HTTPS://WEB.DRAWPILE.NET",
        ];
        for (conds, refused) in cases {
            let text = format!(
                "<VirtualHost *:443>\nRewriteEngine On\n{conds}\nRewriteRule ^/drawpile-web/ws - [F]\n</VirtualHost>\n"
            );
            let c = parse(&text);
            let rules = origin_rules(c.sections("VirtualHost")[0], "/drawpile-web/ws");
            assert_eq!(rules.len(), 1, "{text}");
            assert!(!rules[0].other_conditions);
            let got: Vec<bool> = origins
                .iter()
                .map(|o| rules[0].refuses(o).unwrap())
                .collect();
            assert_eq!(got, refused, "{conds}");
        }
        // A rule for another path, or a rewrite that does not forbid, is not an Origin rule.
        let other = "<VirtualHost *:443>\nRewriteCond %{HTTP:Origin} !^$\nRewriteRule ^/api - [F]\nRewriteCond %{HTTP:Origin} !^$\nRewriteRule ^/drawpile-web/ws /x [L]\n</VirtualHost>\n";
        let c = parse(other);
        assert!(origin_rules(c.sections("VirtualHost")[0], "/drawpile-web/ws").is_empty());
    }

    #[test]
    fn includes_inside_a_host_are_spliced_in_with_their_file() {
        let text = "<VirtualHost *:443>\n  Include /a.conf\n  IncludeOptional /missing.conf\n  ProxyPass / http://127.0.0.1:8080/\n</VirtualHost>\n";
        let read = |p: &str| match p {
            "/a.conf" => {
                Some("ProxyPass /drawpile-web/ws ws://127.0.0.1:1/\nInclude /b.conf\n".to_string())
            }
            "/b.conf" => Some("# b\nRequestHeader set X-Real-IP expr=%{REMOTE_ADDR}\n".to_string()),
            _ => None,
        };
        let c = parse(text);
        let v = c.sections("VirtualHost")[0].expanded(&read);
        let seen: Vec<(Option<&str>, usize, &str)> = v
            .effective_directives()
            .into_iter()
            .map(|d| (d.path(), d.line, d.text(text)))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    Some("/a.conf"),
                    1,
                    "ProxyPass /drawpile-web/ws ws://127.0.0.1:1/"
                ),
                (
                    Some("/b.conf"),
                    2,
                    "RequestHeader set X-Real-IP expr=%{REMOTE_ADDR}"
                ),
                (None, 3, "IncludeOptional /missing.conf"),
                (None, 4, "ProxyPass / http://127.0.0.1:8080/"),
            ]
        );
        let r = route_for(&v, "/drawpile-web/ws").winner.unwrap();
        assert_eq!((r.file.as_deref(), r.line), (Some("/a.conf"), 1));
        // A new block goes above the Include that brings a rule, not above the later one.
        let c0 = &c.sections("VirtualHost")[0];
        assert_eq!(
            c0.insertion_point_with(text, &|p: &str| {
                read(p).map(|t| (p.to_string(), t)).into_iter().collect()
            }),
            text.find("  Include").unwrap()
        );
        assert_eq!(c0.insertion_point(text), text.find("  ProxyPass").unwrap());
    }

    #[test]
    fn a_host_inherits_from_the_main_server_as_apache_merges() {
        let server = nodes_from(
            "/main.conf",
            "ProxyPass / http://127.0.0.1:8080/\nRewriteEngine On\nRewriteRule ^/drawpile-web/ws - [F]\n<VirtualHost *:443>\nProxyPass /x http://h/\n</VirtualHost>\n",
        )
        .unwrap();
        let host = |body: &str| parse(&format!("<VirtualHost *:443>\n{body}</VirtualHost>\n"));
        let c = host("ProxyPass /drawpile-web/ws ws://127.0.0.1:1/\n");
        let m = merged_with_server(c.sections("VirtualHost")[0], &server);
        // The main server's ProxyPass first; the other host's rules never.
        let rules = proxy_rules(&m);
        assert_eq!(
            rules
                .iter()
                .map(|r| (r.file.as_deref(), r.pattern.as_str()))
                .collect::<Vec<_>>(),
            [(Some("/main.conf"), "/"), (None, "/drawpile-web/ws")]
        );
        // Rewrite rules only with Inherit (after the host's) or InheritBefore (before).
        assert!(origin_rules(&m, "/drawpile-web/ws").is_empty());
        let forbids = |body: &str| {
            let c = host(body);
            let m = merged_with_server(c.sections("VirtualHost")[0], &server);
            m.effective_directives()
                .iter()
                .filter(|d| d.is("RewriteRule"))
                .map(|d| d.path().unwrap_or("own").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(forbids("RewriteRule ^/a - [L]\n"), ["own"]);
        assert_eq!(
            forbids("RewriteOptions Inherit\nRewriteRule ^/a - [L]\n"),
            ["own", "/main.conf"]
        );
        assert_eq!(
            forbids("RewriteOptions InheritBefore\nRewriteRule ^/a - [L]\n"),
            ["/main.conf", "own"]
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let cases = [
            (
                "<VirtualHost *:443>\n ServerName a\n",
                1,
                1,
                "is not closed",
            ),
            (
                "<VirtualHost *:443\n</VirtualHost>\n",
                1,
                1,
                "missing its closing '>'",
            ),
            ("ServerName a\n  </Location>\n", 2, 3, "without matching"),
            ("<Location />\n</Directory>\n", 2, 1, "opened on line 1"),
            ("<>\n", 1, 1, "empty section tag"),
        ];
        for (text, line, col, msg) in cases {
            let e = Config::parse(text).unwrap_err();
            assert_eq!((e.line, e.column), (line, col), "{text:?}: {e}");
            assert!(e.message.contains(msg), "{text:?}: {e}");
        }
    }

    #[test]
    fn round_trip_holds_for_every_prefix_and_line_ending() {
        for end in 0..=LE_SSL.len() {
            if let Ok(c) = Config::parse(&LE_SSL[..end]) {
                assert_eq!(c.to_string(), &LE_SSL[..end]);
            }
        }
        let crlf = LE_SSL.replace('\n', "\r\n");
        let c = parse(&crlf);
        assert_eq!(c.to_string(), crlf);
        assert_eq!(
            c.tls_vhost_for("x.paint.example.org", &no_includes)
                .map(|v| v.line),
            Some(2)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Arbitrary text built from Apache's own pieces (tags, quotes, continuations,
        /// comments, CRLF) and any other characters: parsing never panics, and a parsed file
        /// prints back byte for byte, with every span inside the text.
        #[test]
        fn parse_never_panics_and_round_trips(parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::prelude::Just("<VirtualHost *:443>\n".to_string()),
                proptest::prelude::Just("</VirtualHost>\n".to_string()),
                proptest::prelude::Just("<IfModule x>".to_string()),
                proptest::prelude::Just("</IfModule>".to_string()),
                proptest::prelude::Just("\\\n".to_string()),
                proptest::prelude::Just("\"".to_string()),
                proptest::prelude::Just("'".to_string()),
                proptest::prelude::Just("# BEGIN dpwizard\n".to_string()),
                proptest::prelude::Just("# END dpwizard\n".to_string()),
                proptest::prelude::Just("\r\n".to_string()),
                proptest::prelude::Just("ServerName a.example\n".to_string()),
                proptest::prelude::Just("SSLEngine on\n".to_string()),
                "\\PC{0,8}",
                "[ \t\n<>/\\\\#\"']{0,4}",
            ],
            0..24,
        )) {
            let text: String = parts.concat();
            if let Ok(c) = Config::parse(&text) {
                proptest::prop_assert_eq!(c.to_string(), text.clone());
                for v in c.sections("VirtualHost") {
                    proptest::prop_assert!(v.close.end <= text.len());
                    let edited = set_managed_block(&text, v, "# BEGIN dpwizard\n# END dpwizard\n");
                    // An edit adds the block and keeps the rest: the old text is a
                    // subsequence split at one point.
                    proptest::prop_assert!(edited.len() >= text.len() || v.managed_block(&text).is_some());
                    let _ = route_for(v, "/drawpile-web/ws");
                }
                let _ = c.tls_vhost_for("a.example", &no_includes);
            }
        }
    }
}
