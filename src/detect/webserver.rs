//! Web servers: which are installed (nginx, Apache, Caddy, lighttpd, HAProxy, Traefik),
//! their versions, and which one serves :80 and :443 — from the live listeners when they
//! can be seen, else from each server's configuration.

use serde::Serialize;

use super::Ctx;
use super::apache::ApacheFacts;
use super::caddy::CaddyFacts;
use super::network::NetworkFacts;
use super::nginx::NginxFacts;

/// (name, binaries to look for, version arguments, process names when running).
type Known = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);
const KNOWN: &[Known] = &[
    ("nginx", &["nginx"], &["-v"], &["nginx"]),
    (
        "apache",
        &["apache2", "httpd"],
        &["-v"],
        &["apache2", "httpd"],
    ),
    ("caddy", &["caddy"], &["version"], &["caddy"]),
    ("lighttpd", &["lighttpd"], &["-v"], &["lighttpd"]),
    ("haproxy", &["haproxy"], &["-v"], &["haproxy"]),
    ("traefik", &["traefik"], &["version"], &["traefik"]),
];

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct WebServer {
    /// `nginx`, `apache`, `caddy`, `lighttpd`, `haproxy`, `traefik`.
    pub name: String,
    pub binary: Option<String>,
    pub version: Option<String>,
    /// true/false from the live listeners, null when they cannot be seen.
    pub listens_80: Option<bool>,
    pub listens_443: Option<bool>,
    /// Its configuration has a server/vhost/site on 80 (whether or not it runs).
    pub serves_80_by_config: bool,
    /// Its configuration has a server/vhost/site on 443.
    pub serves_443_by_config: bool,
}

/// Pulls the first `X.Y[.Z]` version out of a version banner.
pub fn parse_version(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '/' || c == ',' || c == '(')
        .map(|w| w.trim_start_matches('v'))
        .find(|w| {
            let mut parts = w.split('.');
            let (a, b) = (parts.next(), parts.next());
            a.is_some_and(|a| !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()))
                && b.is_some_and(|b| b.bytes().next().is_some_and(|c| c.is_ascii_digit()))
        })
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
}

pub async fn detect(ctx: &Ctx) -> Vec<WebServer> {
    let found: Vec<(&str, std::path::PathBuf, &[&str])> = KNOWN
        .iter()
        .filter_map(|(name, bins, args, _)| {
            bins.iter()
                .find_map(|b| ctx.host.which(b))
                .map(|p| (*name, p, *args))
        })
        .collect();
    let runs = found.iter().map(|(name, bin, args)| async move {
        if !ctx.host.runs_target_programs() {
            let packages = ctx.packages();
            let program = super::packages::packages_of(name);
            ctx.probes.skipped(
                format!("{name} version ({})", bin.display()),
                super::packages::not_run(name, packages),
            );
            return WebServer {
                name: name.to_string(),
                binary: Some(bin.display().to_string()),
                version: packages.upstream_version(program),
                ..Default::default()
            };
        }
        let out = ctx
            .host
            .run(ctx.host.command(bin).args(args.iter().copied()))
            .await;
        ctx.probes
            .command(format!("{name} version ({})", bin.display()), &out, &[0]);
        // nginx prints its version on stderr.
        let text = format!("{}\n{}", out.stdout_str(), out.stderr_str());
        WebServer {
            name: name.to_string(),
            binary: Some(bin.display().to_string()),
            version: out.success().then(|| parse_version(&text)).flatten(),
            ..Default::default()
        }
    });
    futures_util::future::join_all(runs).await
}

/// Decides `listens_80/443` from the live listeners where visible, and the by-config flags.
pub fn attribute_listeners(
    servers: &mut Vec<WebServer>,
    network: &NetworkFacts,
    nginx: &NginxFacts,
    apache: &ApacheFacts,
    caddy: &CaddyFacts,
) {
    // A configured server whose binary is not on this root still counts by its config.
    for (name, configured) in [
        ("nginx", nginx.conf_path.is_some()),
        ("apache", apache.conf_path.is_some()),
        ("caddy", caddy.caddyfile.is_some()),
    ] {
        if configured && !servers.iter().any(|s| s.name == name) {
            servers.push(WebServer {
                name: name.to_string(),
                ..Default::default()
            });
        }
    }
    for s in servers.iter_mut() {
        let (by80, by443) = match s.name.as_str() {
            "nginx" => (
                nginx
                    .servers
                    .iter()
                    .any(|x| x.listen.iter().any(|l| l.port == Some(80))),
                nginx
                    .servers
                    .iter()
                    .any(|x| x.listen.iter().any(|l| l.port == Some(443))),
            ),
            "apache" => (
                apache.vhosts.iter().any(|v| v.port == Some(80)),
                apache.vhosts.iter().any(|v| v.port == Some(443)),
            ),
            "caddy" => (
                // Caddy redirects HTTP to HTTPS on 80 for every HTTPS site.
                !caddy.sites.is_empty(),
                caddy.sites.iter().any(|x| x.serves_443()),
            ),
            _ => (false, false),
        };
        s.serves_80_by_config = by80;
        s.serves_443_by_config = by443;
        if network.visible {
            let procs: &[&str] = KNOWN
                .iter()
                .find(|(n, ..)| *n == s.name)
                .map(|(.., p)| *p)
                .unwrap_or(&[]);
            let owns = |port: u16| {
                let on_port: Vec<_> = network
                    .listeners
                    .iter()
                    .filter(|l| l.port == port)
                    .collect();
                if on_port
                    .iter()
                    .any(|l| l.process.as_deref().is_some_and(|p| procs.contains(&p)))
                {
                    Some(true)
                } else if on_port.iter().any(|l| l.process.is_none()) {
                    None // someone listens, and we cannot see who
                } else {
                    Some(false)
                }
            };
            s.listens_80 = owns(80);
            s.listens_443 = owns(443);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_banners() {
        assert_eq!(
            parse_version("nginx version: nginx/1.22.1").as_deref(),
            Some("1.22.1")
        );
        assert_eq!(
            parse_version("Server version: Apache/2.4.71 (Debian)\nServer built: x").as_deref(),
            Some("2.4.71")
        );
        assert_eq!(parse_version("2.6.2\n").as_deref(), Some("2.6.2"));
        assert_eq!(
            parse_version("v2.7.6 h1:w0NymbG2").as_deref(),
            Some("2.7.6")
        );
        assert_eq!(
            parse_version("lighttpd/1.4.69 (ssl) - a light and fast webserver").as_deref(),
            Some("1.4.69")
        );
        assert_eq!(
            parse_version("HAProxy version 2.6.12-1+deb12u1 2023/12/16").as_deref(),
            Some("2.6.12-1+deb12u1")
        );
        assert_eq!(
            parse_version("Version:      2.10.4\nCodename: x").as_deref(),
            Some("2.10.4")
        );
        assert_eq!(parse_version("garbage"), None);
    }
}
