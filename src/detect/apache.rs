//! Apache httpd: enabled modules (proxy, proxy_http, proxy_wstunnel, headers, rewrite, ssl)
//! and virtual hosts (file:line, address:port, names, TLS files), read through the
//! `Include`/`IncludeOptional` tree as Apache does (globs sorted, paths relative to
//! ServerRoot). Checked against the real `apache2 -S` in the tests.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Ctx;

/// (config root, main file) for Debian's layout and the upstream/RHEL one.
const LAYOUTS: &[(&str, &str)] = &[
    ("/etc/apache2", "/etc/apache2/apache2.conf"),
    ("/etc/httpd", "/etc/httpd/conf/httpd.conf"),
];

/// The modules a WebSocket proxy with an Origin check needs.
pub const NEEDED_MODULES: &[&str] = &[
    "proxy",
    "proxy_http",
    "proxy_wstunnel",
    "headers",
    "rewrite",
    "ssl",
];

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ApacheFacts {
    /// ServerRoot (`/etc/apache2` on Debian), null when Apache is not configured.
    pub config_root: Option<String>,
    /// The main configuration file.
    pub conf_path: Option<String>,
    /// Every file read, in order.
    pub files: Vec<String>,
    /// Enabled modules by short name (`proxy_wstunnel`).
    pub modules: Vec<String>,
    /// Which of the modules a WebSocket proxy needs are missing.
    pub missing_modules: Vec<String>,
    pub vhosts: Vec<ApacheVhost>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ApacheVhost {
    pub file: String,
    pub line: usize,
    /// The `<VirtualHost>` addresses as written (`*:443`).
    pub addresses: Vec<String>,
    /// The port of the first address.
    pub port: Option<u16>,
    pub server_name: Option<String>,
    pub server_aliases: Vec<String>,
    /// `SSLEngine on`.
    pub ssl: bool,
    pub ssl_certificate_file: Option<String>,
    pub ssl_certificate_key_file: Option<String>,
    /// Every directive inside the vhost: (name, arguments, line), for the audit.
    pub directives: Vec<ApacheDirective>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ApacheDirective {
    pub name: String,
    pub args: Vec<String>,
    pub file: String,
    pub line: usize,
}

/// Splits an Apache directive line into words (double quotes group words).
pub fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            // Apache only unescapes a quote inside quotes; `\.` in a regex stays as is.
            '\\' if quoted && chars.clone().next() == Some('"') => {
                chars.next();
                cur.push('"');
            }
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Logical lines of a config file: (line number, text), continuations joined.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut acc = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if acc.is_empty() {
            start = i + 1;
        }
        if let Some(stripped) = raw.strip_suffix('\\') {
            acc.push_str(stripped);
            acc.push(' ');
            continue;
        }
        acc.push_str(raw);
        let t = acc.trim().to_string();
        acc.clear();
        if !t.is_empty() && !t.starts_with('#') {
            out.push((start, t));
        }
    }
    out
}

struct Reader<'a> {
    ctx: &'a Ctx,
    root: PathBuf,
    log: super::IncludeLog,
    modules: Vec<String>,
    vhosts: Vec<ApacheVhost>,
    /// The vhost being read, if inside `<VirtualHost>`.
    current: Option<ApacheVhost>,
}

impl Reader<'_> {
    fn resolve(&self, p: &str) -> PathBuf {
        let p = p.trim_matches('"');
        if p.starts_with('/') {
            PathBuf::from(p)
        } else {
            self.root.join(p)
        }
    }

    fn read(&mut self, path: &Path, depth: usize) {
        let name = path.display().to_string();
        let Some(text) = self.log.read(self.ctx, path, depth, 32) else {
            return;
        };
        // A file included inside a vhost (certbot's options-ssl-apache.conf, which turns
        // SSLEngine on) adds to that vhost; the vhost closes in the file that opened it.
        let inside_vhost = self.current.is_some();
        for (line, l) in logical_lines(&text) {
            let words = split_words(&l);
            let Some(first) = words.first() else { continue };
            let lower = first.to_ascii_lowercase();
            match lower.as_str() {
                "include" | "includeoptional" => {
                    let optional = lower == "includeoptional";
                    for arg in &words[1..] {
                        let target = self.resolve(arg);
                        let pattern = target.display().to_string();
                        if pattern.contains(['*', '?', '[']) {
                            for p in self.ctx.host.glob(&pattern) {
                                if self.ctx.host.is_file(&p) {
                                    self.read(&p, depth + 1);
                                }
                            }
                        } else if self.ctx.host.is_dir(&target) {
                            // Apache includes every file of a directory, sorted.
                            for f in self.ctx.host.list_dir(&target).unwrap_or_default() {
                                self.read(&target.join(f), depth + 1);
                            }
                        } else if self.ctx.host.is_file(&target) {
                            self.read(&target, depth + 1);
                        } else if !optional {
                            self.log.errors.push(format!(
                                "{name}:{line}: Include {pattern}: no such file (apache2 -t fails)"
                            ));
                        }
                    }
                }
                "loadmodule" => {
                    if let Some(so) = words.get(2) {
                        let file = so.rsplit('/').next().unwrap_or(so);
                        let short = file
                            .trim_start_matches("mod_")
                            .trim_end_matches(".so")
                            .to_string();
                        if !self.modules.contains(&short) {
                            self.modules.push(short);
                        }
                    }
                }
                "<virtualhost" => {
                    let addrs: Vec<String> = words[1..]
                        .iter()
                        .map(|w| w.trim_end_matches('>').to_string())
                        .filter(|w| !w.is_empty())
                        .collect();
                    let port = addrs
                        .first()
                        .and_then(|a| a.rsplit_once(':'))
                        .and_then(|(_, p)| p.parse().ok());
                    self.current = Some(ApacheVhost {
                        file: name.clone(),
                        line,
                        addresses: addrs,
                        port,
                        ..Default::default()
                    });
                }
                "</virtualhost>" => {
                    if let Some(v) = self.current.take() {
                        self.vhosts.push(v);
                    }
                }
                _ => {
                    let resolved = words.get(1).map(|a| self.resolve(a).display().to_string());
                    if let Some(v) = self.current.as_mut() {
                        let args: Vec<String> = words[1..].to_vec();
                        match lower.as_str() {
                            "servername" => v.server_name = args.first().cloned(),
                            "serveralias" => v.server_aliases.extend(args.iter().cloned()),
                            "sslengine" => {
                                v.ssl = args.first().is_some_and(|a| a.eq_ignore_ascii_case("on"))
                            }
                            "sslcertificatefile" => v.ssl_certificate_file = resolved,
                            "sslcertificatekeyfile" => v.ssl_certificate_key_file = resolved,
                            _ => {}
                        }
                        v.directives.push(ApacheDirective {
                            name: first.clone(),
                            args,
                            file: name.clone(),
                            line,
                        });
                    }
                }
            }
        }
        if inside_vhost {
            return;
        }
        if let Some(v) = self.current.take() {
            self.log.errors.push(format!(
                "{}:{}: <VirtualHost> is not closed in the same file",
                v.file, v.line
            ));
        }
    }
}

pub async fn detect(ctx: &Ctx) -> ApacheFacts {
    let mut facts = ApacheFacts::default();
    let Some((root, conf)) = LAYOUTS
        .iter()
        .find(|(_, conf)| ctx.host.is_file(conf))
        .map(|(r, c)| (PathBuf::from(r), PathBuf::from(c)))
    else {
        ctx.probes
            .skipped("apache configuration", "no apache2.conf or httpd.conf");
        return facts;
    };
    let start = std::time::Instant::now();
    let mut r = Reader {
        ctx,
        root: root.clone(),
        log: super::IncludeLog::default(),
        modules: Vec::new(),
        vhosts: Vec::new(),
        current: None,
    };
    r.read(&conf, 0);
    facts.config_root = Some(root.display().to_string());
    facts.conf_path = Some(conf.display().to_string());
    facts.files = r.log.files;
    facts.modules = r.modules;
    facts.missing_modules = NEEDED_MODULES
        .iter()
        .filter(|m| !facts.modules.iter().any(|x| x == *m))
        .map(|m| m.to_string())
        .collect();
    facts.vhosts = r.vhosts;
    facts.errors = r.log.errors;
    if facts.errors.is_empty() {
        ctx.probes.ok("apache configuration", start.elapsed());
    } else {
        ctx.probes.failed(
            "apache configuration",
            start.elapsed(),
            facts.errors.join("; "),
        );
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_continuations() {
        assert_eq!(
            split_words(r#"RewriteCond %{HTTP:Origin} "!^(https://web\.drawpile\.net)?$""#),
            vec![
                "RewriteCond",
                "%{HTTP:Origin}",
                r"!^(https://web\.drawpile\.net)?$"
            ]
        );
        let l = logical_lines("# c\nServerName a \\\n  b\n\n  Foo\n");
        assert_eq!(
            l,
            vec![(2, "ServerName a    b".to_string()), (5, "Foo".to_string())]
        );
    }
}
