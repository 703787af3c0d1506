//! Apache and Caddy in front, end to end on a booted machine (real systemd, the real
//! apache2 / caddy from Debian running as services, drawpile-srv 2.3.0 under its unit): an
//! existing HTTPS site, then apply (101 + greeting with the official Origin, 101 without
//! one, 403 for a foreign one), apply again (nothing), rollback (every byte and the running
//! state back: the endpoint answers as before). For Apache also a configtest that refuses
//! (a planned module whose library is missing): every byte restored, Apache still serving.

use crate::support::drawpile::Server;
use crate::support::nspawn::{Machine, skip_unless_machine};
use crate::support::*;

const DOMAIN: &str = "draw.example.test";
const VHOST: &str = "/etc/apache2/sites-available/draw-le-ssl.conf";
const CADDYFILE: &str = "/etc/caddy/Caddyfile";

/// What apply must say for any front end: its validator and reload, then the three
/// handshakes through 127.0.0.1:443.
fn assert_applied(text: &str, validator: &str, reload: &str) {
    let version = "Drawpile server 2.3.0";
    assert_contains_all(
        text,
        &[
            &format!("✓ {validator}: the configuration is valid"),
            "✓ systemctl restart drawpile-srv.service",
            &format!("✓ {reload}"),
            &format!("✓ direct WebSocket to 127.0.0.1:27751: 101, greeting from {version}"),
            &format!(
                "✓ wss://{DOMAIN}/drawpile-web/ws (Origin https://web.drawpile.net): 101, greeting from {version}"
            ),
            &format!("✓ wss://{DOMAIN}/drawpile-web/ws (Origin none): 101"),
            &format!("✓ wss://{DOMAIN}/drawpile-web/ws (Origin https://evil.invalid): HTTP 403"),
        ],
    );
    assert!(!text.contains('✗'), "{text}");
    assert!(!text.contains("nginx's new workers"), "{text}");
}

/// Apply, apply again, rollback; `files` are compared byte for byte after the rollback.
fn apply_again_rollback(m: &Machine, files: &[&str], validator: &str, unit: &str) {
    m.write(
        "/root/answers.toml",
        format!("[site]\ndomain = \"{DOMAIN}\"\n"),
    );
    let before: Vec<String> = files.iter().map(|f| m.ok(&format!("cat {f}"))).collect();
    let endpoint_before = m.handshake(DOMAIN, "https://web.drawpile.net");
    let reload = format!("systemctl reload {unit}");
    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "apply failed:\n{text}");
    assert_applied(&text, validator, &reload);
    assert_eq!(m.handshake(DOMAIN, "https://web.drawpile.net"), "101");
    assert_eq!(m.handshake(DOMAIN, "https://evil.example.com"), "403");
    // The audit reads the route from the front end's files and agrees with the handshakes
    // its live probes make through it.
    let v = audit(m);
    let live = [
        "DPW-PROXY-013",
        "DPW-LIVE-001",
        "DPW-LIVE-002",
        "DPW-LIVE-004",
        "DPW-LIVE-005",
        "DPW-LIVE-006",
    ];
    for id in crate::audit_fronts::ROUTE_CHECKS.iter().chain(&live) {
        assert!(v["passed"].to_string().contains(id), "{id}: {v}");
    }

    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Nothing to do"), "{text}");

    let (code, text) = m.dpwizard("rollback");
    assert_eq!(code, 0, "rollback failed:\n{text}");
    assert_contains_all(
        &text,
        &[
            "✓ systemctl restart drawpile-srv.service",
            &format!("✓ {reload}"),
        ],
    );
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(&m.ok(&format!("cat {f}")), b, "{f}");
    }
    assert_eq!(m.show(unit, "ActiveState"), "active");
    assert_eq!(
        m.handshake(DOMAIN, "https://web.drawpile.net"),
        endpoint_before,
        "the endpoint answers as before"
    );
}

/// `audit --json` on the machine.
fn audit(m: &Machine) -> serde_json::Value {
    let (_, text) = m.dpwizard(&format!("audit --json --timeout 3 --domain {DOMAIN}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn apache_site(m: &Machine) {
    let (cert, key) = m.self_signed(DOMAIN);
    m.write("/var/www/draw/index.html", "<h1>Draw club</h1>\n");
    m.write(
        VHOST,
        format!(
            "<IfModule mod_ssl.c>\n<VirtualHost *:443>\n\tServerName {DOMAIN}\n\tDocumentRoot /var/www/draw\n\n\
\tSSLEngine on\n\tSSLCertificateFile {cert}\n\tSSLCertificateKeyFile {key}\n</VirtualHost>\n</IfModule>\n"
        ),
    );
    m.ok(&format!(
        "chmod 600 {key} && a2enmod -q ssl && a2ensite -q draw-le-ssl && systemctl start apache2"
    ));
}

#[test]
fn apache_in_front_apply_again_and_rollback_on_a_booted_machine() {
    if skip_unless_machine(&["apache2", "a2enmod", "curl"]) {
        return;
    }
    let m = Machine::boot("dpw-apache");
    m.with_drawpile_service(&Server::pick("2.3.0"));
    apache_site(&m);
    let modules = m.ok("ls /etc/apache2/mods-enabled");
    apply_again_rollback(&m, &[VHOST], "apache2ctl configtest", "apache2");
    assert_eq!(
        m.ok("ls /etc/apache2/mods-enabled"),
        modules,
        "module links removed"
    );

    // An app's `ProxyPass /` written above dpwizard's block takes the WebSocket path: the
    // audit finds it in the file (DPW-PROXY-002), and its live probe meets what curl meets —
    // the app's answer, not an upgrade. (Applied once more first, so drawpile-srv listens
    // for WebSockets again after the rollback.)
    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "{text}");
    m.ok(&format!(
        "sed -i 's#^\\tServerName {DOMAIN}$#&\\n\\tProxyPass / http://127.0.0.1:9/#' {VHOST} && \
         grep -q 'ProxyPass / http://127.0.0.1:9/' {VHOST} && systemctl reload apache2"
    ));
    assert_ne!(m.handshake(DOMAIN, "https://web.drawpile.net"), "101");
    let v = audit(&m);
    let found = v["findings"].to_string();
    for id in ["DPW-PROXY-002", "DPW-LIVE-004"] {
        assert!(found.contains(id), "{id}: {v}");
    }
    assert!(
        found.contains("ProxyPass / http://127.0.0.1:9/: takes /drawpile-web/ws first"),
        "{v}"
    );
}

#[test]
fn apache_refusing_the_configuration_restores_every_byte() {
    if skip_unless_machine(&["apache2", "a2enmod", "curl"]) {
        return;
    }
    let m = Machine::boot("dpw-apache-bad");
    m.with_drawpile_service(&Server::pick("2.3.0"));
    apache_site(&m);
    // The headers module's file is there, its library is not: the planner links it and
    // `apache2ctl configtest` refuses.
    m.ok("sed -i 's#mod_headers.so#mod_headers_missing.so#' /etc/apache2/mods-available/headers.load");
    m.write(
        "/root/answers.toml",
        format!("[site]\ndomain = \"{DOMAIN}\"\n"),
    );
    let vhost = m.ok(&format!("cat {VHOST}"));
    let modules = m.ok("ls -l /etc/apache2/mods-enabled | sed 1d | awk '{print $9, $10, $11}'");
    let pid = m.show("apache2", "MainPID");
    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("dpwizard: apache2ctl configtest refused the new configuration:"),
        "{text}"
    );
    assert!(text.contains("mod_headers_missing.so"), "{text}");
    assert_eq!(m.ok(&format!("cat {VHOST}")), vhost);
    assert_eq!(
        m.ok("ls -l /etc/apache2/mods-enabled | sed 1d | awk '{print $9, $10, $11}'"),
        modules
    );
    assert_eq!(m.show("apache2", "MainPID"), pid, "Apache was not touched");
    assert_eq!(m.show("apache2", "ActiveState"), "active");
    assert!(
        m.sh("test -e /etc/systemd/system/drawpile-srv.service.d/zz-dpwizard.conf")
            .status
            .code()
            != Some(0)
    );
}

#[test]
fn caddy_in_front_apply_again_and_rollback_on_a_booted_machine() {
    if skip_unless_machine(&["caddy", "curl"]) {
        return;
    }
    let m = Machine::boot("dpw-caddy");
    m.with_drawpile_service(&Server::pick("2.3.0"));
    let (cert, key) = m.self_signed(DOMAIN);
    m.write("/var/www/draw/index.html", "<h1>Draw club</h1>\n");
    // No ACME in a private network: the site's certificate is given as files.
    m.write(
        CADDYFILE,
        format!(
            "{{\n\tadmin localhost:2019\n}}\n\n{DOMAIN} {{\n\ttls {cert} {key}\n\troot * /var/www/draw\n\tfile_server\n}}\n"
        ),
    );
    m.ok(&format!("chown caddy {key} && systemctl start caddy"));
    apply_again_rollback(&m, &[CADDYFILE], "caddy validate", "caddy");

    // A route written by hand with an Origin regex alone: an absent Origin never matches it,
    // so `not` refuses the desktop app. The audit says so from the Caddyfile, and its live
    // probe meets the same 403 as curl. (Applied once more first, so drawpile-srv listens
    // for WebSockets again after the rollback.)
    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "{text}");
    m.write(
        CADDYFILE,
        format!(
            "{{\n\tadmin localhost:2019\n}}\n\n{DOMAIN} {{\n\ttls {cert} {key}\n\
             \t@bad not header_regexp Origin ^https://web\\.(drawpile\\.net|foxdice\\.cn)$\n\
             \thandle /drawpile-web/ws {{\n\t\trespond @bad 403\n\
             \t\treverse_proxy 127.0.0.1:27751 {{\n\t\t\theader_up X-Real-IP {{remote_host}}\n\t\t}}\n\t}}\n\
             \troot * /var/www/draw\n\tfile_server\n}}\n"
        ),
    );
    m.ok("systemctl reload caddy");
    assert_eq!(m.handshake(DOMAIN, ""), "403");
    assert_eq!(m.handshake(DOMAIN, "https://web.drawpile.net"), "101");
    let v = audit(&m);
    let found = v["findings"].to_string();
    for id in ["DPW-PROXY-003", "DPW-LIVE-005"] {
        assert!(found.contains(id), "{id}: {v}");
    }
    for id in [
        "DPW-PROXY-004",
        "DPW-PROXY-005",
        "DPW-PROXY-006",
        "DPW-LIVE-004",
        "DPW-LIVE-006",
    ] {
        assert!(v["passed"].to_string().contains(id), "{id}: {v}");
    }
}
