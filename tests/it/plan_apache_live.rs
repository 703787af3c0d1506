//! The Apache block and module links, judged by the REAL apache2 (Debian's package layout,
//! copied into a temp ServerRoot with a private envvars): `apache2 -t` refuses the edited
//! vhost until the planned modules are linked and accepts it after; the links are exactly
//! what the real `a2enmod` makes; and in a throwaway VPS the real apache2 serving TLS on 443
//! in front of drawpile-srv answers 101 (official Origin), 101 (no Origin), 403 (foreign).

use std::path::Path;
use std::process::{Command, Output};

use dpwizard::formats::apache::{Config, RuleKind, origin_rules, route_for, set_managed_block};
use dpwizard::plan::Change;
use dpwizard::plan::apache::{BlockSpec, WsMode, module_links, needed_modules, render_block};

use crate::support::front::{DOMAIN, Seen, assert_three_handshakes, handshakes, selfsigned};
use crate::support::vps::Vps;
use crate::support::*;

/// What the admin's site already had enabled before dpwizard.
const ADMINS_MODULES: &[&str] = &["ssl", "proxy", "proxy_http"];

/// A vhost shaped like certbot's `*-le-ssl.conf`, whose own `ProxyPass /` (to an app on
/// 8080) would take the WebSocket path if the block went below it.
fn le_ssl_vhost(cert_dir: &str) -> String {
    format!(
        "<IfModule mod_ssl.c>\n<VirtualHost *:443>\n\tServerName {DOMAIN}\n\tServerAlias www.{DOMAIN}\n\
\t# the app\n\tProxyPass / http://127.0.0.1:8080/\n\tProxyPassReverse / http://127.0.0.1:8080/\n\n\
\tSSLCertificateFile {cert_dir}/cert.pem\n\tSSLCertificateKeyFile {cert_dir}/key.pem\n\
\tInclude {cert_dir}/options-ssl-apache.conf\n\
</VirtualHost>\n</IfModule>\n"
    )
}

/// What certbot's options-ssl-apache.conf starts with: the vhost's `SSLEngine on` is here.
const OPTIONS_SSL: &str = "SSLEngine on\nSSLProtocol all -SSLv2 -SSLv3 -TLSv1 -TLSv1.1\nSSLHonorCipherOrder off\nSSLSessionTickets off\n";

/// The included files the reader is given, by path as written.
fn includes(path: &str) -> Option<String> {
    path.ends_with("/options-ssl-apache.conf")
        .then(|| OPTIONS_SSL.to_string())
}

/// The vhost with dpwizard's block, through the lossless editor.
fn edited(vhost: &str, port: u16, mode: WsMode) -> String {
    let c = Config::parse(vhost).unwrap();
    let v = c.tls_vhost_for(DOMAIN, &includes).expect("the TLS vhost");
    let block = render_block(
        &BlockSpec {
            upstream_host: "127.0.0.1".into(),
            upstream_port: port,
            extra_origins: vec!["https://paint.example.org".into()],
            mode,
        },
        &v.child_indent(vhost),
    );
    let out = set_managed_block(vhost, v, &block);
    // Every byte of the original is kept, in order: removing the block gives it back.
    assert_eq!(out.replace(&block, ""), vhost);
    out
}

/// A copy of Debian's /etc/apache2 in a temp dir, with an envvars whose run, lock, log and
/// pid paths point into it, so `apache2 -t` and `a2enmod` touch nothing else.
struct ServerRoot {
    dir: tempfile::TempDir,
}

impl ServerRoot {
    fn new() -> Option<ServerRoot> {
        if !Path::new("/etc/apache2/apache2.conf").exists() || which_host("apache2").is_none() {
            eprintln!("SKIPPED: apache2 is not installed (scripts/test-deps.sh installs it)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("cp")
            .args(["-r", "--preserve=mode", "/etc/apache2"])
            .arg(dir.path().join("apache2"))
            .status()
            .unwrap();
        assert!(st.success());
        let d = dir.path().display().to_string();
        for sub in ["run", "lock", "log", "state", "ssl"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("apache2/envvars"),
            format!(
                "export APACHE_RUN_USER=www-data\nexport APACHE_RUN_GROUP=www-data\n\
export APACHE_PID_FILE={d}/run/apache2.pid\nexport APACHE_RUN_DIR={d}/run\n\
export APACHE_LOCK_DIR={d}/lock\nexport APACHE_LOG_DIR={d}/log\nexport LANG=C\n"
            ),
        )
        .unwrap();
        let (cert, key) = selfsigned();
        std::fs::write(dir.path().join("ssl/cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("ssl/key.pem"), key).unwrap();
        std::fs::write(dir.path().join("ssl/options-ssl-apache.conf"), OPTIONS_SSL).unwrap();
        Some(ServerRoot { dir })
    }

    fn conf(&self) -> std::path::PathBuf {
        self.dir.path().join("apache2")
    }

    /// The real `a2enmod`, pointed at this copy.
    fn a2enmod(&self, modules: &[&str]) {
        let out = Command::new("a2enmod")
            .arg("-q")
            .args(modules)
            .env("APACHE_CONFDIR", self.conf())
            .env("APACHE_ENVVARS", self.conf().join("envvars"))
            .env("APACHE_STATE_DIRECTORY", self.dir.path().join("state"))
            .output()
            .unwrap();
        assert!(out.status.success(), "a2enmod: {}", text(&out));
    }

    /// Creates the links the planner computed from this copy's listings.
    fn link_planned(&self, mode: WsMode) -> Vec<Change> {
        let links = planned_links(&self.conf(), "/etc/apache2", mode);
        for l in &links {
            if let Change::Symlink { path, target, .. } = l {
                let p = self.conf().join(path.trim_start_matches("/etc/apache2/"));
                std::os::unix::fs::symlink(target, p).unwrap();
            }
        }
        links
    }

    /// `apache2 -t` (or another flag: `-S`) on this copy, with its private envvars.
    fn apache2(&self, flag: &str) -> Output {
        let c = self.conf().display().to_string();
        Command::new("bash")
            .args([
                "-c",
                r#". "$1/envvars" && exec apache2 -d "$1" -f "$1/apache2.conf" "$2""#,
                "apache2",
                &c,
                flag,
            ])
            .output()
            .unwrap()
    }

    fn configtest(&self) -> Output {
        self.apache2("-t")
    }

    /// `(name, link target)` of every entry in mods-enabled, sorted.
    fn enabled(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = std::fs::read_dir(self.conf().join("mods-enabled"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let target = std::fs::read_link(e.path())
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                (e.file_name().to_string_lossy().into_owned(), target)
            })
            .collect();
        v.sort();
        v
    }
}

/// The planner's links for a mods-available/mods-enabled pair on disk (`conf_root` is the
/// path the links are named under).
fn planned_links(conf: &Path, conf_root: &str, mode: WsMode) -> Vec<Change> {
    let list = |d: &str| -> Vec<String> {
        std::fs::read_dir(conf.join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let avail_dir = conf.join("mods-available");
    module_links(
        conf_root,
        &needed_modules(mode),
        &list("mods-available"),
        &list("mods-enabled"),
        &|f: &str| std::fs::read_to_string(avail_dir.join(f)).ok(),
    )
    .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn planned_module_links_are_what_a2enmod_makes() {
    for mode in [WsMode::Upgrade, WsMode::Wstunnel] {
        let (Some(real), Some(ours)) = (ServerRoot::new(), ServerRoot::new()) else {
            return;
        };
        real.a2enmod(&needed_modules(mode));
        let links = ours.link_planned(mode);
        assert!(!links.is_empty());
        assert_eq!(ours.enabled(), real.enabled(), "{mode:?}");
        // Planned again on the result: nothing left to do.
        assert_eq!(planned_links(&ours.conf(), "/etc/apache2", mode), vec![]);
    }
}

#[test]
fn apache2_t_accepts_the_edited_vhost_once_the_planned_modules_are_linked() {
    for mode in [WsMode::Upgrade, WsMode::Wstunnel] {
        let Some(root) = ServerRoot::new() else {
            return;
        };
        // The admin's existing TLS site proxying an app (its modules enabled the usual way).
        root.a2enmod(ADMINS_MODULES);
        let ssl_dir = root.dir.path().join("ssl").display().to_string();
        let original = le_ssl_vhost(&ssl_dir);
        let site = root.conf().join("sites-enabled/draw-le-ssl.conf");
        std::fs::write(&site, &original).unwrap();
        let before = root.configtest();
        assert!(
            before.status.success(),
            "the fixture itself: {}",
            text(&before)
        );
        std::fs::write(&site, edited(&original, 27751, mode)).unwrap();
        // Without the modules, the real apache2 refuses the block (that is why they are planned).
        let refused = root.configtest();
        assert!(!refused.status.success(), "{mode:?}: {}", text(&refused));
        assert!(
            text(&refused).contains("Invalid command"),
            "{}",
            text(&refused)
        );
        root.link_planned(mode);
        let ok = root.configtest();
        assert!(ok.status.success(), "{mode:?}: {}", text(&ok));
        assert!(text(&ok).contains("Syntax OK"), "{}", text(&ok));
        // The vhost the reader picked, file:line, is the one Apache names for the domain.
        let c = Config::parse(&std::fs::read_to_string(&site).unwrap()).unwrap();
        let line = c.tls_vhost_for(DOMAIN, &includes).unwrap().line;
        let s = root.apache2("-S");
        assert!(
            text(&s).lines().any(|l| l.contains(":443")
                && l.ends_with(&format!(" {DOMAIN} ({}:{line})", site.display()))),
            "{}",
            text(&s)
        );
    }
}

/// Stages the site and certificate in `vps`; returns the setup script: the admin's
/// modules (the real a2enmod) and the links planned for `mode` from a copy in that state.
fn stage_apache(vps: &Vps, site: &str, mode: WsMode) -> Option<String> {
    let (cert, key) = selfsigned();
    let copy = ServerRoot::new()?;
    copy.a2enmod(ADMINS_MODULES);
    vps.file("/etc/ssl/dpw/cert.pem", &cert, 0o644)
        .file("/etc/ssl/dpw/key.pem", &key, 0o600)
        .file("/etc/ssl/dpw/options-ssl-apache.conf", OPTIONS_SSL, 0o644)
        .file("/etc/apache2/sites-enabled/draw-le-ssl.conf", site, 0o644);
    let links: String = planned_links(&copy.conf(), "/etc/apache2", mode)
        .iter()
        .filter_map(|c| match c {
            Change::Symlink { path, target, .. } => Some(format!("ln -s {target} {path}\n")),
            _ => None,
        })
        .collect();
    Some(format!(
        "a2enmod -q {} >/dev/null\n{links}",
        ADMINS_MODULES.join(" ")
    ))
}

/// The real apache2 on 443 with `site` in a throwaway VPS passes the three handshakes, and
/// `/app` gets 503 from the host's own (dead) app.
fn serves_the_route(site: &str, mode: WsMode) {
    let vps = Vps::new();
    let Some(setup) = stage_apache(&vps, site, mode) else {
        return;
    };
    assert_three_handshakes(
        &vps,
        &setup,
        "apache2ctl start",
        "503",
        "/var/log/apache2/error.log",
    );
}

/// What the probes see through the real apache2 on 443 with `site` in a throwaway VPS.
fn apache_handshakes(site: &str, mode: WsMode) -> Option<Seen> {
    let vps = Vps::new();
    let setup = stage_apache(&vps, site, mode)?;
    Some(handshakes(
        &vps,
        &setup,
        "apache2ctl start",
        "/var/log/apache2/error.log",
    ))
}

fn skip_live() -> bool {
    skip_unless_root("a throwaway VPS with apache2 on 443")
        || skip_unless_program("apache2")
        || skip_unless_program("curl")
}

#[test]
fn real_apache_on_443_passes_the_three_handshakes() {
    if skip_live() {
        return;
    }
    // This Apache's own mode, and the ws:// form for older ones (2.4.71 still takes it).
    let own = WsMode::for_version(apache_version().as_deref());
    for mode in [own, WsMode::Wstunnel] {
        // The host's own `ProxyPass /` still serves the rest (its app is down: 503).
        serves_the_route(&edited(&le_ssl_vhost("/etc/ssl/dpw"), 27751, mode), mode);
    }
}

/// What `route_for` tells the audit about a block below the host's `ProxyPass /` is what
/// the real Apache does: the upgrade goes to the app, never to drawpile-srv.
#[test]
fn a_proxypass_slash_above_the_route_shadows_it_in_real_apache() {
    if skip_live() {
        return;
    }
    let mode = WsMode::for_version(apache_version().as_deref());
    let original = le_ssl_vhost("/etc/ssl/dpw");
    // The block as a hand edit would add it: at the end of the host.
    let c = Config::parse(&original).unwrap();
    let v = c.tls_vhost_for(DOMAIN, &includes).unwrap();
    let block = render_block(
        &BlockSpec {
            upstream_host: "127.0.0.1".into(),
            upstream_port: 27751,
            extra_origins: vec![],
            mode,
        },
        &v.child_indent(&original),
    );
    let at = original.find("</VirtualHost>").unwrap();
    let site = format!("{}{block}{}", &original[..at], &original[at..]);
    let c = Config::parse(&site).unwrap();
    let route = route_for(
        c.tls_vhost_for(DOMAIN, &includes).unwrap(),
        "/drawpile-web/ws",
    );
    assert_eq!(
        route.winner.map(|w| (w.pattern, w.line)),
        Some(("/".to_string(), 6))
    );
    assert_eq!(route.shadowed.len(), 1);
    let Some(seen) = apache_handshakes(&site, mode) else {
        return;
    };
    // The Origin rule still refuses (mod_rewrite runs first); the rest goes to the dead app.
    assert_eq!(seen.foreign, "403", "{}", seen.front_log);
    assert_eq!(seen.official, "503", "{}", seen.front_log);
    assert_eq!(seen.none, "503", "{}", seen.front_log);
    assert!(
        !seen.srv_log.contains("New WebSocket client"),
        "{}",
        seen.srv_log
    );
}

/// `apache2 -v`'s version (`2.4.57`).
fn apache_version() -> Option<String> {
    let out = Command::new("apache2").arg("-v").output().ok()?;
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let v = t
        .split("Apache/")
        .nth(1)?
        .split_whitespace()
        .next()?
        .to_string();
    Some(v)
}

/// A catch-all `[P]` rewrite of the host's (a proxied app) runs before any ProxyPass; the
/// block's pass-through rule keeps the WebSocket path out of it, in the real Apache too.
#[test]
fn a_catch_all_rewrite_proxy_below_the_block_does_not_take_the_route() {
    if skip_live() {
        return;
    }
    let mode = WsMode::for_version(apache_version().as_deref());
    let original = le_ssl_vhost("/etc/ssl/dpw").replace(
        "\tProxyPass / http://127.0.0.1:8080/\n",
        "\tRewriteEngine on\n\tRewriteRule ^/(.*)$ http://127.0.0.1:8080/$1 [P,L]\n",
    );
    let site = edited(&original, 27751, mode);
    let c = Config::parse(&site).unwrap();
    let route = route_for(
        c.tls_vhost_for(DOMAIN, &includes).unwrap(),
        "/drawpile-web/ws",
    );
    assert_eq!(
        route.winner.map(|w| w.target),
        Some("http://127.0.0.1:27751/drawpile-web/ws".to_string())
    );
    // Without the block's stop rule the app's rewrite takes the path (and in the real
    // Apache, too: the mutation was run when this test was written).
    let stopless = site.replace("RewriteRule ^/drawpile-web/ws - [L]", "");
    let c = Config::parse(&stopless).unwrap();
    let route = route_for(
        c.tls_vhost_for(DOMAIN, &includes).unwrap(),
        "/drawpile-web/ws",
    );
    assert_eq!(route.winner.map(|w| w.kind), Some(RuleKind::RewriteProxy));
    // The app's rewrite still serves the rest (its app is down: 503).
    serves_the_route(&site, mode);
}

/// What `origin_rules` tells the audit a rule lets through is what the real Apache lets
/// through: the documented rule, the pre-2025 one (refuses the desktop app's missing
/// Origin and the mirror), an equality (refuses the mirror), a case-insensitive one.
#[test]
fn origin_rules_predict_the_real_apaches_answers() {
    if skip_live() {
        return;
    }
    let mode = WsMode::for_version(apache_version().as_deref());
    let documented = edited(&le_ssl_vhost("/etc/ssl/dpw"), 27751, mode);
    let cond = documented
        .lines()
        .find(|l| l.contains("RewriteCond %{HTTP:Origin}"))
        .unwrap()
        .trim()
        .to_string();
    for variant in [
        cond.clone(),
        r"RewriteCond %{HTTP:Origin} !^https://web\.drawpile\.net$".to_string(),
        r#"RewriteCond %{HTTP:Origin} "!=https://web.drawpile.net""#.to_string(),
        r"RewriteCond %{HTTP:Origin} !^(https://web\.drawpile\.net)?$ [NC]".to_string(),
    ] {
        let site = documented.replace(&cond, &variant);
        let c = Config::parse(&site).unwrap();
        let rules = origin_rules(
            c.tls_vhost_for(DOMAIN, &includes).unwrap(),
            "/drawpile-web/ws",
        );
        assert_eq!(rules.len(), 1, "{variant}");
        let predicted = |origin: &str| {
            if rules[0].refuses(origin).unwrap() {
                "403"
            } else {
                "101"
            }
        };
        let Some(seen) = apache_handshakes(&site, mode) else {
            return;
        };
        let real = [&seen.none, &seen.official, &seen.mirror, &seen.foreign];
        let origins = [
            "",
            "https://web.drawpile.net",
            "https://web.foxdice.cn",
            "https://evil.example.com",
        ];
        let ours: Vec<&str> = origins.iter().map(|o| predicted(o)).collect();
        assert_eq!(
            real.map(|s| s.as_str()).to_vec(),
            ours,
            "{variant}\n{}",
            seen.front_log
        );
    }
}

/// What the audit reads from a virtual host (proxy::apache's route: upgrade, HTTP/1.1) is
/// what the real apache2 does with the official client's upgrade: the block as written
/// upgrades; an HTTP/1.0 upstream (`force-proxy-request-1.0`) and, on 2.4.47+, an http://
/// target without `upgrade=websocket` do not, and the audit names each.
#[test]
fn the_audits_route_predicts_the_real_apaches_upgrade() {
    if skip_live() {
        return;
    }
    let version = apache_version();
    let mode = WsMode::for_version(version.as_deref());
    let documented = edited(&le_ssl_vhost("/etc/ssl/dpw"), 27751, mode);
    let pass = documented
        .lines()
        .find(|l| l.trim_start().starts_with("ProxyPass /drawpile-web/ws "))
        .unwrap()
        .to_string();
    let mut variants = vec![
        (documented.clone(), true),
        (
            documented.replace(
                &format!("{pass}\n"),
                &format!("{pass}\n\tSetEnv force-proxy-request-1.0 1\n"),
            ),
            false,
        ),
    ];
    if mode == WsMode::Upgrade {
        variants.push((documented.replace(" upgrade=websocket", ""), false));
    }
    for (site, upgrades) in variants {
        let c = Config::parse(&site).unwrap();
        let vhost = c.tls_vhost_for(DOMAIN, &includes).unwrap();
        let route = dpwizard::proxy::apache::route(
            "/etc/apache2/sites-enabled/draw-le-ssl.conf",
            &c,
            vhost,
            dpwizard::proxy::apache::Server {
                modules: None,
                version: version.as_deref(),
                load_module_lines: false,
            },
            &dpwizard::proxy::Files::default(),
            None,
        );
        let judged = route.reached.is_ok() && route.http11.is_ok() && route.upgrade.is_ok();
        assert_eq!(judged, upgrades, "{route:?}\n{site}");
        let Some(seen) = apache_handshakes(&site, mode) else {
            return;
        };
        assert_eq!(
            seen.official == "101",
            upgrades,
            "{}\n{site}\n{}",
            seen.official,
            seen.front_log
        );
    }
}

/// What the real Apache does with a route an `Include` inside the vhost brings, and with
/// what a vhost inherits from the main server (conf-enabled/, outside every
/// `<VirtualHost>`), against what `proxy::apache::site` judges of the same files: the main
/// server's `ProxyPass /` comes first, its rewrite rules run only with `RewriteOptions
/// Inherit` (then with its `RewriteEngine On`, the host setting none).
#[test]
fn includes_and_the_main_servers_rules_are_judged_as_real_apache_runs_them() {
    if skip_live() {
        return;
    }
    let version = apache_version();
    let mode = WsMode::for_version(version.as_deref());
    let site_path = "/etc/apache2/sites-enabled/draw-le-ssl.conf";
    let original = le_ssl_vhost("/etc/ssl/dpw");
    let block = render_block(
        &BlockSpec {
            upstream_host: "127.0.0.1".into(),
            upstream_port: 27751,
            extra_origins: vec![],
            mode,
        },
        "",
    );
    let judge = |site: &str, extra: &[(&str, &str)]| {
        let mut files = vec![
            (site_path.to_string(), site.to_string()),
            (
                "/etc/ssl/dpw/options-ssl-apache.conf".to_string(),
                OPTIONS_SSL.to_string(),
            ),
        ];
        files.extend(extra.iter().map(|(p, t)| (p.to_string(), t.to_string())));
        dpwizard::proxy::apache::site(
            &dpwizard::proxy::Files(files),
            Some("/etc/apache2"),
            DOMAIN,
            dpwizard::proxy::apache::Server {
                modules: None,
                version: version.as_deref(),
                load_module_lines: false,
            },
        )
        .expect("the vhost")
        .route
    };
    let real = |site: &str, extra: &[(&str, &str)]| {
        let vps = Vps::new();
        for (p, t) in extra {
            vps.file(p, t, 0o644);
        }
        let setup = stage_apache(&vps, site, mode)?;
        Some(handshakes(
            &vps,
            &setup,
            "apache2ctl start",
            "/var/log/apache2/error.log",
        ))
    };

    // 1. The block in a file the vhost includes: judged sound, and it is.
    let snippet = "/etc/ssl/dpw/drawpile.conf";
    let including = original.replace(
        "\t# the app\n",
        &format!("\t# the app\n\tInclude {snippet}\n"),
    );
    let extra = [(snippet, block.as_str())];
    let r = judge(&including, &extra);
    assert!(r.reached.is_ok() && r.upgrade.is_ok(), "{r:?}");
    assert!(r.real_ip.is_ok(), "{r:?}");
    assert!(r.origin.refused_by("").is_none());
    assert!(r.origin.refused_by("https://evil.example.com").is_some());
    assert!(r.at.starts_with(&format!("{snippet}:")), "{}", r.at);
    let Some(seen) = real(&including, &extra) else {
        return;
    };
    assert_eq!(
        (
            seen.official.as_str(),
            seen.none.as_str(),
            seen.foreign.as_str()
        ),
        ("101", "101", "403"),
        "{}",
        seen.front_log
    );

    // 2. A `ProxyPass /` outside every vhost takes the path before the host's own block.
    let app = "/etc/apache2/conf-enabled/app.conf";
    let sound = edited(&original, 27751, mode);
    let extra = [(app, "ProxyPass / http://127.0.0.1:8080/\n")];
    let r = judge(&sound, &extra);
    assert!(r.reached.unwrap_err()[0].starts_with(&format!("{app}:1: ProxyPass / ")));
    let seen = real(&sound, &extra).unwrap();
    assert_eq!(seen.official, "503", "{}", seen.front_log);
    assert_eq!(seen.foreign, "403", "{}", seen.front_log);

    // 3. The Origin rule outside every vhost: not run for the host without `RewriteOptions
    // Inherit`; with it, run (the engine on from the main server).
    let origin = "/etc/apache2/conf-enabled/origin.conf";
    let rule = block
        .lines()
        .filter(|l| {
            l.starts_with("RewriteEngine") || l.contains("[F]") || l.starts_with("RewriteCond")
        })
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let proxy_only = original.replace(
        "\t# the app\n",
        &format!(
            "\t# the app\n{}",
            block
                .lines()
                .filter(|l| l.starts_with("ProxyPass")
                    || l.contains("Location")
                    || l.contains("RequestHeader"))
                .map(|l| format!("\t{l}\n"))
                .collect::<String>()
        ),
    );
    let extra = [(origin, rule.as_str())];
    for (site, refuses) in [
        (proxy_only.clone(), false),
        (
            proxy_only.replace("\t# the app\n", "\t# the app\n\tRewriteOptions Inherit\n"),
            true,
        ),
    ] {
        let r = judge(&site, &extra);
        assert_eq!(
            r.origin.refused_by("https://evil.example.com").is_some(),
            refuses,
            "{r:?}\n{site}"
        );
        let seen = real(&site, &extra).unwrap();
        assert_eq!(seen.official, "101", "{}", seen.front_log);
        assert_eq!(
            seen.foreign,
            if refuses { "403" } else { "101" },
            "{site}\n{}",
            seen.front_log
        );
    }
}
