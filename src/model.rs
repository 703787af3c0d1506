//! Validated values. Everything typed by an admin or read from an answers file becomes one of
//! these types before it can reach a renderer, so a config file can never receive a domain
//! with a `;`, a path with a newline or an origin with a `$`. Each type's `parse` says what is
//! wrong and where in the value.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Why a value was refused. The message is meant for the admin, as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

/// Characters that could end a directive or start a block, a variable or a quote in nginx,
/// Apache, Caddy, systemd or a shell: never allowed in a value dpwizard writes.
const DANGEROUS: &[char] = &[
    '"', '\'', '`', ';', '{', '}', '$', '\\', '\n', '\r', '\0', '#', '<', '>', '|', '&', '*', '?',
    '[', ']', '(', ')', '%',
];

fn check_plain(what: &str, s: &str) -> Result<(), Invalid> {
    if let Some(c) = s.chars().find(|c| DANGEROUS.contains(c) || c.is_control()) {
        return Err(invalid(format!(
            "{what} {s:?} contains {}, which could break out of a configuration file",
            describe_char(c)
        )));
    }
    Ok(())
}

/// Values end up as arguments of commands (certbot -m EMAIL, systemctl restart UNIT): one
/// that starts with `-` would be read as an option. (Domains, users and images refuse a
/// leading `-` by their own rules; paths and URLs start otherwise.)
fn not_option_like(what: &str, s: &str) -> Result<(), Invalid> {
    if s.starts_with('-') {
        return Err(invalid(format!(
            "{what} {s:?} starts with '-', which a command would read as an option"
        )));
    }
    Ok(())
}

fn describe_char(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\0' => "a NUL byte".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("{c:?}"),
    }
}

macro_rules! string_type {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

/// A TCP port, 1–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Port(u16);

impl Port {
    pub fn new(n: i64) -> Result<Port, Invalid> {
        match u16::try_from(n) {
            Ok(p) if p > 0 => Ok(Port(p)),
            _ => Err(invalid(format!("port {n} is out of range (1–65535)"))),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A DNS host name a browser can reach with TLS: not an IP address, not `localhost`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainName(String);
string_type!(DomainName);

impl DomainName {
    pub fn parse(s: &str) -> Result<DomainName, Invalid> {
        let t = s.trim();
        if t.is_empty() {
            return Err(invalid("the domain is empty"));
        }
        let lower = t.trim_end_matches('.').to_ascii_lowercase();
        // IP addresses first: their explanation matters more than a stray bracket.
        if lower.parse::<IpAddr>().is_ok()
            || lower.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
        {
            return Err(invalid(format!(
                "{t:?} is an IP address: browsers only join over TLS with a certificate for a \
                 host name, so the web client cannot use it (point a DNS name at this server)"
            )));
        }
        check_plain("the domain", t)?;
        if lower == "localhost" || lower.ends_with(".localhost") {
            return Err(invalid(format!(
                "{t:?} only works on this machine: use the name people will type"
            )));
        }
        if lower.len() > 253 {
            return Err(invalid(format!(
                "the domain is {} characters long (at most 253)",
                lower.len()
            )));
        }
        let labels: Vec<&str> = lower.split('.').collect();
        if labels.len() < 2 {
            return Err(invalid(format!(
                "{t:?} has no dot: use a fully qualified name such as draw.example.com"
            )));
        }
        for l in &labels {
            if l.is_empty() {
                return Err(invalid(format!(
                    "{t:?} has an empty label (two dots in a row?)"
                )));
            }
            if l.len() > 63 {
                return Err(invalid(format!(
                    "the label {l:?} is longer than 63 characters"
                )));
            }
            if let Some(c) = l
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                return Err(invalid(format!(
                    "{t:?} contains {}: a host name has only letters, digits, '-' and '.' \
                     (write internationalised names in their xn-- form)",
                    describe_char(c)
                )));
            }
            if l.starts_with('-') || l.ends_with('-') {
                return Err(invalid(format!("the label {l:?} starts or ends with '-'")));
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(invalid(format!(
                "{t:?} ends in a numeric label: not a host name"
            )));
        }
        Ok(DomainName(lower))
    }
}

/// An Origin a browser sends: `https://host[:port]`, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);
string_type!(Origin);

/// The official browser client's origins, always allowed.
pub const OFFICIAL_ORIGINS: &[&str] = &["https://web.drawpile.net", "https://web.foxdice.cn"];

impl Origin {
    pub fn parse(s: &str) -> Result<Origin, Invalid> {
        let t = s.trim();
        let Some(rest) = t.strip_prefix("https://") else {
            return Err(invalid(format!(
                "origin {t:?} must start with https:// (browsers only send https origins to a TLS proxy)"
            )));
        };
        if rest.contains(['/', '?', '#', '@']) {
            return Err(invalid(format!(
                "origin {t:?} has a path, query or user part: an origin is only https://host[:port]"
            )));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => {
                let n: i64 = p
                    .parse()
                    .map_err(|_| invalid(format!("origin {t:?}: {p:?} is not a port number")))?;
                (h, Some(Port::new(n)?))
            }
            None => (rest, None),
        };
        let host = DomainName::parse(host).map_err(|e| invalid(format!("origin {t:?}: {e}")))?;
        Ok(Origin(match port {
            Some(p) if p.get() != 443 => format!("https://{host}:{p}"),
            _ => format!("https://{host}"),
        }))
    }

    pub fn is_official(&self) -> bool {
        OFFICIAL_ORIGINS.contains(&self.0.as_str())
    }
}

/// An absolute path that is safe to write into nginx, systemd and shell contexts unquoted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AbsPath(String);
string_type!(AbsPath);

impl AbsPath {
    pub fn parse(s: &str) -> Result<AbsPath, Invalid> {
        if !s.starts_with('/') {
            return Err(invalid(format!(
                "path {s:?} is not absolute (it must start with /)"
            )));
        }
        check_plain("path", s)?;
        if s.chars().any(char::is_whitespace) {
            return Err(invalid(format!(
                "path {s:?} contains white space, which configuration files would split"
            )));
        }
        if s.split('/').any(|c| c == "..") {
            return Err(invalid(format!("path {s:?} contains '..'")));
        }
        if s.len() > 4096 {
            return Err(invalid("path is longer than 4096 characters"));
        }
        Ok(AbsPath(s.to_string()))
    }
}

/// The directory of a built Drawpile browser client that the web server serves at the root
/// of a site: an absolute path a configuration file can hold unquoted, never a system
/// directory (serving `/etc` or `/` to the world would publish secrets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientDir(String);
string_type!(ClientDir);

impl ClientDir {
    /// Directories whose contents must never be served, with everything under them.
    const SYSTEM: &'static [&'static str] = &[
        "/etc", "/root", "/proc", "/sys", "/dev", "/boot", "/run", "/var/lib",
    ];

    pub fn parse(s: &str) -> Result<ClientDir, Invalid> {
        let path = AbsPath::parse(s)?;
        let t = path.as_str().trim_end_matches('/');
        if t.is_empty() {
            return Err(invalid(
                "the directory \"/\" would serve the whole filesystem: give the directory of \
                 the built client files (e.g. /srv/drawpile-web)",
            ));
        }
        if let Some(sys) = Self::SYSTEM
            .iter()
            .find(|d| t == **d || t.starts_with(&format!("{d}/")))
        {
            return Err(invalid(format!(
                "{t:?} is under {sys}, whose files must never be served: put the built client \
                 files in a directory of their own (e.g. /srv/drawpile-web)"
            )));
        }
        Ok(ClientDir(t.to_string()))
    }
}

/// A systemd service name, e.g. `drawpile-srv.service`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnitName(String);
string_type!(UnitName);

impl UnitName {
    pub fn parse(s: &str) -> Result<UnitName, Invalid> {
        not_option_like("unit", s)?;
        let name = if s.contains('.') {
            s.to_string()
        } else {
            format!("{s}.service")
        };
        let Some(stem) = name.strip_suffix(".service") else {
            return Err(invalid(format!("unit {s:?} must be a .service unit")));
        };
        if stem.is_empty()
            || name.len() > 255
            || !stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
            || stem.contains('\\')
        {
            return Err(invalid(format!(
                "unit {s:?}: a unit name has only letters, digits and : - _ . @"
            )));
        }
        Ok(UnitName(name))
    }
}

/// A POSIX user name (the portable set; `root` refused: drawpile-srv will not run as root).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserName(String);
string_type!(UserName);

impl UserName {
    pub fn parse(s: &str) -> Result<UserName, Invalid> {
        if s == "root" || s == "0" {
            return Err(invalid(
                "user root: drawpile-srv refuses to run as root (\"This program should not be run as root!\")",
            ));
        }
        let ok = !s.is_empty()
            && s.len() <= 32
            && !s.starts_with('-')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c));
        if !ok {
            return Err(invalid(format!(
                "user {s:?}: use lower-case letters, digits, '_' and '-' (at most 32)"
            )));
        }
        Ok(UserName(s.to_string()))
    }
}

/// An e-mail address for ACME registration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);
string_type!(EmailAddress);

impl EmailAddress {
    pub fn parse(s: &str) -> Result<EmailAddress, Invalid> {
        check_plain("e-mail address", s)?;
        not_option_like("e-mail address", s)?;
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(invalid(format!("e-mail address {s:?} has no '@'")));
        };
        if local.is_empty() || local.chars().any(|c| c.is_whitespace() || c == ',') {
            return Err(invalid(format!(
                "e-mail address {s:?} has an invalid local part"
            )));
        }
        DomainName::parse(domain).map_err(|e| invalid(format!("e-mail address {s:?}: {e}")))?;
        Ok(EmailAddress(s.to_string()))
    }
}

/// An address to listen on: an IP address (`127.0.0.1`, `::1`, `0.0.0.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ListenAddress(IpAddr);

impl ListenAddress {
    pub fn parse(s: &str) -> Result<ListenAddress, Invalid> {
        s.trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .map(ListenAddress)
            .map_err(|_| {
                invalid(format!(
                    "listen address {s:?} is not an IP address (e.g. 127.0.0.1)"
                ))
            })
    }

    pub fn ip(self) -> IpAddr {
        self.0
    }

    pub fn is_loopback(self) -> bool {
        self.0.is_loopback()
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A Docker image reference (`drawpile/drawpile-srv:2.3`, with registry or digest).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef(String);
string_type!(ImageRef);

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef, Invalid> {
        let ok = !s.is_empty()
            && s.len() <= 255
            && s.chars().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || "._-/:@".contains(c)
                    || c.is_ascii_uppercase() && s.contains('@')
            })
            && !s.starts_with(['-', '.', '/', ':']);
        if !ok {
            return Err(invalid(format!(
                "image {s:?} is not a Docker image reference (e.g. drawpile/drawpile-srv:2.3)"
            )));
        }
        Ok(ImageRef(s.to_string()))
    }
}

/// An https URL (the ACME directory).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpsUrl(String);
string_type!(HttpsUrl);

impl HttpsUrl {
    pub fn parse(s: &str) -> Result<HttpsUrl, Invalid> {
        let Some(rest) = s.strip_prefix("https://") else {
            return Err(invalid(format!("{s:?} must be an https:// URL")));
        };
        check_plain("URL", s)?;
        if s.chars().any(char::is_whitespace) {
            return Err(invalid(format!("URL {s:?} contains white space")));
        }
        let host = rest.split(['/', ':']).next().unwrap_or("");
        if host.is_empty() {
            return Err(invalid(format!("URL {s:?} has no host")));
        }
        Ok(HttpsUrl(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_directories() {
        assert_eq!(
            ClientDir::parse("/srv/drawpile-web/").unwrap().as_str(),
            "/srv/drawpile-web"
        );
        for (bad, why) in [
            ("/", "whole filesystem"),
            ("srv/web", "not absolute"),
            ("/etc/nginx", "under /etc"),
            ("/root/web", "under /root"),
            ("/srv/web;", "could break out"),
            ("/srv/my web", "white space"),
            ("/srv/../etc", "'..'"),
        ] {
            let e = ClientDir::parse(bad).unwrap_err().0;
            assert!(e.contains(why), "{bad}: {e}");
        }
        // A name that only begins like a system directory is fine.
        assert!(ClientDir::parse("/etcetera/web").is_ok());
    }

    #[test]
    fn domains() {
        assert_eq!(
            DomainName::parse("Draw.Example.COM.").unwrap().as_str(),
            "draw.example.com"
        );
        for (bad, why) in [
            ("", "empty"),
            ("203.0.113.7", "IP address"),
            ("::1", "IP address"),
            ("[2001:db8::1]", "IP address"),
            ("localhost", "only works on this machine"),
            ("example", "no dot"),
            ("draw.example.com; }", "could break out"),
            ("draw\"x.com", "could break out"),
            ("draw.example.com\nserver {", "newline"),
            ("$host.example.com", "could break out"),
            ("a..b", "empty label"),
            ("-a.example.com", "starts or ends"),
            ("drаw.example.com", "only letters"), // Cyrillic а
            ("a.b.123", "numeric"),
        ] {
            let e = DomainName::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        assert!(DomainName::parse(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(DomainName::parse(&format!("{}com", "abcdefghi.".repeat(26))).is_err());
    }

    #[test]
    fn origins() {
        assert_eq!(
            Origin::parse("https://Paint.Example.org:443")
                .unwrap()
                .as_str(),
            "https://paint.example.org"
        );
        assert_eq!(
            Origin::parse("https://paint.example.org:8443")
                .unwrap()
                .as_str(),
            "https://paint.example.org:8443"
        );
        assert!(
            Origin::parse("https://web.drawpile.net")
                .unwrap()
                .is_official()
        );
        for bad in [
            "http://paint.example.org",
            "https://paint.example.org/",
            "https://paint.example.org/path",
            "https://user@paint.example.org",
            "https://paint.example.org:0",
            "https://paint.example.org:x",
            "https://paint.example.org\")",
            "https://1.2.3.4",
            "paint.example.org",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_users_units_ports_and_more() {
        assert!(AbsPath::parse("/etc/ssl/x.pem").is_ok());
        for bad in [
            "etc/x",
            "/etc/x;rm",
            "/etc/my site",
            "/etc/../x",
            "/x\ny",
            "/x$HOME",
            "/a{b}",
        ] {
            assert!(AbsPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(UserName::parse("drawpile").is_ok());
        assert!(
            UserName::parse("root")
                .unwrap_err()
                .to_string()
                .contains("refuses")
        );
        assert!(UserName::parse("Bad User").is_err());
        assert_eq!(
            UnitName::parse("drawpile-srv").unwrap().as_str(),
            "drawpile-srv.service"
        );
        assert!(UnitName::parse("x.socket").is_err());
        assert!(UnitName::parse("a;b.service").is_err());
        assert!(Port::new(0).is_err() && Port::new(65536).is_err() && Port::new(-1).is_err());
        assert_eq!(Port::new(27751).unwrap().get(), 27751);
        assert!(ListenAddress::parse("127.0.0.1").unwrap().is_loopback());
        assert!(ListenAddress::parse("localhost").is_err());
        assert!(EmailAddress::parse("admin@example.com").is_ok());
        assert!(EmailAddress::parse("admin@localhost").is_err());
        assert!(EmailAddress::parse("a;b@example.com").is_err());
        assert!(ImageRef::parse("drawpile/drawpile-srv:2.3").is_ok());
        assert!(ImageRef::parse("drawpile/drawpile-srv:2.3; rm -rf /").is_err());
        assert!(HttpsUrl::parse("https://localhost:14000/dir").is_ok());
        assert!(HttpsUrl::parse("http://x/dir").is_err());
    }
}
