//! `dpwizard audit` on a corpus of real-world setups, each a fake Debian VPS built here (the
//! real nginx validates them where the test runs as root). Every case asserts the exact ids
//! of the checks that fire: the expected ids follow from what the case breaks, one mistake
//! at a time, on top of a setup that is right in every other respect.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::drawpile::Build;
use crate::support::nginx::trees;
use crate::support::systemd::{upstream_service, upstream_socket};
use crate::support::*;

const DOMAIN: &str = "paint.example.com";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The documented location (drawpile.md, "The reverse proxy").
pub const DOC_LOCATION: &str = r#"    location /drawpile-web/ws {
        if ($http_origin !~ "^(https://web\.(drawpile\.net|foxdice\.cn))?$") {
            return 403;
        }
        proxy_pass http://localhost:27751;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header X-Real-IP $remote_addr;
    }
"#;

/// How the certificate of a case is made.
#[derive(Clone, Copy)]
pub struct CertSpec {
    pub name: &'static str,
    /// Validity starts this many days from now (negative: in the past) and lasts `days`.
    pub start_days: i64,
    pub days: i64,
    /// Issued by a CA (full chain), else self-signed.
    pub ca: bool,
    pub key_matches: bool,
}

pub const GOOD_CERT: CertSpec = CertSpec {
    name: DOMAIN,
    start_days: -10,
    days: 90,
    ca: true,
    key_matches: true,
};

/// (leaf PEM, chain PEM, key PEM) for the spec.
pub fn make_cert(spec: CertSpec) -> (String, String, String) {
    let start =
        time::OffsetDateTime::from_unix_timestamp(now() + spec.start_days * 86_400).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "Test Intermediate R1");
    ca_params.distinguished_name = dn;
    ca_params.not_before = start - time::Duration::days(30);
    ca_params.not_after = start + time::Duration::days(3650);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let mut params = rcgen::CertificateParams::new(vec![spec.name.to_string()]).unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, spec.name);
    params.distinguished_name = dn;
    params.not_before = start;
    params.not_after = start + time::Duration::days(spec.days);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = if spec.ca {
        params.signed_by(&key, &issuer).unwrap()
    } else {
        params.self_signed(&key).unwrap()
    };
    let key_pem = if spec.key_matches {
        key.serialize_pem()
    } else {
        rcgen::KeyPair::generate().unwrap().serialize_pem()
    };
    let chain = if spec.ca {
        ca_cert.pem()
    } else {
        String::new()
    };
    (leaf.pem(), chain, key_pem)
}

/// A certbot lineage for DOMAIN with a CA-issued (or self-signed) certificate, its renewal
/// configuration (with a deploy hook when `hook`) and Debian's certbot cron job.
pub fn lineage(m: &FakeMachine, spec: CertSpec, hook: bool, cron: bool) {
    lineage_for(m, DOMAIN, spec, hook, cron);
}

/// [`lineage`] for another domain (`spec.name` is what the certificate names).
pub fn lineage_for(m: &FakeMachine, domain: &str, spec: CertSpec, hook: bool, cron: bool) {
    let (leaf, chain, key) = make_cert(spec);
    let archive = format!("/etc/letsencrypt/archive/{domain}");
    m.file(&format!("{archive}/cert1.pem"), &leaf)
        .file(&format!("{archive}/chain1.pem"), &chain)
        .file(
            &format!("{archive}/fullchain1.pem"),
            format!("{leaf}{chain}"),
        )
        .file(&format!("{archive}/privkey1.pem"), &key)
        .chmod(&format!("{archive}/privkey1.pem"), 0o600);
    for f in ["cert", "chain", "fullchain", "privkey"] {
        m.symlink(
            &format!("/etc/letsencrypt/live/{domain}/{f}.pem"),
            &format!("../../archive/{domain}/{f}1.pem"),
        );
    }
    let hook_line = if hook {
        "renew_hook = systemctl reload nginx\n"
    } else {
        ""
    };
    m.file(
        &format!("/etc/letsencrypt/renewal/{domain}.conf"),
        format!(
            "version = 2.1.0\narchive_dir = /etc/letsencrypt/archive/{domain}\n\
             cert = /etc/letsencrypt/live/{domain}/cert.pem\n\
             privkey = /etc/letsencrypt/live/{domain}/privkey.pem\n\
             chain = /etc/letsencrypt/live/{domain}/chain.pem\n\
             fullchain = /etc/letsencrypt/live/{domain}/fullchain.pem\n\n\
             [renewalparams]\naccount = 0123456789abcdef\nauthenticator = webroot\n\
             webroot_path = /var/www/html,\nserver = https://acme-v02.api.letsencrypt.org/directory\n\
             {hook_line}\n[[webroot_map]]\n{domain} = /var/www/html\n"
        ),
    )
    .file(
        "/etc/letsencrypt/options-ssl-nginx.conf",
        trees::CERTBOT_OPTIONS,
    );
    if cron {
        m.file(
            "/etc/cron.d/certbot",
            "SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n\n\
             0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew --no-random-sleep-on-renew\n",
        );
    }
}

/// The site: a 443 TLS server with `location` and `server_extra`, and the port-80 server
/// (with `http_extra`) that redirects.
pub fn site(m: &FakeMachine, location: &str, server_extra: &str, http_extra: &str) {
    let cert = format!("/etc/letsencrypt/live/{DOMAIN}/fullchain.pem");
    site_with_cert(m, location, server_extra, http_extra, &cert);
}

pub fn site_with_cert(
    m: &FakeMachine,
    location: &str,
    server_extra: &str,
    http_extra: &str,
    cert: &str,
) {
    let text = format!(
        "server {{\n    server_name {DOMAIN};\n    root /var/www/html;\n{server_extra}\n{location}\n\
         \x20   listen 443 ssl;\n    listen [::]:443 ssl;\n\
         \x20   ssl_certificate {cert};\n\
         \x20   ssl_certificate_key /etc/letsencrypt/live/{DOMAIN}/privkey.pem;\n\
         \x20   include /etc/letsencrypt/options-ssl-nginx.conf;\n}}\n\
         server {{\n    listen 80;\n    listen [::]:80;\n    server_name {DOMAIN};\n{http_extra}\n\
         \x20   location /.well-known/acme-challenge/ {{ root /var/www/html; }}\n\
         \x20   location / {{ return 301 https://$host$request_uri; }}\n}}\n"
    );
    m.file(&format!("/etc/nginx/sites-available/{DOMAIN}"), text);
    if !m
        .path(&format!("/etc/nginx/sites-enabled/{DOMAIN}"))
        .exists()
    {
        m.symlink(
            &format!("/etc/nginx/sites-enabled/{DOMAIN}"),
            &format!("/etc/nginx/sites-available/{DOMAIN}"),
        );
    }
}

pub const GOOD_ARGS: &str = "--websocket-port 27751 --websocket-listen 127.0.0.1";

/// drawpile-srv `build` from the upstream unit, with a drop-in giving `args`.
pub fn server(m: &FakeMachine, build: &Build, args: Option<&str>) {
    let v22 = build.version.starts_with("2.2");
    m.with_drawpile("/usr/local/bin/drawpile-srv", build)
        .unit_in(
            "/usr/local/lib/systemd/system",
            "drawpile-srv.service",
            &upstream_service("/usr/local", v22),
        );
    m.enable(
        "drawpile-srv.service",
        "multi-user.target",
        "/usr/local/lib/systemd/system/drawpile-srv.service",
    );
    let dropins = m.path("/etc/systemd/system/drawpile-srv.service.d");
    if dropins.exists() {
        std::fs::remove_dir_all(dropins).unwrap();
    }
    if let Some(a) = args {
        m.dropin(
            "drawpile-srv.service",
            "override.conf",
            &format!("[Service]\nExecStart=\nExecStart=/usr/local/bin/drawpile-srv {a}\n"),
        );
    }
}

/// The right setup in every respect: 2.3.0 from the upstream unit with the WebSocket port on
/// loopback, the documented location in the 443 server, a CA-issued certificate renewed by
/// certbot's cron job with a reload hook.
pub fn good() -> FakeMachine {
    let m = FakeMachine::debian12();
    trees::debian_default(m.root());
    lineage(&m, GOOD_CERT, true, true);
    site(&m, DOC_LOCATION, "", "");
    server(&m, &Build::v("2.3.0"), Some(GOOD_ARGS));
    m
}

/// Runs the audit offline and returns the ids of the findings, and the whole report.
pub fn audit(m: &FakeMachine, extra: &[&str]) -> (Vec<String>, serde_json::Value, i32) {
    let mut args = vec!["audit", "--offline", "--json"];
    args.extend_from_slice(extra);
    let run = m.dpwizard(args);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    let v: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    let ids = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    (ids, v, run.code)
}

pub fn assert_findings(m: &FakeMachine, extra: &[&str], expected: &[&str]) -> serde_json::Value {
    let (ids, v, code) = audit(m, extra);
    assert_eq!(
        ids,
        expected,
        "{}",
        serde_json::to_string_pretty(&v["findings"]).unwrap()
    );
    let errors = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["severity"] == "error");
    assert_eq!(code, i32::from(errors), "exit code follows the errors");
    // Every finding carries what an admin needs to act on it.
    for f in v["findings"].as_array().unwrap() {
        for k in ["title", "why", "fix"] {
            assert!(!f[k].as_str().unwrap().is_empty(), "{f}");
        }
        assert!(!f["evidence"].as_array().unwrap().is_empty(), "{f}");
    }
    v
}

/// `nginx -t` can check a tree under --root (root, for the namespaces, and nginx).
fn nginx_test_available() -> bool {
    is_root() && which_host("nginx").is_some() && which_host("unshare").is_some()
}

/// The good setup with another certificate.
fn with_cert(spec: CertSpec) -> FakeMachine {
    let m = good();
    lineage(&m, spec, true, true);
    m
}

fn with_location(location: &str) -> FakeMachine {
    let m = good();
    site(&m, location, "", "");
    m
}

#[test]
fn a_good_setup_passes_every_check_it_can_judge() {
    let m = good();
    let v = assert_findings(&m, &[], &[]);
    let passed: Vec<&str> = v["passed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for id in [
        "DPW-SRV-001",
        "DPW-SRV-002",
        "DPW-SRV-004",
        "DPW-SRV-005",
        "DPW-SRV-006",
        "DPW-SRV-008",
        "DPW-PROXY-001",
        "DPW-PROXY-002",
        "DPW-PROXY-003",
        "DPW-PROXY-004",
        "DPW-PROXY-006",
        "DPW-PROXY-007",
        "DPW-PROXY-010",
        "DPW-TLS-002",
        "DPW-TLS-003",
        "DPW-TLS-006",
        "DPW-TLS-008",
        "DPW-TLS-009",
        "DPW-DNS-001",
    ] {
        assert!(passed.contains(&id), "{id} not passed: {passed:?}");
    }
    if nginx_test_available() {
        assert!(passed.contains(&"DPW-PROXY-012"), "nginx -t: {v}");
    }
    // Offline: the live probes are skipped, with the reason.
    let skipped = v["skipped"].as_array().unwrap();
    let live = skipped.iter().find(|s| s["id"] == "DPW-LIVE-004").unwrap();
    assert_eq!(live["reason"], "--offline");
    assert_eq!(v["domain"], DOMAIN);
    assert_eq!(v["schema_version"], 1);
}

#[test]
fn a_good_setup_written_by_hand_in_another_style_raises_no_false_alarm() {
    // conf.d instead of sites-enabled, `location =`, a case-insensitive regex with an empty
    // alternative, headers set at server level (inherited), Connection from a map, an
    // explicit 127.0.0.1 upstream, the key and certificate outside /etc/letsencrypt/live.
    let m = good();
    std::fs::remove_file(m.path(&format!("/etc/nginx/sites-enabled/{DOMAIN}"))).unwrap();
    m.file(
        "/etc/nginx/conf.d/drawpile.conf",
        format!(
            "map $http_upgrade $connection_upgrade {{\n  default upgrade;\n  '' close;\n}}\n\
             server {{\n  listen 443 ssl http2;\n  server_name {DOMAIN} www.{DOMAIN};\n\
             \x20 ssl_certificate /etc/letsencrypt/live/{DOMAIN}/fullchain.pem;\n\
             \x20 ssl_certificate_key /etc/letsencrypt/live/{DOMAIN}/privkey.pem;\n\
             \x20 proxy_http_version 1.1;\n\
             \x20 proxy_set_header X-Real-IP $remote_addr;\n\
             \x20 proxy_set_header Upgrade $http_upgrade;\n\
             \x20 proxy_set_header Connection $connection_upgrade;\n\
             \x20 location = /drawpile-web/ws {{\n\
             \x20   if ($http_origin !~* ^(|https://web\\.drawpile\\.net|https://web\\.foxdice\\.cn)$) {{ return 403; }}\n\
             \x20   proxy_pass http://127.0.0.1:27751;\n  }}\n}}\n"
        ),
    );
    assert_findings(&m, &[], &[]);
}

#[test]
fn origin_check_from_before_2025_refuses_the_desktop_app() {
    let m = with_location(&DOC_LOCATION.replace(
        r#""^(https://web\.(drawpile\.net|foxdice\.cn))?$""#,
        r#""^https://web\.(drawpile\.net|foxdice\.cn)$""#,
    ));
    let v = assert_findings(&m, &[], &["DPW-PROXY-003"]);
    let ev = v["findings"][0]["evidence"][0].as_str().unwrap();
    assert!(
        ev.starts_with(&format!("/etc/nginx/sites-enabled/{DOMAIN}:")),
        "{ev}"
    );
}

#[test]
fn origin_equality_check_refuses_the_app_and_the_mirror() {
    let m = with_location(&DOC_LOCATION.replace(
        r#"!~ "^(https://web\.(drawpile\.net|foxdice\.cn))?$""#,
        r#"!= "https://web.drawpile.net""#,
    ));
    assert_findings(&m, &[], &["DPW-PROXY-003", "DPW-PROXY-005"]);
}

#[test]
fn origin_check_naming_only_the_admins_host_locks_out_the_web_client() {
    let m = with_location(&DOC_LOCATION.replace(
        r#""^(https://web\.(drawpile\.net|foxdice\.cn))?$""#,
        r#""^https://paint\.example\.com$""#,
    ));
    let v = assert_findings(
        &m,
        &[],
        &["DPW-PROXY-003", "DPW-PROXY-004", "DPW-PROXY-005"],
    );
    let ev = v["findings"][1]["evidence"].to_string();
    assert!(ev.contains("replaced the official origins"), "{ev}");
}

#[test]
fn no_origin_check_lets_any_site_in() {
    let loc: String = DOC_LOCATION
        .lines()
        .filter(|l| !l.contains("http_origin") && !l.contains("return 403") && l.trim() != "}")
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "    }\n";
    let m = with_location(&loc);
    assert_findings(&m, &[], &["DPW-PROXY-006"]);
}

#[test]
fn missing_x_real_ip() {
    let m = with_location(
        &DOC_LOCATION.replace("        proxy_set_header X-Real-IP $remote_addr;\n", ""),
    );
    assert_findings(&m, &[], &["DPW-PROXY-010"]);
}

#[test]
fn server_level_proxy_pass_request_headers_off_not_reverted() {
    let m = good();
    site(
        &m,
        DOC_LOCATION,
        "    proxy_pass_request_headers off;\n",
        "",
    );
    let v = assert_findings(&m, &[], &["DPW-PROXY-011"]);
    assert!(
        v["findings"][0]["evidence"][0]
            .as_str()
            .unwrap()
            .contains("proxy_pass_request_headers off")
    );
    // Turned back on inside the location: fine.
    site(
        &m,
        &DOC_LOCATION.replace(
            "proxy_http_version 1.1;",
            "proxy_http_version 1.1;\n        proxy_pass_request_headers on;",
        ),
        "    proxy_pass_request_headers off;\n",
        "",
    );
    assert_findings(&m, &[], &[]);
}

#[test]
fn location_only_in_the_port_80_server() {
    let m = good();
    site(&m, "", "", DOC_LOCATION);
    let v = assert_findings(&m, &[], &["DPW-PROXY-002"]);
    assert!(
        v["findings"][0]["evidence"]
            .to_string()
            .contains("without TLS on 443")
    );
}

#[test]
fn location_at_a_wrong_path() {
    let m = with_location(&DOC_LOCATION.replace(
        "location /drawpile-web/ws {",
        "location /drawpile-web/ws/ {",
    ));
    assert_findings(&m, &["--domain", DOMAIN], &["DPW-PROXY-002"]);
    // Without --domain nothing serves the path, so the domain is unknown too.
    let (ids, _, _) = audit(&m, &[]);
    assert_eq!(ids, ["DPW-PROXY-001", "DPW-PROXY-002"]);
}

#[test]
fn wrong_proxy_pass_port() {
    let m = with_location(&DOC_LOCATION.replace("localhost:27751", "localhost:27752"));
    assert_findings(&m, &[], &["DPW-PROXY-007"]);
}

#[test]
fn proxy_without_http_11_and_upgrade_headers() {
    let loc: String = DOC_LOCATION
        .lines()
        .filter(|l| !l.contains("proxy_http_version") && !l.contains("Connection"))
        .map(|l| format!("{l}\n"))
        .collect();
    let m = with_location(&loc);
    assert_findings(&m, &[], &["DPW-PROXY-008", "DPW-PROXY-009"]);
}

#[test]
fn leftover_socket_beside_230() {
    let m = good();
    m.unit_in(
        "/usr/local/lib/systemd/system",
        "drawpile-srv.socket",
        &upstream_socket(true, true),
    )
    .enable(
        "drawpile-srv.socket",
        "sockets.target",
        "/usr/local/lib/systemd/system/drawpile-srv.socket",
    );
    assert_findings(&m, &[], &["DPW-SRV-010"]);
}

#[test]
fn socket_22x_without_the_admin_slot() {
    let m = good();
    server(&m, &Build::v("2.2.2"), Some(GOOD_ARGS));
    m.unit_in(
        "/usr/local/lib/systemd/system",
        "drawpile-srv.socket",
        &upstream_socket(false, true),
    )
    .enable(
        "drawpile-srv.socket",
        "sockets.target",
        "/usr/local/lib/systemd/system/drawpile-srv.socket",
    );
    // The WebSocket socket lands in the web admin slot: no WebSocket listener at all, and
    // the drop-in's --websocket-port is ignored while sockets are passed.
    let v = assert_findings(
        &m,
        &[],
        &["DPW-SRV-003", "DPW-SRV-006", "DPW-SRV-011", "DPW-SRV-017"],
    );
    assert!(
        v["findings"][1]["evidence"]
            .to_string()
            .contains("is ignored")
    );
}

#[test]
fn socket_22x_with_three_slots_listens_publicly() {
    let m = good();
    server(&m, &Build::v("2.2.2"), None);
    m.unit_in(
        "/usr/local/lib/systemd/system",
        "drawpile-srv.socket",
        &upstream_socket(true, true),
    )
    .enable(
        "drawpile-srv.socket",
        "sockets.target",
        "/usr/local/lib/systemd/system/drawpile-srv.socket",
    );
    // Three slots in order, but a 2.2.x socket fails for good after the first autostop.
    assert_findings(&m, &[], &["DPW-SRV-003", "DPW-SRV-008", "DPW-SRV-017"]);
}

/// A service nothing starts at boot (an installer that relied on the socket left it
/// disabled): off after the next reboot. dpwizard enables it.
#[test]
fn a_disabled_service_does_not_come_back_after_a_reboot() {
    let m = good();
    std::fs::remove_file(
        m.path("/etc/systemd/system/multi-user.target.wants/drawpile-srv.service"),
    )
    .unwrap();
    let v = assert_findings(&m, &[], &["DPW-SRV-016"]);
    assert!(v["findings"][0]["fixable"].as_bool().unwrap());
    let (_d, a) = answers_file(&format!("[site]\ndomain = \"{DOMAIN}\"\n"));
    assert_eq!(m.dpwizard(["apply", "--yes", "--answers", &a]).code, 0);
    assert_findings(&m, &[], &[]);
}

/// A second TLS server for the same name (e.g. a site written next to the admin's): nginx
/// uses the first and ignores the other's locations.
#[test]
fn two_tls_servers_for_one_name() {
    let m = good();
    m.file(
        &format!("/etc/nginx/sites-enabled/zz-{DOMAIN}"),
        format!(
            "server {{\n    listen 443 ssl;\n    server_name {DOMAIN};\n    ssl_certificate /etc/letsencrypt/live/{DOMAIN}/fullchain.pem;\n    ssl_certificate_key /etc/letsencrypt/live/{DOMAIN}/privkey.pem;\n    location / {{ return 404; }}\n}}\n"
        ),
    );
    let v = assert_findings(&m, &[], &["DPW-PROXY-014"]);
    let ev = v["findings"][0]["evidence"].to_string();
    assert!(ev.contains(&format!("zz-{DOMAIN}:1: ignored")), "{ev}");
}

#[test]
fn no_websocket_port_configured() {
    let m = good();
    std::fs::remove_dir_all(m.path("/etc/systemd/system/drawpile-srv.service.d")).unwrap();
    assert_findings(&m, &[], &["DPW-SRV-006"]);
}

#[test]
fn websocket_port_on_every_interface_behind_a_local_proxy() {
    let m = good();
    server(&m, &Build::v("2.3.0"), Some("--websocket-port 27751"));
    assert_findings(&m, &[], &["DPW-SRV-008"]);
}

#[test]
fn unit_without_user_runs_as_root() {
    let m = good();
    m.file(
        "/usr/local/lib/systemd/system/drawpile-srv.service",
        upstream_service("/usr/local", false).replace("User=nobody\n", ""),
    );
    assert_findings(&m, &[], &["DPW-SRV-005"]);
}

#[test]
fn appimage_unit_with_type_notify() {
    let m = good();
    m.with_drawpile("/opt/Drawpile.AppImage", &Build::v("2.3.0").appimage());
    m.dropin(
        "drawpile-srv.service",
        "override.conf",
        &format!("[Service]\nExecStart=\nExecStart=/opt/Drawpile.AppImage --server {GOOD_ARGS}\n"),
    );
    assert_findings(&m, &[], &["DPW-SRV-009"]);
}

#[test]
fn version_220_has_no_websockets_at_all() {
    let m = good();
    server(&m, &Build::v("2.2.0").without_websockets(), None);
    assert_findings(
        &m,
        &[],
        &["DPW-SRV-002", "DPW-SRV-003", "DPW-SRV-004", "DPW-SRV-006"],
    );
}

#[test]
fn build_222_without_qtwebsockets() {
    let m = good();
    server(&m, &Build::v("2.2.2").without_websockets(), Some(GOOD_ARGS));
    assert_findings(&m, &[], &["DPW-SRV-003", "DPW-SRV-004"]);
}

#[test]
fn expired_certificate() {
    let m = with_cert(CertSpec {
        start_days: -100,
        days: 90,
        ..GOOD_CERT
    });
    assert_findings(&m, &[], &["DPW-TLS-004"]);
}

#[test]
fn certificate_expiring_in_ten_days() {
    let m = with_cert(CertSpec {
        start_days: -80,
        days: 90,
        ..GOOD_CERT
    });
    assert_findings(&m, &[], &["DPW-TLS-005"]);
}

#[test]
fn certificate_for_another_name() {
    let m = with_cert(CertSpec {
        name: "other.example.net",
        ..GOOD_CERT
    });
    let v = assert_findings(&m, &[], &["DPW-TLS-002"]);
    assert!(
        v["findings"][0]["evidence"][0]
            .as_str()
            .unwrap()
            .contains("other.example.net")
    );
}

#[test]
fn key_that_does_not_match() {
    let m = with_cert(CertSpec {
        key_matches: false,
        ..GOOD_CERT
    });
    // nginx itself refuses a key that does not match, where it can be asked.
    if nginx_test_available() {
        let v = assert_findings(&m, &[], &["DPW-PROXY-012", "DPW-TLS-003"]);
        assert!(
            v["findings"][0]["evidence"]
                .to_string()
                .contains("key values mismatch")
        );
    } else {
        assert_findings(&m, &[], &["DPW-TLS-003"]);
    }
}

#[test]
fn certificate_without_its_intermediate() {
    let m = good();
    site_with_cert(
        &m,
        DOC_LOCATION,
        "",
        "",
        &format!("/etc/letsencrypt/live/{DOMAIN}/cert.pem"),
    );
    assert_findings(&m, &[], &["DPW-TLS-006"]);
}

#[test]
fn self_signed_certificate() {
    let m = with_cert(CertSpec {
        ca: false,
        ..GOOD_CERT
    });
    assert_findings(&m, &[], &["DPW-TLS-007"]);
}

#[test]
fn renewal_without_schedule_or_reload_hook() {
    let m = good();
    std::fs::remove_file(m.path("/etc/cron.d/certbot")).unwrap();
    lineage(&m, GOOD_CERT, false, false);
    assert_findings(&m, &[], &["DPW-TLS-008", "DPW-TLS-009"]);
}

#[test]
fn no_tls_server_at_all() {
    let m = good();
    std::fs::remove_file(m.path(&format!("/etc/nginx/sites-enabled/{DOMAIN}"))).unwrap();
    assert_findings(
        &m,
        &["--domain", DOMAIN],
        &["DPW-PROXY-001", "DPW-PROXY-002"],
    );
}

#[test]
fn ip_address_as_server_name() {
    let m = good();
    let text = m.read(&format!("/etc/nginx/sites-available/{DOMAIN}"));
    m.file(
        &format!("/etc/nginx/sites-available/{DOMAIN}"),
        text.replace(
            &format!("server_name {DOMAIN};"),
            "server_name 203.0.113.5;",
        ),
    );
    let v = assert_findings(&m, &[], &["DPW-TLS-002", "DPW-DNS-001"]);
    assert!(
        v["findings"][1]["evidence"][0]
            .as_str()
            .unwrap()
            .contains("203.0.113.5")
    );
}

#[test]
fn firewall_without_https_or_drawpile_rules() {
    let m = good();
    m.file("/etc/ufw/ufw.conf", "ENABLED=yes\nLOGLEVEL=low\n").file(
        "/etc/ufw/user.rules",
        "*filter\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n\
         -A ufw-user-input -p tcp --dport 22 -j ACCEPT\n### tuple ### deny tcp 443 0.0.0.0/0 any 0.0.0.0/0 in\nCOMMIT\n",
    );
    assert_findings(&m, &[], &["DPW-NET-002", "DPW-NET-003"]);
    m.file(
        "/etc/ufw/user.rules",
        "*filter\n### tuple ### allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 Nginx%20Full - in\n\
         ### tuple ### allow tcp 27750 0.0.0.0/0 any 0.0.0.0/0 in\nCOMMIT\n",
    );
    assert_findings(&m, &[], &[]);
}

#[test]
fn access_log_shows_refused_apps_and_a_down_backend() {
    let m = good();
    let t = time::OffsetDateTime::from_unix_timestamp(now() - 3600).unwrap();
    let fmt = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    let stamp = t.format(&fmt).unwrap();
    let old = time::OffsetDateTime::from_unix_timestamp(now() - 30 * 86_400)
        .unwrap()
        .format(&fmt)
        .unwrap();
    m.file(
        "/var/log/nginx/access.log",
        format!(
            "203.0.113.7 - - [{stamp}] \"GET /drawpile-web/ws HTTP/1.1\" 403 153 \"-\" \"DrawpileClient/2.3.0\"\n\
             203.0.113.9 - - [{stamp}] \"GET /drawpile-web/ws HTTP/1.1\" 502 157 \"-\" \"Mozilla/5.0\"\n\
             203.0.113.9 - - [{old}] \"GET /drawpile-web/ws HTTP/1.1\" 403 157 \"-\" \"Mozilla/5.0\"\n"
        ),
    );
    let v = assert_findings(&m, &[], &["DPW-LOG-003", "DPW-LOG-005"]);
    assert!(
        v["findings"][0]["evidence"]
            .to_string()
            .contains("203.0.113.7")
    );
    // A longer window takes in the old browser 403 too: with an Origin check that lets
    // the web client in, that is another site's page refused, as it should be.
    assert_findings(&m, &["--since", "60d"], &["DPW-LOG-003", "DPW-LOG-005"]);
    // With a check that refuses the web client, the same 403 is a browser locked out.
    site(
        &m,
        &DOC_LOCATION.replace(r"drawpile\.net|foxdice\.cn", r"foxdice\.cn"),
        "",
        "",
    );
    assert_findings(
        &m,
        &["--since", "60d"],
        &["DPW-PROXY-004", "DPW-LOG-003", "DPW-LOG-004", "DPW-LOG-005"],
    );
}

#[test]
fn nothing_installed() {
    let m = FakeMachine::debian12();
    let (ids, _, code) = audit(&m, &[]);
    assert_eq!(ids, ["DPW-SRV-001", "DPW-PROXY-001", "DPW-PROXY-002"]);
    assert_eq!(code, 1);
}

#[test]
fn audit_docs_checks_md_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/checks.md");
    let want = dpwizard::audit::render::checks_md();
    if std::env::var_os("DPWIZARD_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/checks.md is stale: run DPWIZARD_BLESS=1 cargo test --test it audit_docs"
    );
    // Every check of the catalogue has its row.
    for c in dpwizard::audit::catalogue::ALL {
        assert!(
            have.contains(&format!("| {} | {} |", c.id, c.severity.as_str())),
            "{}",
            c.id
        );
    }
}

#[test]
fn audit_changes_nothing_not_even_a_timestamp() {
    let m = good();
    m.file("/var/log/nginx/access.log", "");
    let before = crate::readonly::snapshot(m.root());
    for args in [
        vec!["audit"],
        vec!["audit", "--json", "-v"],
        vec!["audit", "--format", "sarif"],
        vec!["answers", "--from-machine"],
    ] {
        let run = m.dpwizard(args.clone());
        assert!(run.code == 0 || run.code == 1, "{args:?}: {run:?}");
    }
    let after = crate::readonly::snapshot(m.root());
    assert_eq!(before.len(), after.len(), "files were added or removed");
    for (k, v) in &before {
        assert_eq!(Some(v), after.get(k), "{k} changed");
    }
}

#[test]
fn text_report_sarif_and_exit_codes() {
    let m = with_location(
        &DOC_LOCATION.replace("        proxy_set_header X-Real-IP $remote_addr;\n", ""),
    );
    // A warning alone: exit 0, or 1 with --strict.
    let run = m.dpwizard(["--color", "never", "audit", "--offline"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_contains_all(
        &run.stdout,
        &[
            &format!("dpwizard audit of {DOMAIN}"),
            "Reverse proxy",
            "  ✓ the Origin check lets in the desktop app (no Origin)",
            "  ! X-Real-IP is passed on [DPW-PROXY-010]",
            "no proxy_set_header X-Real-IP",
            "fix: Add `proxy_set_header X-Real-IP $remote_addr;` to the location.",
            "0 error(s), 1 warning(s)",
        ],
    );
    assert!(!run.stdout.contains('\u{1b}'), "--color never");
    assert_eq!(m.dpwizard(["audit", "--offline", "--strict"]).code, 1);

    let run = m.dpwizard(["audit", "--offline", "--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "DPW-PROXY-010");
    assert_eq!(results[0]["level"], "warning");
    let uri = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert_eq!(uri, format!("file:///etc/nginx/sites-enabled/{DOMAIN}"));
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), dpwizard::audit::catalogue::ALL.len());

    // Usage errors: exit 2 with the reason.
    for bad in [
        ["--since", "7"],
        ["--since", "0d"],
        ["--format", "xml"],
        ["--domain", "paint.example.com\r\nX-Evil: 1"],
        ["--domain", "203.0.113.5"],
    ] {
        let run = m.dpwizard(["audit", bad[0], bad[1]]);
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        assert!(run.stderr.contains(bad[0]), "{run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
    }
}

#[test]
fn from_machine_reproduces_a_hand_made_setup_and_apply_with_it_is_a_no_op() {
    let m = good();
    site(
        &m,
        &DOC_LOCATION.replace(
            r#"foxdice\.cn))?$""#,
            r#"foxdice\.cn)|https://paint\.example\.org)?$""#,
        ),
        "",
        "",
    );
    let run = m.dpwizard(["answers", "--from-machine"]);
    assert_eq!(run.code, 0, "{run:?}");
    let text = run.stdout;
    let a = dpwizard::answers::parse("from-machine.toml", &text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(a.site.domain.as_str(), DOMAIN);
    assert_eq!(a.drawpile.websocket_port.map(|p| p.get()), Some(27751));
    assert_eq!(
        a.drawpile
            .websocket_listen
            .map(|l| l.to_string())
            .as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        a.proxy
            .extra_origins
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>(),
        ["https://paint.example.org"]
    );
    assert_eq!(
        a.tls.certificate.as_ref().map(|c| c.as_str()),
        Some(format!("/etc/letsencrypt/live/{DOMAIN}/fullchain.pem").as_str())
    );
    assert!(
        text.contains("# from server_name at /etc/nginx/sites-enabled/"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.toml");
    std::fs::write(&f, &text).unwrap();
    let plan = m.dpwizard(["plan", "--check", "--answers", f.to_str().unwrap()]);
    assert_eq!(
        plan.code, 0,
        "apply would change a sound setup:\n{}{}\n{text}",
        plan.stdout, plan.stderr
    );

    // Nothing to go on: a clear message and exit 2.
    let empty = FakeMachine::debian12();
    let run = empty.dpwizard(["answers", "--from-machine"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--domain"), "{run:?}");
}

#[test]
fn a_setup_made_by_apply_audits_all_green() {
    let m = FakeMachine::debian12();
    trees::debian_default(m.root());
    lineage(&m, GOOD_CERT, true, true);
    server(&m, &Build::v("2.3.0"), Some("--port 27750"));
    let (_d, a) = answers_file(&format!("[site]\ndomain = \"{DOMAIN}\"\n"));
    let (ids, _, _) = audit(&m, &[]);
    assert!(
        ids.contains(&"DPW-PROXY-002".to_string()),
        "before apply: {ids:?}"
    );
    let run = m.dpwizard(["apply", "--yes", "--answers", &a]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_findings(&m, &[], &[]);
    // And the exported answers reproduce it.
    let out = m.dpwizard(["answers", "--from-machine"]);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.toml");
    std::fs::write(&f, &out.stdout).unwrap();
    assert_eq!(
        m.dpwizard(["plan", "--check", "--answers", f.to_str().unwrap()])
            .code,
        0,
        "{}",
        out.stdout
    );
}

/// A `docker` answering like a daemon with one drawpile container (the shapes of the
/// recorded real output: `version` JSON, `ps` JSON lines, `inspect` array), with the given
/// arguments and published ports (`"27751/tcp":[{"HostIp":"127.0.0.1","HostPort":"27751"}]`).
fn docker_machine(args: &[&str], ports: &str) -> FakeMachine {
    let m = good();
    std::fs::remove_file(m.path("/usr/local/lib/systemd/system/drawpile-srv.service")).unwrap();
    std::fs::remove_dir_all(m.path("/etc/systemd/system/drawpile-srv.service.d")).unwrap();
    let args = serde_json::to_string(args).unwrap();
    m.with_host_docker(&format!(
        r#"#!/bin/sh
case "$1" in
version) echo '{{"Client":{{"Version":"28.2.2"}},"Server":{{"Version":"20.10.24+dfsg1"}}}}' ;;
ps) echo '{{"ID":"aaaa","Image":"drawpile/drawpile-srv:2.3.0","Names":"paint","State":"running"}}' ;;
inspect) cat <<'JSON'
[{{"Id":"aaaa","Name":"/paint","Args":{args},
  "State":{{"Status":"running"}},"Config":{{"Image":"drawpile/drawpile-srv:2.3.0","Env":[]}},
  "HostConfig":{{"NetworkMode":"default","RestartPolicy":{{"Name":"unless-stopped"}}}},
  "NetworkSettings":{{"Ports":{{"27750/tcp":[{{"HostIp":"0.0.0.0","HostPort":"27750"}}],{ports}}}}},
  "Mounts":[{{"Type":"volume","Name":"dpdata","Destination":"/home/drawpile"}}]}}]
JSON
;;
*) exit 1 ;;
esac
"#
    ));
    m
}

#[test]
fn docker_container_set_up_right() {
    let m = docker_machine(
        &["--websocket-port", "27751"],
        r#""27751/tcp":[{"HostIp":"127.0.0.1","HostPort":"27751"}]"#,
    );
    let v = assert_findings(&m, &[], &[]);
    assert!(
        v["instance"]
            .as_str()
            .unwrap()
            .starts_with("container paint"),
        "{v}"
    );
}

#[test]
fn docker_with_websocket_listen_loopback_inside_the_container() {
    let m = docker_machine(
        &[
            "--websocket-port",
            "27751",
            "--websocket-listen",
            "127.0.0.1",
        ],
        r#""27751/tcp":[{"HostIp":"127.0.0.1","HostPort":"27751"}]"#,
    );
    assert_findings(&m, &[], &["DPW-SRV-007"]);
}

#[test]
fn docker_publishing_websocket_and_web_admin_on_every_address() {
    let m = docker_machine(
        &["--websocket-port", "27751", "--web-admin-port", "27780"],
        r#""27751/tcp":[{"HostIp":"0.0.0.0","HostPort":"27751"}],"27780/tcp":[{"HostIp":"0.0.0.0","HostPort":"27780"}]"#,
    );
    assert_findings(&m, &[], &["DPW-SRV-008", "DPW-SRV-012", "DPW-SRV-013"]);
}

#[test]
fn apply_fixes_what_the_audit_finds_in_a_hand_written_location() {
    let bad = DOC_LOCATION
        .replace(
            r#""^(https://web\.(drawpile\.net|foxdice\.cn))?$""#,
            r#""^https://web\.(drawpile\.net|foxdice\.cn)$""#,
        )
        .replace("        proxy_set_header X-Real-IP $remote_addr;\n", "");
    let m = with_location(&bad);
    let site = format!("/etc/nginx/sites-available/{DOMAIN}");
    let before = m.read(&site);
    let (ids, _, _) = audit(&m, &[]);
    assert_eq!(ids, ["DPW-PROXY-003", "DPW-PROXY-010"]);
    let (_d, a) = answers_file(&format!("[site]\ndomain = \"{DOMAIN}\"\n"));
    let run = m.dpwizard(["--color", "never", "apply", "--yes", "--answers", &a]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("is replaced by the documented one"),
        "{}",
        run.stdout
    );
    assert_findings(&m, &[], &[]);
    // Only the location's lines changed: the rest of the file is byte for byte the same.
    let after = m.read(&site);
    let loc_start = before.find("    location /drawpile-web/ws {").unwrap();
    let loc_end = loc_start + bad.len();
    let begin = after.find("    # BEGIN dpwizard").unwrap();
    let end = after.find("# END dpwizard\n").unwrap() + "# END dpwizard\n".len();
    assert_eq!(&after[..begin], &before[..loc_start]);
    assert_eq!(&after[end..], &before[loc_end..]);
    // A second run changes nothing.
    assert_eq!(m.dpwizard(["plan", "--check", "--answers", &a]).code, 0);
}

#[test]
fn a_unit_running_docker_run_is_judged_as_a_container() {
    let m = good();
    std::fs::remove_file(m.path("/usr/local/lib/systemd/system/drawpile-srv.service")).unwrap();
    std::fs::remove_dir_all(m.path("/etc/systemd/system/drawpile-srv.service.d")).unwrap();
    m.exec("/usr/bin/docker", "#!/bin/sh\nexit 1\n").unit(
        "drawpile-srv.service",
        "[Service]\nExecStart=/usr/bin/docker run --rm --name dp -p 27750:27750 -p 127.0.0.1:27751:27751 \
         -v dpdata:/home/drawpile drawpile/drawpile-srv:2.3 --websocket-port 27751 --websocket-listen 127.0.0.1\n",
    );
    // Not run as root by systemd's rules (the image has its user), and known mistake 4.
    let v = assert_findings(&m, &[], &["DPW-SRV-007"]);
    assert!(
        v["instance"]
            .as_str()
            .unwrap()
            .contains("running drawpile/drawpile-srv:2.3"),
        "{v}"
    );
}
