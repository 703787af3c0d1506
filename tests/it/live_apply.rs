//! `sudo dpwizard apply --answers` exactly as on a VPS: inside a machine with a real systemd
//! as PID 1, drawpile-srv (the stand-in) as a real service, real nginx as a service. apply
//! writes, validates, daemon-reloads, restarts, reloads, then proves a browser gets through.

use crate::support::drawpile::Build;
use crate::support::nspawn::Machine;
use crate::support::systemd::upstream_service;
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
    m.ok(&format!(
        "cp {} /usr/local/bin/drawpile-srv && chmod 755 /usr/local/bin/drawpile-srv",
        standin_in_machine()
    ));
    m.write(
        "/usr/local/bin/drawpile-srv.standin",
        Build::v("2.3.0").profile(),
    );
    m.write(
        "/usr/local/lib/systemd/system/drawpile-srv.service",
        upstream_service("/usr/local", false),
    );
    m.ok("systemctl daemon-reload && systemctl enable --now drawpile-srv.service && systemctl start nginx");
    m.write(
        "/root/answers.toml",
        "[site]\ndomain = \"draw.example.test\"\n[tls]\nmode = \"self-signed\"\n",
    );
    let dpw = dpwizard_in_machine();
    let out = m.sh(&format!(
        "{dpw} --color never apply --yes --answers /root/answers.toml"
    ));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    for expected in [
        "nginx -t: the configuration is valid",
        "✓ systemctl daemon-reload",
        "✓ systemctl restart drawpile-srv.service",
        "✓ systemctl reload nginx",
        "✓ direct WebSocket to 127.0.0.1:27751: 101, greeting from Drawpile server 2.3.0",
        "✓ wss://draw.example.test/drawpile-web/ws (Origin https://web.drawpile.net): 101, greeting from Drawpile server 2.3.0",
        "✓ wss://draw.example.test/drawpile-web/ws (Origin none): 101",
        "✓ wss://draw.example.test/drawpile-web/ws (Origin https://evil.invalid): HTTP 403",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
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
