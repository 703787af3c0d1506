//! drawpile-srv's command line, as QCommandLineParser reads it: the options dpwizard cares
//! about, pulled out of an argv taken from ExecStart=, `docker inspect`, compose `command:`
//! or an AppImage `--server` line. Everything else is kept, in order, in `other`.

use serde::Serialize;

/// The drawpile-srv options found in an argument list (program name excluded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DrawpileArgs {
    /// `--port`/`-p` (drawpile's default 27750 when absent).
    pub port: Option<String>,
    /// `--listen`/`-l` (all addresses when absent).
    pub listen: Option<String>,
    /// `--websocket-port` (0 or absent: no WebSocket listener).
    pub websocket_port: Option<String>,
    /// `--websocket-listen` (all addresses when absent).
    pub websocket_listen: Option<String>,
    /// `--web-admin-port` (absent: no web admin).
    pub web_admin_port: Option<String>,
    /// `--web-admin-access` (loopback only when absent).
    pub web_admin_access: Option<String>,
    /// `--local-host`.
    pub local_host: Option<String>,
    /// `--database`/`-d`.
    pub database: Option<String>,
    /// `--config`/`-c`.
    pub config: Option<String>,
    /// `--sessions`/`-s`.
    pub sessions: Option<String>,
    /// `--templates`/`-t`.
    pub templates: Option<String>,
    /// `--ssl-cert` (TLS for the TCP protocol only, never WebSockets).
    pub ssl_cert: Option<String>,
    /// `--ssl-key`.
    pub ssl_key: Option<String>,
    /// Options dpwizard does not interpret, kept verbatim (flags and their values).
    pub other: Vec<String>,
    /// An option given more than once (the last one wins in Qt); worth a warning.
    pub repeated: Vec<String>,
    /// Problems such as a value missing after an option.
    pub errors: Vec<String>,
}

/// (long name, short name) of options that take a value and that dpwizard interprets.
const KNOWN: &[(&str, Option<char>)] = &[
    ("port", Some('p')),
    ("listen", Some('l')),
    ("websocket-port", None),
    ("websocket-listen", None),
    ("web-admin-port", None),
    ("web-admin-access", None),
    ("local-host", None),
    ("database", Some('d')),
    ("config", Some('c')),
    ("sessions", Some('s')),
    ("templates", Some('t')),
    ("ssl-cert", None),
    ("ssl-key", None),
];

/// Options that take a value but are not interpreted; needed so their value is not read
/// as a positional argument or an option.
const OTHER_WITH_VALUE: &[&str] = &[
    "announce-port",
    "ssl-key-algorithm",
    "record",
    "web-admin-auth",
    "web-admin-allowed-origin",
    "extauth",
    "crypt-key",
    "report-url",
];

impl DrawpileArgs {
    /// Parses the arguments after the program name.
    pub fn parse<S: AsRef<str>>(argv: &[S]) -> DrawpileArgs {
        let mut out = DrawpileArgs::default();
        let mut i = 0;
        while i < argv.len() {
            let arg = argv[i].as_ref();
            i += 1;
            if arg == "--" {
                out.other
                    .extend(argv[i..].iter().map(|s| s.as_ref().to_string()));
                break;
            }
            let (name, inline) = if let Some(long) = arg.strip_prefix("--") {
                match long.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (long.to_string(), None),
                }
            } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
                let mut chars = short.chars();
                let c = chars.next().unwrap_or('-');
                let rest: String = chars.collect();
                match KNOWN.iter().find(|(_, s)| *s == Some(c)) {
                    Some((long, _)) => {
                        let rest = rest.strip_prefix('=').map(str::to_string).unwrap_or(rest);
                        (long.to_string(), (!rest.is_empty()).then_some(rest))
                    }
                    None => {
                        out.other.push(arg.to_string());
                        continue;
                    }
                }
            } else {
                out.other.push(arg.to_string());
                continue;
            };

            let takes_value =
                KNOWN.iter().any(|(l, _)| *l == name) || OTHER_WITH_VALUE.contains(&name.as_str());
            if !takes_value {
                out.other.push(arg.to_string());
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None if i < argv.len() => {
                    i += 1;
                    argv[i - 1].as_ref().to_string()
                }
                None => {
                    out.errors.push(format!("missing value after '--{name}'"));
                    continue;
                }
            };
            let slot = match name.as_str() {
                "port" => &mut out.port,
                "listen" => &mut out.listen,
                "websocket-port" => &mut out.websocket_port,
                "websocket-listen" => &mut out.websocket_listen,
                "web-admin-port" => &mut out.web_admin_port,
                "web-admin-access" => &mut out.web_admin_access,
                "local-host" => &mut out.local_host,
                "database" => &mut out.database,
                "config" => &mut out.config,
                "sessions" => &mut out.sessions,
                "templates" => &mut out.templates,
                "ssl-cert" => &mut out.ssl_cert,
                "ssl-key" => &mut out.ssl_key,
                _ => {
                    out.other.push(format!("--{name}"));
                    out.other.push(value);
                    continue;
                }
            };
            if slot.is_some() && !out.repeated.contains(&name) {
                out.repeated.push(name.clone());
            }
            *slot = Some(value);
        }
        out
    }

    /// The WebSocket port as a number, if set and valid. `0` means disabled.
    pub fn websocket_port_number(&self) -> Option<u16> {
        self.websocket_port.as_deref().and_then(|p| p.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_long_short_and_inline_forms() {
        let a = DrawpileArgs::parse(&[
            "--port",
            "27750",
            "-l127.0.0.1",
            "--websocket-port=27751",
            "--websocket-listen",
            "127.0.0.1",
            "-d",
            "/var/lib/drawpile/db.sqlite",
            "--record",
            "/rec",
            "--web-admin-port",
            "27780",
        ]);
        assert_eq!(a.port.as_deref(), Some("27750"));
        assert_eq!(a.listen.as_deref(), Some("127.0.0.1"));
        assert_eq!(a.websocket_port_number(), Some(27751));
        assert_eq!(a.websocket_listen.as_deref(), Some("127.0.0.1"));
        assert_eq!(a.database.as_deref(), Some("/var/lib/drawpile/db.sqlite"));
        assert_eq!(a.web_admin_port.as_deref(), Some("27780"));
        assert_eq!(a.other, vec!["--record", "/rec"]);
        assert!(a.errors.is_empty());
    }

    #[test]
    fn flags_missing_values_and_repeats() {
        let a = DrawpileArgs::parse(&["--websocket-port", "1", "--websocket-port", "2", "--port"]);
        assert_eq!(a.websocket_port.as_deref(), Some("2"));
        assert_eq!(a.repeated, vec!["websocket-port"]);
        assert_eq!(a.errors, vec!["missing value after '--port'"]);
    }

    #[test]
    fn keeps_unknown_flags_in_order() {
        let a = DrawpileArgs::parse(&["--server", "--gui", "-v"]);
        assert_eq!(a.other, vec!["--server", "--gui", "-v"]);
    }
}
