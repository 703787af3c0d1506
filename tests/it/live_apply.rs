//! `sudo dpwizard apply --answers` exactly as on a VPS: inside a machine with a real systemd
//! as PID 1, drawpile-srv (the stand-in) as a real service, real nginx as a service. apply
//! writes, validates, daemon-reloads, restarts, reloads, then proves a browser gets through.

use crate::support::drawpile::Build;
use crate::support::nspawn::Machine;
use crate::support::*;

#[test]
fn apply_on_a_live_machine_gets_the_browser_through() {
    if skip_unless_root("systemd-nspawn")
        || skip_unless_program("systemd-nspawn")
        || skip_unless_program("nginx")
    {
        return;
    }
    let m = Machine::boot("dpw-apply-live");
    m.with_drawpile_service(&Build::v("2.3.0"));
    m.ok("systemctl start nginx");
    m.write(
        "/root/answers.toml",
        "[site]\ndomain = \"draw.example.test\"\n[tls]\nmode = \"self-signed\"\n",
    );
    let dpw = dpwizard_in_machine();
    let text = apply_ok(&m, "");
    assert_contains_all(
        &text,
        &[
            "nginx -t: the configuration is valid",
            "✓ systemd-analyze verify: the units are valid",
            "✓ systemctl daemon-reload",
            "✓ systemctl restart drawpile-srv.service",
            "✓ systemctl reload nginx",
            "✓ direct WebSocket to 127.0.0.1:27751: 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://web.drawpile.net): 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin none): 101",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://evil.invalid): HTTP 403",
        ],
    );
    // The checks are recorded in the run's journal.
    let journal = m.ok("cat /var/lib/dpwizard/runs/*/journal.json");
    assert!(journal.contains("\"proxy-foreign-origin\""), "{journal}");
    assert!(journal.contains("\"passed\": true"), "{journal}");
    // The key is private.
    assert_eq!(
        m.ok("stat -c %a /etc/ssl/dpwizard/draw.example.test.key")
            .trim(),
        "600"
    );
    // X-Real-IP reaches drawpile-srv (its log says where the address came from).
    let log = m.ok("journalctl -u drawpile-srv.service --no-pager -o cat");
    assert!(
        log.contains("(IP from X-Real-IP header, Origin 'https://web.drawpile.net')"),
        "{log}"
    );

    // A second apply changes nothing.
    let again = m.ok(&format!("{dpw} apply --yes --answers /root/answers.toml"));
    assert!(again.contains("Nothing to do"), "{again}");

    // Rollback restores the files; after a reload the proxy no longer has the location.
    let rb = m.ok(&format!("{dpw} rollback"));
    assert!(rb.contains("rolled back run"), "{rb}");
    m.ok("systemctl daemon-reload && systemctl restart drawpile-srv.service && systemctl reload nginx");
    assert_eq!(
        m.ok("ls /etc/systemd/system/drawpile-srv.service.d 2>/dev/null | wc -l")
            .trim(),
        "0"
    );
}

#[test]
fn apply_with_certbot_against_a_local_acme_server() {
    if skip_unless_root("systemd-nspawn")
        || skip_unless_program("systemd-nspawn")
        || skip_unless_program("nginx")
        || skip_unless_program("certbot")
        || skip_unless_program("pebble")
    {
        return;
    }
    let m = Machine::boot("dpw-apply-certbot");
    m.with_drawpile_service(&Build::v("2.3.0"));
    // pebble (Debian ships no test certificate): its own TLS certificate for localhost,
    // the test host name in /etc/hosts before it starts (it caches the file).
    let tls = dpwizard::plan::selfsigned::generate("localhost", now() - 60, 30).unwrap();
    m.write("/etc/pebble/cert.pem", &tls.cert_pem);
    m.write("/etc/pebble/key.pem", &tls.key_pem);
    m.write(
        "/etc/pebble/config.json",
        r#"{"pebble":{"listenAddress":"127.0.0.1:14000","managementListenAddress":"127.0.0.1:15000","certificate":"/etc/pebble/cert.pem","privateKey":"/etc/pebble/key.pem","httpPort":80,"tlsPort":443,"ocspResponderURL":"","externalAccountBindingRequired":false}}"#,
    );
    m.ok("echo '127.0.0.1 draw.example.test' >> /etc/hosts");
    m.ok("systemd-run --unit pebble --setenv=PEBBLE_VA_NOSLEEP=1 --setenv=PEBBLE_WFE_NONCEREJECT=0 /usr/bin/pebble -config /etc/pebble/config.json");
    m.ok("systemctl start nginx");
    m.ok("for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/14000) 2>/dev/null && break; sleep 0.05; done");
    m.write(
        "/root/answers.toml",
        "[site]\ndomain = \"draw.example.test\"\nemail = \"admin@example.test\"\n[tls]\nmode = \"certbot\"\nacme_server = \"https://localhost:14000/dir\"\n",
    );
    let dpw = dpwizard_in_machine();
    let text = apply_ok(&m, "REQUESTS_CA_BUNDLE=/etc/pebble/cert.pem");
    assert_contains_all(
        &text,
        &[
            "✓ certbot certonly --webroot -w /var/www/dpwizard-acme -d draw.example.test",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://web.drawpile.net): 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin none): 101",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://evil.invalid): HTTP 403",
        ],
    );
    // The certificate nginx serves is the one certbot got, with a reload hook for renewals.
    let site = m.ok("cat /etc/nginx/sites-available/dpwizard-draw.example.test.conf");
    assert!(
        site.contains("ssl_certificate /etc/letsencrypt/live/draw.example.test/fullchain.pem;"),
        "{site}"
    );
    let renewal = m.ok("cat /etc/letsencrypt/renewal/draw.example.test.conf");
    assert!(renewal.contains("authenticator = webroot"), "{renewal}");
    assert!(renewal.contains("systemctl reload nginx"), "{renewal}");
    // Done: a second run changes nothing.
    let again = m.ok(&format!(
        "REQUESTS_CA_BUNDLE=/etc/pebble/cert.pem {dpw} apply --yes --answers /root/answers.toml"
    ));
    assert!(again.contains("Nothing to do"), "{again}");
}

/// Runs `dpwizard apply --yes --answers /root/answers.toml` inside `m` (with `env`
/// assignments before it) and returns its output; it must succeed.
fn apply_ok(m: &Machine, env: &str) -> String {
    let out = m.sh(&format!(
        "{env} {} --color never apply --yes --answers /root/answers.toml",
        dpwizard_in_machine()
    ));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn new_service_for_an_installed_binary_without_a_unit() {
    if skip_unless_root("systemd-nspawn")
        || skip_unless_program("systemd-nspawn")
        || skip_unless_program("nginx")
    {
        return;
    }
    let m = Machine::boot("dpw-apply-newsvc");
    m.install_drawpile(&Build::v("2.3.0"));
    m.ok("systemctl start nginx");
    m.write(
        "/root/answers.toml",
        "[site]\ndomain = \"draw.example.test\"\n[tls]\nmode = \"self-signed\"\n",
    );
    let text = apply_ok(&m, "");
    assert_contains_all(
        &text,
        &[
            "== /etc/systemd/system/drawpile-srv.service",
            "✓ systemd-sysusers",
            "✓ systemctl enable --now drawpile-srv.service",
            "✓ direct WebSocket to 127.0.0.1:27751: 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://web.drawpile.net): 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://evil.invalid): HTTP 403",
        ],
    );
    // The dedicated user runs it, never root; the real systemd accepts the unit as written.
    assert_eq!(m.ok("ps -o user= -C drawpile-srv").trim(), "drawpile");
    let verify = m.sh("systemd-analyze verify --man=no /etc/systemd/system/drawpile-srv.service");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert_eq!(
        m.ok("systemctl is-enabled drawpile-srv.service").trim(),
        "enabled"
    );
    let again = m.ok(&format!(
        "{} apply --yes --answers /root/answers.toml",
        dpwizard_in_machine()
    ));
    assert!(again.contains("Nothing to do"), "{again}");
}
