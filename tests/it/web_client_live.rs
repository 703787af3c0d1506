//! The self-hosted browser client (`[web_client]`), end to end on booted machines: a tiny
//! stand-in client (an index.html and a small valid .wasm, built here) served after `dpwizard
//! apply` by the real nginx, Apache and Caddy over TLS; Debian's headless Chromium loads it
//! and reports `crossOriginIsolated === true`, the .wasm type and the module's answer. With
//! one header removed Chromium reports false and the audit names the header by check id.

use crate::support::drawpile::Server;
use crate::support::nspawn::{Machine, skip_unless_machine};

const DOMAIN: &str = "draw.example.test";
const DIR: &str = "/srv/drawpile-web";

/// A WebAssembly module exporting `answer() -> i32` returning 42, written out by section.
fn stand_in_wasm() -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    m.extend([0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f]); // type: () -> i32
    m.extend([0x03, 0x02, 0x01, 0x00]); // function 0 has type 0
    m.extend([0x07, 0x0a, 0x01, 0x06]); // export "answer" = function 0
    m.extend(b"answer");
    m.extend([0x00, 0x00]);
    m.extend([0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b]); // i32.const 42; end
    m
}

/// The page writes what a real client needs into the DOM: cross-origin isolation, the .wasm
/// file's type, and the module compiled and run (synchronously, so --dump-dom sees it).
const INDEX: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>stand-in client</title></head>
<body><p id="r">pending</p>
<script>
var x = new XMLHttpRequest();
x.open('GET', 'client.wasm', false);
x.overrideMimeType('text/plain; charset=x-user-defined');
x.send();
var bytes = new Uint8Array(x.responseText.length);
for (var i = 0; i < bytes.length; i++) bytes[i] = x.responseText.charCodeAt(i) & 0xff;
var answer = 'none';
try { answer = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.answer(); }
catch (e) { answer = 'error ' + e; }
document.getElementById('r').textContent = 'isolated=' + crossOriginIsolated +
  ' type=' + x.getResponseHeader('Content-Type') + ' answer=' + answer;
var wsHost = new URLSearchParams(location.search).get('ws') || location.host;
var ws = new WebSocket('wss://' + wsHost + '/drawpile-web/ws');
ws.binaryType = 'arraybuffer';
ws.onmessage = function (m) {
  document.getElementById('ws').textContent = 'greeting of ' + m.data.byteLength + ' bytes';
  ws.close();
};
ws.onerror = function () { document.getElementById('ws').textContent = 'error'; };
</script><p id="ws">pending</p></body></html>
"#;

fn stand_in_client(m: &Machine) {
    m.write(format!("{DIR}/index.html"), INDEX);
    m.write(format!("{DIR}/client.wasm"), stand_in_wasm());
}

fn answers(m: &Machine, extra: &str) {
    m.write(
        "/root/answers.toml",
        format!(
            "[site]\ndomain = \"{DOMAIN}\"\n{extra}[web_client]\nenabled = true\n\
             directory = \"{DIR}\"\nacknowledged = true\n"
        ),
    );
}

/// What headless Chromium rendered of https://DOMAIN/ (a fresh profile, no network but
/// loopback, the test's self-signed certificate accepted), run by `sh` (in a machine or here).
fn chromium_with(sh: &dyn Fn(&str) -> String, domain: &str) -> String {
    chromium_at(sh, &format!("https://{domain}/"))
}

/// The same for any `url` (every name goes to this machine's loopback).
fn chromium_at(sh: &dyn Fn(&str) -> String, url: &str) -> String {
    let dom = sh(&format!(
        "P=$(mktemp -d) && timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic \
         --no-first-run --disable-background-networking --disable-component-update --disable-sync \
         --user-data-dir=$P --ignore-certificate-errors '--host-resolver-rules=MAP * 127.0.0.1' \
         --virtual-time-budget=3000 --dump-dom '{url}' 2>/dev/null; rm -rf $P"
    ));
    let para = |id: &str| {
        let tag = format!("<p id=\"{id}\">");
        let start = dom.find(&tag).map_or(dom.len(), |i| i + tag.len());
        dom[start..]
            .split("</p>")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    format!("{}; WebSocket: {}", para("r"), para("ws"))
}

fn chromium(m: &Machine) -> String {
    chromium_with(&|script| m.ok(script), DOMAIN)
}

/// The page ran isolated, compiled its module and read drawpile-srv's greeting (its first
/// binary message) over the route, from its own origin.
fn assert_runs(seen: &str, context: &str) {
    let bytes = seen
        .strip_prefix("isolated=true type=application/wasm answer=42; WebSocket: greeting of ")
        .and_then(|r| r.strip_suffix(" bytes"))
        .and_then(|n| n.parse::<usize>().ok());
    assert!(bytes.is_some_and(|n| n > 0), "{seen}\n{context}");
}

/// Apply; the client runs isolated; apply again changes nothing; the audit passes every
/// DPW-WEB check; then with COEP removed from `file`, the page is no longer isolated and the
/// audit names the header by DPW-WEB-003.
fn serve_check_and_break(m: &Machine, file: &str, reload: &str) {
    let read = |m: &Machine| m.ok(&format!("cat {file} 2>/dev/null || echo absent"));
    let before = read(m);
    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "apply failed:\n{text}");
    assert!(text.contains(&format!("{DOMAIN}/ (discouraged")), "{text}");
    // The hosted page connects with its own Origin: the route lets it through, and still
    // refuses a foreign one.
    assert_eq!(m.handshake(DOMAIN, &format!("https://{DOMAIN}")), "101");
    assert_eq!(m.handshake(DOMAIN, "https://evil.example.com"), "403");
    // drawpile-srv was just restarted and the machine may be busy: a page whose WebSocket
    // is still pending is loaded again (a few times at most).
    let seen = (0..8)
        .map(|_| chromium(m))
        .find(|s| !s.ends_with("WebSocket: pending"))
        .unwrap_or_else(|| chromium(m));
    assert_runs(&seen, &m.ok(&format!("cat {file}")));
    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Nothing to do"), "{text}");
    let audit = |m: &Machine| {
        let (_, text) = m.dpwizard(&format!("audit --json --timeout 3 --domain {DOMAIN}"));
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    let v = audit(m);
    for n in 1..=8 {
        let id = format!("DPW-WEB-00{n}");
        assert!(v["passed"].to_string().contains(&id), "{id}: {v}");
    }
    // Rollback restores the file; applying again brings the client back.
    let (code, text) = m.dpwizard("rollback");
    assert_eq!(code, 0, "rollback failed:\n{text}");
    assert_eq!(read(m), before);
    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "apply failed:\n{text}");

    m.ok(&format!(
        "sed -i '/Cross-Origin-Embedder-Policy/d' {file} && {reload}"
    ));
    let seen = (0..20)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(150));
            chromium(m)
        })
        .find(|s| s.starts_with("isolated=false"))
        .unwrap_or_else(|| chromium(m));
    assert!(
        seen.starts_with("isolated=false type=application/wasm answer=42;"),
        "{seen}"
    );
    let v = audit(m);
    let f = v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "DPW-WEB-003"))
        .unwrap_or_else(|| panic!("no DPW-WEB-003: {v}"));
    assert!(
        f["evidence"].to_string().contains(
            "without Cross-Origin-Embedder-Policy: the page is not cross-origin isolated"
        ),
        "{f}"
    );
    assert!(v["passed"].to_string().contains("DPW-WEB-002"), "{v}");
}

#[test]
fn nginx_on_the_host_serves_a_client_chromium_runs_isolated() {
    if skip_unless_machine(&["nginx", "chromium"]) {
        return;
    }
    let m = Machine::boot("dpw-web-nginx");
    m.with_drawpile_service(&Server::pick("2.3.0"));
    m.ok("systemctl start nginx");
    stand_in_client(&m);
    answers(&m, "[tls]\nmode = \"self-signed\"\n");
    let site = format!("/etc/nginx/sites-available/dpwizard-{DOMAIN}.conf");
    serve_check_and_break(&m, &site, "nginx -s reload");
}

/// The HTTPS site certbot's Apache plugin would leave (`*-le-ssl.conf`), running.
fn apache_site(m: &Machine, vhost: &str, cert: &str, key: &str) {
    m.write(
        vhost,
        format!(
            "<IfModule mod_ssl.c>\n<VirtualHost *:443>\n\tServerName {DOMAIN}\n\tDocumentRoot /var/www/html\n\n\
\tSSLEngine on\n\tSSLCertificateFile {cert}\n\tSSLCertificateKeyFile {key}\n</VirtualHost>\n</IfModule>\n"
        ),
    );
    m.ok(&format!(
        "chmod 600 {key} && a2enmod -q ssl && a2ensite -q draw-le-ssl && systemctl start apache2"
    ));
}

#[test]
fn apache_serves_a_client_chromium_runs_isolated() {
    if skip_unless_machine(&["apache2", "a2enmod", "chromium"]) {
        return;
    }
    let vhost = "/etc/apache2/sites-available/draw-le-ssl.conf";
    let m = Machine::boot("dpw-web-apache");
    m.with_drawpile_service(&Server::pick("2.3.0"));
    let (cert, key) = m.self_signed(DOMAIN);
    apache_site(&m, vhost, &cert, &key);
    stand_in_client(&m);
    answers(&m, "");
    serve_check_and_break(&m, vhost, "apache2ctl graceful");
}

#[test]
fn caddy_serves_a_client_chromium_runs_isolated() {
    if skip_unless_machine(&["caddy", "chromium"]) {
        return;
    }
    let caddyfile = "/etc/caddy/Caddyfile";
    let m = Machine::boot("dpw-web-caddy");
    m.with_drawpile_service(&Server::pick("2.3.0"));
    let (cert, key) = m.self_signed(DOMAIN);
    m.write(
        caddyfile,
        format!("{{\n\tadmin localhost:2019\n}}\n\n{DOMAIN} {{\n\ttls {cert} {key}\n}}\n"),
    );
    m.ok(&format!("chown caddy {key} && systemctl start caddy"));
    // The route first, without the client (off by default); the client comes later, on a
    // setup that already works: only its block, validated, then the reload.
    m.write(
        "/root/answers.toml",
        format!("[site]\ndomain = \"{DOMAIN}\"\n"),
    );
    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "apply failed:\n{text}");
    assert!(!m.ok(&format!("cat {caddyfile}")).contains("web client"));
    stand_in_client(&m);
    answers(&m, "");
    let (code, text) = m.dpwizard("plan --answers /root/answers.toml");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("systemctl reload caddy"), "{text}");
    assert!(
        !text.contains("drawpile-srv.service"),
        "only the client changes: {text}"
    );
    serve_check_and_break(&m, caddyfile, "systemctl reload caddy");
}

/// nginx in a container of dpserver's Compose project (a private dockerd, the site in the
/// bind-mounted nginx-config/): apply (under --root: the admin runs the listed commands, here
/// the test) adds the client to the site and mounts the directory read-only through the
/// override file; after `up -d nginx` Chromium runs the page isolated from the container.
#[test]
fn nginx_in_dpservers_container_serves_a_client_chromium_runs_isolated() {
    use crate::compose_live::{build_nginx_image, compose_text, run_compose};
    use crate::support::dockerd::Dockerd;
    use crate::support::dpserver;
    use crate::support::{FakeMachine, dpwizard_bin, skip_unless_program, skip_unless_root};
    if skip_unless_root("a private dockerd")
        || ["dockerd", "docker-compose", "nginx", "chromium"]
            .iter()
            .any(|p| skip_unless_program(p))
    {
        return;
    }
    if std::net::TcpListener::bind(("127.0.0.1", 443)).is_err() {
        eprintln!("skipped: 127.0.0.1:443 is busy");
        return;
    }
    let domain = dpserver::DOMAIN;
    let d = Dockerd::start();
    d.build_image("2.3.0", &Server::pick("2.3.0"));
    build_nginx_image(&d);
    let m = FakeMachine::debian12();
    let conf = crate::compose_live::site_without_missing_services(dpserver::ORIGIN_CHECK_2026);
    dpserver::install(&m, "/root/dpserver", &compose_text(443), &conf);
    // The client where dockerd (this machine) finds it, and where dpwizard under --root
    // reads it: the same absolute path, inside and outside the tree.
    let dir = format!("{}/web-client", m.root().display());
    for at in [std::path::PathBuf::from(&dir), m.path(&dir)] {
        std::fs::create_dir_all(&at).unwrap();
        std::fs::write(at.join("index.html"), INDEX).unwrap();
        std::fs::write(at.join("client.wasm"), stand_in_wasm()).unwrap();
    }
    let project = m.path("/root/dpserver");
    let up = run_compose(&d, &project, &["up", "-d"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    let answers = m.path("/answers.toml");
    std::fs::write(
        &answers,
        format!(
            "[site]\ndomain = \"{domain}\"\n[web_client]\nenabled = true\ndirectory = \"{dir}\"\n\
             acknowledged = true\n"
        ),
    )
    .unwrap();
    let apply = |extra: &[&str]| {
        std::process::Command::new(dpwizard_bin())
            .arg("--root")
            .arg(m.root())
            .args(["--color", "never", "apply", "--yes", "--answers"])
            .arg(&answers)
            .args(extra)
            .env("DOCKER_HOST", &d.host)
            .output()
            .unwrap()
    };
    let out = apply(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("up -d nginx"), "{stdout}");
    // The commands apply listed, run by the admin (here: the test): the service re-created
    // with the mount (docker-compose reads the override file itself).
    let up = run_compose(&d, &project, &["up", "-d", "nginx"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let t = run_compose(&d, &project, &["exec", "-T", "nginx", "nginx", "-t"]);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let sh = |script: &str| {
        let o = std::process::Command::new("bash")
            .args(["-c", script])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let site = m.read("/root/dpserver/nginx-config/default.conf");
    let seen = (0..30)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            chromium_with(&sh, domain)
        })
        .find(|s| s.contains("greeting of"))
        .unwrap_or_else(|| chromium_with(&sh, domain));
    assert_runs(&seen, &site);
    let again = apply(&[]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to do"),
        "{again:?}"
    );
    let _ = run_compose(&d, &project, &["down"]);
}

/// A certificate naming both the drawpile domain and the client's own host, as an admin with
/// `certbot --expand` would have; returns (certificate, key).
fn two_name_certificate(m: &Machine, own: &str) -> (String, String) {
    let (cert, key) = ("/etc/ssl/dpw/both.crt", "/etc/ssl/dpw/both.key");
    m.ok(&format!(
        "mkdir -p /etc/ssl/dpw && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout {key} \
         -out {cert} -subj /CN={DOMAIN} -addext subjectAltName=DNS:{DOMAIN},DNS:{own} 2>/dev/null"
    ));
    (cert.into(), key.into())
}

/// `web_client.domain`: a site of its own for the client, with the main site's certificate
/// settings; the page there runs isolated and reaches drawpile-srv through the main
/// domain's route (its origin allowed); apply again changes nothing; rollback restores.
fn own_site(m: &Machine, file: &str) {
    let own = "web.draw.example.test";
    answers(m, "");
    m.write(
        "/root/answers.toml",
        m.ok("cat /root/answers.toml") + &format!("domain = \"{own}\"\n"),
    );
    let before = m.ok(&format!("cat {file}"));
    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "apply failed:\n{text}");
    assert!(
        text.contains(&format!("https://{own}/ (discouraged")),
        "{text}"
    );
    assert_eq!(m.handshake(DOMAIN, &format!("https://{own}")), "101");
    let url = format!("https://{own}/?ws={DOMAIN}");
    let seen = (0..8)
        .map(|_| chromium_at(&|script| m.ok(script), &url))
        .find(|s| !s.ends_with("WebSocket: pending"))
        .unwrap_or_default();
    assert_runs(&seen, &m.ok(&format!("cat {file}")));
    // The main domain keeps its own page at /.
    let main = m.ok(&format!(
        "curl -sk --resolve {DOMAIN}:443:127.0.0.1 https://{DOMAIN}/ -o /dev/null -D - | tr -d '\\r'"
    ));
    assert!(!main.contains("Cross-Origin-Embedder-Policy"), "{main}");
    let (_, text) = m.dpwizard(&format!("audit --json --timeout 3 --domain {DOMAIN}"));
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    for n in 1..=8 {
        let id = format!("DPW-WEB-00{n}");
        assert!(v["passed"].to_string().contains(&id), "{id}: {v}");
    }
    let (code, text) = m.dpwizard("apply --yes --answers /root/answers.toml");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Nothing to do"), "{text}");
    let (code, text) = m.dpwizard("rollback");
    assert_eq!(code, 0, "rollback failed:\n{text}");
    assert_eq!(m.ok(&format!("cat {file}")), before);
}

#[test]
fn apache_serves_the_client_on_a_host_of_its_own() {
    if skip_unless_machine(&["apache2", "a2enmod", "chromium", "openssl"]) {
        return;
    }
    let vhost = "/etc/apache2/sites-available/draw-le-ssl.conf";
    let m = Machine::boot("dpw-web-apache-own");
    m.with_drawpile_service(&Server::pick("2.3.0"));
    let (cert, key) = two_name_certificate(&m, "web.draw.example.test");
    apache_site(&m, vhost, &cert, &key);
    stand_in_client(&m);
    own_site(&m, vhost);
}

#[test]
fn caddy_serves_the_client_on_a_host_of_its_own() {
    if skip_unless_machine(&["caddy", "chromium", "openssl"]) {
        return;
    }
    let caddyfile = "/etc/caddy/Caddyfile";
    let m = Machine::boot("dpw-web-caddy-own");
    m.with_drawpile_service(&Server::pick("2.3.0"));
    let (cert, key) = two_name_certificate(&m, "web.draw.example.test");
    m.write(
        caddyfile,
        format!("{{\n\tadmin localhost:2019\n}}\n\n{DOMAIN} {{\n\ttls {cert} {key}\n\trespond / \"main\"\n}}\n"),
    );
    m.ok(&format!("chown caddy {key} && systemctl start caddy"));
    stand_in_client(&m);
    own_site(&m, caddyfile);
}
