//! The planner called directly: built Facts and file snapshots in, a Plan out, reviewed as
//! snapshots of what the admin would see (diffs, commands, notes). A changed snapshot is a
//! changed plan: review it (`cargo insta review`) before accepting it.

use super::make::{Snapshot, make};
use super::{Change, Plan};
use crate::answers::Answers;
use crate::detect::Facts;
use crate::detect::args::DrawpileArgs;
use crate::detect::drawpile::{DrawpileBinary, WebSocketSupport};
use crate::detect::nginx::{NginxListen, NginxServer};
use crate::detect::runtime::RuntimeKind;
use crate::detect::systemd::ServiceUnit;

const NOW: i64 = 1_796_515_200; // 2026-12-06

/// Debian's site for the domain as certbot's nginx plugin leaves it.
const SITE: &str = "server {\n    server_name paint.example.com;\n    root /var/www/paint;\n\n    listen 443 ssl; # managed by Certbot\n    ssl_certificate /etc/letsencrypt/live/paint.example.com/fullchain.pem; # managed by Certbot\n    ssl_certificate_key /etc/letsencrypt/live/paint.example.com/privkey.pem; # managed by Certbot\n}\nserver {\n    if ($host = paint.example.com) {\n        return 301 https://$host$request_uri;\n    } # managed by Certbot\n    listen 80;\n    server_name paint.example.com;\n    return 404; # managed by Certbot\n}\n";

/// A Debian VPS: drawpile-srv 2.3.0 under its upstream unit without WebSocket arguments,
/// nginx with `SITE` (its TLS server named `names`) in sites-available, linked.
fn machine(names: &[&str]) -> (Facts, Snapshot) {
    let mut f = Facts::default();
    f.os.package_manager = Some("apt".into());
    f.os.is_root = true;
    f.drawpile.binaries.push(DrawpileBinary {
        path: "/usr/bin/drawpile-srv".into(),
        canonical: "/usr/bin/drawpile-srv".into(),
        found_via: vec!["unit drawpile-srv.service".into()],
        version: Some("2.3.0".into()),
        websocket: WebSocketSupport {
            supported: Some(true),
            reason: "from --version".into(),
        },
        ..Default::default()
    });
    f.runtime.kind = RuntimeKind::SystemdService;
    let argv = ["/usr/bin/drawpile-srv", "--port", "27750"];
    f.runtime.units.push(ServiceUnit {
        name: "drawpile-srv.service".into(),
        path: "/usr/lib/systemd/system/drawpile-srv.service".into(),
        exec_start: Some(argv.iter().map(|s| s.to_string()).collect()),
        options: DrawpileArgs::parse(&argv[1..]),
        user: Some("drawpile".into()),
        enabled: true,
        ..Default::default()
    });
    f.tls.certbot = Some("/usr/bin/certbot".into());
    let file = "/etc/nginx/sites-enabled/paint";
    f.nginx.conf_path = Some("/etc/nginx/nginx.conf".into());
    f.nginx.files = vec!["/etc/nginx/nginx.conf".into(), file.into()];
    f.nginx.servers.push(NginxServer {
        file: file.into(),
        line: 1,
        server_names: names.iter().map(|n| n.to_string()).collect(),
        listen: vec![NginxListen {
            raw: "443 ssl".into(),
            port: Some(443),
            ssl: true,
            ..Default::default()
        }],
        ssl: true,
        ssl_certificate: Some("/etc/letsencrypt/live/paint.example.com/fullchain.pem".into()),
        ssl_certificate_key: Some("/etc/letsencrypt/live/paint.example.com/privkey.pem".into()),
        ..Default::default()
    });
    let mut snap = Snapshot::default();
    snap.files.insert(
        "/etc/nginx/sites-available/paint".into(),
        SITE.replace(
            "server_name paint.example.com;\n    root",
            &format!("server_name {};\n    root", names.join(" ")),
        )
        .into_bytes(),
    );
    snap.real_paths
        .insert(file.into(), "/etc/nginx/sites-available/paint".into());
    snap.files
        .insert("/etc/nginx/sites-available/".into(), Vec::new());
    (f, snap)
}

fn answers(extra: &str) -> Answers {
    let text = format!("[site]\ndomain = \"paint.example.com\"\n{extra}");
    crate::answers::parse("answers.toml", &text).expect("valid answers")
}

/// The plan as the review shows it: every change as a diff, then the commands and notes.
fn review(plan: &Plan) -> String {
    let mut out = String::new();
    for c in &plan.changes {
        match c {
            Change::Write { why, .. }
            | Change::Symlink { why, .. }
            | Change::Remove { why, .. } => {
                out.push_str(&format!("# {why}\n"));
            }
        }
        out.push_str(&super::diff::unified(c));
    }
    for k in &plan.check {
        out.push_str(&format!("validated before any reload: {}\n", k.validator()));
    }
    for a in plan.validate.iter().chain(&plan.actions) {
        out.push_str(&format!("$ {}    # {}\n", a.argv.join(" "), a.why));
    }
    for n in &plan.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

#[test]
fn a_certbot_site_gets_the_location_and_the_unit_its_websocket_arguments() {
    let (f, snap) = machine(&["paint.example.com"]);
    let plan = make(&f, &answers(""), &snap, NOW).expect("a plan");
    insta::assert_snapshot!(review(&plan));
}

#[test]
fn a_wildcard_server_serves_the_domain_as_nginx_would_choose_it() {
    // nginx serves paint.example.com from a `*.example.com` server: the location goes there,
    // not into a second site that would fight it.
    let (f, snap) = machine(&["*.example.com"]);
    let plan = make(&f, &answers(""), &snap, NOW).expect("a plan");
    let paths: Vec<&str> = plan.changes.iter().map(Change::path).collect();
    assert!(
        paths.contains(&"/etc/nginx/sites-available/paint"),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.contains("dpwizard-paint")),
        "{paths:?}"
    );
}

#[test]
fn extra_origins_and_a_port_reach_the_location_and_the_unit() {
    let (f, snap) = machine(&["paint.example.com"]);
    let a = answers(
        "[drawpile]\nwebsocket_port = 27760\n[proxy]\nextra_origins = [\"https://draw.example.org\"]\n",
    );
    let plan = make(&f, &a, &snap, NOW).expect("a plan");
    insta::assert_snapshot!(review(&plan));
}

#[test]
fn the_same_inputs_give_the_same_plan_and_a_self_signed_key_comes_from_outside() {
    let (mut f, mut snap) = machine(&["paint.example.com"]);
    f.nginx.servers.clear();
    snap.files.clear();
    let a = answers("[tls]\nmode = \"self-signed\"\n");
    // No material handed in: the planner says so instead of making a key itself.
    let e = make(&f, &a, &snap, NOW).expect_err("no key material");
    assert!(e.to_string().contains("no certificate was made"), "{e}");
    snap.generated = Some(Ok(super::selfsigned::SelfSigned {
        cert_pem: "-----BEGIN CERTIFICATE-----\nfixed\n-----END CERTIFICATE-----\n".into(),
        key_pem: "-----BEGIN PRIVATE KEY-----\nfixed\n-----END PRIVATE KEY-----\n".into(),
    }));
    let one = make(&f, &a, &snap, NOW).expect("a plan");
    let two = make(&f, &a, &snap, NOW).expect("a plan");
    assert_eq!(one, two);
    let key = one
        .changes
        .iter()
        .find(|c| c.path() == "/etc/ssl/dpwizard/paint.example.com.key")
        .expect("the key is written");
    assert!(matches!(
        key,
        Change::Write {
            secret: true,
            mode: super::FileMode { mode: 0o600, .. },
            ..
        }
    ));
    insta::assert_snapshot!(review(&one));
}

/// `machine` without nginx: the web server in front is `server`, serving 443 by its config.
fn fronted_by(server: &str) -> (Facts, Snapshot) {
    let (mut f, _) = machine(&["paint.example.com"]);
    f.nginx = Default::default();
    f.web_servers = vec![crate::detect::webserver::WebServer {
        name: server.into(),
        listens_80: Some(true),
        listens_443: Some(true),
        serves_443_by_config: true,
        ..Default::default()
    }];
    (f, Snapshot::default())
}

#[test]
fn apache_in_front_gets_the_modules_and_a_marked_block_in_certbots_vhost() {
    let (mut f, mut snap) = fronted_by("apache");
    let vhost = "/etc/apache2/sites-available/paint-le-ssl.conf";
    f.apache.config_root = Some("/etc/apache2".into());
    f.apache.conf_path = Some("/etc/apache2/apache2.conf".into());
    f.web_servers[0].version = Some("2.4.62".into());
    f.apache.files = vec!["/etc/apache2/apache2.conf".into(), vhost.into()];
    snap.files.insert(
        vhost.into(),
        b"<IfModule mod_ssl.c>\n<VirtualHost *:443>\n\tServerName paint.example.com\n\tDocumentRoot /var/www/paint\n\nSSLCertificateFile /etc/letsencrypt/live/paint.example.com/fullchain.pem\nSSLCertificateKeyFile /etc/letsencrypt/live/paint.example.com/privkey.pem\nInclude /etc/letsencrypt/options-ssl-apache.conf\nSSLEngine on\n</VirtualHost>\n</IfModule>\n"
            .to_vec(),
    );
    for m in [
        "proxy",
        "proxy_http",
        "proxy_wstunnel",
        "headers",
        "rewrite",
    ] {
        snap.files
            .insert(format!("/etc/apache2/mods-available/{m}.load"), Vec::new());
    }
    let plan = make(&f, &answers(""), &snap, NOW).expect("a plan");
    assert_eq!(plan.check, [crate::proxy::Kind::Apache]);
    insta::assert_snapshot!(review(&plan));
}

#[test]
fn caddy_in_front_gets_a_marked_handle_and_keeps_its_own_certificate() {
    let (mut f, mut snap) = fronted_by("caddy");
    f.caddy.caddyfile = Some("/etc/caddy/Caddyfile".into());
    f.caddy.files = vec!["/etc/caddy/Caddyfile".into()];
    snap.files.insert(
        "/etc/caddy/Caddyfile".into(),
        b"{\n\temail admin@example.com\n}\n\n# the painting site\npaint.example.com {\n\troot * /srv/www\n\tfile_server\n}\n"
            .to_vec(),
    );
    let plan = make(&f, &answers(""), &snap, NOW).expect("a plan");
    assert_eq!(plan.check, [crate::proxy::Kind::Caddy]);
    insta::assert_snapshot!(review(&plan));
}
