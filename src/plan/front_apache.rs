//! Apache 2.4 in front (Debian layout): the marked block in the domain's existing TLS
//! virtual host (certbot's `*-le-ssl.conf` included) and the `a2enmod` links for the modules
//! it needs. dpwizard does not write a new Apache site in this version. Pure: the files come
//! from the [`Snapshot`]; `apache2ctl configtest` judges the result before the reload.

use super::apache::{BlockSpec, WS_PATH, WsMode, module_links, needed_modules, render_block};
use super::make::{PlanError, Snapshot};
use super::{Action, Change, FileMode, Plan};
use crate::detect::Facts;
use crate::formats::apache::{Config, set_managed_block_with};

/// Debian's ServerRoot: the only layout planned (RHEL's httpd loads its modules from
/// conf.modules.d and keeps sites in conf.d; not edited in this version).
pub const DEBIAN_ROOT: &str = "/etc/apache2";

/// Where the WebSocket goes and which extra origins pass.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub extra_origins: Vec<String>,
}

impl Upstream {
    /// Whether a route written by hand already does what dpwizard's block would for this
    /// upstream and these origins, judged as the audit judges it.
    pub fn served_by(&self, route: &crate::proxy::route::Route, domain: &str) -> bool {
        crate::audit::checks::route_problems(
            route,
            &self.host,
            self.port,
            &self.extra_origins,
            domain,
        )
        .is_empty()
    }
}

/// The file (its real path when reached through a link) and the text of the domain's TLS
/// virtual host, or why there is none.
fn find_vhost(facts: &Facts, snap: &Snapshot, domain: &str) -> Option<(String, String)> {
    let include = |p: &str| snap.get(p).map(|b| String::from_utf8_lossy(b).into_owned());
    facts.apache.files.iter().find_map(|f| {
        let real = snap.real_paths.get(f).cloned().unwrap_or_else(|| f.clone());
        let text = String::from_utf8_lossy(snap.get(&real)?).into_owned();
        let c = Config::parse(&text).ok()?;
        c.tls_vhost_for(domain, &include)?;
        Some((real, text))
    })
}

/// Why a layout other than Debian's is not edited, and what to do by hand there (RHEL and
/// Fedora's httpd: sites in conf.d, modules loaded by `LoadModule` lines in
/// conf.modules.d, no a2enmod): the virtual host to edit, the block for it, the missing
/// modules' lines, how to check and reload.
fn by_hand(facts: &Facts, root: &str, domain: &str, up: &Upstream) -> String {
    let a = &facts.apache;
    // The version `apache2 -v` reported decides how the upgrade is proxied.
    let mode = WsMode::for_version(crate::proxy::apache::Server::of(facts).version);
    let main = a.conf_path.as_deref().unwrap_or(root);
    let mut out = format!(
        "Apache's configuration here is the RHEL/Fedora httpd layout ({main}: sites in \
         {root}/conf.d, modules loaded by LoadModule lines in {root}/conf.modules.d), and \
         dpwizard edits only Debian's /etc/apache2 in this version; nothing was changed. By hand:"
    );
    let serves = |v: &&crate::detect::apache::ApacheVhost| {
        v.port == Some(443)
            && v.ssl
            && (v.server_name.as_deref().is_some_and(|n| {
                let n = n.split_once("://").map_or(n, |(_, r)| r);
                n.split(':')
                    .next()
                    .unwrap_or(n)
                    .eq_ignore_ascii_case(domain)
            }) || v
                .server_aliases
                .iter()
                .any(|x| crate::formats::apache::wildcard_match(x, domain)))
    };
    match a.vhosts.iter().find(serves) {
        Some(v) => {
            let spec = BlockSpec {
                upstream_host: up.host.clone(),
                upstream_port: up.port,
                extra_origins: up.extra_origins.clone(),
                mode,
            };
            out.push_str(&format!(
                "\n1. In the virtual host for {domain} on 443 ({}:{}), above its own ProxyPass \
                 and RewriteRule lines, add:\n{}",
                v.file,
                v.line,
                render_block(&spec, "    ").trim_end()
            ));
        }
        None => out.push_str(&format!(
            "\n1. Create the HTTPS virtual host for {domain} first (`certbot --apache -d \
             {domain}` writes {root}/conf.d/*-le-ssl.conf), then add the WebSocket block from \
             Drawpile's documentation to it."
        )),
    }
    let missing: Vec<&str> = needed_modules(mode)
        .into_iter()
        .filter(|m| !a.modules.iter().any(|x| x == m))
        .collect();
    if missing.is_empty() {
        out.push_str("\n2. The modules it needs are loaded already.");
    } else {
        out.push_str(&format!(
            "\n2. Load the modules it needs that are not loaded, in {root}/conf.modules.d \
             (httpd's package ships them in 00-proxy.conf and 00-base.conf, maybe commented \
             out):"
        ));
        for m in missing {
            out.push_str(&format!("\n    LoadModule {m}_module modules/mod_{m}.so"));
        }
    }
    out.push_str(
        "\n3. `apachectl configtest`, then `systemctl reload httpd`; `dpwizard audit` judges \
         the result.",
    );
    out
}

/// The names in `{root}/{dir}/` the snapshot holds.
fn listed(snap: &Snapshot, root: &str, dir: &str) -> Vec<String> {
    let prefix = format!("{root}/{dir}/");
    snap.files
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix))
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .map(str::to_string)
        .collect()
}

/// Adds Apache's changes to `plan`; returns the reload (or start) when something changed.
pub fn plan(
    plan: &mut Plan,
    facts: &Facts,
    snap: &Snapshot,
    domain: &str,
    up: &Upstream,
) -> Result<Option<Action>, PlanError> {
    let root = match facts.apache.config_root.as_deref() {
        Some(DEBIAN_ROOT) => DEBIAN_ROOT,
        Some(other) => return Err(PlanError::Unsupported(by_hand(facts, other, domain, up))),
        None => {
            return Err(PlanError::Missing(
                "proxy.server = \"apache\" but no Apache configuration was found \
                 (/etc/apache2/apache2.conf); nothing was changed"
                    .into(),
            ));
        }
    };
    let Some((file, text)) = find_vhost(facts, snap, domain) else {
        return Err(PlanError::Missing(format!(
            "Apache has no virtual host on 443 with SSLEngine on for {domain} (ServerName or \
             ServerAlias): dpwizard does not write a new Apache site in this version; create the \
             HTTPS site first (e.g. `certbot --apache -d {domain}`), then run dpwizard again; \
             nothing was changed"
        )));
    };
    // The version `apache2 -v` reported decides how the upgrade is proxied.
    let mode = WsMode::for_version(crate::proxy::apache::Server::of(facts).version);
    let spec = BlockSpec {
        upstream_host: up.host.clone(),
        upstream_port: up.port,
        extra_origins: up.extra_origins.clone(),
        mode,
    };
    let include = |p: &str| {
        let p = p.trim_matches('"');
        snap.get(p)
            .or_else(|| snap.get(&format!("{root}/{p}")))
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    // Every file Apache reads, for what the host includes and inherits from the main server.
    let files = crate::proxy::Files(
        facts
            .apache
            .files
            .iter()
            .filter_map(|f| {
                let real = snap.real_paths.get(f).map_or(f.as_str(), String::as_str);
                let b = snap.get(real)?;
                Some((f.clone(), String::from_utf8_lossy(b).into_owned()))
            })
            .collect(),
    );
    let root_dir = Some(root);
    let config = Config::parse(&text).map_err(|e| PlanError::Conflict(format!("{file}: {e}")))?;
    let vhost = config
        .tls_vhost_for(domain, &include)
        .ok_or_else(|| PlanError::Conflict(format!("{file}: the virtual host went away")))?;
    // A route written by hand that already does what the block would (judged as the audit
    // judges it, modules included) is kept: adopting a sound setup changes nothing.
    let keep = vhost.managed_block(&text).is_none() && {
        let route = crate::proxy::apache::route(
            &file,
            &config,
            vhost,
            crate::proxy::apache::Server::of(facts),
            &files,
            root_dir,
        );
        let kept = up.served_by(&route, domain);
        if kept {
            plan.notes.push(format!(
                "{}: the virtual host's own route for {WS_PATH} already does what dpwizard's \
                 block would (Origin rule, proxy, X-Real-IP, modules): kept as it is",
                route.at
            ));
        }
        kept
    };
    let new = if keep {
        text.clone()
    } else {
        set_managed_block_with(
            &text,
            vhost,
            &render_block(&spec, &vhost.child_indent(&text)),
            &crate::proxy::apache::includer(&files, root_dir),
        )
    };
    // Apache takes the first ProxyPass that matches: the block must be the route the
    // WebSocket path takes, or the Origin rule and the proxy never run.
    let edited =
        Config::parse(&new).map_err(|e| PlanError::Conflict(format!("{file} (edited): {e}")))?;
    if let Some(v) = edited.tls_vhost_for(domain, &include).filter(|_| !keep) {
        let ours = v.managed_block(&new).map(|r| {
            (
                edited.line_col(r.start).0,
                edited.line_col(r.end.saturating_sub(1)).0,
            )
        });
        let route = crate::formats::apache::route_for(
            &crate::proxy::apache::effective(v, &files, root_dir),
            WS_PATH,
        );
        if let (Some(w), Some((from, to))) = (&route.winner, ours)
            && (w.file.is_some() || !(from..=to).contains(&w.line))
        {
            // The line in the file as it is now (the block shifts later lines of its own file).
            let line = match &w.file {
                Some(_) => w.line,
                None => crate::formats::apache::route_for(vhost, WS_PATH)
                    .winner
                    .filter(|o| o.pattern == w.pattern && o.target == w.target)
                    .map_or(w.line, |o| o.line),
            };
            let at = w.file.as_deref().unwrap_or(&file);
            let own = crate::formats::apache::proxy_rules(
                &v.expanded_from(&crate::proxy::apache::includer(&files, root_dir)),
            )
            .iter()
            .any(|o| o.file == w.file && o.line == w.line);
            return Err(PlanError::Conflict(if own {
                format!(
                    "{at}:{line}: this rule ({pattern} → {target}) takes {WS_PATH} before \
                     dpwizard's block can (Apache uses the first matching ProxyPass), and the \
                     block cannot be placed before it; move dpwizard's block (or its own \
                     BEGIN/END markers) above that line, or exclude the path there, then run \
                     again; nothing was changed",
                    pattern = w.pattern,
                    target = w.target,
                )
            } else {
                format!(
                    "{at}:{line}: this rule ({pattern} → {target}) is outside every \
                     <VirtualHost> (the main server), and Apache tries the main server's \
                     ProxyPass lines before each virtual host's own, so it takes {WS_PATH} \
                     before dpwizard's block in {file} can; move it into the virtual hosts that \
                     need it, then run again; nothing was changed",
                    pattern = w.pattern,
                    target = w.target,
                )
            }));
        }
    }
    let available = listed(snap, root, "mods-available");
    let enabled = listed(snap, root, "mods-enabled");
    let load_text = |f: &str| {
        snap.get(&format!("{root}/mods-available/{f}"))
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let needed = if keep {
        Vec::new()
    } else {
        needed_modules(mode)
    };
    let links = module_links(root, &needed, &available, &enabled, &load_text).map_err(|e| {
        PlanError::Missing(format!(
            "{e} (Debian's apache2 package ships it); nothing was changed"
        ))
    })?;
    let mut changed = !links.is_empty();
    plan.changes.extend(links);
    if new != text {
        changed = true;
        let line = config.line_col(vhost.open.start).0;
        plan.changes.push(Change::Write {
            path: file.clone(),
            old: Some(text.clone().into_bytes()),
            new: new.into_bytes(),
            mode: FileMode::CONFIG,
            secret: false,
            why: format!(
                "adds the Origin rule and the WebSocket proxy for {WS_PATH} to the virtual host \
                 for {domain} on 443 (line {line}), between dpwizard markers, before the host's \
                 own proxy rules; every other byte stays"
            ),
        });
    }
    let cert = vhost
        .effective_directives()
        .into_iter()
        .rev()
        .find(|d| d.is("SSLCertificateFile"))
        .and_then(|d| d.arg(0))
        .map(str::to_string);
    plan.notes.push(match cert {
        Some(c) => format!(
            "TLS: Apache keeps the certificate its virtual host for {domain} already uses ({c}); \
             dpwizard plans no certbot and no self-signed certificate"
        ),
        None => format!(
            "TLS: Apache keeps the certificate its virtual host for {domain} already uses; \
             dpwizard plans no certbot and no self-signed certificate"
        ),
    });
    if !changed {
        return Ok(None);
    }
    Ok(crate::proxy::front::reload_or_start(
        facts,
        crate::proxy::Kind::Apache,
        "Apache serves the new block (a graceful reload: open connections finish)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> Upstream {
        Upstream {
            host: "127.0.0.1".into(),
            port: 27751,
            extra_origins: vec![],
        }
    }

    #[test]
    fn rhel_and_missing_configurations_are_refused_by_name() {
        let mut f = Facts::default();
        let e = plan(
            &mut Plan::default(),
            &f,
            &Snapshot::default(),
            "d.example",
            &up(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no Apache configuration was found"), "{e}");
        f.apache.config_root = Some("/etc/httpd".into());
        let e = plan(
            &mut Plan::default(),
            &f,
            &Snapshot::default(),
            "d.example",
            &up(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "Apache's configuration here is the RHEL/Fedora httpd layout (/etc/httpd: sites \
                 in /etc/httpd/conf.d, modules loaded by LoadModule lines in \
                 /etc/httpd/conf.modules.d), and dpwizard edits only Debian's /etc/apache2"
            ),
            "{e}"
        );
        // No virtual host known: create it first; every module is missing.
        assert!(
            e.contains("1. Create the HTTPS virtual host for d.example first"),
            "{e}"
        );
        assert!(
            e.contains("\n    LoadModule proxy_wstunnel_module modules/mod_proxy_wstunnel.so"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_module_is_named_and_nothing_is_planned() {
        let mut f = Facts::default();
        f.apache.config_root = Some(DEBIAN_ROOT.into());
        f.apache.files = vec!["/etc/apache2/sites-enabled/d.conf".into()];
        let mut snap = Snapshot::default();
        snap.files.insert(
            "/etc/apache2/sites-enabled/d.conf".into(),
            b"<VirtualHost *:443>\n\tServerName d.example\n\tSSLEngine on\n</VirtualHost>\n"
                .to_vec(),
        );
        // proxy_http is not installed.
        for m in ["proxy", "headers", "rewrite", "proxy_wstunnel"] {
            snap.files
                .insert(format!("/etc/apache2/mods-available/{m}.load"), Vec::new());
        }
        let mut p = Plan::default();
        let e = plan(&mut p, &f, &snap, "d.example", &up())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "/etc/apache2/mods-available/proxy_http.load does not exist: the proxy_http \
                 module is not installed"
            ),
            "{e}"
        );
        assert!(p.changes.is_empty());
    }
}
