//! A web server in front of drawpile-srv inside a throwaway VPS: start drawpile-srv (the real
//! build or the stand-in) as nobody on 27751, wait for it and the front end on 443, then the
//! three handshakes through the front end with curl, and what drawpile-srv logged.

use super::drawpile::Server;
use super::vps::Vps;

pub const DOMAIN: &str = "draw.example.test";

/// A self-signed certificate and key (PEM) for [`DOMAIN`].
pub fn selfsigned() -> (String, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let c = dpwizard::plan::selfsigned::generate(DOMAIN, now, 30).expect("certificate");
    (c.cert_pem, c.key_pem)
}

/// What the probes saw: HTTP status codes, and the logs.
pub struct Seen {
    pub official: String,
    pub none: String,
    pub foreign: String,
    /// The official mirror's Origin, https://web.foxdice.cn.
    pub mirror: String,
    /// `GET /app`: the rest of the site.
    pub app: String,
    pub srv_log: String,
    pub front_log: String,
    pub label: String,
}

/// Runs `setup` (which configures the front end), starts drawpile-srv and `start` (which
/// starts the front end), waits for both, and probes: the upgrade with the official
/// Origin, with none, with a foreign one, with the mirror's, then `GET /app`. `logs` are copied out.
pub fn handshakes(vps: &Vps, setup: &str, start: &str, logs: &str) -> Seen {
    let srv = Server::pick("2.3.0");
    let bin = vps.drawpile(&srv);
    let probe = |name: &str, origin: &str| {
        format!(
            "curl -sk --http1.1 --max-time 2 --resolve {DOMAIN}:443:127.0.0.1 \
-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' {origin} -o /dev/null \
-w '%{{http_code}}' https://{DOMAIN}/drawpile-web/ws > /results/{name}.code || true\n"
        )
    };
    let script = format!(
        r#"set -e
{setup}
setpriv --reuid 65534 --regid 65534 --clear-groups {bin} --listen 127.0.0.1 --websocket-port 27751 --websocket-listen 127.0.0.1 2>/results/srv.log &
{start}
for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/27751) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/443) 2>/dev/null && break; sleep 0.05; done
{official}{none}{foreign}{mirror}
curl -sk --max-time 2 --resolve {DOMAIN}:443:127.0.0.1 -o /results/app.body -w '%{{http_code}}' https://{DOMAIN}/app > /results/app.code || true
cat {logs} > /results/front.log 2>/dev/null || true
"#,
        official = probe("official", "-H 'Origin: https://web.drawpile.net'"),
        none = probe("none", ""),
        foreign = probe("foreign", "-H 'Origin: https://evil.example.com'"),
        mirror = probe("mirror", "-H 'Origin: https://web.foxdice.cn'"),
    );
    let out = vps.run(&script);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = |n: &str| vps.result(&format!("{n}.code"));
    Seen {
        official: code("official"),
        none: code("none"),
        foreign: code("foreign"),
        mirror: code("mirror"),
        app: code("app"),
        srv_log: vps.result("srv.log"),
        front_log: format!("{}\n{}", vps.result("front.log"), vps.result("app.body")),
        label: srv.label(),
    }
}

/// [`handshakes`], then: official Origin → 101, no Origin → 101, foreign Origin → 403,
/// the mirror's → 101,
/// `GET /app` → `app_code` (the rest of the site still served), and drawpile-srv logged
/// both upgrades with the address from X-Real-IP.
pub fn assert_three_handshakes(vps: &Vps, setup: &str, start: &str, app_code: &str, logs: &str) {
    let s = handshakes(vps, setup, start, logs);
    let log = &s.front_log;
    assert_eq!(s.official, "101", "{}\n{log}", s.label);
    assert_eq!(s.none, "101", "{log}");
    assert_eq!(s.foreign, "403", "{log}");
    assert_eq!(s.mirror, "101", "{log}");
    assert_eq!(s.app, app_code, "{log}");
    // drawpile-srv saw both upgrades, each with the client's address from X-Real-IP.
    let srv_log = &s.srv_log;
    let seen: Vec<&str> = srv_log
        .lines()
        .filter(|l| l.contains("New WebSocket client connected"))
        .collect();
    assert_eq!(seen.len(), 3, "{srv_log}");
    assert!(
        seen[0].contains("(IP from X-Real-IP header, Origin 'https://web.drawpile.net')"),
        "{srv_log}"
    );
    assert!(
        seen[1].contains("(IP from X-Real-IP header, Origin '')"),
        "{srv_log}"
    );
}
