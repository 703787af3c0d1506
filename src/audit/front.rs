//! Apache and Caddy in front: their configuration files, read for the audit (the route is
//! judged from them by `proxy::apache` and `proxy::caddy`, through the same checks as
//! nginx's), and dpwizard's own marked block in the domain's site — present, and byte for
//! byte what dpwizard renders for the upstream and origins it names — kept as evidence.

use serde::Serialize;

use crate::detect::Facts;
use crate::host::Host;
use crate::plan::apache::{self as apache_plan, WsMode};
use crate::plan::caddy::{self as caddy_plan, OFFICIAL_ORIGINS};

/// dpwizard's block in the site of the web server in front.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrontBlock {
    /// `apache` or `caddy` (the detection name).
    pub server: String,
    pub state: BlockState,
    /// `file:line` and what was seen.
    pub evidence: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockState {
    /// What dpwizard writes, unchanged.
    Unchanged,
    /// Markers there, content edited by hand.
    Changed,
    /// The site has no dpwizard block.
    Absent,
}

/// `host[:port]` or `[v6]:port` → (host, port).
fn host_port(s: &str) -> Option<(String, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    Some((
        h.trim_start_matches('[').trim_end_matches(']').to_string(),
        p.parse().ok()?,
    ))
}

/// Judges the block in an Apache file's TLS vhost for `domain`; `None` when the file has
/// no such vhost.
pub fn apache(
    text: &str,
    file: &str,
    domain: &str,
    include: crate::formats::apache::Includes<'_>,
) -> Option<FrontBlock> {
    use crate::formats::apache::Config;
    let c = Config::parse(text).ok()?;
    let v = c.tls_vhost_for(domain, include)?;
    let judged = |state, what: String, line: usize| FrontBlock {
        server: "apache".into(),
        state,
        evidence: format!("{file}:{line}: {what}"),
    };
    let Some(range) = v.managed_block(text) else {
        return Some(judged(
            BlockState::Absent,
            format!("the virtual host for {domain} has no dpwizard block"),
            v.line,
        ));
    };
    let line = c.line_col(range.start).0;
    let block = &text[range];
    // The upstream, the form and the extra origins, as the block names them.
    let spec = (|| {
        let b = Config::parse(block).ok()?;
        let pass = b.nodes.iter().find_map(|n| match n {
            crate::formats::apache::Node::Directive(d) if d.is("ProxyPass") => Some(d),
            _ => None,
        })?;
        let url = pass.arg(1)?;
        let (mode, rest) = match url.split_once("://")? {
            ("ws", r) => (WsMode::Wstunnel, r),
            ("http", r) => (WsMode::Upgrade, r),
            _ => return None,
        };
        let (host, port) = host_port(rest.strip_suffix(apache_plan::WS_PATH)?)?;
        let cond = b.nodes.iter().find_map(|n| match n {
            crate::formats::apache::Node::Directive(d) if d.is("RewriteCond") => d.arg(1),
            _ => None,
        })?;
        let base = crate::plan::nginx::origin_regex(&[]);
        let inner = cond
            .strip_prefix('!')?
            .strip_prefix(base.strip_suffix(")?$")?)?
            .strip_suffix(")?$")?;
        let extra_origins = inner
            .split('|')
            .filter(|o| !o.is_empty())
            .map(|o| o.replace('\\', ""))
            .collect();
        Some(apache_plan::BlockSpec {
            upstream_host: host,
            upstream_port: port,
            extra_origins,
            mode,
        })
    })();
    let indent = v.child_indent(text);
    Some(match spec {
        Some(s) if apache_plan::render_block(&s, &indent) == block => judged(
            BlockState::Unchanged,
            format!(
                "dpwizard's block proxies {} to {}:{}",
                apache_plan::WS_PATH,
                s.upstream_host,
                s.upstream_port
            ),
            line,
        ),
        _ => judged(
            BlockState::Changed,
            "dpwizard's block was edited by hand (it is not what dpwizard writes)".into(),
            line,
        ),
    })
}

/// Judges the block in a Caddyfile's site for `domain`; `None` when the file has no such site.
pub fn caddy(text: &str, file: &str, domain: &str) -> Option<FrontBlock> {
    let c = crate::formats::caddyfile::Caddyfile::parse(text).ok()?;
    let site = c.site_for(domain)?;
    let judged = |state, what: String, line: usize| FrontBlock {
        server: "caddy".into(),
        state,
        evidence: format!("{file}:{line}: {what}"),
    };
    let Some(range) = site.managed_block(text) else {
        return Some(judged(
            BlockState::Absent,
            format!("the site for {domain} has no dpwizard block"),
            site.line,
        ));
    };
    let line = c.line_col(range.start).0;
    let block = &text[range];
    let words = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let upstream = block.lines().find_map(|l| match words(l).as_slice() {
        [rp, hp, brace] if rp == "reverse_proxy" && brace == "{" => host_port(hp),
        _ => None,
    });
    let extra_origins: Vec<String> = block
        .lines()
        .filter_map(|l| match words(l).as_slice() {
            [h, o, v]
                if h == "header" && o == "Origin" && !OFFICIAL_ORIGINS.contains(&v.as_str()) =>
            {
                Some(v.clone())
            }
            _ => None,
        })
        .collect();
    let indent = site.child_indent(text);
    Some(match upstream {
        Some((host, port))
            if caddy_plan::render_block(
                &caddy_plan::BlockSpec {
                    upstream_host: host.clone(),
                    upstream_port: port,
                    extra_origins,
                },
                &indent,
            ) == block =>
        {
            judged(
                BlockState::Unchanged,
                format!("dpwizard's block proxies /drawpile-web/ws to {host}:{port}"),
                line,
            )
        }
        _ => judged(
            BlockState::Changed,
            "dpwizard's block was edited by hand (it is not what dpwizard writes)".into(),
            line,
        ),
    })
}

/// The configuration files of Apache or Caddy when one of them is in front, read through the
/// host (empty for nginx, which detection reads itself): what `proxy::apache` and
/// `proxy::caddy` judge the route from. A file that cannot be read is left out.
pub fn files(host: &Host, facts: &Facts) -> crate::proxy::Files {
    use crate::answers::ProxyServer;
    let paths: Vec<String> = match crate::proxy::front::in_front(facts) {
        ProxyServer::Nginx => Vec::new(),
        ProxyServer::Apache => facts.apache.files.clone(),
        ProxyServer::Caddy if facts.caddy.caddyfile.is_none() => Vec::new(),
        ProxyServer::Caddy => {
            let mut p = vec![crate::plan::front_caddy::CADDYFILE.to_string()];
            p.extend(
                facts
                    .caddy
                    .files
                    .iter()
                    .filter(|f| !p.contains(f))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            p
        }
    };
    crate::proxy::Files(
        paths
            .into_iter()
            .filter_map(|p| host.read_to_string(&p).ok().map(|t| (p, t)))
            .collect(),
    )
}

/// Reads the site of the web server in front (Apache or Caddy) and judges dpwizard's block
/// in it; `None` when nginx is in front, or no site serves the domain.
pub fn observe(host: &Host, facts: &Facts, domain: &str) -> Option<FrontBlock> {
    use crate::answers::ProxyServer;
    let read = |p: &str| host.read_to_string(p).ok();
    match crate::proxy::front::in_front(facts) {
        ProxyServer::Nginx => None,
        ProxyServer::Apache => {
            let include = |p: &str| read(p);
            facts
                .apache
                .files
                .iter()
                .find_map(|f| apache(&read(f)?, f, domain, &include))
        }
        ProxyServer::Caddy => std::iter::once(crate::plan::front_caddy::CADDYFILE.to_string())
            .chain(facts.caddy.files.iter().cloned())
            .find_map(|f| caddy(&read(&f)?, &f, domain)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VHOST: &str = "<VirtualHost *:443>\n\tServerName d.example\n\tSSLEngine on\n\tProxyPass / http://127.0.0.1:8080/\n</VirtualHost>\n";

    fn with_apache_block(extra: &[&str], mode: WsMode) -> String {
        let c = crate::formats::apache::Config::parse(VHOST).unwrap();
        let v = c
            .tls_vhost_for("d.example", &crate::formats::apache::no_includes)
            .unwrap();
        let block = apache_plan::render_block(
            &apache_plan::BlockSpec {
                upstream_host: "127.0.0.1".into(),
                upstream_port: 27751,
                extra_origins: extra.iter().map(|s| s.to_string()).collect(),
                mode,
            },
            &v.child_indent(VHOST),
        );
        crate::formats::apache::set_managed_block(VHOST, v, &block)
    }

    #[test]
    fn apache_blocks_as_written_pass_and_edited_ones_do_not() {
        let judge = |t: &str| {
            apache(
                t,
                "/x.conf",
                "d.example",
                &crate::formats::apache::no_includes,
            )
            .unwrap()
        };
        for mode in [WsMode::Upgrade, WsMode::Wstunnel] {
            for extra in [
                &[][..],
                &["https://draw.example.org:8443", "https://b.example"][..],
            ] {
                let t = with_apache_block(extra, mode);
                let b = judge(&t);
                assert_eq!(b.state, BlockState::Unchanged, "{t}");
                assert_eq!(
                    b.evidence,
                    "/x.conf:4: dpwizard's block proxies /drawpile-web/ws to 127.0.0.1:27751"
                );
            }
        }
        let t = with_apache_block(&[], WsMode::Upgrade);
        let edited = t.replace("RewriteRule ^/drawpile-web/ws - [F]", "# off");
        assert_eq!(judge(&edited).state, BlockState::Changed);
        let b = judge(VHOST);
        assert_eq!(b.state, BlockState::Absent);
        assert_eq!(
            b.evidence,
            "/x.conf:1: the virtual host for d.example has no dpwizard block"
        );
        assert!(
            apache(
                VHOST,
                "/x.conf",
                "other.example",
                &crate::formats::apache::no_includes
            )
            .is_none()
        );
    }

    #[test]
    fn caddy_blocks_as_written_pass_and_edited_ones_do_not() {
        let site = "d.example {\n\tfile_server\n}\n";
        let c = crate::formats::caddyfile::Caddyfile::parse(site).unwrap();
        let s = c.site_for("d.example").unwrap();
        let block = caddy_plan::render_block(
            &caddy_plan::BlockSpec {
                upstream_host: "::1".into(),
                upstream_port: 27751,
                extra_origins: vec!["https://draw.example.org".into()],
            },
            &s.child_indent(site),
        );
        let t = crate::formats::caddyfile::set_managed_block(site, s, &block).unwrap();
        let b = caddy(&t, "/etc/caddy/Caddyfile", "d.example").unwrap();
        assert_eq!(b.state, BlockState::Unchanged, "{t}");
        assert_eq!(
            b.evidence,
            "/etc/caddy/Caddyfile:3: dpwizard's block proxies /drawpile-web/ws to ::1:27751"
        );
        let edited = t.replace("respond @dpw_bad_origin 403", "respond @dpw_bad_origin 200");
        assert_eq!(
            caddy(&edited, "/c", "d.example").unwrap().state,
            BlockState::Changed
        );
        assert_eq!(
            caddy(site, "/c", "d.example").unwrap().state,
            BlockState::Absent
        );
    }
}
