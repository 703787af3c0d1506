//! nginx in front, on the host or in a container: which server block serves a domain (as
//! nginx chooses it), which location gets `/drawpile-web/ws`, and that location as a
//! neutral [`Route`]. The one definition the audit, the planner and the wizard share.

use crate::detect::nginx::{NginxDirective, NginxLocation, NginxServer};

use super::route::{OriginRule, OriginRules, Property, Route, Target};
use super::{Kind, WS_PATH};

/// `proxy_pass_*` switches that, when turned off above, are inherited by the location and
/// break the WebSocket upgrade; a location turns them back on.
pub const REVERTIBLE_SWITCHES: &[&str] = &[
    "proxy_pass_request_headers",
    "proxy_pass_request_body",
    "proxy_pass_trailers",
];

/// How a `server_name` covers a host name, best first, as nginx ranks them: the exact name,
/// the longest leading wildcard (`*.example.com`, `.example.com`), the longest trailing
/// wildcard (`www.example.*`), the first regex (`~^…`) in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameMatch {
    Exact,
    /// Ranked by the wildcard's length: longer is better (stored negated to sort first).
    Leading(std::cmp::Reverse<usize>),
    Trailing(std::cmp::Reverse<usize>),
    Regex,
}

/// Whether one `server_name` covers `host`, and how (nginx's server_name rules: names are
/// case-insensitive; `*.example.com` covers every name below example.com, at any depth;
/// `.example.com` also example.com itself; `www.example.*` any ending; `~` a regex).
pub fn name_match(pattern: &str, host: &str) -> Option<NameMatch> {
    let host = host.to_ascii_lowercase();
    let p = pattern.trim_matches('"').to_ascii_lowercase();
    if p.is_empty() || p == "_" {
        return None;
    }
    if let Some(re) = p.strip_prefix('~') {
        // Names are lower-cased before matching: a regex written in capitals still reads.
        return regex::RegexBuilder::new(re)
            .case_insensitive(true)
            .build()
            .ok()?
            .is_match(&host)
            .then_some(NameMatch::Regex);
    }
    if p == host {
        return Some(NameMatch::Exact);
    }
    let leading = |suffix: &str| {
        // `*.example.com` and `.example.com` both cover `a.b.example.com`.
        host.strip_suffix(suffix)
            .is_some_and(|head| !head.is_empty() && head.ends_with('.'))
    };
    if let Some(rest) = p.strip_prefix("*.") {
        return leading(rest).then_some(NameMatch::Leading(std::cmp::Reverse(p.len())));
    }
    if let Some(rest) = p.strip_prefix('.') {
        return (host == rest || leading(rest))
            .then_some(NameMatch::Leading(std::cmp::Reverse(p.len())));
    }
    if let Some(head) = p.strip_suffix(".*") {
        return host
            .strip_prefix(head)
            .is_some_and(|tail| tail.len() > 1 && tail.starts_with('.'))
            .then_some(NameMatch::Trailing(std::cmp::Reverse(p.len())));
    }
    None
}

/// The best way any of the server's names covers `host`.
fn server_match(s: &NginxServer, host: &str) -> Option<NameMatch> {
    s.server_names
        .iter()
        .filter_map(|n| name_match(n, host))
        .min()
}

/// The server listens on 443 with TLS.
pub fn listens_tls_443(s: &NginxServer) -> bool {
    s.listen
        .iter()
        .any(|l| l.port == Some(443) && (l.ssl || s.ssl))
}

/// A server block without a name (or only `_`/`""`): it gets every request for its listen
/// address that no named server takes (dpserver's default.conf has no server_name).
pub fn is_catch_all(s: &NginxServer) -> bool {
    s.server_names
        .iter()
        .all(|n| n.is_empty() || n == "_" || n == "\"\"")
}

/// How the site for a domain was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChosenBy {
    /// One of its names covers the domain.
    Name(NameMatch),
    /// No name does; it is the server nginx falls back to on 443 and it has no name at
    /// all (dpserver's default.conf). A named server for another domain is never taken.
    CatchAll,
}

/// The TLS server on 443 that serves `domain`, as nginx chooses it: the best name match;
/// else the server nginx falls back to (the `default_server` on 443, else the first 443
/// server) when that one has no name at all.
pub fn site_for<'a>(
    servers: impl Iterator<Item = &'a NginxServer> + Clone,
    domain: &str,
) -> Option<(&'a NginxServer, ChosenBy)> {
    let on_443 = || servers.clone().filter(|s| listens_tls_443(s));
    // min_by_key keeps the first of equals: file order among regexes and ties.
    let by_name = on_443()
        .filter_map(|s| server_match(s, domain).map(|m| (s, m)))
        .min_by_key(|(_, m)| *m);
    if let Some((s, m)) = by_name {
        return Some((s, ChosenBy::Name(m)));
    }
    on_443()
        .find(|s| {
            s.listen
                .iter()
                .any(|l| l.port == Some(443) && l.default_server)
        })
        .or_else(|| on_443().next())
        .filter(|s| is_catch_all(s))
        .map(|s| (s, ChosenBy::CatchAll))
}

/// The TLS servers on 443 that claim `domain` with the best name nginx finds for it (the
/// same exact name, or equally long wildcards), in file order: nginx uses the first and
/// warns "conflicting server name" about the rest, whose locations are never used.
pub fn sites_named<'a>(
    servers: impl Iterator<Item = &'a NginxServer> + Clone,
    domain: &str,
) -> Vec<&'a NginxServer> {
    let matched = || {
        servers
            .clone()
            .filter(|s| listens_tls_443(s))
            .filter_map(|s| server_match(s, domain).map(|m| (s, m)))
    };
    let Some(best) = matched().map(|(_, m)| m).min() else {
        return Vec::new();
    };
    // Regexes are tried in order and the first wins: a second one is no conflict.
    let n = if best == NameMatch::Regex {
        1
    } else {
        usize::MAX
    };
    matched()
        .filter(|(_, m)| *m == best)
        .map(|(s, _)| s)
        .take(n)
        .collect()
}

/// A location that gets the WebSocket path exactly as the client asks for it.
pub fn serves_ws_path(l: &NginxLocation) -> bool {
    match l.modifier.as_str() {
        "" | "=" | "^~" => l.path == WS_PATH,
        _ => false,
    }
}

/// A location that looks meant for the WebSocket but will not get its requests
/// (`/drawpile-web/ws/`, `/drawpile`, a regex…).
pub fn near_miss(l: &NginxLocation) -> bool {
    !serves_ws_path(l) && l.path.contains("drawpile")
}

/// The server's location for the WebSocket path.
pub fn ws_location(s: &NginxServer) -> Option<&NginxLocation> {
    s.locations.iter().find(|l| serves_ws_path(l))
}

fn at(d: &NginxDirective) -> String {
    format!("{}:{}: {} {}", d.file, d.line, d.name, d.args.join(" "))
}

/// The Origin check of a location: every `if ($http_origin OP VALUE) { return 4xx; }` (or
/// `deny`), evaluated with nginx's semantics: PCRE-compatible regexes for `~`, `~*`, `!~`,
/// `!~*`, string equality for `=`/`!=`.
pub fn origin_rules(location: &[NginxDirective]) -> OriginRules {
    let mut out = OriginRules::default();
    for d in location.iter().filter(|d| d.name == "if") {
        let at = format!("{}:{}", d.file, d.line);
        // Arguments arrive split and unquoted: `($http_origin`, `!~`, `^...$`, `)`.
        let joined = d.args.join(" ");
        let inner = joined.trim().trim_start_matches('(').trim_end_matches(')');
        let inner = inner.trim();
        let Some(rest) = inner.strip_prefix("$http_origin") else {
            continue;
        };
        let refuses = d.block.iter().any(|b| {
            (b.name == "return" && b.args.first().is_some_and(|c| c.starts_with('4')))
                || b.name == "deny"
        });
        if !refuses {
            continue;
        }
        let rest = rest.trim();
        let Some(op) = ["!~*", "!~", "~*", "!=", "~", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
        else {
            out.unreadable.push(format!("{at}: if ({inner})"));
            continue;
        };
        let value = rest[op.len()..].trim().to_string();
        let shown = format!("if ($http_origin {op} \"{value}\")");
        if op.contains('~') {
            let Ok(re) = regex::RegexBuilder::new(&value)
                .case_insensitive(op.ends_with('*'))
                .build()
            else {
                out.unreadable.push(format!("{at}: if ({inner})"));
                continue;
            };
            let negated = op.starts_with('!');
            out.rules.push(OriginRule::new(at, shown, move |o| {
                re.is_match(o) != negated
            }));
        } else {
            let negated = op == "!=";
            out.rules
                .push(OriginRule::new(at, shown, move |o| (o == value) != negated));
        }
    }
    out
}

/// `proxy_pass`'s host and port (`None` port: the URL names none); `None` without one.
pub fn proxy_target(directives: &[NginxDirective]) -> Option<Target> {
    let d = directives.iter().find(|d| d.name == "proxy_pass")?;
    let url = d.args.first()?;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let (host, port) = super::route::split_authority(rest)?;
    Some(Target {
        host,
        port,
        at: at(d),
    })
}

/// The value a location gives a header, following nginx's inheritance: a level with any
/// `proxy_set_header` inherits none from above.
fn header<'a>(
    location: &'a [NginxDirective],
    above: &[&'a [NginxDirective]],
    name: &str,
) -> Option<&'a NginxDirective> {
    let find = |ds: &'a [NginxDirective]| {
        ds.iter().find(|d| {
            d.name == "proxy_set_header"
                && d.args.first().is_some_and(|h| h.eq_ignore_ascii_case(name))
        })
    };
    if location.iter().any(|d| d.name == "proxy_set_header") {
        return find(location);
    }
    for ds in above {
        if ds.iter().any(|d| d.name == "proxy_set_header") {
            return find(ds);
        }
    }
    None
}

/// The location as a neutral route: `http_ds` are the `proxy_*` directives at http level,
/// inherited through the server.
pub fn route(
    kind: Kind,
    http_ds: &[NginxDirective],
    server: &NginxServer,
    loc: &NginxLocation,
) -> Route {
    let ds = &loc.directives;
    let loc_at = format!("{}:{}", loc.file, loc.line);
    let server_ds = &server.proxy_directives;
    let effective = |name: &str| -> Option<&NginxDirective> {
        ds.iter()
            .rev()
            .find(|d| d.name == name)
            .or_else(|| server_ds.iter().rev().find(|d| d.name == name))
            .or_else(|| http_ds.iter().rev().find(|d| d.name == name))
    };
    let http11: Property = match effective("proxy_http_version") {
        Some(d) if d.args.first().is_some_and(|a| a == "1.1") => Ok(()),
        Some(d) => Err(vec![at(d)]),
        None => Err(vec![format!(
            "{loc_at}: no proxy_http_version (nginx then uses 1.0)"
        )]),
    };
    let above: [&[NginxDirective]; 2] = [server_ds, http_ds];
    let upgrade = header(ds, &above, "Upgrade");
    let connection = header(ds, &above, "Connection");
    let upgrade_ok = upgrade.is_some_and(|d| d.args.get(1).is_some_and(|a| a == "$http_upgrade"));
    let connection_ok = connection.is_some_and(|d| {
        d.args.get(1).is_some_and(|a| {
            a.eq_ignore_ascii_case("upgrade") || (a.starts_with('$') && a.contains("upgrade"))
        })
    });
    let mut ev = Vec::new();
    match upgrade {
        Some(d) if !upgrade_ok => ev.push(at(d)),
        None => ev.push(format!("{loc_at}: no proxy_set_header Upgrade")),
        _ => {}
    }
    match connection {
        Some(d) if !connection_ok => ev.push(at(d)),
        None => ev.push(format!("{loc_at}: no proxy_set_header Connection")),
        _ => {}
    }
    let upgrade: Property = if upgrade_ok && connection_ok {
        Ok(())
    } else {
        Err(ev)
    };
    let real_ip: Property = match header(ds, &above, "X-Real-IP") {
        Some(d) if d.args.get(1).is_some_and(|a| a.starts_with('$')) => Ok(()),
        Some(d) => Err(vec![at(d)]),
        None => Err(vec![format!("{loc_at}: no proxy_set_header X-Real-IP")]),
    };
    let off: Vec<String> = REVERTIBLE_SWITCHES
        .iter()
        .filter_map(|name| effective(name))
        .filter(|d| d.args.first().is_some_and(|a| a == "off"))
        .map(|d| format!("{} (not turned back on in the location at {loc_at})", at(d)))
        .collect();
    let target = proxy_target(ds);
    Route {
        kind,
        no_target: if target.is_none() {
            vec![format!("{loc_at}: the location has no proxy_pass")]
        } else {
            Vec::new()
        },
        target,
        reached: Ok(()),
        origin: origin_rules(ds),
        at: loc_at,
        http11,
        upgrade,
        real_ip,
        switches: if off.is_empty() { Ok(()) } else { Err(off) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(names: &[&str], default: bool) -> NginxServer {
        NginxServer {
            server_names: names.iter().map(|n| n.to_string()).collect(),
            listen: vec![crate::detect::nginx::NginxListen {
                port: Some(443),
                ssl: true,
                default_server: default,
                ..Default::default()
            }],
            ssl: true,
            ..Default::default()
        }
    }

    fn pick(list: &[&NginxServer], d: &str) -> Option<Vec<String>> {
        site_for(list.iter().copied(), d).map(|(s, _)| s.server_names.clone())
    }

    #[test]
    fn the_server_for_a_domain_follows_nginx_s_choice() {
        let named = server(&["paint.example.com"], false);
        let other = server(&["other.example.com"], false);
        let any = server(&[], false);
        let any_default = server(&["_"], true);
        assert_eq!(
            pick(&[&any, &named], "paint.example.com"),
            Some(vec!["paint.example.com".to_string()])
        );
        // No name covers it: the nameless fallback serves it (dpserver's default.conf)…
        assert_eq!(pick(&[&any], "paint.example.com"), Some(vec![]));
        assert_eq!(
            pick(&[&other, &any_default], "paint.example.com"),
            Some(vec!["_".to_string()])
        );
        // …but a server named for another domain is never taken for this one, even when
        // nginx would fall back to it (the first 443 server).
        assert_eq!(pick(&[&other], "paint.example.com"), None);
        assert_eq!(pick(&[&other, &any], "paint.example.com"), None);
        // A server without TLS on 443 does not serve browsers.
        let mut plain = server(&["paint.example.com"], false);
        plain.listen[0].port = Some(80);
        plain.ssl = false;
        plain.listen[0].ssl = false;
        assert_eq!(pick(&[&plain], "paint.example.com"), None);
    }

    #[test]
    fn names_rank_as_nginx_ranks_them() {
        // nginx: exact, then the longest leading wildcard, then the longest trailing one,
        // then the first regex — whatever the file order.
        let regex = server(&["~^paint\\..*$"], false);
        let trailing = server(&["paint.example.*"], false);
        let short = server(&["*.com"], false);
        let long = server(&["*.example.com"], false);
        let exact = server(&["PAINT.example.com"], false);
        let d = "paint.example.com";
        let all = [&regex, &trailing, &short, &long, &exact];
        assert_eq!(pick(&all, d), Some(vec!["PAINT.example.com".into()]));
        assert_eq!(pick(&all[..4], d), Some(vec!["*.example.com".into()]));
        assert_eq!(pick(&all[..3], d), Some(vec!["*.com".into()]));
        assert_eq!(pick(&all[..2], d), Some(vec!["paint.example.*".into()]));
        assert_eq!(pick(&all[..1], d), Some(vec!["~^paint\\..*$".into()]));
    }

    #[test]
    fn only_equal_best_names_conflict() {
        let exact = server(&["paint.example.com"], false);
        let again = server(&["www.x.org", "paint.example.com"], false);
        let wild = server(&["*.example.com"], false);
        let d = "paint.example.com";
        let names = |list: &[&NginxServer]| sites_named(list.iter().copied(), d).len();
        assert_eq!(names(&[&exact, &wild, &again]), 2);
        // An exact name beats the wildcard: nginx does not warn.
        assert_eq!(names(&[&wild, &exact]), 1);
        assert_eq!(names(&[&wild, &wild]), 2);
        assert_eq!(names(&[]), 0);
    }

    #[test]
    fn wildcards_span_labels_unlike_certificates() {
        assert!(name_match("*.example.com", "a.b.example.com").is_some());
        assert!(name_match("*.example.com", "example.com").is_none());
        assert!(name_match(".example.com", "example.com").is_some());
        assert!(name_match(".example.com", "x.example.com").is_some());
        assert!(name_match("www.example.*", "www.example.org").is_some());
        assert!(name_match("www.example.*", "www.example").is_none());
        assert!(name_match("_", "paint.example.com").is_none());
        assert!(name_match("~^(", "paint.example.com").is_none());
        // A certificate's `*.` covers one label only; that is detect::tls::name_covers.
        assert!(!crate::detect::tls::name_covers(
            "*.example.com",
            "a.b.example.com"
        ));
    }

    fn check(args: &[&str]) -> OriginRules {
        let d = NginxDirective {
            name: "if".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            file: "site".into(),
            line: 3,
            block: vec![NginxDirective {
                name: "return".into(),
                args: vec!["403".into()],
                file: "site".into(),
                line: 3,
                block: vec![],
            }],
        };
        origin_rules(&[d])
    }

    const WEB: &str = "https://web.drawpile.net";
    const MIRROR: &str = "https://web.foxdice.cn";
    const EVIL: &str = "https://evil.example";

    #[test]
    fn the_documented_regex_allows_empty_and_official_only() {
        let c = check(&[
            "($http_origin",
            "!~",
            r"^(https://web\.(drawpile\.net|foxdice\.cn))?$",
            ")",
        ]);
        assert!(c.refused_by("").is_none());
        assert!(c.refused_by(WEB).is_none());
        assert!(c.refused_by(MIRROR).is_none());
        assert!(c.refused_by(EVIL).is_some());
        assert!(c.extra_origins().is_empty());
    }

    #[test]
    fn the_pre_2025_regex_refuses_the_empty_origin() {
        let c = check(&[
            "($http_origin",
            "!~",
            r"^https://web\.(drawpile\.net|foxdice\.cn)$",
            ")",
        ]);
        assert!(c.refused_by("").is_some());
        assert!(c.refused_by(WEB).is_none());
        let c = check(&["($http_origin", "!=", WEB, ")"]);
        assert!(c.refused_by("").is_some());
        assert!(c.refused_by(MIRROR).is_some());
        assert!(c.refused_by(WEB).is_none());
    }

    #[test]
    fn case_insensitive_and_deny_list_styles() {
        let c = check(&["($http_origin", "!~*", r"^(|https://WEB\.drawpile\.net)$)"]);
        assert!(c.refused_by(WEB).is_none());
        assert!(c.refused_by("").is_none());
        assert!(c.refused_by(EVIL).is_some());
        let c = check(&["($http_origin", "~", "evil", ")"]);
        assert!(c.refused_by(EVIL).is_some());
        assert!(c.refused_by(WEB).is_none());
    }

    #[test]
    fn extra_origins_are_read_back_from_the_regex() {
        let c = check(&[
            "($http_origin",
            "!~",
            r"^(https://web\.(drawpile\.net|foxdice\.cn)|https://paint\.example\.org|https://x\.example\.com:8443)?$",
            ")",
        ]);
        assert_eq!(
            c.extra_origins(),
            vec!["https://paint.example.org", "https://x.example.com:8443"]
        );
        assert_eq!(
            check(&["($http_origin", "!~", "^(((", ")"])
                .unreadable
                .len(),
            1
        );
    }
}
