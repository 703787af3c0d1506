//! The web server in front of drawpile-srv, as one seam. Browsers reach drawpile-srv only
//! through a TLS web server that proxies `/drawpile-web/ws`; this module is the one place
//! that knows which kinds of web server dpwizard handles and answers, for each:
//! - which site serves the domain, as that server chooses it ([`nginx::site_for`] for nginx
//!   on the host and in a container, [`apache::site`], [`caddy::site`]) and where its
//!   certificate comes from ([`SiteCertificate`]),
//! - which route serves `/drawpile-web/ws`, as a neutral judged [`route::Route`] (upstream,
//!   Origin rule, headers, file:line) that the audit checks without knowing the format,
//! - how the proxy reaches drawpile-srv: a host address and port, or a compose service's
//!   name and container port ([`reach`]),
//! - which server is in front at all, and whether a chosen one may be ([`front`]),
//! - its unit, the directories it serves from, its validator and how its reload settles
//!   ([`Kind`]): what apply and rollback run.
//!
//! The lossless editors live with their formats (`formats::nginx`, `formats::apache`,
//! `formats::caddyfile`); the renderers of dpwizard's own blocks in `plan::{nginx, apache,
//! caddy}`.

pub mod apache;
pub mod caddy;
pub mod front;
pub mod nginx;
pub mod reach;
pub mod route;

use serde::Serialize;

/// The path the browser client asks for; it is fixed in the client.
pub const WS_PATH: &str = "/drawpile-web/ws";

/// A kind of web server in front.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// nginx installed on the host (Debian's package, sites-enabled/, conf.d/).
    HostNginx,
    /// nginx in a container of a Compose project (drawpile/dpserver): its files are on the
    /// host through bind mounts; it reaches drawpile-srv over the compose network.
    ContainerNginx,
    /// Apache 2.4 on the host.
    Apache,
    /// Caddy 2 on the host, configured by a Caddyfile.
    Caddy,
}

impl Kind {
    /// How evidence and messages name it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::HostNginx => "nginx",
            Kind::ContainerNginx => "nginx (in a container)",
            Kind::Apache => "Apache",
            Kind::Caddy => "Caddy",
        }
    }

    /// The command that validates its configuration before a reload, as apply reports it.
    pub fn validator(self) -> &'static str {
        match self {
            Kind::HostNginx => "nginx -t",
            Kind::ContainerNginx => "nginx -t in its container",
            Kind::Apache => "apache2ctl configtest",
            Kind::Caddy => "caddy validate",
        }
    }

    /// The web servers that run on the host as a systemd unit.
    pub const ON_HOST: [Kind; 3] = [Kind::HostNginx, Kind::Apache, Kind::Caddy];

    /// Its systemd unit on the host (Debian's names); None for nginx in a container.
    pub fn unit(self) -> Option<&'static str> {
        match self {
            Kind::HostNginx => Some("nginx"),
            Kind::Apache => Some("apache2"),
            Kind::Caddy => Some("caddy"),
            Kind::ContainerNginx => None,
        }
    }

    /// The host web server a unit name (`nginx`, `apache2.service`) is, if any.
    pub fn of_unit(unit: &str) -> Option<Kind> {
        let name = unit.strip_suffix(".service").unwrap_or(unit);
        Kind::ON_HOST.into_iter().find(|k| k.unit() == Some(name))
    }

    /// The directories whose files it serves from (a change there needs its reload);
    /// nginx also serves dpwizard's self-signed certificates.
    pub fn config_dirs(self) -> &'static [&'static str] {
        match self {
            Kind::HostNginx => &["/etc/nginx/", "/etc/ssl/dpwizard/"],
            Kind::Apache => &["/etc/apache2/"],
            Kind::Caddy => &["/etc/caddy/"],
            Kind::ContainerNginx => &[],
        }
    }

    /// Its reload returns before the new workers serve: apply waits for them by pid
    /// (apply::settle). Apache's and Caddy's are retried briefly by verify instead.
    pub fn waits_for_new_workers(self) -> bool {
        self == Kind::HostNginx
    }

    /// What its configuration calls the route: the word fixes use.
    pub fn route_word(self) -> &'static str {
        match self {
            Kind::HostNginx | Kind::ContainerNginx => "location",
            Kind::Apache => "ProxyPass",
            Kind::Caddy => "handle",
        }
    }
}

/// The configuration files of the web server in front, as read by the caller (the audit
/// reads them through the host): `(path as detection names it, text)`, in the order the
/// server reads them. Apache's and Caddy's routes are judged from these.
#[derive(Debug, Clone, Default)]
pub struct Files(pub Vec<(String, String)>);

impl Files {
    pub fn get(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, t)| t.as_str())
    }
}

/// The site that serves the domain on a web server in front that is not nginx, and its
/// WebSocket route, read from its [`Files`].
#[derive(Debug, Clone)]
pub struct FrontSite {
    pub kind: Kind,
    /// `file:line` of the site (the `<VirtualHost>`, the Caddyfile site block).
    pub at: String,
    /// Other sites on 443 for the same name, which the server never uses for it
    /// (`file:line: why`).
    pub ignored: Vec<String>,
    pub route: route::Route,
    /// Where the site's certificate comes from.
    pub certificate: SiteCertificate,
}

/// How a site in front gets its certificate (the TLS checks read the file when there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteCertificate {
    /// A file the site names (`SSLCertificateFile`, Caddy's `tls CERT KEY`), and where.
    File {
        path: String,
        key: Option<String>,
        at: String,
    },
    /// The server obtains and renews it itself (Caddy's automatic HTTPS, or its local CA):
    /// nothing on disk for dpwizard to judge; the live TLS probe checks what it serves.
    ByServer(String),
    /// None is configured (no `SSLCertificateFile`; Caddy with `auto_https off` and no
    /// `tls CERT KEY`): why, with file:line.
    Missing(String),
    /// It cannot be told from here (an `import` of a file that is not read): why.
    Unknown(String),
}
