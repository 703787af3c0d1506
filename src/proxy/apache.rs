//! Apache 2.4 in front: which virtual host serves a domain (`formats::apache`'s
//! `tls_vhost_for`, the one definition, tried file by file in Apache's read order) and that
//! host's route for `/drawpile-web/ws` as a neutral [`Route`]: the winning `ProxyPass` or
//! `RewriteRule [P]` (Apache's first-match order, `formats::apache::route_for`), the
//! Origin rule of `RewriteCond %{HTTP:Origin}` + `RewriteRule … [F]` evaluated as
//! mod_rewrite does, `RequestHeader set X-Real-IP`, and the modules each part needs. The
//! host is judged as Apache runs it: its `Include`s spliced in and what it inherits from the
//! main server (the files' parts outside every `<VirtualHost>`) merged in
//! ([`effective`]); evidence names the file each line is in.

use crate::formats::apache::{
    self as fmt, Config, Directive, Includes, ProxyRule, RuleKind, Section,
};

use super::route::{OriginRule, OriginRules, Property, Route, Target};
use super::{Files, FrontSite, Kind, SiteCertificate, WS_PATH};

/// What the route's judgement needs besides the files: the enabled modules (`None` when
/// they cannot be known, e.g. no apache2.conf was read) and the version (`2.4.62`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Server<'a> {
    pub modules: Option<&'a [String]>,
    pub version: Option<&'a str>,
    /// Modules are loaded by `LoadModule` lines (RHEL/Fedora's conf.modules.d), not by
    /// Debian's `a2enmod` links: what the evidence tells the admin to do.
    pub load_module_lines: bool,
}

impl<'a> Server<'a> {
    /// What detection saw of this machine's Apache: the modules when its main file was read,
    /// and the version `apache2 -v` reported.
    pub fn of(facts: &'a crate::detect::Facts) -> Server<'a> {
        Server {
            modules: facts
                .apache
                .conf_path
                .is_some()
                .then_some(facts.apache.modules.as_slice()),
            version: facts
                .web_servers
                .iter()
                .find(|w| w.name == "apache")
                .and_then(|w| w.version.as_deref()),
            // Debian's ServerRoot has a2enmod; RHEL's /etc/httpd loads by LoadModule lines.
            load_module_lines: facts
                .apache
                .config_root
                .as_deref()
                .is_some_and(|r| r != "/etc/apache2"),
        }
    }

    /// How the admin turns `module` on here.
    fn enable(&self, module: &str) -> String {
        if self.load_module_lines {
            format!("`LoadModule {module}_module modules/mod_{module}.so` in conf.modules.d")
        } else {
            format!("a2enmod {module}")
        }
    }

    /// `Some(module)` when the module is known to be off.
    fn missing(&self, module: &str) -> Option<String> {
        self.modules
            .filter(|m| !m.iter().any(|x| x == module))
            .map(|_| format!("mod_{module} is not enabled ({})", self.enable(module)))
    }

    /// At least `2.4.47`, where mod_proxy_http passes the upgrade (`upgrade=websocket`).
    /// Unknown (or not `X.Y.Z`): `None`.
    fn has_proxy_http_upgrade(&self) -> Option<bool> {
        let v: Vec<u32> = self
            .version?
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        (v.len() >= 3).then(|| v.as_slice() >= [2, 4, 47].as_slice())
    }
}

/// Reads the files an `Include` argument names from `files`, by the path as written
/// (relative to ServerRoot): a file, a glob on the last part (`conf-enabled/*.conf`) or a
/// directory (every file in it), in `files`' order, which is Apache's. Each comes with the
/// path as `files` names it.
pub fn includer<'a>(
    files: &'a Files,
    root: Option<&'a str>,
) -> impl Fn(&str) -> Vec<(String, String)> + 'a {
    move |p: &str| {
        let p = p.trim_matches('"');
        let full = match root {
            Some(r) if !p.starts_with('/') => format!("{r}/{p}"),
            _ => p.to_string(),
        };
        let (dir, name) = full.rsplit_once('/').unwrap_or(("", full.as_str()));
        let globbed = name.contains(['*', '?', '[']);
        files
            .0
            .iter()
            .filter(|(k, _)| {
                *k == full
                    || match k.rsplit_once('/') {
                        Some((d, n)) if d == dir && globbed => fmt::wildcard_match(name, n),
                        Some((d, _)) => d == full.trim_end_matches('/'),
                        None => false,
                    }
            })
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect()
    }
}

/// The paths of the files `Include`d from inside a `<VirtualHost>` (and what they include
/// in turn): they belong to that host, not to the main server.
fn vhost_includes(files: &Files, root: Option<&str>) -> Vec<String> {
    let read = includer(files, root);
    fn walk(nodes: &[fmt::Node], read: fmt::Reader<'_>, out: &mut Vec<String>, depth: usize) {
        for n in nodes {
            match n {
                fmt::Node::Directive(d) if d.is("Include") || d.is("IncludeOptional") => {
                    for (path, text) in d.args.iter().flat_map(|a| read(&a.value)) {
                        if !out.contains(&path) && depth < 8 {
                            out.push(path);
                            if let Ok(c) = Config::parse(&text) {
                                walk(&c.nodes, read, out, depth + 1);
                            }
                        }
                    }
                }
                fmt::Node::Section(s) => walk(&s.children, read, out, depth),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for (_, text) in &files.0 {
        if let Ok(c) = Config::parse(text) {
            for v in c.sections("VirtualHost") {
                walk(&v.children, &read, &mut out, 0);
            }
        }
    }
    out
}

/// The main server's configuration (everything outside the `<VirtualHost>` sections): the
/// nodes of every file read that is not included from inside a virtual host, in Apache's
/// read order, each directive tagged with its file.
fn main_server(files: &Files, root: Option<&str>) -> Vec<fmt::Node> {
    let inside = vhost_includes(files, root);
    files
        .0
        .iter()
        .filter(|(p, _)| !inside.contains(p))
        .filter_map(|(p, t)| fmt::nodes_from(p, t))
        .flatten()
        .collect()
}

/// The virtual host as Apache runs it: its `Include`s followed (the evidence names the
/// included file) and what it inherits from the main server merged in
/// ([`fmt::merged_with_server`]).
pub fn effective(vhost: &Section, files: &Files, root: Option<&str>) -> Section {
    let read = includer(files, root);
    fmt::merged_with_server(&vhost.expanded_from(&read), &main_server(files, root))
}

/// The parsed files that have a TLS virtual host on 443 for `domain`, in Apache's read
/// order: Apache uses the first; the others are never used for the name.
fn vhosts_for(files: &Files, domain: &str, include: Includes<'_>) -> Vec<(String, Config)> {
    files
        .0
        .iter()
        .filter_map(|(path, text)| {
            let c = Config::parse(text).ok()?;
            c.tls_vhost_for(domain, include)?;
            Some((path.clone(), c))
        })
        .collect()
}

/// The site for `domain` and its route; `None` when no TLS virtual host on 443 serves it.
pub fn site(
    files: &Files,
    root: Option<&str>,
    domain: &str,
    server: Server<'_>,
) -> Option<FrontSite> {
    let read = includer(files, root);
    let text_of = |p: &str| read(p).into_iter().next().map(|(_, t)| t);
    let include: Includes<'_> = &text_of;
    let found = vhosts_for(files, domain, include);
    let (file, config) = found.first()?;
    let vhost = config.tls_vhost_for(domain, include)?;
    // Other hosts for the name, in this file after the first one or in later files.
    let mut ignored = Vec::new();
    for (f, c) in &found {
        for v in c.sections("VirtualHost") {
            let same = f == file && v.open == vhost.open;
            if !same && v.listens_on(443) && v.ssl_engine_on(include) && v.serves(domain) {
                ignored.push(format!(
                    "{f}:{}: another virtual host for {domain} on 443, never used for it \
                     (Apache takes the first, {file}:{})",
                    v.line, vhost.line
                ));
            }
        }
    }
    // The last SSLCertificateFile of the host (its includes followed) is the one Apache uses.
    let expanded = vhost.expanded_from(&read);
    let named = |name: &str| {
        expanded
            .effective_directives()
            .into_iter()
            .rev()
            .find(|d| d.is(name))
            .map(|d| {
                (
                    d.arg(0).unwrap_or("").to_string(),
                    format!("{}:{}", d.path().unwrap_or(file), d.line),
                )
            })
    };
    let certificate = match named("SSLCertificateFile") {
        Some((path, at)) => SiteCertificate::File {
            path,
            key: named("SSLCertificateKeyFile").map(|(k, _)| k),
            at,
        },
        None => SiteCertificate::Missing(format!(
            "{file}:{}: no SSLCertificateFile in the virtual host",
            vhost.line
        )),
    };
    Some(FrontSite {
        kind: Kind::Apache,
        at: format!("{file}:{}", vhost.line),
        ignored,
        route: route(file, config, vhost, server, files, root),
        certificate,
    })
}

/// The `ServerName` of the first TLS virtual host on 443 with a rule for the WebSocket path
/// (reached or not: the audit then says why not), and where it was read: the domain when
/// none was given.
pub fn domain_with_route(files: &Files, root: Option<&str>) -> Option<(String, String)> {
    let read = includer(files, root);
    let text_of = |p: &str| read(p).into_iter().next().map(|(_, t)| t);
    files.0.iter().find_map(|(path, text)| {
        let c = Config::parse(text).ok()?;
        c.sections("VirtualHost").into_iter().find_map(|v| {
            let ours = v.listens_on(443)
                && v.ssl_engine_on(&text_of)
                && fmt::proxy_rules(&v.expanded_from(&read))
                    .iter()
                    .any(|r| meant_for_path(r) && r.target != "!");
            let name = v.names().0.filter(|_| ours)?;
            Some((
                name,
                format!("ServerName of the virtual host at {path}:{}", v.line),
            ))
        })
    })
}

/// A directive as written, on one line.
fn shown(c: &Config, d: &Directive) -> String {
    d.text(&c.text)
        .replace("\\\n", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A proxy rule as written.
fn rule_shown(r: &ProxyRule) -> String {
    let opts = r
        .options
        .iter()
        .map(|o| format!(" {o}"))
        .collect::<String>();
    match (r.kind, &r.location) {
        (RuleKind::ProxyPass, Some(l)) => {
            format!("ProxyPass {}{opts} (in <Location {l}>)", r.target)
        }
        (RuleKind::ProxyPass, None) => format!("ProxyPass {} {}{opts}", r.pattern, r.target),
        (RuleKind::ProxyPassMatch, _) => {
            format!("ProxyPassMatch {} {}{opts}", r.pattern, r.target)
        }
        (RuleKind::RewriteProxy, _) => format!("RewriteRule {} {} [P]", r.pattern, r.target),
        (RuleKind::RewriteStop, _) => format!("RewriteRule {} - [L]", r.pattern),
    }
}

/// Directives that apply to a request for `path`: the host's own (through `<IfModule>`…)
/// and those of every `<Location>` whose prefix takes it.
fn for_path<'a>(vhost: &'a Section, path: &str) -> Vec<&'a Directive> {
    let mut out = vhost.effective_directives();
    for n in &vhost.children {
        if let fmt::Node::Section(s) = n
            && s.is("Location")
            && s.args
                .first()
                .is_some_and(|a| path.starts_with(a.value.trim_end_matches('/')))
        {
            out.extend(s.effective_directives());
        }
    }
    out
}

/// `scheme://host[:port]/…` → (scheme, host, port as written).
fn parse_url(url: &str) -> Option<(String, String, Option<u16>)> {
    let (scheme, rest) = url.split_once("://")?;
    let (host, port) = super::route::split_authority(rest)?;
    Some((scheme.to_ascii_lowercase(), host, port))
}

/// The rule is written for the WebSocket path (not an app's catch-all that happens to take it).
fn meant_for_path(r: &ProxyRule) -> bool {
    r.pattern.replace('\\', "").contains(WS_PATH)
        || r.location.as_deref().is_some_and(|l| l.contains(WS_PATH))
}

/// The virtual host's route for the WebSocket path, judged.
/// `vhost` is the section as written in `file` (`config`); its `Include`s and what it
/// inherits from the main server are read from `files` ([`effective`]).
pub fn route(
    file: &str,
    config: &Config,
    vhost: &Section,
    server: Server<'_>,
    files: &Files,
    root: Option<&str>,
) -> Route {
    let vhost_at = format!("{file}:{}", vhost.line);
    let own = fmt::proxy_rules(&vhost.expanded_from(&includer(files, root)));
    let effective = effective(vhost, files, root);
    let vhost = &effective;
    let found = fmt::route_for(vhost, WS_PATH);
    // A rule the host has from the main server says so: it is not in the host's file.
    let at_rule = |r: &ProxyRule| {
        let inherited = if own.iter().any(|o| o.file == r.file && o.line == r.line) {
            ""
        } else {
            " (main server, outside every <VirtualHost>: Apache puts it before the host's own)"
        };
        format!(
            "{}:{}: {}{inherited}",
            r.file.as_deref().unwrap_or(file),
            r.line,
            rule_shown(r)
        )
    };
    let loc = |d: &Directive| format!("{}:{}", d.path().unwrap_or(file), d.line);
    let is_ours = |r: &ProxyRule| meant_for_path(r) && r.target != "!";
    let reached: Property = match &found.winner {
        Some(w) if is_ours(w) => Ok(()),
        Some(w) => {
            let mut ev = vec![if w.target == "!" {
                format!("{}: excludes {WS_PATH} from proxying", at_rule(w))
            } else {
                format!(
                    "{}: takes {WS_PATH} first (Apache uses the first rule that matches)",
                    at_rule(w)
                )
            }];
            ev.extend(
                found
                    .shadowed
                    .iter()
                    .map(|r| format!("{}: never reached", at_rule(r))),
            );
            if found.shadowed.is_empty() {
                ev.push(format!(
                    "{vhost_at}: the virtual host has no ProxyPass for {WS_PATH} of its own"
                ));
            }
            Err(ev)
        }
        None => Err(vec![format!(
            "{vhost_at}: the virtual host has no ProxyPass (or RewriteRule [P]) for {WS_PATH}"
        )]),
    };
    let rule = found.winner.as_ref().filter(|w| is_ours(w));
    let url = rule.and_then(|r| parse_url(&r.target));
    // The target, unless a module the rule needs is off (Apache then refuses the directive
    // or never proxies).
    let mut no_target = Vec::new();
    let target = match (rule, &url) {
        (None, _) => {
            no_target.push(format!("{vhost_at}: nothing proxies {WS_PATH}"));
            None
        }
        (Some(r), None) => {
            no_target.push(format!("{}: not a URL dpwizard reads", at_rule(r)));
            None
        }
        (Some(r), Some((scheme, host, port))) => {
            let mut needs = vec!["proxy"];
            if scheme.starts_with("http") {
                needs.push("proxy_http");
            }
            if r.kind == RuleKind::RewriteProxy {
                needs.push("rewrite");
            }
            for m in needs {
                if let Some(why) = server.missing(m) {
                    no_target.push(format!("{}: {why}", at_rule(r)));
                }
            }
            no_target.is_empty().then(|| Target {
                host: host.clone(),
                port: port.or(match scheme.as_str() {
                    "https" | "wss" => Some(443),
                    _ => None,
                }),
                at: at_rule(r),
            })
        }
    };
    let upgrade: Property = match (rule, &url) {
        (Some(r), Some((scheme, _, _))) if scheme.starts_with("ws") => {
            match server.missing("proxy_wstunnel") {
                Some(_) => Err(vec![format!(
                    "{}: {scheme}:// needs mod_proxy_wstunnel, which is not enabled ({})",
                    at_rule(r),
                    server.enable("proxy_wstunnel")
                )]),
                None => Ok(()),
            }
        }
        (Some(r), Some(_)) => {
            let asks = r
                .options
                .iter()
                .any(|o| o.to_ascii_lowercase().replace(' ', "") == "upgrade=websocket");
            match (asks, server.has_proxy_http_upgrade()) {
                (true, Some(false)) => Err(vec![format!(
                    "{}: upgrade=websocket needs Apache 2.4.47 or later (this is {}); use \
                     ws:// with mod_proxy_wstunnel",
                    at_rule(r),
                    server.version.unwrap_or("?")
                )]),
                (true, _) => Ok(()),
                (false, _) => Err(vec![format!(
                    "{}: an http:// target without upgrade=websocket does not pass the \
                     WebSocket upgrade (2.4.47+: add upgrade=websocket; older: ws:// with \
                     mod_proxy_wstunnel)",
                    at_rule(r)
                )]),
            }
        }
        _ => Err(vec![format!("{vhost_at}: nothing proxies {WS_PATH}")]),
    };
    let applying = for_path(vhost, WS_PATH);
    // mod_proxy speaks HTTP/1.1 upstream unless told otherwise.
    let http10: Vec<String> = applying
        .iter()
        .filter(|d| {
            (d.is("SetEnv") || d.is("SetEnvIf") || d.is("SetEnvIfNoCase") || d.is("SetEnvIfExpr"))
                && d.args
                    .iter()
                    .any(|a| a.value.eq_ignore_ascii_case("force-proxy-request-1.0"))
        })
        .map(|d| {
            format!(
                "{}: {} (Apache then speaks HTTP/1.0 to drawpile-srv: no upgrade)",
                loc(d),
                shown(config, d)
            )
        })
        .collect();
    let http11 = if http10.is_empty() {
        Ok(())
    } else {
        Err(http10)
    };
    let real_ip = real_ip(file, config, &applying, &vhost_at, server);
    Route {
        kind: Kind::Apache,
        at: rule.map_or(vhost_at.clone(), |r| {
            format!("{}:{}", r.file.as_deref().unwrap_or(file), r.line)
        }),
        target,
        no_target,
        reached,
        origin: origin(file, config, vhost, server),
        http11,
        upgrade,
        real_ip,
        switches: Ok(()),
    }
}

fn real_ip(
    file: &str,
    config: &Config,
    applying: &[&Directive],
    vhost_at: &str,
    server: Server<'_>,
) -> Property {
    let set = applying.iter().rev().find(|d| {
        d.is("RequestHeader")
            && d.arg(0).is_some_and(|a| {
                ["set", "add", "append", "merge", "setifempty"]
                    .iter()
                    .any(|x| a.eq_ignore_ascii_case(x))
            })
            && d.arg(1)
                .is_some_and(|h| h.eq_ignore_ascii_case("X-Real-IP"))
    });
    let Some(d) = set else {
        return Err(vec![format!(
            "{vhost_at}: no `RequestHeader set X-Real-IP expr=%{{REMOTE_ADDR}}` for {WS_PATH} \
             (Apache sends X-Forwarded-For only)"
        )]);
    };
    let at = format!(
        "{}:{}: {}",
        d.path().unwrap_or(file),
        d.line,
        shown(config, d)
    );
    if let Some(why) = server.missing("headers") {
        return Err(vec![format!("{at}: {why}")]);
    }
    let value = d.args.get(2).map(|w| w.value.as_str()).unwrap_or("");
    if ["REMOTE_ADDR", "CLIENT_IP", "CONN_REMOTE_ADDR"]
        .iter()
        .any(|v| value.contains(v))
    {
        Ok(())
    } else {
        Err(vec![format!("{at}: not the client's address")])
    }
}

/// The host's Origin rules for the path, with mod_rewrite's meaning; a rule that never runs
/// (no `RewriteEngine On`, mod_rewrite off) refuses nothing and says why.
fn origin(file: &str, config: &Config, vhost: &Section, server: Server<'_>) -> OriginRules {
    let ds = vhost.effective_directives();
    let engine_on = ds
        .iter()
        .rev()
        .find(|d| d.is("RewriteEngine"))
        .and_then(|d| d.arg(0))
        .is_some_and(|a| a.eq_ignore_ascii_case("on"));
    let off = if let Some(why) = server.missing("rewrite") {
        Some(why)
    } else if !engine_on {
        Some("the virtual host has no `RewriteEngine On`".to_string())
    } else {
        None
    };
    // Rewriting ends for the path at the first rule that takes it unconditionally with `[L]`,
    // `[END]` or `[P]` (dpwizard's block ends so): rules after it never run for it. Rules may
    // come from several files (includes, the main server): their order is their place in
    // the merged host.
    let place = |f: Option<&str>, line: usize| {
        ds.iter()
            .position(|d| d.path() == f && d.line == line)
            .unwrap_or(usize::MAX)
    };
    let stop = fmt::proxy_rules(vhost)
        .into_iter()
        .filter(|r| matches!(r.kind, RuleKind::RewriteStop | RuleKind::RewriteProxy))
        .filter(|r| !r.conditional && r.matches(WS_PATH) == Some(true))
        .map(|r| place(r.file.as_deref(), r.line))
        .min();
    let mut out = OriginRules::default();
    for r in fmt::origin_rules(vhost, WS_PATH)
        .into_iter()
        .filter(|r| stop.is_none_or(|s| place(r.file.as_deref(), r.rule_line) < s))
    {
        let lines: Vec<(Option<&str>, usize)> = r
            .conds
            .iter()
            .map(|c| (c.file.as_deref(), c.line))
            .chain([(r.file.as_deref(), r.rule_line)])
            .collect();
        let text = ds
            .iter()
            .filter(|d| lines.contains(&(d.path(), d.line)))
            .map(|d| shown(config, d))
            .collect::<Vec<_>>()
            .join(" + ");
        let at = match r.conds.first() {
            Some(c) => format!("{}:{}", c.file.as_deref().unwrap_or(file), c.line),
            None => format!("{}:{}", r.file.as_deref().unwrap_or(file), r.rule_line),
        };
        if r.refuses("").is_none() {
            out.unreadable.push(format!("{at}: {text}"));
            continue;
        }
        match &off {
            Some(why) => out.rules.push(OriginRule::new(
                at,
                format!("{text} (never runs: {why})"),
                |_| false,
            )),
            None => out.rules.push(OriginRule::new(at, text, move |o| {
                r.refuses(o).unwrap_or(false)
            })),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = "https://web.drawpile.net";
    const MIRROR: &str = "https://web.foxdice.cn";

    fn all_modules() -> Vec<String> {
        crate::detect::apache::NEEDED_MODULES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn judge(body: &str, modules: &[String], version: Option<&str>) -> FrontSite {
        let text = format!(
            "<VirtualHost *:443>\n\tServerName d.example\n\tSSLEngine on\n{body}</VirtualHost>\n"
        );
        let files = Files(vec![("/s.conf".into(), text)]);
        site(
            &files,
            None,
            "d.example",
            Server {
                modules: Some(modules),
                version,
                load_module_lines: false,
            },
        )
        .expect("the vhost")
    }

    const GOOD: &str = "\tRewriteEngine On\n\
\tRewriteCond %{HTTP:Origin} !^(https://web\\.(drawpile\\.net|foxdice\\.cn)|https://x\\.example\\.org)?$\n\
\tRewriteRule ^/drawpile-web/ws - [F]\n\
\tProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws\n\
\tRequestHeader set X-Real-IP expr=%{REMOTE_ADDR}\n\
\tProxyPass / http://127.0.0.1:8080/\n";

    #[test]
    fn a_sound_vhost_holds_every_property() {
        let s = judge(GOOD, &all_modules(), Some("2.4.62"));
        let r = &s.route;
        assert_eq!(s.at, "/s.conf:1");
        assert!(r.reached.is_ok() && r.upgrade.is_ok() && r.http11.is_ok());
        assert!(r.real_ip.is_ok(), "{:?}", r.real_ip);
        let t = r.target.as_ref().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", Some(27751)));
        assert_eq!(
            t.at,
            "/s.conf:7: ProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws"
        );
        assert!(r.origin.refused_by("").is_none());
        assert!(r.origin.refused_by(WEB).is_none());
        assert!(r.origin.refused_by(MIRROR).is_none());
        assert!(r.origin.refused_by("https://evil.example").is_some());
        assert_eq!(r.origin.extra_origins(), vec!["https://x.example.org"]);
    }

    #[test]
    fn a_catch_all_proxypass_above_shadows_the_route() {
        let body = "\tProxyPass / http://127.0.0.1:8080/\n\tProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws\n";
        let r = judge(body, &all_modules(), None).route;
        assert_eq!(
            r.reached.unwrap_err(),
            vec![
                "/s.conf:4: ProxyPass / http://127.0.0.1:8080/: takes /drawpile-web/ws first \
                 (Apache uses the first rule that matches)",
                "/s.conf:5: ProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws: \
                 never reached"
            ]
        );
        assert!(r.target.is_none());
    }

    #[test]
    fn rewrite_proxy_rules_route_or_shadow_by_what_they_take() {
        // mod_rewrite runs before ProxyPass: an app's catch-all [P] rule takes the path.
        let body = format!(
            "\tRewriteEngine On\n\tRewriteRule ^/(.*)$ http://127.0.0.1:8080/$1 [P]\n{GOOD}"
        );
        let r = judge(&body, &all_modules(), None).route;
        assert_eq!(
            r.reached.unwrap_err()[0],
            "/s.conf:5: RewriteRule ^/(.*)$ http://127.0.0.1:8080/$1 [P]: takes /drawpile-web/ws \
             first (Apache uses the first rule that matches)"
        );
        // A [P] rule written for the path is the route.
        let body = "\tRewriteEngine On\n\tRewriteRule ^/drawpile-web/ws$ ws://127.0.0.1:27751/drawpile-web/ws [P,L]\n";
        let r = judge(body, &all_modules(), None).route;
        assert!(r.reached.is_ok() && r.upgrade.is_ok());
        assert_eq!(r.target.unwrap().port, Some(27751));
    }

    #[test]
    fn http_without_upgrade_and_missing_modules_break_their_property() {
        let body = "\tProxyPass /drawpile-web/ws http://127.0.0.1:27751/drawpile-web/ws\n\tRequestHeader set X-Real-IP expr=%{REMOTE_ADDR}\n";
        let r = judge(body, &all_modules(), Some("2.4.62")).route;
        assert!(r.upgrade.unwrap_err()[0].contains("without upgrade=websocket"));
        let with = body.replace("/ws\n\tReq", "/ws upgrade=websocket\n\tReq");
        assert!(
            judge(&with, &all_modules(), Some("2.4.62"))
                .route
                .upgrade
                .is_ok()
        );
        // A version that is not X.Y.Z tells nothing.
        assert!(
            judge(&with, &all_modules(), Some("2.4"))
                .route
                .upgrade
                .is_ok()
        );
        let old = judge(&with, &all_modules(), Some("2.4.38")).route.upgrade;
        assert!(old.unwrap_err()[0].contains("needs Apache 2.4.47 or later (this is 2.4.38)"));
        let few: Vec<String> = ["proxy", "rewrite"].iter().map(|s| s.to_string()).collect();
        let r = judge(&with, &few, Some("2.4.62")).route;
        assert_eq!(
            r.no_target,
            vec![
                "/s.conf:4: ProxyPass /drawpile-web/ws http://127.0.0.1:27751/drawpile-web/ws \
                 upgrade=websocket: mod_proxy_http is not enabled (a2enmod proxy_http)"
            ]
        );
        assert!(
            r.real_ip.unwrap_err()[0].ends_with("mod_headers is not enabled (a2enmod headers)")
        );
        let ws = "\tProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws\n";
        let r = judge(ws, &few, None).route;
        assert!(r.upgrade.unwrap_err()[0].ends_with(
            "ws:// needs mod_proxy_wstunnel, which is not enabled (a2enmod proxy_wstunnel)"
        ));
    }

    #[test]
    fn http_10_upstream_is_seen() {
        let body = format!(
            "{GOOD}\t<Location /drawpile-web/ws>\n\t\tSetEnv force-proxy-request-1.0 1\n\t</Location>\n"
        );
        let r = judge(&body, &all_modules(), None).route;
        assert_eq!(
            r.http11.unwrap_err(),
            vec![
                "/s.conf:11: SetEnv force-proxy-request-1.0 1 (Apache then speaks HTTP/1.0 to \
                 drawpile-srv: no upgrade)"
            ]
        );
    }

    #[test]
    fn pre_2025_rules_and_rules_that_never_run() {
        let body = "\tRewriteEngine On\n\tRewriteCond %{HTTP:Origin} !=https://web.drawpile.net\n\tRewriteRule ^/drawpile-web/ws - [F]\n";
        let r = judge(body, &all_modules(), None).route;
        assert!(r.origin.refused_by("").is_some());
        assert!(r.origin.refused_by(MIRROR).is_some());
        assert!(r.origin.refused_by(WEB).is_none());
        let off = body.replace("RewriteEngine On", "RewriteEngine Off");
        let r = judge(&off, &all_modules(), None).route;
        assert!(r.origin.refused_by("https://evil.example").is_none());
        assert!(
            r.origin.rules[0]
                .shown
                .ends_with("(never runs: the virtual host has no `RewriteEngine On`)"),
            "{:?}",
            r.origin
        );
    }

    #[test]
    fn rules_after_the_end_of_rewriting_never_run() {
        let body = "\tRewriteEngine On\n\tRewriteRule ^/drawpile-web/ws - [L]\n\tRewriteCond %{HTTP:Origin} !=https://web.drawpile.net\n\tRewriteRule ^/drawpile-web/ws - [F]\n";
        let r = judge(body, &all_modules(), None).route;
        assert!(r.origin.rules.is_empty(), "{:?}", r.origin);
        // A stop rule under a condition may not apply: the rule after it still counts.
        let cond = body.replace(
            "\tRewriteRule ^/drawpile-web/ws - [L]\n",
            "\tRewriteCond %{HTTPS} off\n\tRewriteRule ^/drawpile-web/ws - [L]\n",
        );
        let r = judge(&cond, &all_modules(), None).route;
        assert!(r.origin.refused_by("").is_some());
    }

    #[test]
    fn globbed_includes_in_the_host_are_read_in_order_with_their_file() {
        let v = "<VirtualHost *:443>\n\tServerName d.example\n\tSSLEngine on\n\tIncludeOptional snippets/*.conf\n</VirtualHost>\n";
        let files = Files(vec![
            ("/r/sites-enabled/d.conf".into(), v.to_string()),
            ("/r/snippets/a.conf".into(), GOOD.replace('\t', "")),
            (
                "/r/snippets/b.conf".into(),
                "ProxyPass /drawpile-web/ws ws://127.0.0.1:1/drawpile-web/ws\n".into(),
            ),
        ]);
        let s = site(
            &files,
            Some("/r"),
            "d.example",
            Server {
                modules: Some(&all_modules()),
                version: Some("2.4.62"),
                load_module_lines: false,
            },
        )
        .unwrap();
        let r = s.route;
        // a.conf's rule comes first and wins; b.conf's (the same path) is never reached.
        assert!(r.reached.is_ok(), "{:?}", r.reached);
        assert!(r.real_ip.is_ok());
        assert_eq!(
            r.target.unwrap().at,
            "/r/snippets/a.conf:4: ProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws"
        );
        assert!(r.origin.refused_by("https://evil.example").is_some());
    }

    #[test]
    fn the_certificate_may_come_from_an_included_file() {
        let v =
            "<VirtualHost *:443>\n\tServerName d.example\n\tInclude /r/tls.conf\n</VirtualHost>\n";
        let files = Files(vec![
            ("/r/d.conf".into(), v.to_string()),
            (
                "/r/tls.conf".into(),
                "SSLEngine on\nSSLCertificateFile /c.pem\nSSLCertificateKeyFile /k.pem\n".into(),
            ),
        ]);
        let s = site(&files, None, "d.example", Server::default()).unwrap();
        assert_eq!(
            s.certificate,
            SiteCertificate::File {
                path: "/c.pem".into(),
                key: Some("/k.pem".into()),
                at: "/r/tls.conf:2".into()
            }
        );
    }

    #[test]
    fn a_second_vhost_for_the_name_is_never_used() {
        let v = "<VirtualHost *:443>\n\tServerName d.example\n\tSSLEngine on\n</VirtualHost>\n";
        let files = Files(vec![
            ("/a.conf".into(), v.to_string()),
            ("/b.conf".into(), format!("# x\n{v}")),
        ]);
        let s = site(&files, None, "d.example", Server::default()).unwrap();
        assert_eq!(s.at, "/a.conf:1");
        assert_eq!(
            s.ignored,
            vec![
                "/b.conf:2: another virtual host for d.example on 443, never used for it \
                 (Apache takes the first, /a.conf:1)"
            ]
        );
        assert!(site(&files, None, "other.example", Server::default()).is_none());
    }
}
