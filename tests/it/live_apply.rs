//! `sudo dpwizard apply --answers` exactly as on a VPS: inside a machine with a real systemd
//! as PID 1, drawpile-srv as a real service (the real upstream build under its upstream
//! units when ../shared/drawpile-srv has it, else the stand-in; each test prints which), real
//! nginx as a service. apply writes, validates, daemon-reloads, restarts, reloads, then proves
//! a browser gets through.

use crate::support::drawpile::Server;
use crate::support::nspawn::{Machine, UNIT_DIR_LOCAL, skip_unless_machine};
use crate::support::*;

#[test]
fn apply_on_a_live_machine_gets_the_browser_through() {
    if skip_unless_machine(&["nginx"]) {
        return;
    }
    let m = Machine::boot("dpw-apply-live");
    m.with_drawpile_service(&Server::pick("2.3.0"));
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

    // The audit of what apply made: every live probe passes; what is left are the warnings
    // a self-signed certificate for a name without DNS must give.
    let (ids, v, code) = audit_in(&m);
    assert_eq!(ids, ["DPW-TLS-007", "DPW-DNS-002", "DPW-LIVE-003"], "{v}");
    assert_eq!(code, 0, "warnings only");
    for id in [
        "DPW-SRV-015",
        "DPW-PROXY-012",
        "DPW-LIVE-001",
        "DPW-LIVE-002",
        "DPW-LIVE-004",
        "DPW-LIVE-005",
        "DPW-LIVE-006",
        "DPW-LOG-001",
        "DPW-LOG-003",
        "DPW-LOG-004",
        "DPW-LOG-005",
    ] {
        assert!(v["passed"].to_string().contains(id), "{id}: {v}");
    }
    // Break it as pre-2025 setups are broken: the desktop app (no Origin) is refused. The
    // configuration says so, the live probe sees it, and so does the access log once a
    // desktop app has tried.
    m.ok("cp /etc/nginx/sites-available/dpwizard-draw.example.test.conf /root/site.bak");
    m.ok(r#"sed -i '/if ($http_origin/c\        if ($http_origin !~ "^https://web\\.(drawpile\\.net|foxdice\\.cn)$") {' /etc/nginx/sites-available/dpwizard-draw.example.test.conf && grep -q 'cn)$")' /etc/nginx/sites-available/dpwizard-draw.example.test.conf && nginx -t && systemctl reload nginx"#);
    m.ok("sleep 0.5; curl -sk -o /dev/null -A DrawpileClient/2.3.0 -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' --resolve draw.example.test:443:127.0.0.1 https://draw.example.test/drawpile-web/ws");
    let (ids, v, code) = audit_in(&m);
    assert_eq!(
        ids,
        [
            "DPW-PROXY-003",
            "DPW-TLS-007",
            "DPW-DNS-002",
            "DPW-LIVE-003",
            "DPW-LIVE-005",
            "DPW-LOG-003"
        ],
        "{v}"
    );
    assert_eq!(code, 1);
    // Put the file back as apply wrote it, so the rollback below finds its own file.
    m.ok("cp /root/site.bak /etc/nginx/sites-available/dpwizard-draw.example.test.conf && systemctl reload nginx");

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
    if skip_unless_machine(&["nginx", "certbot", "pebble"]) {
        return;
    }
    let m = Machine::boot("dpw-apply-certbot");
    m.with_drawpile_service(&Server::pick("2.3.0"));
    // pebble (Debian ships no test certificate): its own TLS certificate for localhost,
    // the test host name in /etc/hosts before it starts (it caches the file).
    let tls = dpwizard::plan::selfsigned::generate("localhost", now() - 60, 30).unwrap();
    m.write("/etc/pebble/cert.pem", &tls.cert_pem);
    m.write("/etc/pebble/key.pem", &tls.key_pem);
    m.write(
        "/etc/pebble/config.json",
        r#"{"pebble":{"listenAddress":"127.0.0.1:14000","managementListenAddress":"127.0.0.1:15000","certificate":"/etc/pebble/cert.pem","privateKey":"/etc/pebble/key.pem","httpPort":80,"tlsPort":443,"ocspResponderURL":"","externalAccountBindingRequired":false}}"#,
    );
    m.write(
        "/root/answers.toml",
        "[site]\ndomain = \"draw.example.test\"\nemail = \"admin@example.test\"\n[tls]\nmode = \"certbot\"\nacme_server = \"https://localhost:14000/dir\"\n",
    );
    // The name points elsewhere (DNS not updated yet): refused before anything is written,
    // with what to do; the machine is as it was.
    m.ok("cp /etc/hosts /root/hosts.orig && echo '198.51.100.7 draw.example.test' >> /etc/hosts");
    // dpwizard's side of the machine (certbot keeps its own account state in /etc/letsencrypt).
    let listing = "find /etc/nginx /etc/systemd/system /var/www ! -type d -printf '%p %s\\n' 2>/dev/null | sort";
    let before = m.ok(listing);
    let out = m.sh(&format!(
        "{} --color never apply --yes --answers /root/answers.toml 2>&1",
        dpwizard_in_machine()
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("draw.example.test resolves to 198.51.100.7, which is not this machine"),
        "{text}"
    );
    assert!(text.contains("--skip-dns-check"), "{text}");
    assert!(text.contains("nothing was changed"), "{text}");
    assert_eq!(m.ok(listing), before, "nothing written");
    m.ok("cp /root/hosts.orig /etc/hosts && echo '127.0.0.1 draw.example.test' >> /etc/hosts");
    // The name is right but the ACME server cannot be reached (pebble not started yet):
    // certbot fails, its message is shown once (no traceback), the run is rolled back
    // whole, and the command to run again is given.
    let out = m.sh(&format!(
        "REQUESTS_CA_BUNDLE=/etc/pebble/cert.pem {} --color never apply --yes --answers /root/answers.toml 2>&1",
        dpwizard_in_machine()
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("dpwizard: `certbot certonly"), "{text}");
    assert!(!text.contains("Traceback"), "{text}");
    assert!(text.contains("the run was rolled back"), "{text}");
    assert!(
        text.contains("then run `dpwizard apply --answers /root/answers.toml`"),
        "{text}"
    );
    assert_eq!(m.ok(listing), before, "rolled back whole");
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
    // The audit finds nothing wrong but that this machine does not trust pebble's CA (the
    // name resolves here through /etc/hosts; certbot's timer renews, the hook reloads).
    let (ids, v, code) = audit_in(&m);
    assert_eq!(ids, ["DPW-LIVE-003"], "{v}");
    assert_eq!(code, 0);
    for id in [
        "DPW-TLS-006",
        "DPW-TLS-008",
        "DPW-TLS-009",
        "DPW-DNS-002",
        "DPW-LIVE-004",
    ] {
        assert!(v["passed"].to_string().contains(id), "{id}: {v}");
    }
}

/// A fresh VPS with Docker and no drawpile-srv: apply writes a unit that runs the official
/// image (here imported from the real build and the libraries `ldd` names, or the stand-in,
/// as no registry is reachable: the plan then does not pull what is already there), the real systemd starts it through the real dockerd inside
/// the machine, and a browser gets through nginx to the container.
#[test]
fn new_container_runs_the_official_image_from_a_unit() {
    if skip_unless_machine(&["nginx", "dockerd"]) {
        return;
    }
    let m = Machine::boot_with(
        "dpw-apply-container",
        &[
            ("SYSTEMD_NSPAWN_API_VFS_WRITABLE", "1"),
            // runc gives each container a session keyring.
            (
                "DPW_NSPAWN_EXTRA",
                "--system-call-filter=add_key --system-call-filter=keyctl",
            ),
        ],
    );
    // dockerd inside the machine: vfs (its root is an overlay), no iptables (the
    // userland proxy publishes on loopback).
    m.write(
        "/etc/docker/daemon.json",
        r#"{"storage-driver":"vfs","iptables":false,"ip6tables":false}"#,
    );
    // runc creates a cgroup per container in every v1 controller hierarchy, which nspawn
    // mounts read-only: make them writable inside this machine's mount namespace.
    m.ok("for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw \"$d\" 2>/dev/null || true; done; mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true");
    m.ok("systemctl start docker.service && docker version >/dev/null");
    let scratch = tempfile::tempdir().unwrap();
    let tar = crate::support::dockerd::image_rootfs(scratch.path(), "2.3", &Server::pick("2.3.0"));
    m.write("/root/image.tar", std::fs::read(&tar).unwrap());
    let import: Vec<String> = crate::support::dockerd::IMPORT_CHANGES
        .iter()
        .map(|a| format!("'{a}'"))
        .collect();
    m.ok(&format!(
        "docker {} /root/image.tar drawpile/drawpile-srv:2.3",
        import.join(" ")
    ));
    m.ok("systemctl start nginx");
    m.write(
        "/root/answers.toml",
        "[site]\ndomain = \"draw.example.test\"\n[tls]\nmode = \"self-signed\"\n[drawpile]\nruntime = \"new-container\"\n",
    );
    let text = apply_ok(&m, "");
    assert_contains_all(
        &text,
        &[
            "== /etc/systemd/system/drawpile-srv.service",
            "drawpile/drawpile-srv:2.3 is already on this machine: not pulled",
            "✓ systemctl restart drawpile-srv.service",
            "✓ direct WebSocket to 127.0.0.1:27751: 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://web.drawpile.net): 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin none): 101",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://evil.invalid): HTTP 403",
        ],
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with('✓') && l.contains(" pull ")),
        "no pull ran: {text}"
    );
    // The container runs as the image's user, published on loopback only.
    let ps = m.ok("docker ps --format '{{.Names}} {{.Ports}}'");
    assert!(ps.contains("drawpile-srv"), "{ps}");
    assert!(ps.contains("127.0.0.1:27751->27751/tcp"), "{ps}");
    assert!(!ps.contains("0.0.0.0:27751"), "{ps}");
    // The audit finds the container and nothing wrong but the self-signed name without DNS.
    let (ids, v, _) = audit_in(&m);
    assert_eq!(ids, ["DPW-TLS-007", "DPW-DNS-002", "DPW-LIVE-003"], "{v}");
    assert!(
        v["instance"]
            .as_str()
            .unwrap()
            .starts_with("container drawpile-srv"),
        "{v}"
    );
    let dpw = dpwizard_in_machine();
    let again = m.ok(&format!("{dpw} apply --yes --answers /root/answers.toml"));
    assert!(again.contains("Nothing to do"), "{again}");
    // The exported answers say new-container with its image, and reproduce the setup.
    let exported = m.ok(&format!("{dpw} answers --from-machine | tee /root/fm.toml"));
    assert!(
        exported.contains("runtime = \"new-container\""),
        "{exported}"
    );
    assert!(
        exported.contains("image = \"drawpile/drawpile-srv:2.3\""),
        "{exported}"
    );
    m.ok(&format!("{dpw} plan --check --answers /root/fm.toml"));
}

/// `dpwizard audit --json` inside `m`: the finding ids, the report and the exit code.
fn audit_in(m: &Machine) -> (Vec<String>, serde_json::Value, i32) {
    let out = m.sh(&format!(
        "{} audit --json --timeout 2",
        dpwizard_in_machine()
    ));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}{}", String::from_utf8_lossy(&out.stderr)));
    let ids = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    (ids, v, out.status.code().unwrap_or(-1))
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
    if skip_unless_machine(&["nginx"]) {
        return;
    }
    let m = Machine::boot("dpw-apply-newsvc");
    // Installed by hand where `make install` puts it, without a unit.
    m.install_drawpile_at(&Server::pick("2.3.0"), "/usr/local/bin/drawpile-srv");
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
            "✓ systemctl restart drawpile-srv.service",
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

/// A WebSocket handshake through nginx inside `m`, as a browser on web.drawpile.net makes it:
/// the HTTP status curl saw (curl waits after a 101, hence the short `--max-time`).
fn proxied_handshake(m: &Machine) -> String {
    m.sh("curl --http1.1 -sk --max-time 1 -o /dev/null -w '%{http_code}' --resolve draw.example.test:443:127.0.0.1 -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Origin: https://web.drawpile.net' https://draw.example.test/drawpile-web/ws")
        .stdout
        .iter()
        .map(|&b| b as char)
        .collect()
}

/// After apply, a drawpile-srv that was socket-activated must be a plain service that
/// starts at boot (issue 10: 2.2.x autostop fails the socket; 2.3.0 refuses sockets): the
/// service enabled, the socket neither enabled nor running, the WebSocket options on the
/// command line — and browsers still get through once every client has left (a
/// socket-activated 2.2.x would have stopped by then, and with the real 2.2.2 the socket
/// would have failed for good).
fn assert_plain_enabled_service(m: &Machine) {
    // Every client apply and the probes opened is gone: users meet this.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        proxied_handshake(m),
        "101",
        "through nginx once the last client has left:\n{}",
        m.ok("systemctl status --no-pager drawpile-srv.socket drawpile-srv.service 2>&1 | grep -v '^ *[│├└]' || true")
    );
    assert_eq!(m.show("drawpile-srv.service", "ActiveState"), "active");
    assert_eq!(
        m.ok("systemctl is-enabled drawpile-srv.service || true")
            .trim(),
        "enabled",
        "the service must start at boot without the socket"
    );
    let socket = m.ok("systemctl is-enabled drawpile-srv.socket 2>/dev/null || true");
    assert!(
        !socket.trim().starts_with("enabled"),
        "the socket must not be enabled: {socket}"
    );
    assert_ne!(m.show("drawpile-srv.socket", "ActiveState"), "active");
    let exec = m.show("drawpile-srv.service", "ExecStart");
    assert!(exec.contains("--websocket-port"), "{exec}");
}

/// A machine with `srv` under its upstream units and `socket` as drawpile-srv.socket,
/// `enable` enabled (as an installer left it) and the socket listening.
fn socket_activated(name: &str, srv: &Server, socket: &str, enable: &str) -> Machine {
    let m = Machine::boot(name);
    m.install_drawpile(srv);
    m.install_units(srv);
    m.write(format!("{UNIT_DIR_LOCAL}/drawpile-srv.socket"), socket);
    m.ok(&format!(
        "systemctl daemon-reload && systemctl enable {enable} && systemctl start drawpile-srv.socket"
    ));
    m
}

/// Finding ids outside `expected` that are not log evidence of the past (the journal's
/// window still holds what happened before apply).
fn unexpected_findings(ids: &[String], expected: &[&str]) -> Vec<String> {
    ids.iter()
        .filter(|id| !expected.contains(&id.as_str()) && !id.starts_with("DPW-LOG-"))
        .cloned()
        .collect()
}

/// 2.2.x socket activation with the socket as a build without web admin ships it (two
/// slots: the WebSocket lands in the admin slot). The audit says so. The correct outcome
/// (issue 10, item 4): apply moves the ports to `--websocket-port/--websocket-listen`, stops
/// using the socket and enables the service, so the server survives its clients leaving.
/// (Giving the socket its three slots, as before, works only until the last client leaves:
/// the real 2.2.2 then stops and its socket fails — see `standin::socket_22x_autostop`.)
#[test]
fn a_22x_socket_setup_becomes_an_enabled_service_and_browsers_get_through() {
    if skip_unless_machine(&["nginx"]) {
        return;
    }
    // The admin's socket: TCP and WebSocket only; enabled through the service's `Also=`.
    let m = socket_activated(
        "dpw-apply-socket22",
        &Server::pick("2.2.2"),
        &crate::support::systemd::upstream_socket(false, true),
        "drawpile-srv.service",
    );
    m.ok("systemctl start nginx");
    m.write(
        "/root/answers.toml",
        "[site]\ndomain = \"draw.example.test\"\n[tls]\nmode = \"self-signed\"\n",
    );
    let (ids, v, _) = audit_in(&m);
    assert!(ids.contains(&"DPW-SRV-011".to_string()), "{v}");
    assert!(ids.contains(&"DPW-SRV-006".to_string()), "{v}");
    let text = apply_ok(&m, "");
    assert_contains_all(
        &text,
        &[
            "masks drawpile-srv.socket: a 2.2.x server under its socket stops",
            "✓ systemctl stop drawpile-srv.socket",
            "✓ direct WebSocket to 127.0.0.1:27751: 101, greeting from Drawpile server 2.2.2",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://web.drawpile.net): 101, greeting from Drawpile server 2.2.2",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin none): 101",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://evil.invalid): HTTP 403",
        ],
    );
    assert_plain_enabled_service(&m);
    let (ids, v, code) = audit_in(&m);
    let expected = ["DPW-SRV-003", "DPW-TLS-007", "DPW-DNS-002", "DPW-LIVE-003"];
    assert_eq!(
        unexpected_findings(&ids, &expected),
        Vec::<String>::new(),
        "{v}"
    );
    assert_eq!(code, 0, "{v}");
}

/// 2.3.0 removed socket activation: a leftover enabled socket (from 2.2.2) makes the
/// service fail (`socket activation is no longer supported`). The audit sees it in the
/// config and in the journal; apply stops using the socket, moves its ports to arguments and
/// enables the service (issue 10, item 3: else the server is off after a reboot).
#[test]
fn a_leftover_socket_beside_230_is_migrated_live() {
    if skip_unless_machine(&["nginx"]) {
        return;
    }
    // An upgrade over 2.2.2: the new binary and service, the old socket still enabled.
    let m = socket_activated(
        "dpw-apply-socket23",
        &Server::pick("2.3.0"),
        &crate::support::systemd::upstream_socket(true, true),
        "drawpile-srv.socket",
    );
    // A client connects: systemd starts 2.3.0 with the sockets, which refuses them.
    m.sh("timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/27750; sleep 0.5' || true; sleep 0.5");
    m.ok("systemctl start nginx");
    m.write(
        "/root/answers.toml",
        "[site]\ndomain = \"draw.example.test\"\n[tls]\nmode = \"self-signed\"\n",
    );
    let (ids, v, _) = audit_in(&m);
    assert!(ids.contains(&"DPW-SRV-010".to_string()), "{v}");
    assert!(ids.contains(&"DPW-LOG-002".to_string()), "the journal: {v}");
    let text = apply_ok(&m, "");
    assert_contains_all(
        &text,
        &[
            "✓ direct WebSocket to 127.0.0.1:27751: 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://web.drawpile.net): 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://evil.invalid): HTTP 403",
        ],
    );
    assert_plain_enabled_service(&m);
    // The journal's old refusal stays in the log window: the audit still reports it, and
    // the configuration checks are clean.
    let (ids, v, _) = audit_in(&m);
    assert_eq!(
        unexpected_findings(&ids, &["DPW-TLS-007", "DPW-DNS-002", "DPW-LIVE-003"]),
        Vec::<String>::new(),
        "{v}"
    );
    assert!(ids.contains(&"DPW-LOG-002".to_string()), "{v}");
}

/// An AppImage `--server` unit on a booted machine. An AppImage's runtime stays the main
/// process and runs the server as its child, so systemd never takes the server's
/// `READY=1` (`NotifyAccess=main`) and a Type=notify unit never finishes starting. Here the
/// "AppImage" is the stand-in playing an AppImage build (an ELF that sends nothing). apply
/// keeps `--server`, adds the WebSocket options and Type=simple, and a browser gets through.
#[test]
fn an_appimage_like_unit_gets_websockets_live() {
    if skip_unless_machine(&["nginx"]) {
        return;
    }
    let m = Machine::boot("dpw-apply-appimage");
    // A real AppImage is an ELF (its runtime) that runs the server as a child; dpwizard
    // probes it only as that (a script named *.AppImage is read, never run). No real
    // AppImage is among the upstream builds here, so the stand-in plays one: an ELF playing
    // an AppImage build, which never sends READY=1.
    let srv = Server::standin("2.3.0");
    let appimage = "/opt/Drawpile-2.3.0.AppImage";
    {
        m.install_drawpile_at(&srv, appimage);
        m.write(
            format!("{appimage}.standin"),
            crate::support::drawpile::Build::v("2.3.0")
                .appimage()
                .profile(),
        );
    }
    m.write(
        "/etc/systemd/system/paint-server.service",
        format!("[Service]\nType=notify\nUser=artist\nExecStart={appimage} --server --port 27750\n\n[Install]\nWantedBy=multi-user.target\n"),
    );
    m.ok("useradd --system --no-create-home artist && systemctl daemon-reload && systemctl enable paint-server.service && systemctl start --no-block paint-server.service");
    // Still starting: the READY=1 it waits for never comes from the main process.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(m.show("paint-server.service", "ActiveState"), "activating");
    m.ok("systemctl start nginx");
    m.write(
        "/root/answers.toml",
        "[site]\ndomain = \"draw.example.test\"\n[tls]\nmode = \"self-signed\"\n",
    );
    let text = apply_ok(&m, "");
    assert_contains_all(
        &text,
        &[
            &format!(
                "ExecStart={appimage} --server --port 27750 --websocket-port 27751 --websocket-listen 127.0.0.1"
            ),
            "+Type=simple",
            "✓ systemctl restart paint-server.service",
            "✓ direct WebSocket to 127.0.0.1:27751: 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://web.drawpile.net): 101, greeting from Drawpile server 2.3.0",
            "✓ wss://draw.example.test/drawpile-web/ws (Origin https://evil.invalid): HTTP 403",
        ],
    );
    assert_eq!(m.show("paint-server.service", "Type"), "simple");
    assert_eq!(m.show("paint-server.service", "ActiveState"), "active");
    assert_eq!(
        m.ok("ps -o user= -C drawpile-srv,Drawpile-2.3.0.AppImage | sort -u")
            .trim(),
        "artist"
    );
    assert_eq!(proxied_handshake(&m), "101");
}
