//! Every check the audit knows, with its stable id. The id is a public interface (scripts
//! grep for it, SARIF rules carry it): never reuse or renumber one; retire it instead.
//! docs/checks.md is generated from this list (`DPWIZARD_BLESS=1 cargo test --test it audit`).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Srv,
    Proxy,
    Tls,
    Net,
    Dns,
    Live,
    Log,
    Web,
}

impl Area {
    pub fn title(self) -> &'static str {
        match self {
            Area::Srv => "drawpile-srv",
            Area::Proxy => "Reverse proxy",
            Area::Tls => "TLS certificate",
            Area::Net => "Network and firewall",
            Area::Dns => "DNS",
            Area::Live => "Live probes",
            Area::Log => "Logs (what real users got)",
            Area::Web => "Self-hosted browser client",
        }
    }

    pub const ALL: [Area; 8] = [
        Area::Srv,
        Area::Proxy,
        Area::Tls,
        Area::Net,
        Area::Dns,
        Area::Live,
        Area::Log,
        Area::Web,
    ];
}

/// One check: what passing means, why it matters, how to fix a failure.
#[derive(Debug, PartialEq, Eq)]
pub struct CheckDef {
    pub id: &'static str,
    pub area: Area,
    pub severity: Severity,
    /// What is true when the check passes.
    pub title: &'static str,
    /// Why it matters, in one sentence.
    pub why: &'static str,
    /// The general fix; findings may say it more precisely.
    pub fix: &'static str,
    /// `dpwizard apply` (or the wizard) can make the fix.
    pub fixable: bool,
}

macro_rules! checks {
    ($($name:ident = $id:literal, $area:ident, $sev:ident, $fixable:literal, $title:literal, $why:literal, $fix:literal;)*) => {
        $(pub const $name: &CheckDef = &CheckDef {
            id: $id,
            area: Area::$area,
            severity: Severity::$sev,
            title: $title,
            why: $why,
            fix: $fix,
            fixable: $fixable,
        };)*
        /// The whole catalogue, in report order.
        pub const ALL: &[&CheckDef] = &[$($name),*];
    };
}

checks! {
    SRV_PRESENT = "DPW-SRV-001", Srv, Error, false,
        "drawpile-srv is installed and set up to run",
        "Without a running drawpile-srv nobody can join, from the browser or the app.",
        "Install drawpile-srv 2.3 (https://drawpile.net/download) with its systemd unit, or run the official image drawpile/drawpile-srv.";
    SRV_VERSION = "DPW-SRV-002", Srv, Error, false,
        "drawpile-srv is 2.2.1 or newer",
        "WebSocket support (and so the browser client) arrived in 2.2.1.",
        "Upgrade drawpile-srv to 2.3 (https://drawpile.net/download).";
    SRV_CURRENT = "DPW-SRV-003", Srv, Warning, false,
        "drawpile-srv is 2.3.0 or newer",
        "2.2.x enables socket activation with the service, which silently overrides --websocket-port, and its builds may lack WebSockets.",
        "Upgrade drawpile-srv to 2.3; dpwizard then moves the socket's ports to arguments.";
    SRV_WEBSOCKETS = "DPW-SRV-004", Srv, Error, false,
        "drawpile-srv was built with WebSocket support",
        "A build without QtWebSockets cannot accept browser clients at all.",
        "Install an official 2.3 build or the official image; both include WebSocket support.";
    SRV_NOT_ROOT = "DPW-SRV-005", Srv, Error, true,
        "drawpile-srv does not run as root",
        "drawpile-srv refuses to start as root.",
        "Set User= to an unprivileged user (dpwizard sets User=nobody in its drop-in).";
    SRV_WS_ENABLED = "DPW-SRV-006", Srv, Error, true,
        "the WebSocket listener is enabled",
        "Without --websocket-port (or the third socket on 2.2.x) drawpile-srv accepts no browser clients.",
        "Add --websocket-port 27751 to drawpile-srv's arguments: `dpwizard apply` does it in a drop-in.";
    SRV_NO_LOOPBACK_IN_CONTAINER = "DPW-SRV-007", Srv, Error, true,
        "no --websocket-listen 127.0.0.1 inside a container",
        "Inside a container, 127.0.0.1 is the container's own loopback: the published port leads nowhere.",
        "Remove --websocket-listen from the container's arguments and publish the port on the host's loopback (-p 127.0.0.1:27751:27751).";
    SRV_WS_LOCAL = "DPW-SRV-008", Srv, Warning, true,
        "the plain WebSocket port is only reachable from this machine when the proxy is local",
        "A public plain-WebSocket port bypasses TLS and the proxy's Origin check.",
        "Add --websocket-listen 127.0.0.1 (systemd), or publish it as 127.0.0.1:PORT:PORT (Docker).";
    SRV_NOTIFY = "DPW-SRV-009", Srv, Error, true,
        "Type=notify only with a build that supports systemd",
        "The AppImage and binaries copied out of Docker never send READY=1, so a Type=notify start hangs and fails.",
        "Set Type=simple in a drop-in (dpwizard does).";
    SRV_NO_SOCKET_230 = "DPW-SRV-010", Srv, Error, true,
        "no drawpile-srv socket unit with 2.3.0 or newer",
        "2.3.0 removed socket activation: a leftover enabled socket makes the service fail to start.",
        "Disable and mask the socket and move its ports to arguments (dpwizard does).";
    SRV_SOCKET_SLOTS = "DPW-SRV-011", Srv, Error, true,
        "the 2.2.x socket unit has the TCP, web admin and WebSocket slots, in that order",
        "Sockets are taken in ListenStream= order; with only two, the WebSocket socket lands in the web admin slot and is rejected.",
        "Move away from socket activation (dpwizard masks the socket and gives the ports as arguments); by hand, the socket needs exactly three ListenStream= lines: TCP, web admin, WebSocket.";
    SRV_ADMIN_PRIVATE = "DPW-SRV-012", Srv, Warning, false,
        "the web admin is not published on a public address",
        "The web admin controls the server; it must only be reachable from this machine.",
        "Publish it as 127.0.0.1:27780:27780, or drop --web-admin-port.";
    SRV_ADMIN_ACCESS_DOCKER = "DPW-SRV-013", Srv, Error, false,
        "the web admin in a container allows forwarded clients (--web-admin-access all)",
        "Docker's forwarded traffic is not loopback, so without it the web admin refuses everyone.",
        "Add --web-admin-access all to the container's arguments (and publish the port on 127.0.0.1 only).";
    SRV_ADMIN_ACCESS_HOST = "DPW-SRV-014", Srv, Warning, false,
        "--web-admin-access all only inside a container",
        "Outside a container it opens the web admin to every address that can reach the port.",
        "Remove --web-admin-access all, or restrict it to the addresses that need it.";
    SRV_NO_PENDING_RELOAD = "DPW-SRV-015", Srv, Warning, false,
        "the running service uses the unit files on disk (no pending daemon-reload)",
        "Until systemd reloads, changed unit files are not in effect.",
        "Run `systemctl daemon-reload` and restart the service.";
    SRV_STARTS_AT_BOOT = "DPW-SRV-016", Srv, Error, true,
        "drawpile-srv starts at boot (its service is enabled)",
        "Installers that used socket activation leave the service disabled: once the socket is gone, nothing starts drawpile-srv after a reboot.",
        "Enable the service (`systemctl enable drawpile-srv.service`; dpwizard does it as a journalled link).";
    SRV_NO_SOCKET_22X = "DPW-SRV-017", Srv, Error, true,
        "drawpile-srv 2.2.x is not socket-activated",
        "A 2.2.x server under its socket stops when its last client leaves; systemd then fails the socket (POLLHUP) and restarts the service without it, so the WebSocket port and the web admin are gone for good.",
        "Mask the socket and give drawpile-srv its ports as arguments (--websocket-port, --websocket-listen) in an enabled service (dpwizard does).";
    SRV_SOCKET_NOT_FAILED = "DPW-SRV-018", Srv, Error, true,
        "the drawpile-srv socket unit has not failed",
        "A failed socket passes nothing: the service runs without its WebSocket and web admin sockets until someone restarts the socket.",
        "Migrate away from socket activation (dpwizard does); until then `systemctl restart drawpile-srv.socket drawpile-srv.service`.";
    PROXY_TLS_SERVER = "DPW-PROXY-001", Proxy, Error, true,
        "a web server serves the domain with TLS on port 443",
        "Browsers only open wss:// WebSockets, always to port 443 of the server's host name.",
        "Add a 443 ssl server block for the domain (dpwizard creates one).";
    PROXY_LOCATION = "DPW-PROXY-002", Proxy, Error, true,
        "exactly one route for /drawpile-web/ws in the domain's TLS site, and requests reach it",
        "The web client always connects to wss://HOST/drawpile-web/ws: another path or a port-80 server is never used.",
        "Add `location /drawpile-web/ws` to the 443 server block (dpwizard inserts the documented one).";
    PROXY_EMPTY_ORIGIN = "DPW-PROXY-003", Proxy, Error, true,
        "the Origin check lets in the desktop app (no Origin)",
        "The desktop and mobile apps send no Origin; checks from before 2025-02-15 refuse them with 403.",
        "Use the documented regex: \"^(https://web\\.(drawpile\\.net|foxdice\\.cn))?$\".";
    PROXY_OFFICIAL_ORIGIN = "DPW-PROXY-004", Proxy, Error, true,
        "the Origin check lets in the browser client (https://web.drawpile.net)",
        "An Origin check that names only your own host locks the official web client out.",
        "Add your origins to the documented regex instead of replacing it.";
    PROXY_MIRROR_ORIGIN = "DPW-PROXY-005", Proxy, Warning, true,
        "the Origin check lets in the web client's mirror (https://web.foxdice.cn)",
        "The mirror serves people who cannot reach web.drawpile.net.",
        "Use the documented regex, which allows both origins.";
    PROXY_FOREIGN_ORIGIN = "DPW-PROXY-006", Proxy, Error, true,
        "the Origin check refuses other web sites",
        "Without it any web page can open sessions on your server from its visitors' browsers.",
        "Add the documented `if ($http_origin !~ ...) { return 403; }` to the location.";
    PROXY_UPSTREAM = "DPW-PROXY-007", Proxy, Error, true,
        "the route reaches drawpile-srv's WebSocket port (proxy_pass, ProxyPass, reverse_proxy)",
        "A wrong port or address gives every web client a 502.",
        "Point proxy_pass at http://127.0.0.1:PORT, PORT being --websocket-port (or the port published for it).";
    PROXY_HTTP11 = "DPW-PROXY-008", Proxy, Error, true,
        "the route speaks HTTP/1.1 to drawpile-srv (nginx: proxy_http_version 1.1)",
        "nginx proxies with HTTP/1.0 by default (Apache with force-proxy-request-1.0), which cannot upgrade to a WebSocket.",
        "Add `proxy_http_version 1.1;` to the location.";
    PROXY_UPGRADE = "DPW-PROXY-009", Proxy, Error, true,
        "the Upgrade and Connection headers are passed on",
        "They are hop-by-hop headers: without setting them the upgrade never reaches drawpile-srv.",
        "Add `proxy_set_header Upgrade $http_upgrade;` and `proxy_set_header Connection \"upgrade\";`.";
    PROXY_REAL_IP = "DPW-PROXY-010", Proxy, Warning, true,
        "X-Real-IP is passed on",
        "Without it every web user shows up with the proxy's address, so one ban hits everyone.",
        "Add `proxy_set_header X-Real-IP $remote_addr;` to the location.";
    PROXY_SWITCHES = "DPW-PROXY-011", Proxy, Error, true,
        "server-level proxy_pass_* switches are turned back on in the location",
        "They are inherited: `proxy_pass_request_headers off` drops the upgrade headers.",
        "Add e.g. `proxy_pass_request_headers on;` inside the location.";
    PROXY_SYNTAX = "DPW-PROXY-012", Proxy, Error, false,
        "nginx -t accepts the configuration",
        "A configuration nginx refuses is not what is running, and the next reload fails.",
        "Fix what nginx -t reports.";
    PROXY_SUPPORTED = "DPW-PROXY-013", Proxy, Info, false,
        "the web server in front is one this version of dpwizard audits (nginx, Apache 2.4, Caddy 2 with a Caddyfile)",
        "Other web servers in front (lighttpd, HAProxy, Traefik, a proxy container) are not read: only the live probes judge their route, and a second web server dpwizard would set up would fight them for port 443.",
        "Check the route by hand against the Drawpile docs and rely on the live probes (`dpwizard audit` without --offline).";
    PROXY_ONE_SERVER = "DPW-PROXY-014", Proxy, Error, false,
        "exactly one TLS site (server block, virtual host, site block) serves the domain on 443",
        "nginx answers every request with the first server for a name and ignores the others (\"conflicting server name\"): a location in another one is never used.",
        "Keep one server block for the name on 443 and move the location /drawpile-web/ws into it.";
    PROXY_ADMIN_PLAIN = "DPW-PROXY-015", Proxy, Warning, false,
        "the web admin is not re-published over plain HTTP",
        "A location without TLS that proxies to the web admin sends its password and its controls in clear text.",
        "Serve the web admin's location only in the TLS server, and redirect port 80 to https.";
    TLS_PRESENT = "DPW-TLS-001", Tls, Error, true,
        "a certificate and key are configured and readable",
        "Without a certificate browsers cannot open wss:// connections.",
        "Get one with certbot (tls.mode = \"certbot\"), or point ssl_certificate/ssl_certificate_key at yours.";
    TLS_NAME = "DPW-TLS-002", Tls, Error, false,
        "the certificate covers the domain",
        "Browsers refuse a certificate issued for another name.",
        "Get a certificate for the domain (certbot certonly -d DOMAIN).";
    TLS_KEY = "DPW-TLS-003", Tls, Error, false,
        "the private key matches the certificate",
        "With a mismatched key nginx refuses to start or the TLS handshake fails.",
        "Point ssl_certificate_key at the key the certificate was issued for.";
    TLS_VALID = "DPW-TLS-004", Tls, Error, false,
        "the certificate is valid now",
        "Browsers refuse expired (or not yet valid) certificates without a way around it for WebSockets.",
        "Renew it: `certbot renew`, then reload the web server.";
    TLS_DAYS_LEFT = "DPW-TLS-005", Tls, Warning, false,
        "more than 14 days before the certificate expires",
        "Let's Encrypt renews 30 days ahead: less than 14 days left means renewal is failing.",
        "Run `certbot renew --dry-run` and fix what it reports.";
    TLS_CHAIN = "DPW-TLS-006", Tls, Warning, false,
        "the certificate file includes its intermediate (full chain)",
        "Without the intermediate some browsers cannot build a trusted chain.",
        "Use fullchain.pem, not cert.pem, as ssl_certificate.";
    TLS_PUBLIC_CA = "DPW-TLS-007", Tls, Warning, false,
        "the certificate is issued by a certificate authority (not self-signed)",
        "Browsers refuse self-signed certificates for WebSockets unless each user adds an exception.",
        "Use tls.mode = \"certbot\" once the domain resolves to this machine.";
    TLS_RENEWAL = "DPW-TLS-008", Tls, Warning, false,
        "renewal is scheduled (certbot timer or cron job)",
        "Let's Encrypt certificates last 90 days; without scheduled renewal the site breaks.",
        "Enable certbot.timer (`systemctl enable --now certbot.timer`) or a cron job running `certbot renew`.";
    TLS_RELOAD_HOOK = "DPW-TLS-009", Tls, Warning, false,
        "renewal reloads the web server",
        "nginx keeps serving the old certificate until it reloads, even after a renewal.",
        "Add a deploy hook: /etc/letsencrypt/renewal-hooks/deploy/reload-nginx running `systemctl reload nginx`.";
    NET_WS_NOT_PUBLIC = "DPW-NET-001", Net, Warning, true,
        "the plain WebSocket port is not reachable from outside",
        "A public plain-WebSocket port bypasses TLS and the proxy's Origin check.",
        "Bind it to 127.0.0.1 (--websocket-listen 127.0.0.1) or block it in the firewall.";
    NET_FIREWALL_HTTPS = "DPW-NET-002", Net, Error, true,
        "the firewall allows HTTPS (443)",
        "An active firewall without a 443 rule blocks every browser.",
        "`ufw allow 443/tcp` (or `firewall-cmd --permanent --add-service=https && firewall-cmd --reload`); dpwizard adds the rule with the tool the machine uses.";
    NET_FIREWALL_TCP = "DPW-NET-003", Net, Warning, true,
        "the firewall allows drawpile-srv's TCP port",
        "The desktop and mobile apps connect to the TCP port directly.",
        "`ufw allow 27750/tcp` (or the firewalld equivalent).";
    DNS_NAME = "DPW-DNS-001", Dns, Error, false,
        "the server's address is a DNS name, not an IP address or localhost",
        "Browsers need a name with a certificate for wss://; IP addresses and localhost cannot work for others.",
        "Point a DNS name at this machine and use it as the domain.";
    DNS_RESOLVES_HERE = "DPW-DNS-002", Dns, Warning, false,
        "the domain resolves to this machine",
        "Browsers (and certbot) reach whatever the name resolves to.",
        "Set the domain's A/AAAA records to this machine's public address (behind NAT, check the forwarding).";
    LIVE_TCP = "DPW-LIVE-001", Live, Error, false,
        "drawpile-srv greets on its TCP port",
        "The desktop app connects there; no greeting means the server is down or something else listens.",
        "Start the service (`systemctl restart drawpile-srv`) and read its log.";
    LIVE_DIRECT = "DPW-LIVE-002", Live, Error, true,
        "drawpile-srv greets on its WebSocket port",
        "The proxy forwards there; if drawpile-srv does not answer, every browser gets a 502.",
        "Check --websocket-port and that the service runs the configuration on disk.";
    LIVE_TLS_TRUSTED = "DPW-LIVE-003", Live, Warning, false,
        "the certificate served for the domain is trusted by this machine",
        "Browsers check the same chain; an untrusted certificate makes wss:// fail.",
        "Serve a certificate from a public CA with its full chain.";
    LIVE_PROXY_OFFICIAL = "DPW-LIVE-004", Live, Error, true,
        "through the proxy, the browser client's Origin reaches drawpile-srv (101 and a greeting)",
        "This is exactly what web.drawpile.net does.",
        "Fix the proxy findings above; then re-run the audit.";
    LIVE_PROXY_NO_ORIGIN = "DPW-LIVE-005", Live, Error, true,
        "through the proxy, a client without Origin (the desktop app) gets 101",
        "The app upgrades to WebSockets through the proxy and sends no Origin.",
        "Allow the empty Origin in the Origin check.";
    LIVE_PROXY_FOREIGN = "DPW-LIVE-006", Live, Error, true,
        "through the proxy, a foreign Origin gets 403",
        "Otherwise any web page can drive your server from its visitors' browsers.",
        "Add the documented Origin check to the location.";
    LIVE_OWN_ADDRESSES = "DPW-LIVE-007", Live, Error, false,
        "at this machine's own addresses, the browser client's handshake gets 101",
        "Users come from outside: a web server that listens on loopback (or another address) only is unreachable for them.",
        "Make the TLS server listen on all addresses (`listen 443 ssl;`), or on this one; then check from another machine with the curl line `dpwizard apply` prints.";
    LOG_REAL_IP = "DPW-LOG-001", Log, Warning, true,
        "WebSocket clients arrive with their real address (X-Real-IP reaches drawpile-srv)",
        "drawpile-srv logs 'IP from WebSocket peer address' when the proxy did not send X-Real-IP: bans then hit everyone.",
        "Add `proxy_set_header X-Real-IP $remote_addr;` to the location.";
    LOG_SOCKET_ERRORS = "DPW-LOG-002", Log, Error, true,
        "drawpile-srv's log has no socket-activation errors",
        "'socket activation is no longer supported' means a leftover socket stops 2.3.0 from starting.",
        "Disable and mask drawpile-srv.socket and move its ports to arguments (dpwizard does).";
    LOG_APP_REFUSED = "DPW-LOG-003", Log, Error, true,
        "the proxy does not refuse the desktop app (no 403 to DrawpileClient)",
        "403s to User-Agent DrawpileClient mean the Origin check rejects the empty Origin.",
        "Use the documented Origin regex, which allows the empty Origin.";
    LOG_BROWSER_REFUSED = "DPW-LOG-004", Log, Warning, false,
        "the proxy does not refuse browsers on /drawpile-web/ws (no 403)",
        "403s to browsers mean the Origin check refuses the web client or a site you meant to allow.",
        "Check the Origin regex against the origins in the log lines.";
    LOG_BACKEND_DOWN = "DPW-LOG-005", Log, Error, false,
        "the proxy reaches drawpile-srv (no 502/504 on /drawpile-web/ws)",
        "502 and 504 mean drawpile-srv was down or proxy_pass points at the wrong port.",
        "Check proxy_pass against --websocket-port and that the service is running.";
    WEB_FILES = "DPW-WEB-001", Web, Error, false,
        "the hosted browser client's directory holds index.html and a .wasm file",
        "Without them the site serves no client (or a broken one).",
        "Build the Drawpile browser client (or unpack a release) into the directory the web server serves.";
    WEB_COOP = "DPW-WEB-002", Web, Error, true,
        "every response of the hosted client carries Cross-Origin-Opener-Policy: same-origin",
        "Without COOP the page is not cross-origin isolated: no secure context for its threads, so the client cannot run.",
        "Add the header to every response (nginx: in every location, with `always`); `dpwizard apply` with [web_client] writes it.";
    WEB_COEP = "DPW-WEB-003", Web, Error, true,
        "every response of the hosted client carries Cross-Origin-Embedder-Policy: require-corp",
        "Without COEP the page is not cross-origin isolated: no secure context for its threads, so the client cannot run.",
        "Add the header to every response (nginx: in every location, with `always`); `dpwizard apply` with [web_client] writes it.";
    WEB_CORP = "DPW-WEB-004", Web, Warning, true,
        "every response of the hosted client carries Cross-Origin-Resource-Policy: same-site",
        "Drawpile's page asks for it; with COEP in force, resources without it may be blocked.",
        "Add the header to every response; `dpwizard apply` with [web_client] writes it.";
    WEB_WASM_TYPE = "DPW-WEB-005", Web, Error, true,
        ".wasm files are served as application/wasm",
        "Browsers refuse to compile WebAssembly streamed with another type.",
        "Map .wasm to application/wasm (nginx: `types { } default_type application/wasm;` in a .wasm location).";
    WEB_CACHE = "DPW-WEB-006", Web, Warning, true,
        "HTML is served with Cache-Control: no-store, everything else with a long expiry",
        "A cached index.html keeps browsers on an old client after an update; the rest is large and never changes under its name.",
        "Send `Cache-Control: no-store` for text/html and a long max-age for the rest.";
    WEB_GET_ONLY = "DPW-WEB-007", Web, Warning, true,
        "the hosted client answers GET (and HEAD) only",
        "Static files need nothing else; refusing other methods is what Drawpile's page asks for.",
        "Refuse other methods (nginx: `limit_except GET { deny all; }`).";
    WEB_HTTPS_REDIRECT = "DPW-WEB-008", Web, Warning, true,
        "plain HTTP for the domain is redirected to HTTPS",
        "People type the name without https://; the client only runs in a secure context.",
        "Add a port-80 site that answers 301 to https://.";
}

/// The check with this id, if there is one.
pub fn find(id: &str) -> Option<&'static CheckDef> {
    ALL.iter().copied().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_well_formed_and_match_their_area() {
        let mut seen = std::collections::HashSet::new();
        for c in ALL {
            assert!(seen.insert(c.id), "duplicate {}", c.id);
            let area = format!("{:?}", c.area).to_uppercase();
            let rest =
                c.id.strip_prefix(&format!("DPW-{area}-"))
                    .unwrap_or_else(|| panic!("{} is not in area {area}", c.id));
            assert!(rest.len() == 3 && rest.chars().all(|ch| ch.is_ascii_digit()));
            assert!(c.why.ends_with('.') && c.fix.ends_with('.'), "{}", c.id);
        }
        assert!(ALL.len() >= 40);
    }
}
