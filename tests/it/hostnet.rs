//! Web servers, TLS and network on fake machines, with the real programs as oracles:
//! `apache2 -S` for vhosts, `caddy adapt` for Caddy sites, openssl for certificates, and a
//! throwaway VPS with real nginx listening for the live socket view.

use std::process::Command;

use crate::support::drawpile::Server;
use crate::support::vps::Vps;
use crate::support::*;

fn selfsigned(domain: &str, now: i64, days: i64) -> (String, String) {
    let c = dpwizard::plan::selfsigned::generate(domain, now, days).unwrap();
    (c.cert_pem, c.key_pem)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Copies the installed Debian apache2 configuration (the package's real layout) into `m`.
fn debian_apache(m: &FakeMachine) -> bool {
    if !std::path::Path::new("/etc/apache2/apache2.conf").exists() {
        eprintln!("SKIPPED: apache2 is not installed (scripts/test-deps.sh installs it)");
        return false;
    }
    m.dir("/etc");
    let st = Command::new("cp")
        .args(["-r", "--preserve=mode", "/etc/apache2"])
        .arg(m.path("/etc/apache2"))
        .status()
        .unwrap();
    assert!(st.success());
    true
}

/// `a2enmod`/`a2ensite` as links, written by the test.
fn a2en(m: &FakeMachine, kind: &str, name: &str, files: &[&str]) {
    for f in files {
        let (avail, enabled) = (format!("{kind}-available"), format!("{kind}-enabled"));
        if m.path(&format!("/etc/apache2/{avail}/{name}.{f}")).exists() {
            m.symlink(
                &format!("/etc/apache2/{enabled}/{name}.{f}"),
                &format!("../{avail}/{name}.{f}"),
            );
        }
    }
}

/// `apache2 -S` on the tree, in a private mount namespace: (port, name, file:line) per vhost.
fn real_apache_vhosts(m: &FakeMachine) -> Option<Vec<(u16, String, String)>> {
    if !is_root() || which_host("apache2").is_none() {
        eprintln!("SKIPPED the apache2 -S comparison: needs root and apache2");
        return None;
    }
    // (no `set -u`: Debian's envvars reads unset variables)
    let script = r#"set -e
ROOT="$1"
mount --bind "$ROOT/etc/apache2" /etc/apache2
mount -t tmpfs tmpfs /run; mkdir -p /run/apache2 /run/lock
mkdir -p /var/log/apache2 && mount -t tmpfs tmpfs /var/log/apache2
if [ -d "$ROOT/etc/letsencrypt" ]; then mkdir -p /tmp/le && mount --bind "$ROOT/etc/letsencrypt" /tmp/le; fi
. /etc/apache2/envvars
apache2 -S 2>&1"#;
    let out = Command::new("unshare")
        .args([
            "-m",
            "-n",
            "--propagation",
            "private",
            "bash",
            "-c",
            script,
            "apache2-S",
        ])
        .arg(m.root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "apache2 -S failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Lines like `*:443                  paint.example.com (/etc/apache2/sites-enabled/x.conf:2)`
    // or, under `*:443 is a NameVirtualHost`, `port 443 namevhost NAME (FILE:LINE)`.
    let mut v = Vec::new();
    for l in text.lines() {
        let t = l.trim();
        let Some((head, loc)) = t.rsplit_once(" (") else {
            continue;
        };
        let loc = loc.trim_end_matches(')').to_string();
        let words: Vec<&str> = head.split_whitespace().collect();
        let (port, name) = match words.as_slice() {
            ["port", p, "namevhost", n, ..] => (p.parse().ok(), n.to_string()),
            [addr, n] if addr.contains(':') => (
                addr.rsplit(':').next().and_then(|p| p.parse().ok()),
                n.to_string(),
            ),
            _ => (None, String::new()),
        };
        if let Some(p) = port {
            v.push((p, name, loc));
        }
    }
    v.sort();
    v.dedup();
    Some(v)
}

#[test]
fn apache_vhosts_and_modules_agree_with_apache2_s() {
    let m = FakeMachine::debian12();
    if !debian_apache(&m) {
        return;
    }
    let (cert, key) = selfsigned("paint.example.com", now(), 90);
    m.file("/etc/ssl/dpw/paint.pem", &cert)
        .file("/etc/ssl/dpw/paint.key", &key);
    for module in [
        "ssl",
        "socache_shmcb",
        "proxy",
        "proxy_http",
        "proxy_wstunnel",
        "headers",
        "rewrite",
    ] {
        a2en(&m, "mods", module, &["load", "conf"]);
    }
    m.file(
        "/etc/apache2/sites-available/paint.conf",
        "<VirtualHost *:443>\n    ServerName paint.example.com\n    ServerAlias www.paint.example.com\n    SSLEngine on\n    SSLCertificateFile /etc/ssl/dpw/paint.pem\n    SSLCertificateKeyFile /etc/ssl/dpw/paint.key\n    RewriteEngine on\n    RewriteCond %{HTTP:Origin} \"!^(https://web\\.drawpile\\.net)?$\"\n    RewriteRule ^/drawpile-web/ws - [F]\n    ProxyPass /drawpile-web/ws http://127.0.0.1:27751/drawpile-web/ws upgrade=websocket\n</VirtualHost>\n",
    );
    a2en(&m, "sites", "paint", &["conf"]);
    let v = m.detect_json(&[]);
    assert_eq!(jget(&v, "apache.config_root"), "/etc/apache2");
    assert_eq!(jget(&v, "apache.missing_modules"), &serde_json::json!([]));
    let vhosts = jget(&v, "apache.vhosts").as_array().unwrap().clone();
    let tls = vhosts.iter().find(|h| h["port"] == 443).unwrap();
    assert_eq!(tls["server_name"], "paint.example.com");
    assert_eq!(tls["ssl"], true);
    assert_eq!(tls["ssl_certificate_file"], "/etc/ssl/dpw/paint.pem");
    assert!(tls["directives"].to_string().contains("RewriteCond"));
    // The certificate it points at is parsed and its key checked.
    let refd = jget(&v, "tls.referenced").as_array().unwrap().clone();
    let r = refd
        .iter()
        .find(|r| r["path"] == "/etc/ssl/dpw/paint.pem")
        .unwrap();
    assert_eq!(r["certificate"]["key_matches"], true);
    assert_eq!(r["certificate"]["names"][0], "paint.example.com");

    if let Some(real) = real_apache_vhosts(&m) {
        let mut ours: Vec<(u16, String, String)> = vhosts
            .iter()
            .map(|h| {
                (
                    h["port"].as_u64().unwrap() as u16,
                    h["server_name"].as_str().unwrap_or("").to_string(),
                    format!("{}:{}", h["file"].as_str().unwrap(), h["line"]),
                )
            })
            .collect();
        ours.sort();
        // apache2 -S names a vhost without ServerName by the machine's host name.
        let real: Vec<_> = real.into_iter().filter(|(p, _, _)| *p == 443).collect();
        let ours: Vec<_> = ours.into_iter().filter(|(p, _, _)| *p == 443).collect();
        assert_eq!(ours, real);
    }
    // A module missing is reported.
    std::fs::remove_file(m.path("/etc/apache2/mods-enabled/proxy_wstunnel.load")).unwrap();
    let v = m.detect_json(&[]);
    assert_eq!(
        jget(&v, "apache.missing_modules"),
        &serde_json::json!(["proxy_wstunnel"])
    );
}

#[test]
fn caddy_sites_agree_with_caddy_adapt() {
    let m = FakeMachine::debian12();
    m.file(
        "/etc/caddy/Caddyfile",
        "{\n    admin off\n}\n\n(common) {\n    encode gzip\n}\n\nimport sites/*.caddy\n\nhttp://plain.example.com {\n    respond \"hi\"\n}\n",
    )
    .file(
        "/etc/caddy/sites/draw.caddy",
        "draw.example.com, www.draw.example.com {\n    tls internal\n    @bad {\n        path /drawpile-web/ws\n        header_regexp Origin .+\n        not header Origin https://web.drawpile.net\n    }\n    respond @bad 403\n    reverse_proxy /drawpile-web/ws 127.0.0.1:27751\n}\n",
    );
    let v = m.detect_json(&[]);
    let sites = jget(&v, "caddy.sites").as_array().unwrap().clone();
    assert_eq!(sites.len(), 2, "{sites:#?}");
    let draw = &sites[0];
    assert_eq!(
        draw["addresses"],
        serde_json::json!(["draw.example.com", "www.draw.example.com"])
    );
    assert_eq!(draw["file"], "/etc/caddy/sites/draw.caddy");
    assert_eq!(draw["line"], 1);
    assert_eq!(draw["tls"], serde_json::json!(["internal"]));
    assert_eq!(
        draw["reverse_proxies"][0],
        serde_json::json!(["/drawpile-web/ws", "127.0.0.1:27751"])
    );
    let caddy = jget(&v, "web_servers")
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "caddy")
        .cloned()
        .unwrap();
    assert_eq!(caddy["serves_443_by_config"], true);

    if which_host("caddy").is_none() {
        eprintln!("SKIPPED the caddy adapt comparison: caddy is not installed");
        return;
    }
    let out = Command::new("caddy")
        .args(["adapt", "--adapter", "caddyfile", "--config"])
        .arg(m.path("/etc/caddy/Caddyfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every host caddy routes on is a host of one of our sites, and vice versa.
    let mut theirs: Vec<String> = Vec::new();
    fn hosts(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::Array(h)) = o.get("host") {
                    out.extend(h.iter().filter_map(|x| x.as_str().map(String::from)));
                }
                o.values().for_each(|x| hosts(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| hosts(x, out)),
            _ => {}
        }
    }
    hosts(&json["apps"]["http"], &mut theirs);
    theirs.sort();
    theirs.dedup();
    let mut ours: Vec<String> = sites
        .iter()
        .flat_map(|s| s["addresses"].as_array().unwrap().clone())
        .map(|a| {
            a.as_str()
                .unwrap()
                .trim_start_matches("http://")
                .to_string()
        })
        .collect();
    ours.sort();
    assert_eq!(ours, theirs);
}

#[test]
fn certbot_lineage_renewal_and_bad_certificates() {
    let m = FakeMachine::debian12();
    let (cert, key) = selfsigned("paint.example.com", now() - 80 * 86400, 90);
    crate::support::nginx::trees::certbot_lineage(m.root(), "paint.example.com", &cert, &key);
    m.file(
        "/etc/letsencrypt/renewal/paint.example.com.conf",
        "version = 2.1.0\n[renewalparams]\nauthenticator = webroot\nwebroot_path = /var/www/html,\nserver = https://acme-v02.api.letsencrypt.org/directory\n[[webroot_map]]\npaint.example.com = /var/www/html\n",
    )
    .exec("/etc/letsencrypt/renewal-hooks/deploy/reload-nginx", "#!/bin/sh\nsystemctl reload nginx\n")
    .file("/lib/systemd/system/certbot.timer", "[Timer]\nOnCalendar=*-*-* 00,12:00:00\n")
    .symlink("/etc/systemd/system/timers.target.wants/certbot.timer", "/lib/systemd/system/certbot.timer");
    // An expired certificate, one for another name, and garbage, referenced by nginx.
    let (old, old_key) = selfsigned("old.example.com", now() - 100 * 86400, 30);
    let (other, other_key) = selfsigned("other.example.org", now(), 30);
    m.file("/etc/ssl/old.pem", &old).file("/etc/ssl/old.key", &old_key)
        .file("/etc/ssl/other.pem", &other).file("/etc/ssl/other.key", &key) // wrong key
        .file("/etc/ssl/garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
        .file(
            "/etc/nginx/nginx.conf",
            "events {}\nhttp {\n server { listen 443 ssl; server_name old.example.com; ssl_certificate /etc/ssl/old.pem; ssl_certificate_key /etc/ssl/old.key; }\n server { listen 443 ssl; server_name draw.example.com; ssl_certificate /etc/ssl/other.pem; ssl_certificate_key /etc/ssl/other.key; }\n server { listen 443 ssl; server_name g.example.com; ssl_certificate /etc/ssl/garbage.pem; ssl_certificate_key /etc/ssl/old.key; }\n}\n",
        );
    let _ = other_key;
    let v = m.detect_json(&[]);
    let l = jget(&v, "tls.lineages.0");
    assert_eq!(l["name"], "paint.example.com");
    assert_eq!(l["names"], serde_json::json!(["paint.example.com"]));
    assert_eq!(l["certificate"]["key_matches"], true);
    let days = l["certificate"]["days_left"].as_i64().unwrap();
    assert!((9..=10).contains(&days), "{days}");
    assert_eq!(l["renewal"]["authenticator"], "webroot");
    assert_eq!(
        l["renewal"]["webroot"],
        serde_json::json!(["/var/www/html"])
    );
    assert_eq!(jget(&v, "tls.renewal_scheduled"), true);
    assert_eq!(
        jget(&v, "tls.deploy_hooks.0"),
        "/etc/letsencrypt/renewal-hooks/deploy/reload-nginx"
    );
    let refd = jget(&v, "tls.referenced").as_array().unwrap().clone();
    let get = |p: &str| refd.iter().find(|r| r["path"] == p).unwrap().clone();
    assert_eq!(get("/etc/ssl/old.pem")["certificate"]["expired"], true);
    assert_eq!(
        get("/etc/ssl/other.pem")["certificate"]["names"][0],
        "other.example.org"
    );
    assert_eq!(
        get("/etc/ssl/other.pem")["certificate"]["key_matches"],
        false
    );
    assert!(
        get("/etc/ssl/garbage.pem")["error"]
            .as_str()
            .unwrap()
            .contains("/etc/ssl/garbage.pem")
    );
    assert!(
        get("/etc/ssl/old.pem")["referenced_by"]
            .as_str()
            .unwrap()
            .starts_with("/etc/nginx/nginx.conf:")
    );
}

#[test]
fn rsa_certificates_made_by_openssl_are_read() {
    if skip_unless_program("openssl") {
        return;
    }
    let m = FakeMachine::debian12();
    m.dir("/etc/ssl/rsa");
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=rsa.example.com",
        ])
        .args([
            "-addext",
            "subjectAltName=DNS:rsa.example.com,DNS:www.rsa.example.com",
        ])
        .arg("-keyout")
        .arg(m.path("/etc/ssl/rsa/key.pem"))
        .arg("-out")
        .arg(m.path("/etc/ssl/rsa/cert.pem"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    m.file("/etc/nginx/nginx.conf", "events {}\nhttp { server { listen 443 ssl; ssl_certificate /etc/ssl/rsa/cert.pem; ssl_certificate_key /etc/ssl/rsa/key.pem; } }\n");
    let v = m.detect_json(&[]);
    let c = jget(&v, "tls.referenced.0.certificate");
    assert_eq!(
        c["names"],
        serde_json::json!(["rsa.example.com", "www.rsa.example.com"])
    );
    assert_eq!(c["key_type"], "RSA 2048");
    assert_eq!(c["key_matches"], true);
    assert_eq!(c["self_signed"], true);
}

#[test]
fn firewall_and_sockets_under_another_root() {
    let m = FakeMachine::debian12();
    m.file("/etc/ufw/ufw.conf", "# /etc/ufw/ufw.conf\nENABLED=yes\nLOGLEVEL=low\n")
        .file("/etc/ufw/user.rules", "*filter\n### tuple ### allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 443 -j ACCEPT\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\nCOMMIT\n");
    let v = m.detect_json(&[]);
    assert_eq!(jget(&v, "network.visible"), false);
    assert!(
        jget(&v, "network.not_visible_because")
            .as_str()
            .unwrap()
            .contains("--root")
    );
    assert_eq!(jget(&v, "network.firewall.ufw_enabled"), true);
    assert_eq!(
        jget(&v, "network.firewall.ufw_rules"),
        &serde_json::json!(["allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 in"])
    );
}

#[test]
fn live_machine_sees_who_listens() {
    if skip_unless_root("a throwaway VPS") || skip_unless_program("nginx") {
        return;
    }
    let vps = Vps::new();
    let (cert, key) = selfsigned("draw.example.test", now(), 30);
    vps.file("/etc/ssl/dpw/cert.pem", &cert, 0o644)
        .file("/etc/ssl/dpw/key.pem", &key, 0o600)
        .file(
            "/etc/nginx/sites-enabled/tls",
            "server {\n    listen 443 ssl;\n    server_name draw.example.test;\n    ssl_certificate /etc/ssl/dpw/cert.pem;\n    ssl_certificate_key /etc/ssl/dpw/key.pem;\n}\n",
            0o644,
        )
        ;
    let srv = Server::pick("2.3.0");
    let bin = vps.drawpile(&srv);
    std::fs::create_dir_all(vps.results_dir()).unwrap();
    let script = format!(
        r#"set -e
nginx
setpriv --reuid 65534 --regid 65534 --clear-groups {bin} --listen 127.0.0.1 --websocket-port 27751 --websocket-listen 127.0.0.1 2>/dev/null &
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/27751) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/443) 2>/dev/null && break; sleep 0.05; done
{dpw} --root / detect --json > /results/detect.json
"#,
        dpw = dpwizard_in_machine()
    );
    let out = vps.run(&script);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&vps.result("detect.json")).unwrap();
    assert_eq!(jget(&v, "network.visible"), true);
    let listeners = jget(&v, "network.listeners").as_array().unwrap().clone();
    let owner = |port: u64| -> Vec<String> {
        listeners
            .iter()
            .filter(|l| l["port"] == port)
            .map(|l| l["process"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    assert!(
        owner(443).iter().all(|p| p == "nginx") && !owner(443).is_empty(),
        "{listeners:#?}"
    );
    assert!(
        owner(80).iter().any(|p| p == "nginx"),
        "Debian's default site listens on 80"
    );
    assert_eq!(owner(27751), vec!["drawpile-srv".to_string()]);
    let ws = listeners.iter().find(|l| l["port"] == 27751).unwrap();
    assert_eq!(ws["address"], "127.0.0.1");
    let nginx = jget(&v, "web_servers")
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "nginx")
        .cloned()
        .unwrap();
    assert_eq!(nginx["listens_443"], true);
    assert_eq!(nginx["version"], "1.22.1");
    // The binary found on the live machine is the one running, probed as nobody.
    let b = jget(&v, "drawpile.binaries").to_string();
    assert!(b.contains(&bin), "{b}");
}
