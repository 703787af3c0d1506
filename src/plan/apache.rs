//! Renders what dpwizard adds to Apache 2.4 (Debian layout): the marked block for the
//! domain's TLS virtual host (the Origin rule with the documented meaning, the WebSocket
//! proxy for exactly `/drawpile-web/ws`, X-Real-IP), and the `a2enmod` symlinks for the
//! modules that block needs. RHEL's httpd loads every module from conf.modules.d by default
//! and has no mods-enabled: there the links are not needed (and not planned).

use std::fmt::Write;

use crate::formats::apache::{BEGIN_MARKER, END_MARKER};
use crate::plan::Change;
use crate::plan::nginx::origin_regex;

/// How the WebSocket is proxied, which depends on the Apache version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsMode {
    /// 2.4.47+: `ProxyPass … http://… upgrade=websocket` (mod_proxy_http does the upgrade).
    Upgrade,
    /// Older: `ProxyPass … ws://…`, which needs mod_proxy_wstunnel.
    Wstunnel,
}

impl WsMode {
    /// From `apache2 -v`'s version (`2.4.57`); an unknown version gets the form every 2.4
    /// understands.
    pub fn for_version(version: Option<&str>) -> WsMode {
        let parts: Option<Vec<u32>> =
            version.map(|v| v.split('.').map(|p| p.parse().unwrap_or(0)).collect());
        match parts.as_deref() {
            Some([major, minor, patch, ..]) if (*major, *minor, *patch) >= (2, 4, 47) => {
                WsMode::Upgrade
            }
            _ => WsMode::Wstunnel,
        }
    }
}

/// What the block needs. Strings must already be validated (origins `https://host[:port]`,
/// the upstream an IP address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSpec {
    /// Where drawpile-srv's WebSocket listener is reached from Apache, e.g. `127.0.0.1`.
    pub upstream_host: String,
    pub upstream_port: u16,
    /// Origins allowed besides the official ones, normalised `https://host[:port]`.
    pub extra_origins: Vec<String>,
    pub mode: WsMode,
}

/// The path the browser client opens; fixed by the client.
pub const WS_PATH: &str = "/drawpile-web/ws";

fn upstream(spec: &BlockSpec) -> String {
    let scheme = match spec.mode {
        WsMode::Upgrade => "http",
        WsMode::Wstunnel => "ws",
    };
    let host = if spec.upstream_host.contains(':') {
        format!("[{}]", spec.upstream_host)
    } else {
        spec.upstream_host.clone()
    };
    format!("{scheme}://{host}:{}{WS_PATH}", spec.upstream_port)
}

/// The marked block, each line prefixed by `indent` (the virtual host's child indentation),
/// ending with a newline. The Origin rule: an empty Origin (the desktop app), the official
/// browser client and the extra origins pass; anything else gets 403 before it is proxied
/// (mod_rewrite runs before mod_proxy).
pub fn render_block(spec: &BlockSpec, indent: &str) -> String {
    let mut out = String::new();
    let mut line = |s: &str| {
        let _ = writeln!(out, "{indent}{s}");
    };
    line(BEGIN_MARKER);
    line("# Empty Origin: the desktop app. Others: the browser client only.");
    line("RewriteEngine On");
    line(&format!(
        "RewriteCond %{{HTTP:Origin}} !{}",
        origin_regex(&spec.extra_origins)
    ));
    line(&format!("RewriteRule ^{WS_PATH} - [F]"));
    // mod_rewrite runs before mod_proxy: ending it here keeps the host's own rules (a
    // catch-all `[P]`, a front controller) from taking the path away from ProxyPass.
    line("# Rewriting ends here for this path, so the ProxyPass below gets it.");
    line(&format!("RewriteRule ^{WS_PATH} - [L]"));
    let upgrade = match spec.mode {
        WsMode::Upgrade => " upgrade=websocket",
        WsMode::Wstunnel => "",
    };
    line(&format!("ProxyPass {WS_PATH} {}{upgrade}", upstream(spec)));
    line(&format!("<Location {WS_PATH}>"));
    line("    RequestHeader set X-Real-IP expr=%{REMOTE_ADDR}");
    line("</Location>");
    line(END_MARKER);
    out
}

/// The modules the block needs, by Debian short name, dependencies first.
pub fn needed_modules(mode: WsMode) -> Vec<&'static str> {
    let mut m = vec!["proxy", "proxy_http"];
    if mode == WsMode::Wstunnel {
        m.push("proxy_wstunnel");
    }
    m.extend(["headers", "rewrite"]);
    m
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dir}/{module}.load does not exist: the {module} module is not installed")]
pub struct MissingModule {
    pub module: String,
    pub dir: String,
}

/// What `a2enmod MODULES` would create under `conf_root` (`/etc/apache2`): for each module
/// not enabled yet, and each module its `.load` file names on a `# Depends:` line,
/// `mods-enabled/M.load -> ../mods-available/M.load` and the same for `M.conf` when it
/// exists. `available` and `enabled` are the file names in mods-available and mods-enabled;
/// `load_text` gives a mods-available `.load` file's text (for `# Depends:`).
pub fn module_links(
    conf_root: &str,
    needed: &[&str],
    available: &[String],
    enabled: &[String],
    load_text: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Change>, MissingModule> {
    fn visit(
        m: &str,
        available: &[String],
        load_text: &dyn Fn(&str) -> Option<String>,
        conf_root: &str,
        order: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), MissingModule> {
        if order.iter().any(|o| o == m) || depth > 16 {
            return Ok(());
        }
        let load = format!("{m}.load");
        if !available.contains(&load) {
            return Err(MissingModule {
                module: m.to_string(),
                dir: format!("{conf_root}/mods-available"),
            });
        }
        let deps: Vec<String> = load_text(&load)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().strip_prefix("# Depends:"))
            .flat_map(|d| d.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect();
        for d in deps {
            visit(&d, available, load_text, conf_root, order, depth + 1)?;
        }
        order.push(m.to_string());
        Ok(())
    }
    let mut order = Vec::new();
    for m in needed {
        visit(m, available, load_text, conf_root, &mut order, 0)?;
    }
    let mut out = Vec::new();
    for m in order {
        if enabled.contains(&format!("{m}.load")) {
            continue;
        }
        for ext in ["load", "conf"] {
            let file = format!("{m}.{ext}");
            if available.contains(&file) {
                out.push(Change::Symlink {
                    path: format!("{conf_root}/mods-enabled/{file}"),
                    target: format!("../mods-available/{file}"),
                    why: format!("enables Apache's {m} module (what a2enmod {m} does)"),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mode: WsMode) -> BlockSpec {
        BlockSpec {
            upstream_host: "127.0.0.1".into(),
            upstream_port: 27751,
            extra_origins: vec![],
            mode,
        }
    }

    #[test]
    fn the_block_has_the_documented_meaning() {
        let text = render_block(&spec(WsMode::Upgrade), "\t");
        let expected = [
            "# BEGIN dpwizard",
            "# Empty Origin: the desktop app. Others: the browser client only.",
            "RewriteEngine On",
            r"RewriteCond %{HTTP:Origin} !^(https://web\.(drawpile\.net|foxdice\.cn))?$",
            "RewriteRule ^/drawpile-web/ws - [F]",
            "# Rewriting ends here for this path, so the ProxyPass below gets it.",
            "RewriteRule ^/drawpile-web/ws - [L]",
            "ProxyPass /drawpile-web/ws http://127.0.0.1:27751/drawpile-web/ws upgrade=websocket",
            "<Location /drawpile-web/ws>",
            "    RequestHeader set X-Real-IP expr=%{REMOTE_ADDR}",
            "</Location>",
            "# END dpwizard",
        ];
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), expected.len());
        for (l, e) in lines.iter().zip(expected) {
            assert_eq!(*l, format!("\t{e}"));
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn old_apache_gets_wstunnel_and_extra_origins_extend_the_rule() {
        assert_eq!(WsMode::for_version(Some("2.4.46")), WsMode::Wstunnel);
        assert_eq!(WsMode::for_version(Some("2.4.47")), WsMode::Upgrade);
        assert_eq!(WsMode::for_version(Some("2.4.71")), WsMode::Upgrade);
        assert_eq!(WsMode::for_version(None), WsMode::Wstunnel);
        let mut s = spec(WsMode::Wstunnel);
        s.upstream_host = "::1".into();
        s.extra_origins = vec!["https://draw.example.org:8443".into()];
        let text = render_block(&s, "");
        assert!(text.contains("\nProxyPass /drawpile-web/ws ws://[::1]:27751/drawpile-web/ws\n"));
        assert!(text.contains(
            r"RewriteCond %{HTTP:Origin} !^(https://web\.(drawpile\.net|foxdice\.cn)|https://draw\.example\.org:8443)?$"
        ));
        assert_eq!(
            needed_modules(WsMode::Wstunnel),
            [
                "proxy",
                "proxy_http",
                "proxy_wstunnel",
                "headers",
                "rewrite"
            ]
        );
        assert_eq!(
            needed_modules(WsMode::Upgrade),
            ["proxy", "proxy_http", "headers", "rewrite"]
        );
    }

    #[test]
    fn module_links_follow_depends_and_skip_enabled_ones() {
        let available: Vec<String> = [
            "proxy.load",
            "proxy.conf",
            "proxy_http.load",
            "headers.load",
            "rewrite.load",
        ]
        .map(String::from)
        .to_vec();
        let loads = |f: &str| match f {
            "proxy_http.load" => Some("# Depends: proxy\nLoadModule x y\n".to_string()),
            _ => Some(String::new()),
        };
        let enabled = vec!["headers.load".to_string()];
        let links = module_links(
            "/etc/apache2",
            &["proxy_http", "headers", "rewrite"],
            &available,
            &enabled,
            &loads,
        )
        .unwrap();
        let got: Vec<(&str, &str)> = links
            .iter()
            .map(|c| match c {
                Change::Symlink { path, target, .. } => (path.as_str(), target.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "/etc/apache2/mods-enabled/proxy.load",
                    "../mods-available/proxy.load"
                ),
                (
                    "/etc/apache2/mods-enabled/proxy.conf",
                    "../mods-available/proxy.conf"
                ),
                (
                    "/etc/apache2/mods-enabled/proxy_http.load",
                    "../mods-available/proxy_http.load"
                ),
                (
                    "/etc/apache2/mods-enabled/rewrite.load",
                    "../mods-available/rewrite.load"
                ),
            ]
        );
        let e =
            module_links("/etc/apache2", &["proxy_wstunnel"], &available, &[], &loads).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/apache2/mods-available/proxy_wstunnel.load does not exist: the proxy_wstunnel module is not installed"
        );
    }
}
