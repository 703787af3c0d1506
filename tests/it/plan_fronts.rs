//! Apache and Caddy in front, planned and applied under `--root` (fake machines built here):
//! the marked block lands in the domain's existing site with every other byte kept, the
//! modules are linked as a2enmod would, the reload is the front end's own, a second apply
//! changes nothing, rollback restores every byte; what cannot be done is refused by name.
//! The same flows on booted machines with the real programs: live_fronts.rs.

use crate::support::drawpile::Build;
use crate::support::systemd::upstream_service;
use crate::support::*;

pub(crate) const DOMAIN: &str = "draw.example.test";
pub(crate) const VHOST: &str = "/etc/apache2/sites-available/draw-le-ssl.conf";
/// The path Apache reads it by (the audit names that one).
pub(crate) const ENABLED: &str = "/etc/apache2/sites-enabled/draw-le-ssl.conf";

/// A Debian 12 machine with drawpile-srv 2.3.0 as a service.
pub(crate) fn with_drawpile() -> FakeMachine {
    let m = FakeMachine::debian12();
    m.with_drawpile("/usr/local/bin/drawpile-srv", &Build::v("2.3.0"))
        .unit_in(
            "/usr/local/lib/systemd/system",
            "drawpile-srv.service",
            &upstream_service("/usr/local", false),
        )
        .enable(
            "drawpile-srv.service",
            "multi-user.target",
            "/usr/local/lib/systemd/system/drawpile-srv.service",
        );
    m
}

/// certbot's `*-le-ssl.conf` shape, with the site's own `ProxyPass /` to an app.
pub(crate) fn le_ssl(extra: &str) -> String {
    format!(
        "<IfModule mod_ssl.c>\n<VirtualHost *:443>\n\tServerName {DOMAIN}\n\t# the app\n{extra}\
\tProxyPass / http://127.0.0.1:8080/\n\tProxyPassReverse / http://127.0.0.1:8080/\n\n\
\tSSLCertificateFile /etc/letsencrypt/live/{DOMAIN}/fullchain.pem\n\
\tSSLCertificateKeyFile /etc/letsencrypt/live/{DOMAIN}/privkey.pem\n\
\tInclude /etc/letsencrypt/options-ssl-apache.conf\n</VirtualHost>\n</IfModule>\n"
    )
}

/// Debian's apache2 layout: the main file, the module files (with their `# Depends:`), ssl
/// enabled, the domain's TLS vhost enabled through a link.
pub(crate) fn apache_machine(vhost: &str) -> FakeMachine {
    let m = with_drawpile();
    m.file(
        "/etc/apache2/apache2.conf",
        "ServerRoot \"/etc/apache2\"\nIncludeOptional mods-enabled/*.load\n\
IncludeOptional mods-enabled/*.conf\nInclude ports.conf\nIncludeOptional sites-enabled/*.conf\n",
    )
    .file(
        "/etc/apache2/ports.conf",
        "Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n",
    );
    for (name, text) in [
        (
            "proxy.load",
            "LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so\n",
        ),
        ("proxy.conf", "<IfModule mod_proxy.c>\n</IfModule>\n"),
        (
            "proxy_http.load",
            "# Depends: proxy\nLoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so\n",
        ),
        (
            "proxy_wstunnel.load",
            "# Depends: proxy\nLoadModule proxy_wstunnel_module /usr/lib/apache2/modules/mod_proxy_wstunnel.so\n",
        ),
        (
            "headers.load",
            "LoadModule headers_module /usr/lib/apache2/modules/mod_headers.so\n",
        ),
        (
            "rewrite.load",
            "LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so\n",
        ),
        (
            "ssl.load",
            "LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so\n",
        ),
    ] {
        m.file(&format!("/etc/apache2/mods-available/{name}"), text);
    }
    m.symlink(
        "/etc/apache2/mods-enabled/ssl.load",
        "../mods-available/ssl.load",
    );
    m.file(VHOST, vhost).symlink(
        "/etc/apache2/sites-enabled/draw-le-ssl.conf",
        "../sites-available/draw-le-ssl.conf",
    );
    m.file(
        "/etc/letsencrypt/options-ssl-apache.conf",
        "SSLEngine on\nSSLProtocol all -SSLv2 -SSLv3\n",
    );
    m
}

pub(crate) fn answers(m: &FakeMachine, text: &str) -> String {
    let p = m.path("/root/answers.toml");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, format!("[site]\ndomain = \"{DOMAIN}\"\n{text}")).unwrap();
    p.display().to_string()
}

/// The proxy findings of `audit --offline`, as `id: evidence; evidence`. DPW-PROXY-013
/// passes: Apache and Caddy in front are audited like nginx.
pub(crate) fn proxy_findings(m: &FakeMachine) -> Vec<String> {
    let run = m.dpwizard(["audit", "--offline", "--json", "--domain", DOMAIN]);
    let v: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    assert!(
        v["passed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "DPW-PROXY-013"),
        "{v}"
    );
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("DPW-PROXY-"))
        .map(|f| {
            format!(
                "{}: {}",
                f["id"].as_str().unwrap(),
                f["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
        .collect()
}

/// `answers --from-machine` names the front end, and applying its answers changes nothing.
pub(crate) fn assert_exported_answers_change_nothing(m: &FakeMachine, server: &str) {
    let run = m.dpwizard(["answers", "--from-machine", "--domain", DOMAIN]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!("server = \"{server}\"")),
        "{}",
        run.stdout
    );
    let p = m.path("/root/exported.toml");
    std::fs::write(&p, &run.stdout).unwrap();
    let p = p.display().to_string();
    let check = m.dpwizard(["plan", "--check", "--answers", &p]);
    assert_eq!(check.code, 0, "{check:?}");
}

fn link(m: &FakeMachine, target: &str) -> Option<String> {
    std::fs::read_link(m.path(target))
        .ok()
        .map(|p| p.display().to_string())
}

/// The block between the markers (markers included), and the file without it.
fn split_block(text: &str) -> (String, String) {
    let begin = text.find("\t# BEGIN dpwizard").expect("BEGIN marker");
    let end = text.find("# END dpwizard\n").expect("END marker") + "# END dpwizard\n".len();
    (
        text[begin..end].to_string(),
        format!("{}{}", &text[..begin], &text[end..]),
    )
}

#[test]
fn apache_plan_apply_again_and_rollback_under_root() {
    let before = le_ssl("");
    let m = apache_machine(&before);
    let a = answers(&m, "");
    let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(
        plan.stdout.contains("systemctl reload apache2"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("certbot certonly"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("/etc/nginx"), "{}", plan.stdout);
    assert!(
        !plan.stdout.contains("/etc/ssl/dpwizard"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(&format!(
            "Apache keeps the certificate its virtual host for {DOMAIN} already uses (/etc/letsencrypt/live/{DOMAIN}/fullchain.pem)"
        )),
        "{}",
        plan.stdout
    );

    // Before: the site's own `ProxyPass /` takes the WebSocket path.
    let f = proxy_findings(&m);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with(&format!(
            "DPW-PROXY-002: {ENABLED}:5: ProxyPass / http://127.0.0.1:8080/: takes \
             /drawpile-web/ws first"
        )),
        "{f:?}"
    );

    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(
        apply.stdout.contains("systemctl reload apache2"),
        "{}",
        apply.stdout
    );
    assert_eq!(proxy_findings(&m), Vec::<String>::new());
    let after = m.read(VHOST);
    let (block, rest) = split_block(&after);
    assert_eq!(rest, before, "every byte outside the block is kept");
    // The block goes before the site's own ProxyPass / (Apache takes the first match).
    assert!(
        after.find("# BEGIN dpwizard").unwrap() < after.find("ProxyPass / ").unwrap(),
        "{after}"
    );
    for line in [
        "\tRewriteEngine On\n",
        "\tRewriteRule ^/drawpile-web/ws - [F]\n",
        "\t    RequestHeader set X-Real-IP expr=%{REMOTE_ADDR}\n",
    ] {
        assert!(block.contains(line), "{line:?} missing:\n{block}");
    }
    // No apache2 binary in the tree, so the version is unknown: the ws:// form every 2.4
    // understands, which needs mod_proxy_wstunnel.
    assert!(
        block.contains("ProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws"),
        "{block}"
    );
    for m_ in [
        "proxy",
        "proxy_http",
        "proxy_wstunnel",
        "headers",
        "rewrite",
    ] {
        assert_eq!(
            link(&m, &format!("/etc/apache2/mods-enabled/{m_}.load")).as_deref(),
            Some(format!("../mods-available/{m_}.load").as_str()),
            "{m_}"
        );
    }
    assert_eq!(
        link(&m, "/etc/apache2/mods-enabled/proxy.conf").as_deref(),
        Some("../mods-available/proxy.conf")
    );
    // The vhost was edited at its real path; the sites-enabled link is still a link.
    assert!(link(&m, "/etc/apache2/sites-enabled/draw-le-ssl.conf").is_some());

    // Applying twice changes nothing.
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
    let again = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);
    assert_eq!(m.read(VHOST), after);

    assert_exported_answers_change_nothing(&m, "apache");

    // A block edited by hand is judged by what it now does: without its `[F]` rule, any
    // site's pages get in.
    m.file(VHOST, after.replace("[F]", "[L]"));
    let f = proxy_findings(&m);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("DPW-PROXY-006: "), "{f:?}");
    m.file(VHOST, &after);

    let rb = m.dpwizard(["--color", "never", "rollback"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert_eq!(m.read(VHOST), before);
    assert!(
        rb.stdout.contains("systemctl reload apache2"),
        "{}",
        rb.stdout
    );
    for m_ in [
        "proxy",
        "proxy_http",
        "proxy_wstunnel",
        "headers",
        "rewrite",
    ] {
        assert!(
            link(&m, &format!("/etc/apache2/mods-enabled/{m_}.load")).is_none(),
            "{m_} still linked"
        );
    }
    assert!(link(&m, "/etc/apache2/mods-enabled/ssl.load").is_some());
}

#[test]
fn apache_refusals_name_what_and_change_nothing() {
    // No 443 vhost for the domain: dpwizard does not write an Apache site.
    let m = apache_machine(&le_ssl("").replace(DOMAIN, "other.example.test"));
    let a = answers(&m, "[proxy]\nserver = \"apache\"\n");
    let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_ne!(run.code, 0, "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(&format!(
            "Apache has no virtual host on 443 with SSLEngine on for {DOMAIN}"
        )) && all.contains("does not write a new Apache site in this version"),
        "{all}"
    );
    assert!(link(&m, "/etc/apache2/mods-enabled/proxy.load").is_none());

    // An earlier block that someone moved below the site's ProxyPass /: the route would
    // never reach it, and it cannot be placed before (it is where the admin put it).
    let moved = le_ssl("").replace(
        "</VirtualHost>",
        "\t# BEGIN dpwizard\n\tProxyPass /drawpile-web/ws ws://127.0.0.1:27751/drawpile-web/ws\n\t# END dpwizard\n</VirtualHost>",
    );
    let m = apache_machine(&moved);
    let a = answers(&m, "");
    let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_ne!(run.code, 0, "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(&format!(
            "{VHOST}:5: this rule (/ → http://127.0.0.1:8080/) takes /drawpile-web/ws"
        )),
        "{all}"
    );
    assert_eq!(m.read(VHOST), moved);

    // Certificate answers are nginx's.
    let m = apache_machine(&le_ssl(""));
    let a = answers(&m, "[tls]\nmode = \"self-signed\"\n");
    let run = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        format!("{}{}", run.stdout, run.stderr)
            .contains("with apache in front, the certificate stays"),
        "{run:?}"
    );
    // Asking for nginx where Apache serves 443: never installed next to it.
    let a = answers(&m, "[proxy]\nserver = \"nginx\"\n");
    let run = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains(
            "apache serves port 443 here: dpwizard does not install nginx next to it (they \
             would fight for the port); for Apache or Caddy leave proxy.server out"
        ),
        "{run:?}"
    );
    // Asking for Caddy where Apache serves 443: never a second web server.
    let a = answers(&m, "[proxy]\nserver = \"caddy\"\n");
    let run = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        format!("{}{}", run.stdout, run.stderr)
            .contains("proxy.server = \"caddy\" but apache serves port 443 here"),
        "{run:?}"
    );
}

pub(crate) const CADDYFILE: &str = "/etc/caddy/Caddyfile";

pub(crate) fn caddy_machine(caddyfile: &str) -> FakeMachine {
    let m = with_drawpile();
    m.file(CADDYFILE, caddyfile);
    m
}

fn caddy_site(extra: &str) -> String {
    format!(
        "{{\n\temail admin@example.test\n}}\n\n# the site\n{DOMAIN} {{\n{extra}\troot * /srv/www\n\treverse_proxy /app/* 127.0.0.1:8080\n\tfile_server\n}}\n"
    )
}

#[test]
fn caddy_plan_apply_again_and_rollback_under_root() {
    let before = caddy_site("");
    let m = caddy_machine(&before);
    let a = answers(&m, "");
    let plan = m.dpwizard(["--color", "never", "plan", "--answers", &a]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(
        plan.stdout.contains(&format!(
            "Caddy obtains and renews the certificate for {DOMAIN} itself (automatic HTTPS): dpwizard plans no certbot"
        )),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("certbot certonly"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("systemctl reload caddy"),
        "{}",
        plan.stdout
    );

    assert_eq!(
        proxy_findings(&m),
        vec![format!(
            "DPW-PROXY-002: {CADDYFILE}:6: the site has no handle or reverse_proxy for \
             /drawpile-web/ws"
        )]
    );
    let apply = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(proxy_findings(&m), Vec::<String>::new());
    let after = m.read(CADDYFILE);
    let (block, rest) = split_block(&after);
    assert_eq!(rest, before, "every byte outside the block is kept");
    for line in [
        "\thandle /drawpile-web/ws {\n",
        "\t\trespond @dpw_bad_origin 403\n",
        "\t\treverse_proxy 127.0.0.1:27751 {\n",
        "\t\t\theader_up X-Real-IP {remote_host}\n",
    ] {
        assert!(block.contains(line), "{line:?} missing:\n{block}");
    }
    assert!(!m.path("/etc/nginx").exists());

    let again = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);
    assert_eq!(m.read(CADDYFILE), after);
    assert_exported_answers_change_nothing(&m, "caddy");

    let rb = m.dpwizard(["--color", "never", "rollback"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert_eq!(m.read(CADDYFILE), before);
    assert!(
        rb.stdout.contains("systemctl reload caddy"),
        "{}",
        rb.stdout
    );
}

#[test]
fn caddy_refusals_name_what_and_change_nothing() {
    // A redirect of every request runs before any handle: the route would never run.
    let redirecting = caddy_site("\tredir https://elsewhere.example.test{uri}\n");
    let m = caddy_machine(&redirecting);
    let a = answers(&m, "");
    let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_ne!(run.code, 0, "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(&format!("{CADDYFILE}:7: `redir https://elsewhere.example.test{{uri}}` runs before any `handle /drawpile-web/ws`")),
        "{all}"
    );
    assert_eq!(m.read(CADDYFILE), redirecting);
    // No site for the domain.
    let other = caddy_site("").replace(DOMAIN, "other.example.test");
    let m = caddy_machine(&other);
    let a = answers(&m, "");
    let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        format!("{}{}", run.stdout, run.stderr)
            .contains("does not write a new Caddy site in this version"),
        "{run:?}"
    );
    assert_eq!(m.read(CADDYFILE), other);
}
