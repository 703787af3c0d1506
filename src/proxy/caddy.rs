//! Caddy 2 in front, configured by a Caddyfile: which site serves a domain
//! (`formats::caddyfile`'s `site_for`, the one definition, tried file by file), which
//! `handle` or `reverse_proxy` gets `/drawpile-web/ws` (Caddy's sorting of routes by path
//! specificity, and the directives it runs before every `handle`), and that route as a
//! neutral [`Route`]: the Origin rule of named matchers (`header`, `header_regexp`, `not`)
//! answered by `respond`/`error`/`abort`, or a route that only matches allowed origins;
//! `header_up X-Real-IP`. Caddy passes the upgrade and speaks HTTP/1.1 to the upstream by
//! itself, so those hold unless the route turns them off.

use crate::formats::caddyfile::{Caddyfile, Directive, Node, path_matches, preemptions};

use super::route::{OriginRule, OriginRules, Property, Route, Target};
use super::{Files, FrontSite, Kind, SiteCertificate, WS_PATH};

const WEB: &str = "https://web.drawpile.net";

/// One condition of a matcher set, as Caddy evaluates it for a WebSocket upgrade to the path.
#[derive(Debug, Clone)]
enum Cond {
    Path(Vec<String>),
    /// `header Field value…` (values OR'ed; `*` at either end a wildcard); `!Field`: absent.
    Header {
        field: String,
        values: Vec<String>,
    },
    HeaderRe {
        field: String,
        re: String,
    },
    /// `not { … }`: the conditions inside AND'ed, then negated.
    Not(Vec<Cond>),
    /// Anything else (method, remote_ip, expression…): assumed to hold, unless it names the
    /// Origin header, which makes the set unreadable.
    Other(String),
}

fn words(d: &Directive) -> Vec<&str> {
    d.words.iter().map(|w| w.value.as_str()).collect()
}

fn cond(ws: &[&str], d: &Directive) -> Cond {
    let args: Vec<String> = ws.iter().skip(1).map(|s| s.to_string()).collect();
    match ws.first().copied() {
        Some("path") => Cond::Path(args),
        Some("header") if !args.is_empty() => Cond::Header {
            field: args[0].clone(),
            values: args[1..].to_vec(),
        },
        Some("header_regexp") if args.len() >= 3 => Cond::HeaderRe {
            field: args[1].clone(),
            re: args[2].clone(),
        },
        Some("header_regexp") if args.len() == 2 => Cond::HeaderRe {
            field: args[0].clone(),
            re: args[1].clone(),
        },
        Some("not") if ws.len() == 1 => Cond::Not(conds(d)),
        Some("not") => Cond::Not(vec![cond(&ws[1..], d)]),
        _ => Cond::Other(ws.join(" ")),
    }
}

/// The conditions of a matcher block (or a one-line matcher's tokens after the name).
fn conds(d: &Directive) -> Vec<Cond> {
    if d.block.is_some() {
        d.children().map(|c| cond(&words(c), c)).collect()
    } else {
        let ws = words(d);
        vec![cond(&ws[1..], d)]
    }
}

fn is_origin(field: &str) -> bool {
    field.trim_start_matches('!').eq_ignore_ascii_case("Origin")
}

fn mentions_origin(cs: &[Cond]) -> bool {
    cs.iter().any(|c| match c {
        Cond::Header { field, .. } | Cond::HeaderRe { field, .. } => is_origin(field),
        Cond::Not(inner) => mentions_origin(inner),
        Cond::Other(t) => t.to_ascii_lowercase().contains("origin"),
        Cond::Path(_) => false,
    })
}

/// Caddy's `header` value match: exact, or `*` at the start and/or end for a suffix,
/// prefix or substring match.
fn value_matches(pattern: &str, value: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        _ if pattern == "*" => true,
        (Some(rest), _) if rest.ends_with('*') => value.contains(&rest[..rest.len() - 1]),
        (Some(rest), _) => value.ends_with(rest),
        (None, Some(head)) => value.starts_with(head),
        (None, None) => value == pattern,
    }
}

/// Whether the set holds for a request to the path with this Origin ("" when none is
/// sent); `None` when it cannot be told (a regex that does not compile, an expression on
/// the Origin).
fn holds(cs: &[Cond], origin: &str) -> Option<bool> {
    // `header` lines for one field merge: any of their values matches.
    let mut header_fields: Vec<String> = Vec::new();
    for c in cs {
        match c {
            Cond::Path(ps) => {
                if !ps.iter().any(|p| path_matches(p, WS_PATH)) {
                    return Some(false);
                }
            }
            Cond::Header { field, .. } => {
                if !header_fields.iter().any(|f| f.eq_ignore_ascii_case(field)) {
                    header_fields.push(field.clone());
                }
            }
            Cond::HeaderRe { field, re } if is_origin(field) => {
                let re = regex::Regex::new(re).ok()?;
                // An absent header never matches, whatever the regex.
                if origin.is_empty() || !re.is_match(origin) {
                    return Some(false);
                }
            }
            Cond::Not(inner) => {
                if holds(inner, origin)? {
                    return Some(false);
                }
            }
            Cond::Other(t) if t.to_ascii_lowercase().contains("origin") => return None,
            // Other headers (Connection, Upgrade), other matchers: an upgrade has them.
            Cond::HeaderRe { .. } | Cond::Other(_) => {}
        }
    }
    for field in header_fields.iter().filter(|f| is_origin(f)) {
        let values: Vec<&str> = cs
            .iter()
            .filter_map(|c| match c {
                Cond::Header { field: f, values } if f.eq_ignore_ascii_case(field) => {
                    Some(values.iter().map(String::as_str))
                }
                _ => None,
            })
            .flatten()
            .collect();
        let ok = if field.starts_with('!') {
            origin.is_empty()
        } else if values.is_empty() {
            !origin.is_empty()
        } else {
            !origin.is_empty() && values.iter().any(|v| value_matches(v, origin))
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

/// A directive's matcher token, if it has one (`/path`, `@name`, `*`).
fn matcher(d: &Directive) -> Option<&str> {
    d.arg(0)
        .filter(|m| m.starts_with('/') || m.starts_with('@') || *m == "*")
}

/// The definition of `@name`, in the block or, failing that, in the site.
fn definition<'a>(name: &str, scopes: &[&'a Directive]) -> Option<&'a Directive> {
    scopes
        .iter()
        .find_map(|s| s.children().find(|d| d.name() == Some(name)))
}

/// A directive's matcher as conditions (`None` matcher or `*`: no condition; `None`
/// result: a named matcher that is not defined).
fn matcher_conds(d: &Directive, scopes: &[&Directive]) -> Option<Vec<Cond>> {
    match matcher(d) {
        None | Some("*") => Some(Vec::new()),
        Some(p) if p.starts_with('/') => Some(vec![Cond::Path(vec![p.to_string()])]),
        Some(name) => definition(name, scopes).map(conds),
    }
}

/// The directive takes a WebSocket upgrade to the path from the official client or the
/// desktop app.
fn takes(d: &Directive, scopes: &[&Directive]) -> bool {
    matcher_conds(d, scopes)
        .is_some_and(|cs| holds(&cs, WEB).unwrap_or(true) || holds(&cs, "").unwrap_or(true))
}

/// The single path of a directive's matcher set, for Caddy's route sorting.
fn single_path(d: &Directive, scopes: &[&Directive]) -> Option<String> {
    let cs = matcher_conds(d, scopes)?;
    let paths: Vec<&Vec<String>> = cs
        .iter()
        .filter_map(|c| match c {
            Cond::Path(p) => Some(p),
            _ => None,
        })
        .collect();
    match paths.as_slice() {
        [p] if p.len() == 1 => Some(p[0].clone()),
        _ => None,
    }
}

/// Directives of one kind in the order Caddy runs them (caddyconfig/httpcaddyfile's
/// sortRoutes, as in Debian's Caddy 2.6): with a single path matcher each, the longest
/// first (the same path without a trailing `*` before the one with it); else one with a
/// matcher before one without; else file order.
fn caddy_order<'a>(mut ds: Vec<&'a Directive>, scopes: &[&Directive]) -> Vec<&'a Directive> {
    let before =
        |a: &Directive, b: &Directive| match (single_path(a, scopes), single_path(b, scopes)) {
            (Some(x), Some(y)) if x.trim_end_matches('*') == y.trim_end_matches('*') => {
                x.len() < y.len()
            }
            (Some(x), Some(y)) => x.len() > y.len(),
            _ => matcher(a).is_some() && matcher(b).is_none(),
        };
    // A stable insertion sort: the comparison is Caddy's, not a total order.
    for i in 1..ds.len() {
        let mut j = i;
        while j > 0 && before(ds[j], ds[j - 1]) {
            ds.swap(j, j - 1);
            j -= 1;
        }
    }
    ds
}

fn one_line(text: &str, d: &Directive) -> String {
    text[d.span.clone()]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The site for `domain` and its route; `None` when no site serves it on 443.
pub fn site(files: &Files, domain: &str) -> Option<FrontSite> {
    let parsed: Vec<(&str, Caddyfile)> = files
        .0
        .iter()
        .filter_map(|(p, t)| Some((p.as_str(), Caddyfile::parse(t).ok()?)))
        .collect();
    let (file, c) = parsed.iter().find(|(_, c)| c.site_for(domain).is_some())?;
    let site = c.site_for(domain)?;
    let mut ignored = Vec::new();
    for (f, other) in &parsed {
        for s in other.sites() {
            let same = f == file && s.span == site.span;
            if !same
                && s.addresses()
                    .iter()
                    .any(|a| a.https_on_443() && a.host_matches(domain))
            {
                ignored.push(format!(
                    "{f}:{}: another site for {domain} on 443 (Caddy refuses the configuration: \
                     ambiguous site definition; the first is {file}:{})",
                    s.line, site.line
                ));
            }
        }
    }
    use crate::formats::caddyfile::CertSource;
    let certificate = match c.cert_source(site) {
        CertSource::Files { cert, key, line } => SiteCertificate::File {
            path: cert,
            key: Some(key),
            at: format!("{file}:{line}"),
        },
        CertSource::Automatic => SiteCertificate::ByServer(format!(
            "{file}:{}: Caddy obtains and renews the certificate itself (automatic HTTPS)",
            site.line
        )),
        CertSource::Internal => SiteCertificate::ByServer(format!(
            "{file}:{}: Caddy's own local CA issues the certificate (browsers do not trust it \
             without an exception)",
            site.line
        )),
        CertSource::NotManaged { line } => SiteCertificate::Missing(format!(
            "{file}:{line}: auto_https is off and the site names no certificate (tls CERT KEY)"
        )),
        CertSource::Unknown { import } => SiteCertificate::Unknown(format!(
            "{file}:{}: the certificate may come from the imported {import}, which is not read",
            site.line
        )),
    };
    Some(FrontSite {
        kind: Kind::Caddy,
        at: format!("{file}:{}", site.line),
        ignored,
        route: route(file, c, site),
        certificate,
    })
}

/// The host name of the first site on 443 that names the WebSocket path (whether or not
/// its route serves it: the audit then says why not), else of the first whose route serves
/// it anyway (a catch-all `reverse_proxy`), and where it was read: the domain when none was
/// given. A site that only proxies everything to an app is the weaker guess, so a site with
/// a route of its own for the path wins wherever it is in the files.
pub fn domain_with_route(files: &Files) -> Option<(String, String)> {
    // (names the path, host, where), in the order the files hold them.
    let mut found: Vec<(bool, String, String)> = Vec::new();
    for (path, text) in &files.0 {
        let Ok(c) = Caddyfile::parse(text) else {
            continue;
        };
        for s in c.sites() {
            let r = route(path, &c, s);
            let names_path = with_snippets(&c, s)
                .children()
                .any(|d| text[d.span.clone()].contains(WS_PATH));
            if !(r.reached.is_ok() && r.target.is_some() || names_path) {
                continue;
            }
            if let Some(a) = s
                .addresses()
                .into_iter()
                .find(|a| a.https_on_443() && !a.host.is_empty() && !a.host.contains('*'))
            {
                found.push((names_path, a.host, format!("the site at {path}:{}", s.line)));
            }
        }
    }
    let pick = found
        .iter()
        .position(|(named, ..)| *named)
        .or_else(|| (!found.is_empty()).then_some(0))?;
    let (_, host, at) = found.swap_remove(pick);
    Some((host, at))
}

/// The site with each `import NAME` of a snippet the same file defines replaced by the
/// snippet's lines, as Caddy pastes them in (one level; snippet arguments are not filled in).
fn with_snippets(c: &Caddyfile, site: &Directive) -> Directive {
    let mut out = site.clone();
    if let Some(b) = out.block.as_mut() {
        b.children = b
            .children
            .iter()
            .flat_map(|n| match n {
                Node::Directive(d) if d.name() == Some("import") => d
                    .arg(0)
                    .and_then(|name| c.snippet(name))
                    .and_then(|s| s.block.as_ref())
                    .map_or_else(|| vec![n.clone()], |b| b.children.clone()),
                _ => vec![n.clone()],
            })
            .collect();
    }
    out
}

/// The site's route for the WebSocket path, judged (`c` is the file the site is in).
pub fn route(file: &str, c: &Caddyfile, site: &Directive) -> Route {
    let text = c.text.as_str();
    let expanded = with_snippets(c, site);
    let site = &expanded;
    let site_at = format!("{file}:{}", site.line);
    let at = |d: &Directive| format!("{file}:{}: {}", d.line, words(d).join(" "));
    let site_scope = [site];
    // The `handle` that gets the path, in Caddy's order; else a reverse_proxy of the site.
    let handles = caddy_order(
        site.children()
            .filter(|d| matches!(d.name(), Some("handle" | "handle_path")) && d.block.is_some())
            .filter(|d| takes(d, &site_scope))
            .collect(),
        &site_scope,
    );
    // Without one, the first `route` block that takes the path (Caddy runs `route` after
    // every handle, and its contents in the order written, unsorted).
    let routes: Vec<&Directive> = site
        .children()
        .filter(|d| d.name() == Some("route") && d.block.is_some())
        .filter(|d| takes(d, &site_scope))
        .collect();
    let literal = handles.is_empty() && !routes.is_empty();
    let handle = handles.first().or(routes.first()).copied();
    let container = handle.unwrap_or(site);
    let scopes: Vec<&Directive> = match handle {
        Some(h) => vec![h, site],
        None => vec![site],
    };
    let candidates: Vec<&Directive> = container
        .children()
        .filter(|d| d.name() == Some("reverse_proxy"))
        .filter(|d| takes(d, &scopes))
        .collect();
    let proxies = if literal {
        candidates
    } else {
        caddy_order(candidates, &scopes)
    };
    let proxy = proxies.first().copied();
    // What Caddy runs before every handle and that takes the path (a redirect, a rewrite).
    let pre: Vec<String> = preemptions(text, site, WS_PATH)
        .into_iter()
        .filter(|p| p.certain && !matches!(p.directive.name(), Some("handle" | "handle_path")))
        .map(|p| {
            format!(
                "{}: runs before every handle and takes {WS_PATH}",
                at(p.directive)
            )
        })
        .collect();
    let reached: Property = match (handle, proxy) {
        _ if !pre.is_empty() => Err(pre),
        (_, Some(_)) => Ok(()),
        (Some(h), None) => {
            let why = if literal {
                ""
            } else {
                " (Caddy sorts handle blocks by path, the longest first)"
            };
            let mut ev = vec![format!(
                "{}: takes {WS_PATH}{why} and proxies nothing there",
                at(h)
            )];
            ev.extend(
                handles
                    .iter()
                    .skip(1)
                    .map(|o| format!("{}: never reached", at(o))),
            );
            Err(ev)
        }
        (None, None) => Err(vec![format!(
            "{site_at}: the site has no handle or reverse_proxy for {WS_PATH}"
        )]),
    };
    let proxy = proxy.filter(|_| reached.is_ok());
    let target = proxy.and_then(|p| {
        upstream(p).map(|(host, port)| Target {
            host,
            port,
            at: at(p),
        })
    });
    let no_target = if target.is_some() {
        Vec::new()
    } else {
        vec![match proxy {
            Some(p) => format!("{}: no upstream dpwizard reads", at(p)),
            None => format!("{site_at}: nothing proxies {WS_PATH}"),
        }]
    };
    let (http11, upgrade, real_ip): (Property, Property, Property) = match proxy {
        None => {
            let none = Err(vec![format!("{site_at}: nothing proxies {WS_PATH}")]);
            (none.clone(), none.clone(), none)
        }
        Some(p) => {
            let h2: Vec<String> = p
                .children()
                .filter(|d| d.name() == Some("transport"))
                .flat_map(|t| t.children())
                .filter(|d| d.name() == Some("versions") && !words(d).contains(&"1.1"))
                .map(|d| {
                    format!(
                        "{file}:{}: {} (no HTTP/1.1 to drawpile-srv: no upgrade)",
                        d.line,
                        one_line(text, d)
                    )
                })
                .chain(
                    p.arg(0)
                        .filter(|u| u.starts_with("h2c://"))
                        .map(|_| format!("{}: h2c:// speaks HTTP/2, not HTTP/1.1", at(p))),
                )
                .collect();
            let dropped: Vec<String> = sub(p, "header_up")
                .into_iter()
                .filter(|(_, w)| {
                    w.get(1).is_some_and(|h| {
                        let h = h.to_ascii_lowercase();
                        h == "-upgrade" || h == "-connection"
                    })
                })
                .map(|(line, w)| format!("{file}:{line}: {} drops the upgrade", w.join(" ")))
                .collect();
            let ip = sub(p, "header_up").into_iter().rev().find(|(_, w)| {
                w.get(1)
                    .is_some_and(|h| h.trim_start_matches('+').eq_ignore_ascii_case("X-Real-IP"))
            });
            let real_ip = match ip {
                // The client's address alone: `{remote}` would add its port.
                Some((_, w))
                    if w.get(2).is_some_and(|v| {
                        ["{remote_host}", "{http.request.remote.host}", "{client_ip}"].contains(v)
                    }) =>
                {
                    Ok(())
                }
                Some((line, w)) => Err(vec![format!(
                    "{file}:{line}: {}: not the client's address",
                    w.join(" ")
                )]),
                None => Err(vec![format!(
                    "{}: no `header_up X-Real-IP {{remote_host}}` (Caddy sends X-Forwarded-For \
                     only)",
                    at(p)
                )]),
            };
            (
                if h2.is_empty() { Ok(()) } else { Err(h2) },
                if dropped.is_empty() {
                    Ok(())
                } else {
                    Err(dropped)
                },
                real_ip,
            )
        }
    };
    Route {
        kind: Kind::Caddy,
        at: proxy.map_or(site_at.clone(), |p| format!("{file}:{}", p.line)),
        target,
        no_target,
        reached,
        origin: origin(file, text, container, handle, proxy, literal, &scopes),
        http11,
        upgrade,
        real_ip,
        switches: Ok(()),
    }
}

/// The `name` lines of a block: (line, words).
fn sub<'a>(p: &'a Directive, name: &str) -> Vec<(usize, Vec<&'a str>)> {
    p.children()
        .filter(|d| d.name() == Some(name))
        .map(|d| (d.line, words(d)))
        .collect()
}

/// `reverse_proxy [matcher] UPSTREAM…` (or `to` in its block) → (host, port).
fn upstream(p: &Directive) -> Option<(String, Option<u16>)> {
    let ws = words(p);
    let skip = if matcher(p).is_some() { 2 } else { 1 };
    let first = ws
        .get(skip)
        .filter(|w| **w != "{")
        .map(|w| w.to_string())
        .or_else(|| {
            p.children()
                .find(|d| d.name() == Some("to"))
                .and_then(|d| d.arg(0).map(str::to_string))
        })?;
    let (scheme, rest) = match first.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r.to_string()),
        None => ("http".to_string(), first.clone()),
    };
    let (host, port) = super::route::split_authority(&rest)?;
    // `:27751` dials this host.
    let host = if host.is_empty() {
        "localhost".into()
    } else {
        host
    };
    let port = port.or((scheme == "https").then_some(443));
    Some((host, port))
}

/// The Origin rules of the route: `respond`/`error`/`abort` on a matcher that tests the
/// Origin, in the route's block (Caddy runs them before `reverse_proxy`), and a route whose
/// own matcher only lets some origins through.
fn origin(
    file: &str,
    text: &str,
    container: &Directive,
    handle: Option<&Directive>,
    proxy: Option<&Directive>,
    literal: bool,
    scopes: &[&Directive],
) -> OriginRules {
    let mut out = OriginRules::default();
    let def_text = |d: &Directive| -> String {
        match matcher(d).filter(|m| m.starts_with('@')) {
            Some(name) => definition(name, scopes)
                .map(|m| format!("{} + ", one_line(text, m)))
                .unwrap_or_default(),
            None => String::new(),
        }
    };
    let mut push = |d: &Directive, cs: Vec<Cond>, negate: bool, shown: String| {
        let at = format!("{file}:{}", d.line);
        if holds(&cs, "").is_none() || holds(&cs, WEB).is_none() {
            out.unreadable.push(format!("{at}: {shown}"));
            return;
        }
        out.rules.push(OriginRule::new(at, shown, move |o| {
            holds(&cs, o).unwrap_or(false) != negate
        }));
    };
    // In a `route` block only what is written before the proxy runs before it.
    let before_proxy =
        |d: &Directive| !literal || proxy.is_none_or(|p| d.span.start < p.span.start);
    for d in container
        .children()
        .filter(|d| matches!(d.name(), Some("respond" | "error" | "abort")))
        .filter(|d| before_proxy(d))
    {
        let Some(cs) = matcher_conds(d, scopes) else {
            continue;
        };
        if matcher(d).is_some() && mentions_origin(&cs) {
            let shown = format!("{}{}", def_text(d), one_line(text, d));
            push(d, cs, false, shown);
        }
    }
    // A route that only matches some origins refuses the others (they never reach it).
    for d in handle.into_iter().chain(proxy) {
        if let Some(cs) = matcher_conds(d, scopes)
            && mentions_origin(&cs)
        {
            let shown = format!(
                "{}{} (only these origins reach the route)",
                def_text(d),
                words(d).join(" ")
            );
            push(d, cs, true, shown);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIRROR: &str = "https://web.foxdice.cn";
    const EVIL: &str = "https://evil.example";

    #[test]
    fn the_domain_is_the_site_that_names_the_path_before_one_that_proxies_everything() {
        let files = |text: &str| Files(vec![("/etc/caddy/Caddyfile".into(), text.into())]);
        let app = "app.example {\n\treverse_proxy 127.0.0.1:9000\n}\n";
        let ws = "d.example {\n\treverse_proxy /drawpile-web/ws 127.0.0.1:27751\n}\n";
        for text in [format!("{app}\n{ws}"), format!("{ws}\n{app}")] {
            let (host, _) = domain_with_route(&files(&text)).unwrap();
            assert_eq!(host, "d.example", "{text}");
        }
        // Only a catch-all: that site (its route does reach drawpile-srv's path).
        assert_eq!(
            domain_with_route(&files(app)),
            Some((
                "app.example".to_string(),
                "the site at /etc/caddy/Caddyfile:1".to_string()
            ))
        );
        assert_eq!(domain_with_route(&files("")), None);
    }

    fn judge(site_body: &str) -> FrontSite {
        let text = format!(
            "{{\n\temail a@d.example\n}}\n\nother.example {{\n\trespond 404\n}}\n\nd.example {{\n{site_body}}}\n"
        );
        site(
            &Files(vec![("/etc/caddy/Caddyfile".into(), text)]),
            "d.example",
        )
        .expect("the site")
    }

    /// Written in another style than dpwizard's: a one-line path matcher, the Origin rule
    /// as a regex on the route's own matcher.
    const HAND: &str = "\troot * /srv/www\n\
\t@ws {\n\t\tpath /drawpile-web/ws\n\t\tnot header_regexp Origin ^https://(?:evil|spam)\\.\n\t}\n\
\thandle @ws {\n\t\treverse_proxy 127.0.0.1:27751 {\n\t\t\theader_up X-Real-IP {remote_host}\n\t\t}\n\t}\n\
\thandle {\n\t\tfile_server\n\t}\n";

    #[test]
    fn dpwizards_block_and_a_hand_written_route_hold_every_property() {
        let block = crate::plan::caddy::render_block(
            &crate::plan::caddy::BlockSpec {
                upstream_host: "127.0.0.1".into(),
                upstream_port: 27751,
                extra_origins: vec!["https://x.example.org".into()],
            },
            "\t",
        );
        let s = judge(&format!("\treverse_proxy 127.0.0.1:8080\n{block}"));
        assert_eq!(s.at, "/etc/caddy/Caddyfile:9");
        let r = &s.route;
        assert!(r.reached.is_ok() && r.http11.is_ok() && r.upgrade.is_ok());
        assert!(r.real_ip.is_ok());
        let t = r.target.as_ref().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", Some(27751)));
        assert_eq!(
            t.at,
            "/etc/caddy/Caddyfile:23: reverse_proxy 127.0.0.1:27751"
        );
        for ok in ["", WEB, MIRROR, "https://x.example.org"] {
            assert!(r.origin.refused_by(ok).is_none(), "{ok}");
        }
        assert!(r.origin.refused_by(EVIL).is_some());
        assert_eq!(r.origin.extra_origins(), vec!["https://x.example.org"]);

        let r = judge(HAND).route;
        assert!(r.reached.is_ok(), "{:?}", r.reached);
        assert_eq!(r.at, "/etc/caddy/Caddyfile:16");
        assert!(r.origin.refused_by("").is_none());
        assert!(r.origin.refused_by(WEB).is_none());
        assert!(r.origin.refused_by(EVIL).is_some());
    }

    #[test]
    fn a_regex_that_needs_an_origin_refuses_the_desktop_app() {
        let body = "\t@bad not header_regexp Origin ^https://web\\.drawpile\\.net$\n\thandle /drawpile-web/ws {\n\t\trespond @bad 403\n\t\treverse_proxy localhost:27751\n\t}\n";
        let r = judge(body).route;
        assert_eq!(
            r.origin.refused_by("").map(|x| x.at.as_str()),
            Some("/etc/caddy/Caddyfile:12")
        );
        assert!(r.origin.refused_by(MIRROR).is_some());
        assert!(r.origin.refused_by(WEB).is_none());
        assert!(r.real_ip.unwrap_err()[0].contains("no `header_up X-Real-IP {remote_host}`"));
    }

    #[test]
    fn what_runs_first_keeps_the_route_from_being_reached() {
        let body = "\tredir https://www.d.example{uri}\n\thandle /drawpile-web/ws {\n\t\treverse_proxy 127.0.0.1:27751\n\t}\n";
        assert_eq!(
            judge(body).route.reached.unwrap_err(),
            vec![
                "/etc/caddy/Caddyfile:10: redir https://www.d.example{uri}: runs before every \
                 handle and takes /drawpile-web/ws"
            ]
        );
        // A named matcher without a single path sorts with the path-matched handles in
        // file order: this one comes first and serves files.
        let body = "\t@site not path /api/*\n\thandle @site {\n\t\tfile_server\n\t}\n\thandle /drawpile-web/ws {\n\t\treverse_proxy 127.0.0.1:27751\n\t}\n";
        let r = judge(body).route;
        assert_eq!(
            r.reached.unwrap_err(),
            vec![
                "/etc/caddy/Caddyfile:11: handle @site: takes /drawpile-web/ws (Caddy sorts \
                 handle blocks by path, the longest first) and proxies nothing there",
                "/etc/caddy/Caddyfile:14: handle /drawpile-web/ws: never reached"
            ]
        );
        assert!(r.target.is_none());
        // A catch-all `handle /*` sorts after the longer path: no problem.
        let body = "\thandle /* {\n\t\tfile_server\n\t}\n\thandle /drawpile-web/ws {\n\t\treverse_proxy 127.0.0.1:27751\n\t}\n";
        assert!(judge(body).route.reached.is_ok());
    }

    #[test]
    fn site_level_directives_without_handle() {
        // The shortest style: a matcher on reverse_proxy, the app's catch-all after it
        // (Caddy sorts the path-matched one first), respond before proxy by directive order.
        let body = "\treverse_proxy 127.0.0.1:8080\n\t@ws path /drawpile-web/ws\n\t@bad {\n\t\theader_regexp Origin .+\n\t\tnot {\n\t\t\theader Origin https://web.drawpile.net\n\t\t\theader Origin https://web.foxdice.cn\n\t\t}\n\t}\n\trespond @bad 403\n\treverse_proxy @ws 127.0.0.1:27751 {\n\t\theader_up X-Real-IP {remote_host}\n\t}\n";
        let r = judge(body).route;
        assert!(r.reached.is_ok(), "{:?}", r.reached);
        assert_eq!(r.at, "/etc/caddy/Caddyfile:20");
        assert_eq!(r.target.unwrap().port, Some(27751));
        assert!(r.origin.refused_by("").is_none());
        assert!(r.origin.refused_by(MIRROR).is_none());
        assert!(r.origin.refused_by(EVIL).is_some());
    }

    #[test]
    fn route_blocks_run_in_the_order_written() {
        let body = "\t@bad {\n\t\theader_regexp Origin .+\n\t\tnot {\n\t\t\theader Origin https://web.drawpile.net\n\t\t\theader Origin https://web.foxdice.cn\n\t\t}\n\t}\n\troute /drawpile-web/ws {\n\t\trespond @bad 403\n\t\treverse_proxy 127.0.0.1:27751\n\t}\n\tfile_server\n";
        let r = judge(body).route;
        assert!(r.reached.is_ok(), "{:?}", r.reached);
        assert_eq!(r.at, "/etc/caddy/Caddyfile:19");
        assert!(r.origin.refused_by(EVIL).is_some());
        assert!(r.origin.refused_by("").is_none());
        // The 403 written after the proxy never runs.
        let late = body.replace(
            "\t\trespond @bad 403\n\t\treverse_proxy 127.0.0.1:27751\n",
            "\t\treverse_proxy 127.0.0.1:27751\n\t\trespond @bad 403\n",
        );
        let r = judge(&late).route;
        assert!(r.origin.refused_by(EVIL).is_none(), "{:?}", r.origin);
        let empty = body.replace("\t\treverse_proxy 127.0.0.1:27751\n", "");
        assert_eq!(
            judge(&empty).route.reached.unwrap_err(),
            vec![
                "/etc/caddy/Caddyfile:17: route /drawpile-web/ws: takes /drawpile-web/ws and proxies nothing there"
            ]
        );
    }

    #[test]
    fn a_route_in_a_snippet_counts_where_it_is_imported() {
        let text = "(ws) {\n\thandle /drawpile-web/ws {\n\t\treverse_proxy 127.0.0.1:27751\n\t}\n}\n\nd.example {\n\timport ws\n\tfile_server\n}\n";
        let s = site(&Files(vec![("/c".into(), text.into())]), "d.example").unwrap();
        assert!(s.route.reached.is_ok(), "{:?}", s.route.reached);
        assert_eq!(
            s.route.target.unwrap().at,
            "/c:3: reverse_proxy 127.0.0.1:27751"
        );
    }

    #[test]
    fn x_real_ip_is_the_clients_address_alone() {
        let with = |v: &str| {
            judge(&format!("\thandle /drawpile-web/ws {{\n\t\treverse_proxy 127.0.0.1:27751 {{\n\t\t\theader_up X-Real-IP {v}\n\t\t}}\n\t}}\n")).route.real_ip
        };
        assert!(with("{client_ip}").is_ok());
        assert!(with("{http.request.remote.host}").is_ok());
        assert_eq!(
            with("{remote}").unwrap_err(),
            vec!["/etc/caddy/Caddyfile:12: header_up X-Real-IP {remote}: not the client's address"]
        );
    }

    #[test]
    fn http2_only_transport_breaks_the_upgrade() {
        let body = "\thandle /drawpile-web/ws {\n\t\treverse_proxy 127.0.0.1:27751 {\n\t\t\ttransport http {\n\t\t\t\tversions h2c\n\t\t\t}\n\t\t\theader_up X-Real-IP {remote_host}\n\t\t}\n\t}\n";
        let r = judge(body).route;
        assert_eq!(
            r.http11.unwrap_err(),
            vec!["/etc/caddy/Caddyfile:13: versions h2c (no HTTP/1.1 to drawpile-srv: no upgrade)"]
        );
        assert!(r.real_ip.is_ok());
        let none = judge("\tfile_server\n").route;
        assert_eq!(
            none.reached.unwrap_err(),
            vec![
                "/etc/caddy/Caddyfile:9: the site has no handle or reverse_proxy for /drawpile-web/ws"
            ]
        );
    }
}
