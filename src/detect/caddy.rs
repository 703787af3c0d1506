//! Caddy: the Caddyfile's site blocks (addresses, file:line, `tls` lines, `reverse_proxy`
//! targets), following `import` of files and globs. Checked against `caddy adapt`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Ctx;

const CADDYFILE: &str = "/etc/caddy/Caddyfile";

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct CaddyFacts {
    /// The Caddyfile, null when there is none.
    pub caddyfile: Option<String>,
    pub files: Vec<String>,
    pub sites: Vec<CaddySite>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct CaddySite {
    /// Site addresses as written (`draw.example.com`, `:443`, `http://x`).
    pub addresses: Vec<String>,
    pub file: String,
    pub line: usize,
    /// Arguments of the `tls` directive (`internal`, or certificate and key files).
    pub tls: Option<Vec<String>>,
    /// Arguments of each `reverse_proxy` (a matcher first, when given).
    pub reverse_proxies: Vec<Vec<String>>,
    /// Every directive line in the site block (first word, arguments, line).
    pub directives: Vec<CaddyDirective>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct CaddyDirective {
    pub name: String,
    pub args: Vec<String>,
    pub line: usize,
    /// Nesting depth inside the site block (0 = directly in it).
    pub depth: usize,
}

impl CaddySite {
    /// Whether the site serves HTTPS on 443 (Caddy's default for host names).
    pub fn serves_443(&self) -> bool {
        self.addresses.iter().any(|a| {
            let explicit_port = a.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok());
            !a.starts_with("http://") && matches!(explicit_port, None | Some(443))
        })
    }
}

/// Tokenises one line: words, with double quotes and backquotes grouping.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (c, quote) {
            ('"' | '`', None) => {
                quote = Some(c);
                any = true;
            }
            (q, Some(open)) if q == open => quote = None,
            ('#', None) if cur.is_empty() && !any => break,
            (c, None) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (c, _) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct Reader<'a> {
    ctx: &'a Ctx,
    log: super::IncludeLog,
    sites: Vec<CaddySite>,
}

impl Reader<'_> {
    fn read(&mut self, path: &Path, depth: usize) {
        let name = path.display().to_string();
        let Some(text) = self.log.read(self.ctx, path, depth, 16) else {
            return;
        };
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut level = 0usize;
        let mut site: Option<CaddySite> = None;
        let mut pending_addrs: Vec<String> = Vec::new();
        let mut pending_line = 0;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let mut w = words(raw);
            if w.is_empty() {
                continue;
            }
            let opens = w.last().is_some_and(|l| l == "{");
            if opens {
                w.pop();
            }
            let closes = w.first().is_some_and(|f| f == "}");
            if closes {
                level = level.saturating_sub(1);
                if level == 0
                    && let Some(s) = site.take()
                {
                    self.sites.push(s);
                }
                continue;
            }
            if level == 0 {
                if w.first().is_some_and(|f| f == "import") && !opens {
                    for arg in &w[1..2.min(w.len())] {
                        let p = if arg.starts_with('/') {
                            PathBuf::from(arg)
                        } else {
                            dir.join(arg)
                        };
                        let pattern = p.display().to_string();
                        if pattern.contains(['*', '?', '[']) {
                            for f in self.ctx.host.glob(&pattern) {
                                self.read(&f, depth + 1);
                            }
                        } else if self.ctx.host.is_file(&p) {
                            self.read(&p, depth + 1);
                        }
                        // Otherwise a snippet name: nothing to read.
                    }
                    continue;
                }
                if pending_addrs.is_empty() {
                    pending_line = line_no;
                }
                pending_addrs.extend(
                    w.iter()
                        .flat_map(|x| x.split(','))
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(String::from),
                );
                if opens {
                    level = 1;
                    let addrs = std::mem::take(&mut pending_addrs);
                    // A global options block `{` and snippets `(name)` are not sites.
                    let is_site = !addrs.is_empty() && !addrs[0].starts_with('(');
                    if is_site {
                        site = Some(CaddySite {
                            addresses: addrs,
                            file: name.clone(),
                            line: pending_line,
                            ..Default::default()
                        });
                    }
                } else if !raw.trim_end().ends_with(',') {
                    // A site without a block: address alone on a line (rare); ignore it.
                    pending_addrs.clear();
                }
                continue;
            }
            if let Some(s) = site.as_mut() {
                let args: Vec<String> = w[1..].to_vec();
                match w[0].as_str() {
                    "tls" if level == 1 => s.tls = Some(args.clone()),
                    "reverse_proxy" => s.reverse_proxies.push(args.clone()),
                    _ => {}
                }
                s.directives.push(CaddyDirective {
                    name: w[0].clone(),
                    args,
                    line: line_no,
                    depth: level - 1,
                });
            }
            if opens {
                level += 1;
            }
        }
        if level != 0 {
            self.log
                .errors
                .push(format!("{name}: unbalanced braces (caddy would refuse it)"));
        }
    }
}

pub async fn detect(ctx: &Ctx) -> CaddyFacts {
    let mut facts = CaddyFacts::default();
    if !ctx.host.is_file(CADDYFILE) {
        ctx.probes
            .skipped("caddy configuration", "no /etc/caddy/Caddyfile");
        return facts;
    }
    let mut r = Reader {
        ctx,
        log: super::IncludeLog::default(),
        sites: Vec::new(),
    };
    r.read(Path::new(CADDYFILE), 0);
    facts.caddyfile = Some(CADDYFILE.into());
    facts.files = r.log.files;
    facts.sites = r.sites;
    facts.errors = r.log.errors;
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quoted_groups_and_drop_comments() {
        assert_eq!(
            words(r#"  header_regexp Origin "^https://a b$"  # note"#),
            vec!["header_regexp", "Origin", "^https://a b$"]
        );
        assert!(words("# only a comment").is_empty());
    }

    #[test]
    fn https_default_is_443() {
        let s = |a: &str| CaddySite {
            addresses: vec![a.into()],
            ..Default::default()
        };
        assert!(s("draw.example.com").serves_443());
        assert!(s("https://draw.example.com").serves_443());
        assert!(!s("http://draw.example.com").serves_443());
        assert!(!s(":8080").serves_443());
        assert!(s("draw.example.com:443").serves_443());
    }
}
