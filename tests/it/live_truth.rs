//! The moment of truth, as an admin meets it: a booted machine (real systemd, real nginx)
//! with an existing HTTPS site, drawpile-srv 2.3.0 under its upstream unit — the real
//! upstream build when ../shared/drawpile-srv is there, else the stand-in — then apply,
//! rollback and apply again, several times in a row, reading the verdict each time; and the
//! machine after a reboot-like restart. A verdict that is right four times out of five fails.

use crate::support::drawpile::Build;
use crate::support::nspawn::Machine;
use crate::support::*;

const DOMAIN: &str = "paint.example.test";
const SITE: &str = "/etc/nginx/sites-available/paint.example.test";

/// The real 2.3.0 build, if the project's shared folder has it.
fn real_230() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("DPW_REAL_DRAWPILE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/drawpile-srv")
        });
    let bin = dir.join("2.3.0/bin/drawpile-srv");
    bin.is_file().then_some(bin)
}

/// drawpile-srv 2.3.0 at /opt/dpsrv/bin under the upstream unit (as upstream installs it;
/// the unit copied to /etc/systemd/system), enabled and started. Says which server it is.
fn install_230(m: &Machine) -> &'static str {
    let which = match real_230() {
        Some(bin) => {
            m.write(
                "/opt/dpsrv/bin/drawpile-srv",
                std::fs::read(&bin).expect("read the real drawpile-srv"),
            );
            let unit = bin
                .parent()
                .and_then(|b| b.parent())
                .map(|d| d.join("lib/systemd/system/drawpile-srv.service"))
                .expect("unit path");
            m.write(
                "/etc/systemd/system/drawpile-srv.service",
                std::fs::read(unit).expect("read the upstream unit"),
            );
            "real 2.3.0"
        }
        None => {
            m.ok(&format!(
                "mkdir -p /opt/dpsrv/bin && cp {} /opt/dpsrv/bin/drawpile-srv",
                standin_in_machine()
            ));
            m.write(
                "/opt/dpsrv/bin/drawpile-srv.standin",
                Build::v("2.3.0").profile(),
            );
            m.write(
                "/etc/systemd/system/drawpile-srv.service",
                crate::support::systemd::upstream_service("/opt/dpsrv", false),
            );
            "stand-in playing 2.3.0"
        }
    };
    m.ok("chmod 755 /opt/dpsrv/bin/drawpile-srv && systemctl daemon-reload && systemctl enable --now drawpile-srv.service");
    println!("drawpile-srv: {which}");
    which
}

/// An HTTPS site that was there before dpwizard: its own certificate, its own pages.
fn existing_site(m: &Machine) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let c = dpwizard::plan::selfsigned::generate(DOMAIN, now, 90).unwrap();
    m.write("/etc/ssl/site/paint.crt", &c.cert_pem);
    m.write("/etc/ssl/site/paint.key", &c.key_pem);
    m.write("/var/www/paint/index.html", "<h1>Paint club</h1>\n");
    m.write(
        SITE,
        format!(
            "server {{\n    listen 80;\n    server_name {DOMAIN};\n    return 301 https://$host$request_uri;\n}}\n\n\
             server {{\n    listen 443 ssl;\n    server_name {DOMAIN};\n    root /var/www/paint;\n\
             \x20   ssl_certificate /etc/ssl/site/paint.crt;\n    ssl_certificate_key /etc/ssl/site/paint.key;\n\n\
             \x20   location / {{\n        try_files $uri $uri/ =404;\n    }}\n}}\n"
        ),
    );
    m.ok(&format!(
        "rm -f /etc/nginx/sites-enabled/default && ln -s {SITE} /etc/nginx/sites-enabled/{DOMAIN} && chmod 600 /etc/ssl/site/paint.key && systemctl enable --now nginx"
    ));
}

/// HTTP status of a WebSocket handshake through the proxy (curl gives up after the 101).
fn through_proxy(m: &Machine, origin: &str) -> String {
    m.ok(&format!(
        "curl -sk --http1.1 --max-time 2 -o /dev/null -w '%{{http_code}}' --resolve {DOMAIN}:443:127.0.0.1 \
         -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
         -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Origin: {origin}' \
         https://{DOMAIN}/drawpile-web/ws || true"
    ))
    .trim()
    .to_string()
}

fn dpwizard(m: &Machine, args: &str) -> (i32, String) {
    let out = m.sh(&format!("{} --color never {args}", dpwizard_in_machine()));
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn show(m: &Machine, unit: &str, prop: &str) -> String {
    m.ok(&format!("systemctl show -P {prop} {unit}"))
        .trim()
        .to_string()
}

#[test]
fn apply_rollback_apply_on_a_booted_machine_with_an_existing_site_is_right_every_time() {
    if skip_unless_root("systemd-nspawn")
        || skip_unless_program("systemd-nspawn")
        || skip_unless_program("nginx")
        || skip_unless_program("curl")
    {
        return;
    }
    let runs: usize = std::env::var("DPW_TRUTH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let m = Machine::boot("dpw-truth");
    let which = install_230(&m);
    existing_site(&m);
    m.write(
        "/root/answers.toml",
        format!("[site]\ndomain = \"{DOMAIN}\"\n"),
    );
    let site_before = m.ok(&format!("cat {SITE}"));
    let version = "Drawpile server 2.3.0";
    for run in 1..=runs {
        // apply: success, judged on the new configuration (not a 404 from the old workers).
        let (code, text) = dpwizard(&m, "apply --yes --answers /root/answers.toml");
        assert_eq!(code, 0, "run {run} ({which}): apply failed:\n{text}");
        assert_contains_all(
            &text,
            &[
                "✓ systemctl restart drawpile-srv.service",
                "✓ systemctl reload nginx",
                &format!("✓ direct WebSocket to 127.0.0.1:27751: 101, greeting from {version}"),
                &format!(
                    "✓ wss://{DOMAIN}/drawpile-web/ws (Origin https://web.drawpile.net): 101, greeting from {version}"
                ),
                &format!("✓ wss://{DOMAIN}/drawpile-web/ws (Origin none): 101"),
                &format!(
                    "✓ wss://{DOMAIN}/drawpile-web/ws (Origin https://evil.invalid): HTTP 403"
                ),
            ],
        );
        assert!(!text.contains('✗'), "run {run}: {text}");
        assert_eq!(
            through_proxy(&m, "https://web.drawpile.net"),
            "101",
            "run {run}"
        );
        let pid = show(&m, "drawpile-srv.service", "MainPID");

        // rollback: files and running state, with no command of the admin's.
        let (code, text) = dpwizard(&m, "rollback");
        assert_eq!(code, 0, "run {run}: rollback failed:\n{text}");
        assert_contains_all(
            &text,
            &[
                "✓ systemctl daemon-reload",
                "✓ systemctl restart drawpile-srv.service",
                "✓ systemctl reload nginx",
            ],
        );
        assert_eq!(m.ok(&format!("cat {SITE}")), site_before, "run {run}");
        // The endpoint is gone (the site's own 404), the server runs its old arguments
        // (no WebSocket listener), systemd has nothing pending, the drop-in dir is gone.
        assert_eq!(
            through_proxy(&m, "https://web.drawpile.net"),
            "404",
            "run {run}"
        );
        assert_eq!(show(&m, "drawpile-srv.service", "ActiveState"), "active");
        assert_ne!(
            show(&m, "drawpile-srv.service", "MainPID"),
            pid,
            "restarted"
        );
        assert_eq!(show(&m, "drawpile-srv.service", "NeedDaemonReload"), "no");
        let listeners = m.ok("ss -Hltn");
        assert!(!listeners.contains(":27751 "), "run {run}: {listeners}");
        assert!(
            m.sh("test -e /etc/systemd/system/drawpile-srv.service.d")
                .status
                .code()
                != Some(0),
            "run {run}: the drop-in directory stays"
        );
    }

    // Applied once more, then a reboot-like restart: both services come back by themselves
    // (enabled) and the setup still holds.
    let (code, text) = dpwizard(&m, "apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "{text}");
    assert_eq!(show(&m, "drawpile-srv.service", "UnitFileState"), "enabled");
    m.ok("systemctl stop drawpile-srv.service nginx.service && systemctl start multi-user.target");
    let (ids, v) = {
        let (_, text) = dpwizard(&m, "audit --json --timeout 3");
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let ids: Vec<String> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        (ids, v)
    };
    // The site's own certificate is self-signed and has no DNS: those warnings only.
    assert_eq!(ids, ["DPW-TLS-007", "DPW-DNS-002", "DPW-LIVE-003"], "{v}");
    for id in [
        "DPW-LIVE-001",
        "DPW-LIVE-002",
        "DPW-LIVE-004",
        "DPW-LIVE-005",
        "DPW-LIVE-006",
    ] {
        assert!(v["passed"].to_string().contains(id), "{id}: {v}");
    }
}
